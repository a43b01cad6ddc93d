"""Procurement (集采): Volume-based procurement batches, volume reports, bids, winner selection, allocation, orders and deliveries."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    # Importing registers: services its rule set, jobs the allocation job, the views* modules
    # their routes on blueprint.bp (before it is registered), demo its demo loader.
    from core.nav import NavItem, register
    from core.permissions import PUBLIC
    from procurement import (  # noqa: F401
        api,
        cli,
        demo,
        i18n,
        jobs,
        services,
        services_allocation,
        services_award,
        views,
        views_agreements,
        views_award,
        views_bids,
        views_reports,
        views_rules,
    )
    i18n.register_labels()
    from procurement import services_todo
    services_todo.register_todos()
    from procurement.blueprint import bp
    from procurement.permissions import VIEW

    app.register_blueprint(bp)
    register(NavItem("procurement", "Procurement", "procurement.home", VIEW, 20))
    register(NavItem("public_procurement_results", "Procurement results",
                     "procurement.publicity", PUBLIC, 30, "public"))
    api.init_app(app)
    cli.init_app(app)
