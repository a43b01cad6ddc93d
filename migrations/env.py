"""Alembic environment: SQLModel.metadata of the kernel and every business module."""
from __future__ import annotations

import importlib
import importlib.util
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlmodel import SQLModel

import core.models  # noqa: F401,E402
from core.app import INSTALLED_MODULES
from core.config import resolve_database_url
from core.db import make_engine

for _name in INSTALLED_MODULES:
    if importlib.util.find_spec(f"{_name}.models") is not None:
        importlib.import_module(f"{_name}.models")

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True) \
        and not config.attributes.get("database_url"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> Any:
    """Render our column types so revisions never import model enums."""
    from core.money import Price
    from core.types import EnumStr, UTCDateTime

    if type_ == "type":
        if isinstance(obj, EnumStr):
            return f"sa.String(length={obj.impl.length})"
        if isinstance(obj, UTCDateTime):
            return "core.types.UTCDateTime()"
        if isinstance(obj, Price):
            return "core.money.Price()"
        if type(obj).__module__.startswith("sqlmodel"):
            # sqlmodel's AutoString is a plain VARCHAR.
            length = getattr(obj, "length", None)
            return f"sa.String(length={length})" if length else "sa.String()"
    return False


def _url() -> str:
    return config.attributes.get("database_url") or resolve_database_url()


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True, render_item=render_item, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


def _run(connection: Any) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True, render_item=render_item, compare_type=True,
                      transaction_per_migration=False)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
