"""Procurement (集采): Volume-based procurement batches, volume reports, bids, winner selection, allocation, orders and deliveries."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from procurement import views

    views.init_app(app)
    from procurement import cli; cli.init_app(app)  # noqa: E702, I001
