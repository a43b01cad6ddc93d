"""HTML pages of the Listing module (挂网)."""
from __future__ import annotations

from flask import Blueprint, Flask, render_template

from core.nav import NavItem, register
from core.web import requires
from listing.permissions import VIEW

bp = Blueprint("listing", __name__, url_prefix="/listing", template_folder="templates")


@bp.route("/")
@requires(VIEW)
def home():
    return render_template("listing/home.html")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    register(NavItem("listing", "Listing", "listing.home", VIEW, 10))
