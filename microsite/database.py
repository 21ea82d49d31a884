"""Database setup that differs between SQLite and PostgreSQL."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import event

from .extensions import db, migrate


def engine_options(url: str) -> dict:
    """Pool settings: PostgreSQL connections are checked before use, SQLite needs none."""
    if url.startswith("sqlite"):
        return {}
    return {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 5, "pool_timeout": 10}


def _configure_sqlite(engine, busy_timeout_ms: int) -> None:
    """WAL, a busy timeout and BEGIN IMMEDIATE on every SQLite connection.

    pysqlite opens transactions lazily with a plain BEGIN; a reader that later
    writes then fails at once with "database is locked", whatever the busy
    timeout. Taking the write lock at BEGIN makes writers queue instead.
    """

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def init_app(app: Flask) -> None:
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(url))
    db.init_app(app)
    migrate.init_app(app, db, render_as_batch=url.startswith("sqlite"))
    if url.startswith("sqlite"):
        with app.app_context():
            _configure_sqlite(db.engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])
