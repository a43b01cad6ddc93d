"""Procurement (集采): Volume-based procurement batches, volume reports, bids, winner selection, allocation, orders and deliveries."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from procurement import cli, services, views  # noqa: F401  (services registers its rule set)

    views.init_app(app)
    cli.init_app(app)
