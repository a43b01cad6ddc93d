"""HTML pages of the Price governance module (价格治理)."""
from __future__ import annotations

from flask import Blueprint, Flask, render_template

from core.nav import NavItem, register
from core.web import requires
from governance.permissions import VIEW

bp = Blueprint("governance", __name__, url_prefix="/governance", template_folder="templates")


@bp.route("/")
@requires(VIEW)
def home():
    return render_template("governance/home.html")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    register(NavItem("governance", "Price governance", "governance.home", VIEW, 50))
