"""Database setup that differs between SQLite and PostgreSQL, and the one way to write.

SQLite takes one writer at a time. As Django 5.1's `transaction_mode` does, a transaction that
writes says so when it begins (`BEGIN IMMEDIATE`): it queues for the write lock at the start,
within the busy timeout, instead of failing halfway when a deferred reader tries to become a
writer after someone else committed. Every other transaction is a plain deferred `BEGIN`: in WAL
mode readers never wait for the writer, nor the writer for them. So a staff member reading a
10,000-lead CSV, or a login hashing a password, never holds up a visitor's request.

Code that writes does it inside `writing()` (the ORM session) or `write_connection()` (Core).
On PostgreSQL both are ordinary transactions.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from sqlalchemy import Connection, event
from sqlalchemy.orm import Session

from .extensions import db, migrate

log = logging.getLogger(__name__)

# An execution option: this transaction will write, so SQLite takes the write lock as it begins.
WRITE = "microsite_write"
_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class DeferredWriteWarning(RuntimeWarning):
    """A write inside a transaction that began as a reader: it can fail at once under load.

    The tests turn this into an error (pyproject.toml), so a write path that forgot `writing()`
    cannot land.
    """


def engine_options(url: str) -> dict:
    """Engine settings: PostgreSQL connections are pooled and checked before use."""
    # hide_parameters: a database error's message never carries a visitor's data into a log.
    if url.startswith("sqlite"):
        return {"hide_parameters": True}
    return {"hide_parameters": True, "pool_pre_ping": True, "pool_size": 5, "max_overflow": 5,
            "pool_timeout": 10}  # fmt: skip


def _configure_sqlite(engine, busy_timeout_ms: int) -> None:
    """WAL, a busy timeout, and BEGIN IMMEDIATE for the transactions that write."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, record):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        # A schema (a view, trigger, default) may call only the functions SQLite marks harmless.
        cursor.execute("PRAGMA trusted_schema = OFF")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection):
        writes = bool(connection.get_execution_options().get(WRITE))
        connection.connection.info["writes"] = writes
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    @event.listens_for(engine, "before_cursor_execute")
    def on_execute(connection, cursor, statement, parameters, context, executemany):
        if not connection.connection.info.get("writes") and statement.lstrip()[:7].upper().startswith(
            _WRITE_VERBS
        ):
            warnings.warn(
                f"a write in a transaction not begun with writing(): {statement[:60]!r}",
                DeferredWriteWarning,
                stacklevel=2,
            )


@contextmanager
def writing() -> Iterator[Session]:
    """A write transaction on `db.session`, committed at the end (rolled back on an error).

    A read transaction still open on the session is ended first: on SQLite a reader cannot safely
    become a writer. Objects loaded before are reloaded inside, so what is changed is current.
    """
    session = db.session()  # this thread's session, which `db.session` stands for
    if session.in_transaction():
        session.commit()
    session.connection(execution_options={WRITE: True})
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


@contextmanager
def write_connection() -> Iterator[Connection]:
    """A Core connection in a write transaction, committed at the end: the capture's fast path."""
    with db.engine.connect().execution_options(**{WRITE: True}) as connection, connection.begin():
        yield connection


def init_app(app: Flask) -> None:
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(url))
    db.init_app(app)
    migrate.init_app(app, db, render_as_batch=url.startswith("sqlite"))
    if url.startswith("sqlite"):
        with app.app_context():
            _configure_sqlite(db.engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])
