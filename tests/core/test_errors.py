"""Domain errors render as a page for people and as problem+json for the API."""
from __future__ import annotations

from core.models import OrgKind
from tests.support import login, make_org, make_user


def test_unknown_page_is_friendly_html(client):
    resp = client.get("/no/such/page")
    assert resp.status_code == 404 and "text/html" in resp.content_type
    assert "404" in resp.get_data(as_text=True)


def test_unknown_api_path_is_problem_json(client):
    resp = client.get("/api/v1/core/nothing-here")
    assert resp.status_code == 404
    assert resp.mimetype == "application/problem+json"
    assert resp.json["type"] == "/problems/not-found" and resp.json["status"] == 404


def test_api_validation_error_names_the_field(client, session):
    bureau = make_org(session, OrgKind.bureau, region="330000")
    login(client, make_user(session, bureau, "org_admin").username)
    resp = client.get("/api/v1/core/organisations?per_page=1000")
    assert resp.status_code == 422
    assert resp.mimetype == "application/problem+json"
    assert [e["field"] for e in resp.json["errors"]] == ["per_page"]


def test_openapi_document_and_docs_are_local(client):
    spec = client.get("/api/openapi.json")
    assert spec.status_code == 200
    assert spec.json["openapi"].startswith("3.1")
    assert "/api/v1/core/users/{user_id}" in spec.json["paths"]
    docs = client.get("/api/docs", follow_redirects=True)
    assert docs.status_code == 200
    html = docs.get_data(as_text=True)
    import re
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    assert not re.findall(r"https?://", html), "the docs page must not load anything remote"
    for asset in assets:  # relative to /api/swagger, served by the app itself
        with client.get(f"/api/{asset}") as resp:
            assert resp.status_code == 200, asset


def test_templates_reference_no_external_assets():
    import pathlib
    import re
    root = pathlib.Path(__file__).resolve().parents[2]
    offenders = []
    for path in root.glob("*/templates/**/*.html"):
        text = path.read_text(encoding="utf-8")
        if re.search(r'(src|href)="(https?:)?//', text):
            offenders.append(str(path))
    assert offenders == []


def test_error_page_renders_after_a_failed_flush(database_url, tmp_path_factory, db, session):
    """A view whose flush fails (IntegrityError) leaves the session needing a rollback; the
    error page's navigation must still render — the request owner rolls back first."""
    from sqlmodel import select as _select

    from core.db import get_session
    from core.models import Organisation
    from core.permissions import AUTHENTICATED
    from core.web import requires
    from tests.conftest import make_test_app

    app = make_test_app(database_url, tmp_path_factory)

    @app.route("/probe/duplicate")
    @requires(AUTHENTICATED)
    def probe_duplicate():
        s = get_session()
        existing = s.exec(_select(Organisation)).first()
        s.add(Organisation(kind=existing.kind, name="重复机构", code=existing.code,
                           region_code=existing.region_code))
        s.flush()  # IntegrityError: the code is unique
        return "unreachable"

    app.extensions["yaocai.db"].bind_override = db
    try:
        bureau = make_org(session, OrgKind.bureau, region="330000")
        user = make_user(session, bureau, "org_admin")
        client = app.test_client()
        login(client, user.username)
        resp = client.get("/probe/duplicate")
        html = resp.get_data(as_text=True)
        assert resp.status_code == 500
        assert 'class="sidenav"' in html and "error-code" in html
        assert "Internal Server Error" not in html
        api = client.get("/probe/duplicate", headers={"Accept": "application/json"})
        assert api.status_code == 500 and api.mimetype == "application/problem+json"
    finally:
        app.extensions["yaocai.db"].bind_override = None
        app.extensions["yaocai.db"].dispose()
