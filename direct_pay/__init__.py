"""Direct settlement (医保直付): The insurance fund pays companies directly for accepted deliveries, on a double-entry ledger."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from direct_pay import views

    views.init_app(app)
