"""Test support: scratch databases, small factory functions that flush (never commit)."""
from __future__ import annotations

import itertools
import os
import uuid
from functools import lru_cache

import sqlalchemy as sa
from sqlmodel import Session

from core.auth import hash_password
from core.codes import make_institution_code, make_uscc
from core.models import Organisation, OrgKind, User, UserRole

PASSWORD = "Test-pass-2026"
_seq = itertools.count(1)


def test_database_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None


test_database_url.__test__ = False  # a helper, not a test, wherever it is imported


def scratch_database(tmp_dir: str, suffix: str) -> str:
    """A new, empty database beside the test database (a file on SQLite, a database on PG)."""
    base = test_database_url()
    if not base:
        return f"sqlite:///{tmp_dir}/{suffix}.db"
    url = sa.engine.make_url(base)
    name = f"{url.database}_{suffix}"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_scratch_database(url: str) -> None:
    """Drop a database made by ``scratch_database`` (SQLite files go with their temp dir)."""
    if url.startswith("sqlite"):
        return
    u = sa.engine.make_url(url)
    admin = sa.create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')
    admin.dispose()


def reset_postgres_schema(url: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


@lru_cache(maxsize=1)
def password_hash() -> str:
    # Argon2 is deliberately slow; hash the shared test password once per run.
    return hash_password(PASSWORD)


def make_org(session: Session, kind: OrgKind = OrgKind.enterprise, *, name: str | None = None,
             region: str = "330106", **kw) -> Organisation:
    n = next(_seq)
    if kind == OrgKind.hospital:
        code = make_institution_code(region, n % 100000)
    else:
        body = f"{uuid.uuid4().int % 10**7:07d}"
        code = make_uscc("9" if kind != OrgKind.bureau else "1", "1", region,
                         f"{body}{'ABCDEFGHJKLMNPQRTUWXY'[n % 21]}")
    org = Organisation(kind=kind, name=name or f"{kind.value}-{n}", code=code,
                       region_code=region, **kw)
    session.add(org)
    session.flush()
    return org


def make_user(session: Session, org: Organisation, *roles: str, username: str | None = None,
              disabled: bool = False) -> User:
    n = next(_seq)
    user = User(org_id=org.id, username=username or f"user{n}_{uuid.uuid4().hex[:6]}",
                display_name=f"User {n}", password_hash=password_hash(), disabled=disabled)
    session.add(user)
    session.flush()
    for role in roles or ("org_admin",):
        session.add(UserRole(user_id=user.id, role=role))
    session.flush()
    return user


def login(client, username: str, password: str = PASSWORD):
    """Log in through the real form (CSRF token included)."""
    import re
    page = client.get("/login")
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page.data).group(1).decode()
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token})


def csrf_token(client, path: str = "/account") -> str:
    import re
    page = client.get(path)
    return re.search(rb'name="csrf_token" value="([^"]+)"', page.data).group(1).decode()


def api_token(session: Session, org: Organisation, *scopes: str) -> dict[str, str]:
    """The Authorization header of a new API token of ``org`` with ``scopes`` (all its admin
    may grant when none are named), made by an org admin as in the token tests."""
    from core import services as core_services
    from core.auth import actor_for_user
    from core.permissions import grantable_scopes

    admin = make_user(session, org, "org_admin")
    actor = actor_for_user(session, admin)
    wanted = list(scopes) or grantable_scopes(org.kind, actor.roles)
    _, secret = core_services.create_token(session, actor,
                                           core_services.TokenIn(name="HIS", scopes=wanted))
    return {"Authorization": f"Bearer {secret}"}
