"""Database setup that differs between SQLite and PostgreSQL."""

from __future__ import annotations

import fcntl
import os
import time

from flask import Flask
from sqlalchemy import event

from .extensions import db, migrate

# An execution option: this connection only reads, so SQLite may begin without the write lock.
READ_ONLY = "microsite_read_only"


def engine_options(url: str) -> dict:
    """Pool settings: PostgreSQL connections are checked before use, SQLite needs none."""
    if url.startswith("sqlite"):
        return {}
    return {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 5, "pool_timeout": 10}


def _take_writer_lock(fd: int, timeout_s: float) -> None:
    """Queue for the write lock on a lock file beside the database, polling every millisecond or two.

    SQLite's own busy handler backs off to sleeps of 25-100 ms, so under load writers sleep while
    the lock is free (POSTs on 5 gunicorn workers ran at a tenth of their speed). Past the busy
    timeout we go on regardless: BEGIN IMMEDIATE then waits its own busy timeout and fails as before.
    """
    deadline = time.monotonic() + timeout_s
    pause = 0.0002
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                return
            time.sleep(pause)
            pause = min(pause * 2, 0.002)


def _configure_sqlite(engine, busy_timeout_ms: int) -> None:
    """WAL, a busy timeout and BEGIN IMMEDIATE on every SQLite connection.

    pysqlite opens transactions lazily with a plain BEGIN; a reader that later
    writes then fails at once with "database is locked", whatever the busy
    timeout. Taking the write lock at BEGIN makes writers queue instead, on a
    lock file (see _take_writer_lock) held until the connection goes back to the pool.
    """
    database = engine.url.database
    lock_path = f"{database}-writer.lock" if database and database != ":memory:" else None

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, record):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()
        if lock_path:
            record.info["writer_lock"] = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        if connection.get_execution_options().get(READ_ONLY):
            # A reader (the health check) must not queue behind writers; WAL lets it read meanwhile.
            connection.exec_driver_sql("BEGIN")
            return
        fd = connection.connection.info.get("writer_lock")
        if fd is not None:
            _take_writer_lock(fd, busy_timeout_ms / 1000)
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine, "checkin")
    def on_checkin(dbapi_connection, record):
        fd = record.info.get("writer_lock") if record is not None else None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)

    @event.listens_for(engine, "close")
    def on_close(dbapi_connection, record):
        fd = record.info.pop("writer_lock", None) if record is not None else None
        if fd is not None:
            os.close(fd)  # closing the file also lets go of its lock


def init_app(app: Flask) -> None:
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(url))
    db.init_app(app)
    migrate.init_app(app, db, render_as_batch=url.startswith("sqlite"))
    if url.startswith("sqlite"):
        with app.app_context():
            _configure_sqlite(db.engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])
