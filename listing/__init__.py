"""Listing (挂网): Listing applications, review, public notice and listed-price governance."""
from __future__ import annotations

import os

from flask import Flask


def init_app(app: Flask) -> None:
    from listing import api, cli, jobs, views, views_admin  # noqa: F401  (they register routes, jobs)
    from listing.storage import store_for

    settings = app.extensions["yaocai.settings"]
    app.extensions["yaocai.attachments"] = store_for(
        settings.instance_path,
        settings.extra.get("attachment_dir") or os.environ.get("ATTACHMENT_DIR"))
    from listing import i18n
    i18n.register_labels()
    from listing import services_todo
    services_todo.register_todos()
    views.init_app(app)
    api.init_app(app)
    cli.init_app(app)
    from listing import demo  # noqa: F401  (registers the demo loader with `flask demo load`)
