"""Procurement (集采): Volume-based procurement batches, volume reports, bids, winner selection, allocation, orders and deliveries."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    # Importing registers: services its rule set, jobs the allocation job, the views_* modules
    # their routes on views.bp (before the blueprint is registered), demo its demo loader.
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
        views_rules,
    )
    i18n.register_labels()
    from procurement import services_todo
    services_todo.register_todos()
    views.init_app(app)
    api.init_app(app)
    cli.init_app(app)
