"""The web layer's shared machinery: the permission decorator that also owns the request's
transaction, the current actor, and the error handlers (HTML page or problem+json)."""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, g, jsonify, make_response, render_template, request
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from core.auth import actor_for_token, actor_for_user
from core.db import commit_request_session, get_session, rollback_request_session
from core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Unauthorized
from core.extensions import csrf
from core.permissions import AUTHENTICATED, PUBLIC, Actor, is_declared
from core.types import INT_MAX

log = logging.getLogger("yaocai.web")

PERMISSION_ATTR = "__permission__"


def client_ip() -> str:
    # Behind the bureau's reverse proxy, ProxyFix (configured in create_app) sets remote_addr.
    return request.remote_addr or "unknown"


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json",
                                                "application/problem+json"])
    return best in ("application/json", "application/problem+json")


def current_actor() -> Actor | None:
    """The actor of this request: a bearer token, the logged-in user, or None."""
    if "actor" in g:
        return g.actor
    actor: Actor | None = None
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        actor = actor_for_token(get_session(), header[7:].strip(), ip=client_ip())
        if actor is None:
            raise Unauthorized("invalid, expired or revoked API token")
        g.token_auth = True
    elif current_user.is_authenticated:
        actor = actor_for_user(get_session(), current_user.user, ip=client_ip())
    g.actor = actor
    return actor


def acting() -> Actor:
    """The actor of a view behind ``@requires`` (which guarantees one)."""
    actor = current_actor()
    assert actor is not None, "acting() outside a @requires view"
    return actor


