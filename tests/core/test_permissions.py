"""Every route declares a permission; other organisations' objects answer 404."""
from __future__ import annotations

from core.models import OrgKind
from core.permissions import declared_permissions
from core.web import PERMISSION_ATTR
from tests.support import csrf_token, login, make_org, make_user


def test_every_route_declares_a_permission(app):
    missing = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        perm = getattr(view, PERMISSION_ATTR, None)
        if perm is None or perm not in declared_permissions():
            missing.append(f"{rule.rule} -> {rule.endpoint}")
    assert not missing, "routes without a declared permission:\n" + "\n".join(missing)
    # The walk must actually cover the application, not an empty map.
    assert len(list(app.url_map.iter_rules())) > 30


def test_undeclared_route_is_caught(app):
    """The walk above really fails when a route forgets its permission."""
    from flask import Flask
    probe = Flask("probe")

    @probe.route("/naked")
    def naked():
        return "x"

    assert getattr(probe.view_functions["naked"], PERMISSION_ATTR, None) is None


def test_other_org_user_answers_404_not_403(client, session):
    a = make_org(session, OrgKind.enterprise)
    b = make_org(session, OrgKind.enterprise)
    admin_a = make_user(session, a, "org_admin")
    user_b = make_user(session, b, "operator")
    own = make_user(session, a, "viewer")
    login(client, admin_a.username)
    assert client.get(f"/admin/users/{own.id}").status_code == 200
    resp = client.get(f"/admin/users/{user_b.id}")
    assert resp.status_code == 404
    # Same on the API, as problem+json, and the body does not reveal the user.
    api = client.get(f"/api/v1/core/users/{user_b.id}")
    assert api.status_code == 404
    assert api.mimetype == "application/problem+json"
    assert user_b.username not in api.get_data(as_text=True)
    # A nonexistent id looks exactly the same as a foreign one.
    ghost = client.get("/api/v1/core/users/99999999")
    assert ghost.status_code == 404 and ghost.json["title"] == api.json["title"]


def test_other_org_cannot_act_on_foreign_user(client, session):
    a = make_org(session, OrgKind.hospital, region="330106")
    b = make_org(session, OrgKind.hospital, region="330106")
    admin_a = make_user(session, a, "org_admin")
    victim = make_user(session, b, "operator")
    login(client, admin_a.username)
    token = csrf_token(client)
    resp = client.post(f"/admin/users/{victim.id}/disable", data={"csrf_token": token})
    assert resp.status_code == 404
    session.refresh(victim)
    assert victim.disabled is False


def test_bureau_sees_all_organisations_others_only_their_own(client, session):
    bureau = make_org(session, OrgKind.bureau, region="330000")
    hosp = make_org(session, OrgKind.hospital, region="330102")
    bureau_admin = make_user(session, bureau, "org_admin")
    hosp_admin = make_user(session, hosp, "org_admin")
    login(client, bureau_admin.username)
    assert client.get(f"/api/v1/core/organisations/{hosp.id}").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    login(client, hosp_admin.username)
    # A hospital admin holds no organisation-read permission: 403 on the list …
    assert client.get("/api/v1/core/organisations").status_code == 403
    # … but its own users are visible and the bureau's are not.
    assert client.get(f"/api/v1/core/users/{hosp_admin.id}").status_code == 200
    assert client.get(f"/api/v1/core/users/{bureau_admin.id}").status_code == 404


def test_missing_permission_is_403_and_anonymous_is_redirected(client, session):
    org = make_org(session, OrgKind.enterprise)
    viewer = make_user(session, org, "viewer")
    resp = client.get("/admin/users")
    assert resp.status_code == 302 and "/login" in resp.location
    assert client.get("/api/v1/core/me").status_code == 401
    login(client, viewer.username)
    assert client.get("/admin/users").status_code == 403
    assert client.get("/home").status_code == 200
