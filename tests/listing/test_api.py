"""The listing JSON API under /api/v1/listing: conditional writes (If-Match / ETag) with real
organisation API tokens and the services underneath."""
from __future__ import annotations

from listing.permissions import APP_EDIT, APP_READ
from tests.listing.factories import draft, product, world
from tests.support import api_token

API = "/api/v1/listing"


def _body(app) -> dict:
    return {"kind": app.kind.value, "product_id": app.product_id,
            "proposed_price": "6.0000", "justification": "成本上升"}


def test_an_application_changes_only_from_the_version_read(client, session):
    w = world(session)
    app = draft(session, w.op, product(session, w.company))
    headers = api_token(session, w.company, APP_READ, APP_EDIT)
    url = f"{API}/applications/{app.id}"
    got = client.get(url, headers=headers)
    assert got.status_code == 200 and got.headers["ETag"] == f'"{got.json["version"]}"'
    version = got.json["version"]
    # Malformed entity-tags are a 422 naming the header (they were a ValueError, a 500).
    for garbage in ("abc", '"1', "W/1", "1 2"):
        resp = client.put(url, headers=headers | {"If-Match": garbage}, json=_body(app))
        assert resp.status_code == 422, (garbage, resp.get_data(as_text=True))
        assert resp.mimetype == "application/problem+json"
        assert [e["field"] for e in resp.json["errors"]] == ["If-Match"]
    # Missing: 428; stale (however spelled): 409 with the current version.
    missing = client.put(url, headers=headers, json=_body(app))
    assert missing.status_code == 428, missing.json
    for stale in (f'"{version + 1}"', f'W/"{version + 1}"', '"abc"'):
        resp = client.put(url, headers=headers | {"If-Match": stale}, json=_body(app))
        assert resp.status_code == 409, (stale, resp.json)
        assert resp.json["type"] == "/problems/stale-version"
        assert resp.json["current_version"] == version
    # The RFC 9110 spellings of the current version all write, and the ETag follows.
    for spelling in (f'"{version}"', f'W/"{version + 1}"', f'"0", "{version + 2}"', "*"):
        resp = client.put(url, headers=headers | {"If-Match": spelling}, json=_body(app))
        assert resp.status_code == 200, (spelling, resp.json)
    assert resp.headers["ETag"] == f'"{version + 4}"' and resp.json["proposed_price"] == "6.0000"


def test_a_move_takes_if_match_too(client, session):
    w = world(session)
    app = draft(session, w.op, product(session, w.company))
    headers = api_token(session, w.company, APP_READ, APP_EDIT)
    url = f"{API}/applications/{app.id}/actions/submit"
    stale = client.post(url, headers=headers | {"If-Match": f'"{app.version + 1}"'}, json={})
    assert stale.status_code == 409 and stale.json["type"] == "/problems/stale-version"
    assert client.post(url, headers=headers | {"If-Match": "abc"}, json={}).status_code == 422
    moved = client.post(url, headers=headers | {"If-Match": f'W/"{app.version}"'}, json={})
    assert moved.status_code == 200, moved.json
    assert moved.json["status"] == "submitted"


def test_price_evidence_is_replaced_only_from_the_version_read(client, session):
    w = world(session)
    app = draft(session, w.op, product(session, w.company))
    headers = api_token(session, w.company, APP_READ, APP_EDIT)
    url = f"{API}/applications/{app.id}/evidence"
    lines = {"lines": [{"province": "江苏", "price": "9.0000", "evidence_date": "2026-01-15",
                        "document": "苏医保价〔2026〕1号"}]}
    assert client.put(url, headers=headers, json=lines).status_code == 428
    stale = client.put(url, headers=headers | {"If-Match": f'"{app.version + 1}"'}, json=lines)
    assert stale.status_code == 409 and stale.json["current_version"] == app.version
    done = client.put(url, headers=headers | {"If-Match": f'"{app.version}"'}, json=lines)
    assert done.status_code == 200, done.json
    assert done.headers["ETag"] == f'"{done.json["version"]}"' and done.json["version"] > app.version
