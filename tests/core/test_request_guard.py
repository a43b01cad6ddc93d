"""Every request: a bounded request id, no NUL bytes in text, personal pages never cached."""
from __future__ import annotations

import io
import json
import logging
import re

import pytest

from core.logs import JsonFormatter
from core.models import OrgKind
from tests.support import csrf_token, login, make_org, make_user

HEX_ID = re.compile(r"[0-9a-f]{16}")


def test_a_well_formed_request_id_is_kept(client):
    resp = client.get("/login", headers={"X-Request-ID": "proxy-1.2_3"})
    assert resp.headers["X-Request-ID"] == "proxy-1.2_3"
    ok64 = "a" * 64
    assert client.get("/login", headers={"X-Request-ID": ok64}).headers["X-Request-ID"] == ok64


@pytest.mark.parametrize("given", ["a" * 65, "abc def", "id;drop", "编号", "a\tb", "{\"x\":1}"])
def test_a_long_or_junk_request_id_is_replaced(client, given):
    resp = client.get("/login", headers={"X-Request-ID": given})
    assert HEX_ID.fullmatch(resp.headers["X-Request-ID"])


def test_a_request_id_with_a_line_break_never_reaches_the_log_or_the_response(app):
    formatter = JsonFormatter()
    # As a raw WSGI environ: the test client itself refuses to send a header with a newline.
    with app.test_request_context("/login",
                                  environ_overrides={"HTTP_X_REQUEST_ID": "abc\r\nX-Evil: 1"}):
        app.preprocess_request()
        line = formatter.format(logging.LogRecord("yaocai", logging.INFO, __file__, 1,
                                                  "probe", None, None))
        resp = app.process_response(app.make_response("ok"))
    logged = json.loads(line)["request_id"]
    assert HEX_ID.fullmatch(logged) and resp.headers["X-Request-ID"] == logged
    assert "\n" not in line and "Evil" not in line


def test_nul_in_a_query_argument_is_a_422_naming_it(client):
    resp = client.get("/listing/search?q=abc%00def")
    assert resp.status_code == 422 and "text/html" in resp.content_type
    assert "q" in resp.get_data(as_text=True)
    api = client.get("/api/v1/listing/listings?q=abc%00def")
    assert api.status_code == 422 and api.mimetype == "application/problem+json"
    assert [e["field"] for e in api.json["errors"]] == ["q"]


def test_nul_in_json_strings_and_keys_is_refused_before_the_service(client):
    resp = client.post("/api/v1/listing/applications",
                       json={"product_id": 1, "note": "ok", "items": [{"name": "a\x00b"}],
                             "k\x00": 1})
    assert resp.status_code == 422, resp.get_data(as_text=True)
    fields = sorted(e["field"] for e in resp.json["errors"])
    assert fields == ["body.'k\\x00'", "body.items.0.name"]
    assert all(e["message"] == "must not contain NUL characters" for e in resp.json["errors"])


def test_nul_in_a_form_field_is_refused(client):
    token = csrf_token(client, "/login")
    resp = client.post("/login", data={"username": "ad\x00min", "password": "x",
                                       "csrf_token": token})
    assert resp.status_code == 422
    assert "用户名" in resp.get_data(as_text=True)  # the field, named in words


def test_nul_in_an_uploaded_file_name_is_refused(client):
    token = csrf_token(client, "/login")
    resp = client.post("/login", data={"csrf_token": token, "username": "x", "password": "y",
                                       "evidence": (io.BytesIO(b"%PDF-1.4"), "a\x00.pdf")},
                       content_type="multipart/form-data",
                       headers={"Accept": "application/json"})
    assert resp.status_code == 422
    assert [e["field"] for e in resp.json["errors"]] == ["evidence.filename"]


def test_nul_in_a_header_is_refused(client):
    resp = client.get("/api/v1/listing/listings", headers={"If-None-Match": "\"1\x00\""})
    assert resp.status_code == 422
    assert [e["field"] for e in resp.json["errors"]] == ["header If-None-Match"]


def test_personal_pages_are_not_stored_public_ones_are(client, session):
    anonymous = client.get("/listing/search")
    assert anonymous.status_code == 200
    assert "no-store" not in anonymous.headers.get("Cache-Control", "")
    org = make_org(session, OrgKind.hospital, region="330106")
    login(client, make_user(session, org, "org_admin").username)
    for path in ("/account", "/listing/search", "/api/v1/core/me"):
        resp = client.get(path)
        assert resp.status_code == 200, path
        assert resp.headers["Cache-Control"] == "no-store", path
    static = client.get("/static/css/app.css")
    assert static.status_code == 200
    assert "no-store" not in static.headers.get("Cache-Control", "")
    static.close()


def test_token_answers_are_not_stored(client, session):
    from core import services
    from core.auth import actor_for_user
    from core.permissions import PROFILE_READ
    org = make_org(session, OrgKind.hospital, region="330106")
    admin = make_user(session, org, "org_admin")
    _, secret = services.create_token(session, actor_for_user(session, admin),
                                      services.TokenIn(name="HIS", scopes=[PROFILE_READ]))
    resp = client.get("/api/v1/core/me", headers={"Authorization": f"Bearer {secret}"})
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
