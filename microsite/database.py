"""Database setup that differs between SQLite and PostgreSQL."""

from __future__ import annotations

import fcntl
import os
import threading
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


class _WriterQueue:
    """The order in which this process's connections take SQLite's single write lock.

    Threads queue on a threading lock, which wakes the next one the moment it is let go.
    The thread at the head then takes a lock file beside the database, which orders the
    processes: it polls that every fifth of a millisecond, so a lock let go by another
    process is taken almost at once. (SQLite's own busy handler sleeps 25-100 ms between
    tries: under load, writers slept while the lock was free.) Past the busy timeout a
    writer goes on regardless: BEGIN IMMEDIATE then waits its own busy timeout and fails
    as it would have.
    """

    POLL_SECONDS = 0.0002

    def __init__(self):
        self.threads = threading.Lock()

    def take(self, fd: int, timeout_s: float) -> bool:
        """Queue for the write lock; True when this thread holds the threading lock (to let go at checkin)."""
        deadline = time.monotonic() + timeout_s
        if not self.threads.acquire(timeout=timeout_s):
            return False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return True
                time.sleep(self.POLL_SECONDS)

    def let_go(self, fd: int, holds_thread_lock: bool) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        if holds_thread_lock:
            self.threads.release()


def _configure_sqlite(engine, busy_timeout_ms: int) -> None:
    """WAL, a busy timeout and BEGIN IMMEDIATE on every SQLite connection.

    pysqlite opens transactions lazily with a plain BEGIN; a reader that later
    writes then fails at once with "database is locked", whatever the busy
    timeout. Taking the write lock at BEGIN makes writers queue instead, on a
    lock file (see _WriterQueue) held until the connection goes back to the pool.
    """
    database = engine.url.database
    lock_path = f"{database}-writer.lock" if database and database != ":memory:" else None
    writers = _WriterQueue()

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
        info = connection.connection.info
        fd = info.get("writer_lock")
        if fd is not None and "writer_queued" not in info:
            info["writer_queued"] = writers.take(fd, busy_timeout_ms / 1000)
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    def let_go(info: dict) -> None:
        fd = info.get("writer_lock")
        if fd is not None and "writer_queued" in info:
            writers.let_go(fd, info.pop("writer_queued"))

    @event.listens_for(engine, "checkin")
    def on_checkin(dbapi_connection, record):
        if record is not None:
            let_go(record.info)

    @event.listens_for(engine, "close")
    def on_close(dbapi_connection, record):
        if record is not None and "writer_lock" in record.info:
            let_go(record.info)
            os.close(record.info.pop("writer_lock"))


def init_app(app: Flask) -> None:
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(url))
    db.init_app(app)
    migrate.init_app(app, db, render_as_batch=url.startswith("sqlite"))
    if url.startswith("sqlite"):
        with app.app_context():
            _configure_sqlite(db.engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])
