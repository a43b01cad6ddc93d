"""Settings read from the environment and validated at start-up.

Nothing here runs at import time; ``load_settings`` is called by ``create_app``.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = REPO_ROOT / "instance"
ENVIRONMENTS = ("development", "production", "testing")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(RuntimeError):
    """The environment describes a configuration the platform refuses to start with."""


@dataclass(frozen=True)
class Settings:
    env: str
    database_url: str
    broker_url: str | None
    secret_key: str
    log_level: str
    instance_path: Path
    # Knobs with production defaults that tests may tighten.
    login_max_failures: int = 5
    login_window_minutes: int = 15
    login_ip_max_failures: int = 30
    job_max_retries: int = 3
    run_inprocess_worker: bool = True
    run_scheduler: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_testing(self) -> bool:
        return self.env == "testing"

    @property
    def broker_kind(self) -> str:
        """``inprocess`` | ``redis`` | ``rabbitmq``."""
        if not self.broker_url:
            return "inprocess"
        return "redis" if self.broker_url.startswith(("redis://", "rediss://")) else "rabbitmq"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def default_database_url(instance_path: Path = DEFAULT_INSTANCE) -> str:
    return f"sqlite:///{instance_path / 'yaocai.db'}"


def resolve_database_url(env: Mapping[str, str] | None = None) -> str:
    """The database ``DATABASE_URL`` names, or the embedded SQLite file. Used by Alembic too."""
    env = os.environ if env is None else env
    url = env.get("DATABASE_URL", "").strip()
    if not url:
        return default_database_url(Path(env.get("YAOCAI_INSTANCE", DEFAULT_INSTANCE)))
    if url.startswith("postgres://") or url.startswith("postgresql://"):
        # Normalise to the psycopg 3 driver, the only PostgreSQL driver we ship.
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _secret_key(env: Mapping[str, str], app_env: str, instance_path: Path) -> str:
    key = env.get("SECRET_KEY", "").strip()
    if key:
        if app_env == "production" and len(key) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters in production")
        return key
    if app_env == "production":
        raise ConfigError("SECRET_KEY is required when YAOCAI_ENV=production")
    # Development and trials: generate once and keep it, so sessions survive restarts.
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def load_settings(overrides: Mapping[str, Any] | None = None,
                  env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate settings; ``overrides`` (tests) win over the environment."""
    env = dict(os.environ if env is None else env)
    overrides = dict(overrides or {})
    for key in ("DATABASE_URL", "BROKER_URL", "SECRET_KEY", "YAOCAI_ENV", "LOG_LEVEL",
                "YAOCAI_INSTANCE"):
        if key in overrides:
            value = overrides.pop(key)
            if value is None:
                env.pop(key, None)
            else:
                env[key] = str(value)

    app_env = env.get("YAOCAI_ENV", "development").strip() or "development"
    if app_env not in ENVIRONMENTS:
        raise ConfigError(f"YAOCAI_ENV must be one of {', '.join(ENVIRONMENTS)}, got {app_env!r}")
    log_level = (env.get("LOG_LEVEL", "INFO").strip() or "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    instance_path = Path(env.get("YAOCAI_INSTANCE", DEFAULT_INSTANCE)).resolve()

    database_url = resolve_database_url(env)
    if not database_url.startswith(("sqlite", "postgresql+psycopg://")):
        raise ConfigError("DATABASE_URL must be a sqlite:/// or postgresql+psycopg:// URL")
    if app_env == "production" and database_url.startswith("sqlite"):
        # Allowed for trials, but say so loudly in the logs (see create_app).
        pass

    broker_url = env.get("BROKER_URL", "").strip() or None
    if broker_url and not broker_url.startswith(("redis://", "rediss://", "amqp://", "amqps://")):
        raise ConfigError("BROKER_URL must be a redis:// or amqp:// URL, or unset for in-process jobs")

    known = {f for f in Settings.__dataclass_fields__}
    unknown = set(overrides) - known
    if unknown:
        raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
    return Settings(
        env=app_env,
        database_url=database_url,
        broker_url=broker_url,
        secret_key=_secret_key(env, app_env, instance_path),
        log_level=log_level,
        instance_path=instance_path,
        **overrides,
    )
