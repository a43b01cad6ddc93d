"""Settings are read from the environment and validated at start-up."""
from __future__ import annotations

import pytest

from core.config import ConfigError, load_settings


def test_defaults_use_embedded_sqlite_and_inprocess_jobs(tmp_path):
    s = load_settings(env={"YAOCAI_INSTANCE": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'yaocai.db'}"
    assert s.broker_kind == "inprocess" and s.env == "development"
    # The secret key is generated once and kept in the instance folder.
    assert (tmp_path / "secret_key").read_text() == s.secret_key
    assert load_settings(env={"YAOCAI_INSTANCE": str(tmp_path)}).secret_key == s.secret_key


def test_production_refuses_to_start_without_secret(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings(env={"YAOCAI_ENV": "production", "YAOCAI_INSTANCE": str(tmp_path)})
    with pytest.raises(ConfigError, match="32"):
        load_settings(env={"YAOCAI_ENV": "production", "SECRET_KEY": "short"})


@pytest.mark.parametrize("env,match", [
    ({"YAOCAI_ENV": "staging"}, "YAOCAI_ENV"),
    ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
    ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
    ({"BROKER_URL": "kafka://x"}, "BROKER_URL"),
])
def test_bad_values_are_named(tmp_path, env, match):
    with pytest.raises(ConfigError, match=match):
        load_settings(env={"YAOCAI_INSTANCE": str(tmp_path), **env})


def test_broker_and_database_kinds(tmp_path):
    base = {"YAOCAI_INSTANCE": str(tmp_path)}
    assert load_settings(env={**base, "BROKER_URL": "redis://127.0.0.1:6379/0"}).broker_kind \
        == "redis"
    assert load_settings(env={**base, "BROKER_URL": "amqp://guest:guest@127.0.0.1:5672"}
                         ).broker_kind == "rabbitmq"
    s = load_settings(env={**base, "DATABASE_URL": "postgresql://u@h/db"})
    assert s.database_url == "postgresql+psycopg://u@h/db"


def test_production_cookies_are_secure(tmp_path):
    from core.app import create_app
    app = create_app({"YAOCAI_ENV": "production", "SECRET_KEY": "x" * 40,
                      "YAOCAI_INSTANCE": str(tmp_path),
                      "DATABASE_URL": f"sqlite:///{tmp_path}/p.db"})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    app.extensions["yaocai.db"].dispose()


def test_sqlite_pragmas(app, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite only")
    with app.extensions["yaocai.db"].engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
