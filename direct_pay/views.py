"""HTML pages of the Direct settlement module (医保直付)."""
from __future__ import annotations

from flask import Blueprint, Flask, render_template

from core.nav import NavItem, register
from core.web import requires
from direct_pay.permissions import VIEW

bp = Blueprint("direct_pay", __name__, url_prefix="/direct_pay", template_folder="templates")


@bp.route("/")
@requires(VIEW)
def home():
    return render_template("direct_pay/home.html")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    register(NavItem("direct_pay", "Direct settlement", "direct_pay.home", VIEW, 30))
