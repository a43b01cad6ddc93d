"""HTML pages of the Procurement module (集采)."""
from __future__ import annotations

from flask import Blueprint, Flask, render_template

from core.nav import NavItem, register
from core.web import requires
from procurement.permissions import VIEW

bp = Blueprint("procurement", __name__, url_prefix="/procurement", template_folder="templates")


@bp.route("/")
@requires(VIEW)
def home():
    return render_template("procurement/home.html")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    register(NavItem("procurement", "Procurement", "procurement.home", VIEW, 20))