def requires(permission: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare and enforce the permission of a view or API route, and own its transaction.

    The view runs; if it returns normally the request's session is committed once, before the
    response leaves; a domain error rolls everything back before its error page is rendered
    (any other exception, at teardown). Services never commit, views never commit or roll
    back: a page that shows a refusal itself calls the service through ``attempt``.
    """
    if not is_declared(permission):
        raise ValueError(f"undeclared permission {permission!r}")

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if permission != PUBLIC:
                actor = current_actor()
                if actor is None:
                    if wants_json():
                        raise Unauthorized("log in or send an API token")
                    return current_app.login_manager.unauthorized()
                if (request.method not in ("GET", "HEAD", "OPTIONS")
                        and request.path.startswith("/api/") and not g.get("token_auth")):
                    # A browser session writing to the API must prove it is this site.
                    csrf.protect()
                if not actor.can(permission):
                    raise Forbidden("you do not have the permission for this page",
                                    permission=permission)
            try:
                rv = view(*args, **kwargs)
            except DomainError:
                # A refusal leaves nothing behind, and the error page reads a clean session.
                rollback_request_session()
                raise
            commit_request_session()
            return rv

        setattr(wrapper, PERMISSION_ATTR, permission)
        return wrapper

    return decorate


def mark_public(app: Flask, endpoint: str) -> None:
    """Declare a framework-made route (static files, API docs) as public."""
    view = app.view_functions[endpoint]

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return view(*args, **kwargs)

    setattr(wrapper, PERMISSION_ATTR, PUBLIC)
    app.view_functions[endpoint] = wrapper


def openapi_validation_error(exc: Any) -> Any:
    """flask-openapi3 validation failures as a 422 problem naming each field."""
    from core.errors import FieldError
    errors = [FieldError(".".join(str(p) for p in e["loc"]) or "body", e["msg"])
              for e in exc.errors()]
    return problem_response(Invalid(errors))


def problem_response(exc: DomainError) -> Any:
    body = exc.problem()
    body["instance"] = request.path
    resp = jsonify(body)
    resp.status_code = exc.status
    resp.mimetype = "application/problem+json"
    if exc.status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="yaocai"'
    return resp


def render_domain_error(exc: DomainError) -> Any:
    if wants_json():
        return problem_response(exc)
    return render_template("errors/error.html", error=exc), exc.status


def register_error_handlers(app: Flask) -> None:
    """Every handler first rolls back the request's session (the request owner's duty on any
    error): the page it renders queries the database for its navigation, and a session left
    by a failed flush would raise again there, turning a friendly page into Werkzeug's raw 500.
    """
    from core.db import rollback_request_session

    def rolled_back(handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
        @functools.wraps(handler)
        def wrapper(exc: Any) -> Any:
            try:
                rollback_request_session()
            except Exception:  # a dead connection: still answer with the error page
                log.exception("rollback before the error page failed")
            return handler(exc)
        return wrapper

    @app.errorhandler(DomainError)
    @rolled_back
    def _domain(exc: DomainError) -> Any:
        if exc.status >= 500:
            log.error("domain error", exc_info=exc)
        return render_domain_error(exc)

    @app.errorhandler(StaleDataError)
    @rolled_back
    def _stale(exc: StaleDataError) -> Any:
        return render_domain_error(Conflict("the record was changed by someone else; "
                                            "reload and retry"))

    @app.errorhandler(HTTPException)
    @rolled_back
    def _http(exc: HTTPException) -> Any:
        mapped: DomainError
        if exc.code == 404:
            mapped = NotFound("no such page")
        elif exc.code == 400 and "CSRF" in (exc.description or ""):
            mapped = Forbidden("the form expired or was not sent from this site; "
                               "reload the page and try again")
            mapped.type_slug = "csrf"
        else:
            mapped = DomainError(exc.description)
            mapped.status = exc.code or 500
            mapped.title = exc.name
            mapped.type_slug = (exc.name or "error").lower().replace(" ", "-")
        response = make_response(render_domain_error(mapped))
        # Werkzeug's own headers of the error stay: a 405 names the methods allowed (Allow).
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    @rolled_back
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error")
        err = DomainError("an unexpected error occurred; it has been logged")
        err.status = 500
        err.title = "Internal error"
        err.type_slug = "internal"
        return render_domain_error(err)


__all__ = ["requires", "current_actor", "mark_public", "register_error_handlers", "PUBLIC",
           "AUTHENTICATED", "client_ip", "wants_json", "PERMISSION_ATTR"]


# --- pages that call a service from a form ----------------------------------------------------

@dataclass
class Attempt:
    """The outcome of a service call made from a page: ``ok`` with its ``value``, or refused
    (rolled back) with the ``errors`` of the form's fields and the refusal's HTTP ``status``
    for the page that shows it."""

    ok: bool
    value: Any = None
    errors: list[Any] = field(default_factory=list)
    status: int = 200


def flash_error(exc: DomainError) -> None:
    """Show a refusal on the page the user comes back to, translated like the error page."""
    from flask import flash
    from flask_babel import gettext

    from core.i18n import translate

    if isinstance(exc, Invalid) and exc.errors:
        for e in exc.errors:
            flash(f"{gettext(e.field)}: {translate(e.message)}", "error")
    else:
        flash(exc.message(), "error")


def attempt(call: Callable[[], Any], *, form: bool = True, others: bool = True) -> Attempt:
    """The one way a page calls a service from a form: run ``call``; on a domain error roll
    the request's work back. With ``form`` the field errors of an ``Invalid`` come back for the
    form to show beside its fields; every other refusal (and, without ``form``, field errors
    too) is flashed for the page to show — or, with ``others=False``, goes on to the error
    page (``requires`` has rolled back)."""
    try:
        return Attempt(True, call())
    except DomainError as exc:
        rollback_request_session()
        if form and isinstance(exc, Invalid) and exc.errors:
            return Attempt(False, errors=exc.errors, status=exc.status)
        if not others:
            raise
        flash_error(exc)
        return Attempt(False, status=exc.status)


# --- query and form arguments -----------------------------------------------------------------

def int_arg(name: str, *, minimum: int = 0, maximum: int = INT_MAX) -> int | None:
    """A whole-number argument of the request (query or form); empty or not a whole number is
    None. One outside ``minimum``..``maximum`` (by default what an INTEGER column holds) is a
    422 naming the argument: it would overflow the database, or ``date()``, further on."""
    from flask import request
    value = request.values.get(name, "").strip()
    if not (value.isascii() and value.isdigit()):
        return None
    # Compare lengths first: int() of a 5,000-digit string is itself refused by Python.
    number = int(value) if len(value) <= len(str(maximum)) else maximum + 1
    if not minimum <= number <= maximum:
        raise Invalid.one(name, "This number is out of range.")
    return number


def enum_arg(cls: Any, name: str) -> Any:
    """A query argument as a member of the Enum ``cls``; unknown or empty is None."""
    from flask import request
    value = request.args.get(name) or None
    if value is None or len(value) > 100:  # no member name is that long
        return None
    try:
        return cls(value)
    except ValueError:
        return None


def _digits_up_to(limit: int) -> str:
    """A regular expression of the decimal numbers 0..``limit`` (no sign)."""
    text = str(limit)
    alternatives = [f"[0-9]{{1,{len(text) - 1}}}"] if len(text) > 1 else []
    for i, digit in enumerate(text):
        if digit != "0":
            rest = len(text) - i - 1
            alternatives.append(text[:i] + f"[0-{int(digit) - 1}]"
                                + (f"[0-9]{{{rest}}}" if rest else ""))
    alternatives.append(text)
    return "(?:" + "|".join(alternatives) + ")"


class DbIntConverter(IntegerConverter):
    """``<int:…>`` in every route: a whole number an INTEGER id column can hold. A larger one
    matches no route (404) instead of overflowing the database driver (a 500). The bound is in
    the pattern rather than in ``to_python``: Werkzeug answers a conversion failure with a 405
    naming the other methods of the path."""

    regex = _digits_up_to(INT_MAX)

    def __init__(self, map: Any, fixed_digits: int = 0, min: int | None = None,  # noqa: A002
                 max: int | None = INT_MAX, signed: bool = False) -> None:  # noqa: A002
        super().__init__(map, fixed_digits, min, max, signed)


def install_converters(app: Flask) -> None:
    """Replace Werkzeug's unbounded ``int`` converter app-wide (before routes are added)."""
    app.url_map.converters["int"] = DbIntConverter


def download(data: bytes, filename: str, content_type: str, *, inline: bool = False) -> Any:
    """A file response: the name in RFC 5987 form (Chinese names survive), never sniffed as
    another type, never kept by a shared cache."""
    from urllib.parse import quote

    from flask import make_response
    response = make_response(data)
    response.headers["Content-Type"] = content_type
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Disposition"] = \
        f"{'inline' if inline else 'attachment'}; filename*=UTF-8''{quote(filename)}"
    return response


def wants_xlsx() -> bool:
    """Whether the request asks for its list as an Excel download (``?format=xlsx``)."""
    from flask import request
    return request.args.get("format") == "xlsx"


def xlsx_download(filename: str, header: list[str], rows: Any, sheet_title: str) -> Any:
    """A list as an .xlsx download (``core.tabular.rows_xlsx``); ``header`` holds msgids,
    translated here (Chinese by default)."""
    from flask_babel import gettext

    from core.tabular import XLSX_TYPE, rows_xlsx
    return download(rows_xlsx([gettext(h) for h in header], rows, sheet_title=gettext(sheet_title)),
                    filename, XLSX_TYPE)
