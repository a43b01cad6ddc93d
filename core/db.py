"""Engine, sessions and the one-transaction-per-unit-of-work rule.

Services receive a ``Session`` and only ``flush()``. The framework layer owns the transaction:
``core.web.requires`` commits once per request, ``core.jobs`` once per job, the CLI once per
command. Jobs enqueued inside a transaction are sent only after it commits (see
``core.jobs.enqueue``), using the ``after_commit`` hook registered here.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from flask import current_app, g, has_app_context
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, SQLModel

# Constraint names must be deterministic so Alembic can drop and alter them on every backend.
# This must be set before the first table is declared; every models module imports this one.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def make_engine(url: str) -> Engine:
    """Create the engine; SQLite gets WAL, foreign keys and real transactions."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn, _record):  # pragma: no cover - trivial
            # pysqlite's own transaction handling breaks SAVEPOINT; issue BEGIN ourselves.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            if not url.endswith(":memory:") and url != "sqlite://":
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover - trivial
            # IMMEDIATE takes the write lock up front: a deferred transaction that reads and
            # then writes fails at once with "database is locked" in WAL mode when another
            # connection committed in between, whatever busy_timeout says. SQLite is the
            # embedded trial backend; serialising its transactions is the price of that.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


class Database:
    """Holds the engine and hands out sessions.

    Tests set ``bind_override`` to a connection inside an outer transaction; every session then
    works in a SAVEPOINT of it, and the test rolls everything back at the end.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.bind_override: Connection | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def new_session(self) -> Session:
        if self.bind_override is not None:
            return Session(bind=self.bind_override, expire_on_commit=False,
                           join_transaction_mode="create_savepoint")
        return Session(bind=self.engine, expire_on_commit=False)

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on any error."""
        session = self.new_session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def get_db() -> Database:
    return current_app.extensions["yaocai.db"]


def get_session() -> Session:
    """The session of the current request (created on first use, closed at teardown)."""
    if "db_session" not in g:
        g.db_session = get_db().new_session()
    return g.db_session


def close_request_session(exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None) if has_app_context() else None
    if session is None:
        return
    try:
        if exc is not None or session.in_transaction():
            # Anything not committed by the request's unit of work is discarded.
            session.rollback()
    finally:
        session.close()


def commit_request_session() -> None:
    session = g.get("db_session")
    if session is not None:
        session.commit()


def rollback_request_session() -> None:
    """Discard the request's work now, so what is rendered next (an error page and its
    navigation) reads through a usable session: after a failed flush any query would raise
    ``PendingRollbackError`` until the session is rolled back."""
    session = g.get("db_session") if has_app_context() else None
    if session is not None:
        session.rollback()


# --- after-commit hooks (enqueue-after-commit) ---------------------------------------------

def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the session's transaction commits; drop it on rollback.

    The callback is tagged with the innermost transaction open now, so rolling back a
    SAVEPOINT drops the callbacks registered inside it and keeps the others.
    """
    tx = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault("after_commit", []).append((tx, callback))


def _inside(tx, target) -> bool:
    while tx is not None:
        if tx is target:
            return True
        tx = tx.parent
    return False


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_commit(session: Session, previous_transaction) -> None:
    """A rollback drops the callbacks registered inside the rolled-back transaction."""
    pending = session.info.get("after_commit")
    if pending:
        session.info["after_commit"] = [(tx, cb) for tx, cb in pending
                                        if not _inside(tx, previous_transaction)]


@event.listens_for(Session, "after_commit")
def _note_commit(session: Session) -> None:
    # Fires for SAVEPOINT releases too; only the outermost transaction's commit counts below.
    if session.get_nested_transaction() is None:
        session.info["after_commit_root_committed"] = session.get_transaction()


@event.listens_for(Session, "after_transaction_end")
def _run_after_commit(session: Session, transaction) -> None:
    """When the session's outermost transaction ends: run the callbacks if it committed,
    drop them if it rolled back (this event comes before ``after_soft_rollback``)."""
    if transaction.parent is not None:
        return
    committed = session.info.pop("after_commit_root_committed", None) is transaction
    callbacks = session.info.pop("after_commit", [])
    if committed:
        for _tx, cb in callbacks:
            cb()
