"""Organisation API tokens: shown once, stored hashed, scoped, revocable."""
from __future__ import annotations

import hashlib

from core import services
from core.auth import actor_for_user
from core.errors import Invalid
from core.models import ApiToken, OrgKind
from core.permissions import USER_READ
from tests.support import make_org, make_user


def _token(session, user, scopes):
    actor = actor_for_user(session, user)
    return services.create_token(session, actor, services.TokenIn(name="HIS", scopes=scopes))


def test_token_is_stored_hashed_and_works_as_bearer(client, session):
    org = make_org(session, OrgKind.hospital, region="330106")
    admin = make_user(session, org, "org_admin")
    token, secret = _token(session, admin, [USER_READ])
    row = session.get(ApiToken, token.id)
    assert secret not in (row.token_hash, row.prefix)
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    resp = client.get("/api/v1/core/me", headers={"Authorization": f"Bearer {secret}"})
    assert resp.status_code == 200
    assert resp.json["token_id"] == token.id and resp.json["permissions"] == [USER_READ]
    assert client.get(f"/api/v1/core/users/{admin.id}",
                      headers={"Authorization": f"Bearer {secret}"}).status_code == 200


def test_token_scopes_limit_it(client, session):
    org = make_org(session, OrgKind.hospital, region="330106")
    admin = make_user(session, org, "org_admin")
    _, secret = _token(session, admin, ["core:profile:read"])
    resp = client.get("/api/v1/core/users", headers={"Authorization": f"Bearer {secret}"})
    assert resp.status_code == 403
    assert resp.mimetype == "application/problem+json"


def test_token_cannot_exceed_creator_or_manage_people(session):
    org = make_org(session, OrgKind.enterprise)
    admin = make_user(session, org, "org_admin")
    for bad in (["core:user:manage"], ["core:organisation:read"], ["nonsense:x:y"]):
        try:
            _token(session, admin, bad)
        except Invalid as exc:
            assert exc.errors[0].field == "scopes"
        else:
            raise AssertionError(f"scope {bad} was granted")


def test_revoked_token_and_foreign_token(client, session):
    org = make_org(session, OrgKind.hospital, region="330106")
    admin = make_user(session, org, "org_admin")
    token, secret = _token(session, admin, [USER_READ])
    services.revoke_token(session, actor_for_user(session, admin), token.id)
    resp = client.get("/api/v1/core/me", headers={"Authorization": f"Bearer {secret}"})
    assert resp.status_code == 401
    # Another organisation's admin cannot see or revoke it: 404.
    other = make_user(session, make_org(session, OrgKind.enterprise), "org_admin")
    from core.errors import NotFound
    try:
        services.revoke_token(session, actor_for_user(session, other), token.id)
    except NotFound:
        pass
    else:
        raise AssertionError("a foreign token was revocable")


def test_token_shown_once_on_page(client, session):
    from tests.support import csrf_token, login
    org = make_org(session, OrgKind.enterprise)
    admin = make_user(session, org, "org_admin")
    login(client, admin.username)
    resp = client.post("/admin/tokens", data={"csrf_token": csrf_token(client, "/admin/tokens"),
                                              "name": "ERP", "scopes": [USER_READ]})
    assert resp.status_code == 200
    import re
    secret = re.search(r'id="token-secret">([^<]+)<', resp.get_data(as_text=True)).group(1)
    again = client.get("/admin/tokens").get_data(as_text=True)
    assert secret not in again and secret[:10] in again
    assert client.get("/api/v1/core/me",
                      headers={"Authorization": f"Bearer {secret}"}).status_code == 200


def test_garbage_bearer_is_401_problem(client):
    resp = client.get("/api/v1/core/me", headers={"Authorization": "Bearer yc_nope"})
    assert resp.status_code == 401
    assert resp.json["type"] == "/problems/unauthorized"
