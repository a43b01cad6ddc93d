"""Listing (挂网): Listing applications, review, public notice and listed-price governance."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from listing import views

    views.init_app(app)
