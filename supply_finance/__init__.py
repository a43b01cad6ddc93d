"""Order financing (订单贷): Credit profiles shared with banks under consent, order loans and repayment from settlement."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from supply_finance import views

    views.init_app(app)
