"""Kernel commands, run through Flask's CLI runner on the test database."""
from __future__ import annotations

import json

from sqlmodel import select

from core.auth import verify_password
from core.models import Organisation, OrgKind, User


def test_create_admin_creates_bureau_and_admin(app, session):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create-admin", "--username", "chief",
                                 "--password", "Strong-pass-2026",
                                 "--org-code", "11330000MB1D28066B"])
    assert result.exit_code == 0, result.output
    user = session.exec(select(User).where(User.username == "chief")).one()
    org = session.get(Organisation, user.org_id)
    assert org.kind == OrgKind.bureau
    assert verify_password(user.password_hash, "Strong-pass-2026")
    again = runner.invoke(args=["users", "create-admin", "--username", "chief",
                                "--password", "Strong-pass-2026"])
    assert again.exit_code != 0 and "username" in again.output


def test_create_admin_rejects_bad_bureau_code(app, session):
    result = app.test_cli_runner().invoke(args=[
        "users", "create-admin", "--username", "chief2", "--password", "Strong-pass-2026",
        "--org-code", "11330000MB1D28066C"])
    assert result.exit_code != 0
    assert session.exec(select(User).where(User.username == "chief2")).first() is None


def test_demo_load_is_idempotent_through_the_cli(app, session):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo", "load"])
    assert first.exit_code == 0, first.output
    created = json.loads(first.output.strip().splitlines()[-1])
    assert created["core"]["organisations_created"] >= 65
    second = runner.invoke(args=["demo", "load"])
    again = json.loads(second.output.strip().splitlines()[-1])
    assert again["core"] == {"organisations_created": 0, "users_created": 0}
    verify = runner.invoke(args=["audit", "verify"])
    assert verify.exit_code == 0, verify.output
