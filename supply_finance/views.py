"""HTML pages of the Order financing module (订单贷)."""
from __future__ import annotations

from flask import Blueprint, Flask, render_template

from core.nav import NavItem, register
from core.web import requires
from supply_finance.permissions import VIEW

bp = Blueprint("supply_finance", __name__, url_prefix="/supply_finance", template_folder="templates")


@bp.route("/")
@requires(VIEW)
def home():
    return render_template("supply_finance/home.html")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    register(NavItem("supply_finance", "Order financing", "supply_finance.home", VIEW, 40))
