"""What every request passes before any view or service sees it, and what every response
carries: a bounded request id, no NUL bytes in text input, no caching of personal pages.

Called from the app factory's ``before_request`` / ``after_request`` hooks, so no view has to
remember any of it.
"""
from __future__ import annotations

import re
import secrets
from typing import Any

from flask import g, request, session

from core.errors import FieldError, Invalid
from core.i18n import N_

#: An ``X-Request-ID`` a client (or the bureau's proxy) may set: it is echoed in the response
#: header and written into every log line, so it must never carry CR/LF or anything a log
#: reader would take for structure.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

NUL_MESSAGE = N_("must not contain NUL characters")


def request_id() -> str:
    """The client's ``X-Request-ID`` when it is ≤ 64 of ``[A-Za-z0-9._-]``, else a new one."""
    given = request.headers.get("X-Request-ID", "")
    return given if _REQUEST_ID.fullmatch(given) else secrets.token_hex(8)


def _json_nul_fields(value: Any, path: str, out: list[str]) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            out.append(path)
    elif isinstance(value, dict):
        for key, item in value.items():
            key_text = str(key)
            if "\x00" in key_text:
                out.append(f"{path}.{key_text!r}")
            else:
                _json_nul_fields(item, f"{path}.{key_text}", out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _json_nul_fields(item, f"{path}.{i}", out)


def refuse_nul_bytes() -> None:
    """422 naming every field whose text holds a NUL byte: query arguments, path parts, form
    fields, JSON strings (and keys), uploaded file names and request headers.

    NUL is never meaningful in the platform's text; PostgreSQL refuses it in ``text`` columns
    (a 500 deep inside a service), SQLite stores it and truncates it in some readers, and in a
    file name it cuts the name short on disk. Refused here, once, before any service runs.
    """
    bad: list[str] = []
    for name, value in request.headers.items():
        if "\x00" in name or "\x00" in value:
            bad.append(f"header {name.replace(chr(0), '')}")
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and "\x00" in value:
            bad.append(name)
    for name, value in request.args.items(multi=True):
        if "\x00" in name or "\x00" in value:
            bad.append(name.replace("\x00", "") or "query")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
            for name, value in request.form.items(multi=True):
                if "\x00" in name or "\x00" in value:
                    bad.append(name.replace("\x00", "") or "form")
            for name, upload in request.files.items(multi=True):
                if "\x00" in name or "\x00" in (upload.filename or ""):
                    bad.append(f"{name.replace(chr(0), '') or 'file'}.filename")
        elif request.is_json:
            body = request.get_json(silent=True)
            if body is not None:
                _json_nul_fields(body, "body", bad)
    if bad:
        raise Invalid([FieldError(field, NUL_MESSAGE) for field in dict.fromkeys(bad)])


def _is_personal() -> bool:
    """Whether this response was made for someone: a bearer token or a logged-in user."""
    if request.headers.get("Authorization") or g.get("actor") is not None:
        return True
    user = g.get("_login_user")  # Flask-Login's user of this request, when it was loaded
    if user is not None and user.is_authenticated:
        return True
    return "_user_id" in session


def no_store_when_personal(response: Any) -> Any:
    """``Cache-Control: no-store`` on what was answered to a user or token, so no browser
    history, proxy or shared cache keeps a page with someone's data; anonymous public pages
    and static files stay cacheable."""
    endpoint = request.endpoint or ""
    if endpoint == "static" or endpoint.endswith(".static"):
        return response
    if "no-store" not in response.headers.get("Cache-Control", "") and _is_personal():
        response.headers["Cache-Control"] = "no-store"
    return response
