"""The Alembic history: a single head, no drift between the models and ``upgrade head``, a clean
``downgrade base``, the audit log's append-only triggers, and the CLI paths honouring
DATABASE_URL (``alembic upgrade head`` and ``flask --app wsgi db upgrade``)."""
from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import Session, SQLModel

from core import audit
from core.app import INSTALLED_MODULES
from core.config import REPO_ROOT
from core.db import make_engine
from core.migrate import alembic_config, downgrade, upgrade
from core.models import AuditLog
from core.permissions import Actor
from tests.support import drop_scratch_database, scratch_database
from tests.support import test_database_url as configured_test_database

AUDIT_TRIGGERS = {"sqlite": {"audit_log_no_update", "audit_log_no_delete"},
                  "postgresql": {"audit_log_no_update"}}


def import_all_models() -> None:
    """What migrations/env.py does: the kernel's models and every business module's."""
    import core.models  # noqa: F401
    for name in INSTALLED_MODULES:
        if importlib.util.find_spec(f"{name}.models") is not None:
            importlib.import_module(f"{name}.models")


def head_revision() -> str:
    (head,) = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    return head


def model_tables() -> set[str]:
    import_all_models()
    return set(SQLModel.metadata.tables)


def drift(url: str) -> list:
    import_all_models()
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": True, "render_as_batch": True})
            return compare_metadata(ctx, SQLModel.metadata)
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def audit_triggers(conn: sa.Connection) -> tuple[set[str], bool]:
    """(trigger names on audit_log, whether PostgreSQL's trigger function exists)."""
    if conn.dialect.name == "postgresql":
        names = set(conn.execute(sa.text(
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE :name"),
            {"name": "audit_log%"}).scalars())
        function = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_proc WHERE proname = 'audit_log_append_only'").scalar_one()
        return names, bool(function)
    names = set(conn.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'"
    ).scalars())
    return names, False


@pytest.fixture
def scratch(tmp_path):
    """Make empty scratch databases (dropped afterwards on PostgreSQL)."""
    made: list[str] = []

    def make(suffix: str) -> str:
        url = scratch_database(str(tmp_path), suffix)
        made.append(url)
        return url

    yield make
    if configured_test_database():
        for url in made:
            drop_scratch_database(url)


# --- the revision history ----------------------------------------------------------------------

def test_single_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, f"several Alembic heads, merge them: {heads}"


def test_no_drift_between_models_and_upgrade_head(database_url) -> None:
    assert current_revision(database_url) == head_revision()
    assert drift(database_url) == []


def test_downgrade_base_and_upgrade_again(scratch) -> None:
    url = scratch("migr")
    upgrade(url)
    assert table_names(url) == model_tables() | {"alembic_version"}

    downgrade(url, "base")
    assert table_names(url) == {"alembic_version"}
    assert current_revision(url) is None

    upgrade(url)
    assert table_names(url) == model_tables() | {"alembic_version"}
    assert current_revision(url) == head_revision()
    assert drift(url) == []


# --- the audit log is append-only in the database too --------------------------------------------

def test_audit_log_append_only_triggers(scratch) -> None:
    url = scratch("migr_audit")
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            names, function = audit_triggers(conn)
            assert names == AUDIT_TRIGGERS[conn.dialect.name]
            assert function == (conn.dialect.name == "postgresql")
            conn.rollback()

            trans = conn.begin()
            try:
                with Session(bind=conn) as session:
                    rec = audit.record(session, Actor.system_actor("migration test"),
                                       "test.append_only", "thing", 1, after={"x": 1})
                    rec_id = rec.id
                for statement in (
                    sa.update(AuditLog).where(AuditLog.id == rec_id).values(action="tampered"),
                    sa.delete(AuditLog).where(AuditLog.id == rec_id),
                ):
                    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                        with conn.begin_nested():
                            conn.execute(statement)
                # The record is untouched; inserting is still allowed.
                row = conn.execute(sa.select(AuditLog.action).where(AuditLog.id == rec_id))
                assert row.scalar_one() == "test.append_only"
            finally:
                trans.rollback()
    finally:
        engine.dispose()

    downgrade(url, "base")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert audit_triggers(conn) == (set(), False)
    finally:
        engine.dispose()


# --- the command-line paths honour DATABASE_URL ---------------------------------------------------

def _cli_env(tmp_path: Path, url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": url,
        "YAOCAI_ENV": "testing",
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "YAOCAI_INSTANCE": str(tmp_path / "instance"),
    })
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_alembic_cli_upgrade_honours_database_url(scratch, tmp_path) -> None:
    url = scratch("migr_cli")
    alembic = Path(sys.executable).parent / "alembic"
    done = _run([str(alembic), "upgrade", "head"], _cli_env(tmp_path, url))
    assert done.returncode == 0, done.stderr
    assert current_revision(url) == head_revision()
    assert table_names(url) == model_tables() | {"alembic_version"}
    # The embedded default (the SQLite file under YAOCAI_INSTANCE) was not used.
    assert not (tmp_path / "instance" / "yaocai.db").exists()


def test_flask_db_upgrade_honours_database_url(scratch, tmp_path) -> None:
    url = scratch("migr_flask")
    flask = Path(sys.executable).parent / "flask"
    done = _run([str(flask), "--app", "wsgi", "db", "upgrade"], _cli_env(tmp_path, url))
    assert done.returncode == 0, done.stderr
    assert current_revision(url) == head_revision()
    assert table_names(url) == model_tables() | {"alembic_version"}
    assert not (tmp_path / "instance" / "yaocai.db").exists()
