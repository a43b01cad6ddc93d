"""Fixtures: one migrated database per run (``alembic upgrade head``), each test inside a
rolled-back transaction. SQLite by default; PostgreSQL when TEST_DATABASE_URL is set; the
broker follows BROKER_URL (unset: in-process)."""
from __future__ import annotations

import os
import uuid

import pytest
from hypothesis import HealthCheck, settings

from core.app import create_app
from core.migrate import upgrade
from core.permissions import Actor
from tests.support import reset_postgres_schema, test_database_url

# Property tests judge results, not speed: a wall-clock deadline or the "generation is slow"
# health check measures how busy the machine is (a second suite on the other core, a database
# server), not the code, so both are off; speed is measured by the benchmarks under bench/.
settings.register_profile("yaocai", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("yaocai")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = test_database_url()
    if url:
        reset_postgres_schema(url)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db')}/test.db"
    upgrade(url)
    return url


def make_test_app(database_url: str, tmp_path_factory, **overrides):
    settings = {
        "DATABASE_URL": database_url,
        "YAOCAI_ENV": "testing",
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "YAOCAI_INSTANCE": str(tmp_path_factory.mktemp("instance")),
        "extra": {"broker_namespace": f"yaocai-test-{uuid.uuid4().hex[:8]}",
                  "job_min_backoff_ms": 50},
    }
    settings.update(overrides)
    return create_app(settings)


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    app = make_test_app(database_url, tmp_path_factory)
    yield app
    app.extensions["yaocai.db"].dispose()


@pytest.fixture
def db(app):
    """Bind every session of the app to one connection whose transaction is rolled back."""
    database = app.extensions["yaocai.db"]
    conn = database.engine.connect()
    trans = conn.begin()
    database.bind_override = conn
    try:
        yield conn
    finally:
        database.bind_override = None
        trans.rollback()
        conn.close()


@pytest.fixture
def session(app, db):
    # No app context is pushed here on purpose: a request made by the test client would
    # reuse it, and with it ``g`` (the cached actor and session) across requests.
    s = app.extensions["yaocai.db"].new_session()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def client(app, db):
    return app.test_client()


@pytest.fixture
def system_actor() -> Actor:
    return Actor.system_actor("test")


def pytest_report_header(config):
    return [f"database: {test_database_url() or 'sqlite (temporary file)'}",
            f"broker: {os.environ.get('BROKER_URL') or 'in-process'}"]
