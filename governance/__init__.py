"""Price governance (价格治理): Price indices, price alerts, credit ratings, dashboards and public disclosure."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from governance import views

    views.init_app(app)
