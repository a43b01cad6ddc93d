"""Login, lockout, sessions, cookies and CSRF."""
from __future__ import annotations

import re

from sqlmodel import select

from core.models import AuditLog, LoginAttempt, OrgKind, OrgStatus
from tests.support import PASSWORD, csrf_token, login, make_org, make_user


def test_login_success_sets_hardened_cookie_and_audits(client, session):
    org = make_org(session, OrgKind.hospital, region="330102")
    user = make_user(session, org, "operator")
    resp = login(client, user.username)
    assert resp.status_code == 302 and resp.location.endswith("/home")
    cookie = resp.headers.get("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # development/testing; production adds it (test_config)
    assert client.get("/home").status_code == 200
    actions = session.exec(select(AuditLog.action).where(AuditLog.actor_user_id == user.id)
                           ).all()
    assert "auth.login" in actions


def test_wrong_password_then_lockout_with_clear_message(client, session, app):
    org = make_org(session, OrgKind.enterprise)
    user = make_user(session, org)
    limit = app.extensions["yaocai.settings"].login_max_failures
    for _ in range(limit - 1):
        resp = login(client, user.username, "wrong-password-1")
        assert resp.status_code == 401
        assert "Wrong username or password" in resp.get_data(as_text=True) or \
            "用户名或密码错误" in resp.get_data(as_text=True)
    resp = login(client, user.username, "wrong-password-1")
    assert resp.status_code == 429
    # Now even the right password is refused until the window passes.
    resp = login(client, user.username, PASSWORD)
    assert resp.status_code == 429
    text = resp.get_data(as_text=True)
    assert re.search(r"\d{2}:\d{2}", text), "the lockout message names the time it ends"
    assert client.get("/home").status_code == 302
    n = len(session.exec(select(LoginAttempt).where(LoginAttempt.username == user.username)
                         ).all())
    assert n == limit


def test_unknown_user_is_counted_like_a_wrong_password(client, session):
    resp = login(client, "nobody-here", "whatever-123")
    assert resp.status_code == 401
    assert session.exec(select(LoginAttempt).where(LoginAttempt.username == "nobody-here")
                        ).first() is not None


def test_disabled_user_and_suspended_org_cannot_log_in(client, session):
    org = make_org(session, OrgKind.bank)
    disabled = make_user(session, org, disabled=True)
    assert login(client, disabled.username).status_code == 401
    org2 = make_org(session, OrgKind.bank, status=OrgStatus.suspended)
    user2 = make_user(session, org2)
    assert login(client, user2.username).status_code == 401


def test_disabling_a_user_ends_their_session(app, session):
    org = make_org(session, OrgKind.enterprise)
    admin = make_user(session, org, "org_admin")
    victim = make_user(session, org, "operator")
    admin_client, victim_client = app.test_client(), app.test_client()
    login(admin_client, admin.username)
    login(victim_client, victim.username)
    assert victim_client.get("/home").status_code == 200
    resp = admin_client.post(f"/admin/users/{victim.id}/disable",
                             data={"csrf_token": csrf_token(admin_client)})
    assert resp.status_code == 302
    assert victim_client.get("/home").status_code == 302


def test_forms_require_csrf(client, session):
    org = make_org(session, OrgKind.enterprise)
    user = make_user(session, org)
    login(client, user.username)
    resp = client.post("/account", data={"current_password": PASSWORD,
                                         "new_password": "New-pass-2026!"})
    assert resp.status_code == 403
    assert client.post("/login", data={"username": user.username,
                                       "password": PASSWORD}).status_code == 403


def test_change_password_policy_and_success(client, session):
    org = make_org(session, OrgKind.enterprise)
    user = make_user(session, org)
    login(client, user.username)
    weak = client.post("/account", data={"csrf_token": csrf_token(client),
                                         "current_password": PASSWORD, "new_password": "short"})
    assert weak.status_code == 422
    ok = client.post("/account", data={"csrf_token": csrf_token(client),
                                       "current_password": PASSWORD,
                                       "new_password": "Another-pass-2026"})
    assert ok.status_code == 302
    assert client.get("/home").status_code == 200  # this session survives the change
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    assert login(client, user.username, PASSWORD).status_code == 401
    assert login(client, user.username, "Another-pass-2026").status_code == 302


def test_open_redirect_is_refused(client, session):
    org = make_org(session, OrgKind.enterprise)
    user = make_user(session, org)
    page = client.get("/login")
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page.data).group(1).decode()
    resp = client.post("/login?next=https://evil.example/x",
                       data={"username": user.username, "password": PASSWORD,
                             "csrf_token": token})
    assert resp.location.endswith("/home")
