"""The application factory. Nothing is built at import time: settings, engine, broker and
background services are created here, so tests and the CLI configure them freely."""
from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import g, request
from flask_babel import Babel
from flask_login import LoginManager
from flask_openapi3 import Info, OpenAPI
from werkzeug.middleware.proxy_fix import ProxyFix

from core.config import REPO_ROOT, load_settings
from core.db import Database, close_request_session, get_session
from core.extensions import LANGUAGES, LoginUser, csrf
from core.i18n import translate
from core.logs import configure_logging

log = logging.getLogger("yaocai")

#: Business modules, in dependency order; each package exposes ``init_app(app)``.
INSTALLED_MODULES = ("listing", "procurement", "direct_pay", "supply_finance", "governance")


def _select_locale() -> str:
    lang = request.cookies.get("lang") if request else None
    return lang if lang in LANGUAGES else "zh_CN"


def _validation_error(exc: Any) -> Any:
    from core.web import openapi_validation_error
    return openapi_validation_error(exc)


def create_app(overrides: Mapping[str, Any] | None = None) -> OpenAPI:
    settings = load_settings(overrides)
    configure_logging(settings.log_level)

    app = OpenAPI(
        "core",
        info=Info(title="Yaocai 药采 API", version="1.0.0",
                  description="Procurement and price-governance platform of the provincial "
                              "medical-insurance bureau. Authenticate with "
                              "`Authorization: Bearer <organisation API token>`."),
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
        doc_prefix="/api",
        doc_url="/openapi.json",
        validation_error_callback=_validation_error,
        instance_path=str(settings.instance_path),
        template_folder=str(REPO_ROOT / "core" / "templates"),
        static_folder=str(REPO_ROOT / "core" / "static"),
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        TESTING=settings.is_testing,
        SESSION_COOKIE_NAME="yaocai_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.is_production,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
        WTF_CSRF_TIME_LIMIT=8 * 3600,
        BABEL_DEFAULT_LOCALE="zh_CN",
        BABEL_DEFAULT_TIMEZONE="Asia/Shanghai",
        BABEL_TRANSLATION_DIRECTORIES=str(REPO_ROOT / "translations"),
        MAX_CONTENT_LENGTH=50 * 1024 * 1024,
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    if settings.is_production:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)  # type: ignore[method-assign]
        if settings.is_sqlite:
            log.warning("running production on SQLite: fit for trials only")

    app.extensions["yaocai.settings"] = settings
    db = Database(settings.database_url)
    app.extensions["yaocai.db"] = db

    Babel(app, locale_selector=_select_locale)
    # A fixed message (a field error) in the page's language. ``_()`` in a template always
    # %-formats, which breaks on a literal "%" ("below 80% of …"); this filter does not.
    app.add_template_filter(translate, "translated")
    csrf.init_app(app)
    _init_login(app)

    from core import jobs, request_guard
    from core.web import install_converters, register_error_handlers
    install_converters(app)
    register_error_handlers(app)

    # Business modules register their blueprints, jobs, permissions and navigation.
    from core import api as core_api
    from core import cli as core_cli
    from core import views as core_views
    core_views.init_app(app)
    core_api.init_app(app)
    core_cli.init_app(app)
    for name in INSTALLED_MODULES:
        importlib.import_module(name).init_app(app)

    app.extensions["yaocai.broker"] = jobs.build_broker(app)
    app.extensions["yaocai.background"] = jobs.BackgroundServices(app)

    _declare_framework_routes(app)

    @app.before_request
    def _before() -> None:
        g.request_id = request_guard.request_id()
        request_guard.refuse_nul_bytes()
        bg = app.extensions["yaocai.background"]
        if not bg.started and not settings.is_testing:
            # The embedded mode runs its worker and scheduler inside the web process; started
            # on the first request so CLI commands that build the app start neither.
            bg.start(worker=settings.broker_kind == "inprocess" and settings.run_inprocess_worker,
                     scheduler=settings.broker_kind == "inprocess" and settings.run_scheduler)

    @app.after_request
    def _security_headers(resp: Any) -> Any:
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        if "request_id" not in g:  # refused before our hook ran (CSRF)
            g.request_id = request_guard.request_id()
        resp.headers["X-Request-ID"] = g.request_id
        return request_guard.no_store_when_personal(resp)

    app.teardown_appcontext(close_request_session)
    return app


def _init_login(app: OpenAPI) -> None:
    from core.models import Organisation, OrgStatus, User

    manager = LoginManager()
    manager.login_view = "core.login"
    manager.login_message = None  # the login page says why on its own
    manager.session_protection = "basic"
    manager.init_app(app)

    @manager.user_loader
    def _load(user_key: str) -> LoginUser | None:
        try:
            uid, epoch = (int(x) for x in user_key.split(":", 1))
        except ValueError:
            return None
        user = get_session().get(User, uid)
        if user is None or user.disabled or user.session_epoch != epoch:
            return None
        org = get_session().get(Organisation, user.org_id)
        if org is None or org.status != OrgStatus.active:
            return None
        return LoginUser(user)


def _declare_framework_routes(app: OpenAPI) -> None:
    """Static files and the OpenAPI document/UI are made by frameworks; declare them public."""
    from core.web import mark_public
    for endpoint in list(app.view_functions):
        if endpoint == "static" or endpoint.endswith(".static") or endpoint.startswith(
                ("openapi.", "swagger.")):
            mark_public(app, endpoint)


__all__ = ["create_app", "INSTALLED_MODULES"]
