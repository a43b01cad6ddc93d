"""Procurement (集采): Volume-based procurement batches, volume reports, bids, winner selection, allocation, orders and deliveries."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    # services registers its rule set; jobs registers the allocation job.
    from procurement import cli, jobs, services, services_allocation, services_award, views  # noqa: F401

    views.init_app(app)
    cli.init_app(app)
