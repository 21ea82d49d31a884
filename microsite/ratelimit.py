"""Rate-limit counters that every gunicorn worker on the machine shares: a small SQLite file.

Flask-Limiter keeps its counters in a `limits` storage. `memory://` is one per process, so with
gunicorn's N workers a "5 per minute" limit lets 5 x N through; Redis is shared but is one more
server to run. On one box without Redis the counters live here instead, in their own SQLite file
(never the leads' database, so counting a flood never queues for the write lock a visitor's POST
needs). It is `limits`' documented extension point: a `Storage` subclass with a `STORAGE_SCHEME`,
selected by `RATELIMIT_STORAGE_URI=microsite-sqlite:///path/to/file`. Only Flask-Limiter's default
fixed-window strategy is supported (incr, get, get_expiry), as Redis and memory do it: a window
starts with its first hit and its count is kept until it expires.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from limits.storage import Storage

SCHEME = "microsite-sqlite"
SWEEP_SECONDS = 60.0  # expired windows are deleted at most this often per process

_SCHEMA = """CREATE TABLE IF NOT EXISTS counter (
    key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires_at REAL NOT NULL
) WITHOUT ROWID"""
# A live window gains `amount`; an expired one (not yet swept) starts again, as a new key would.
_INCREMENT = """INSERT INTO counter (key, count, expires_at) VALUES (:key, :amount, :expires_at)
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN counter.expires_at <= :now THEN excluded.count ELSE counter.count + excluded.count END,
    expires_at = CASE WHEN counter.expires_at <= :now THEN excluded.expires_at ELSE counter.expires_at END
RETURNING count"""


def storage_uri(path: Path) -> str:
    """The RATELIMIT_STORAGE_URI that keeps the counters in the SQLite file at `path`."""
    return f"{SCHEME}://{Path(path).resolve()}"


def default_storage_uri(database_url: str, instance_path: Path) -> str:
    """Where the counters live when RATELIMIT_STORAGE_URI is not set: a file the box's workers share.

    Beside the SQLite database when there is one (the one-box set-up, and every test's own folder),
    else in instance/. Several machines need RATELIMIT_STORAGE_URI=redis://… to count together.
    """
    if database_url.startswith("sqlite:///") and database_url != "sqlite:///:memory:":
        database = Path(database_url.removeprefix("sqlite:///").split("?", 1)[0])
        return storage_uri(database.with_name("ratelimit.sqlite3"))
    return storage_uri(instance_path / "ratelimit.sqlite3")


class SQLiteStorage(Storage):
    """Fixed-window counters in one SQLite file: WAL, a busy timeout, BEGIN IMMEDIATE per increment."""

    STORAGE_SCHEME = [SCHEME]  # noqa: RUF012 -- limits reads the class attribute as a list

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any):
        self.path = Path(uri.split("://", 1)[1]) if uri else Path("ratelimit.sqlite3")
        self.timeout = float(options.get("timeout", 5.0))
        self.clock = time.time  # what "now" is; the tests turn it forward instead of sleeping
        self._local = threading.local()
        self._last_sweep = 0.0
        super().__init__(uri, wrap_exceptions=wrap_exceptions)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        # Raised to Flask-Limiter, which falls back to memory and swallows errors as configured: a
        # broken counter file never refuses a lead.
        return (sqlite3.Error, OSError)

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection (opened again after a fork: a connection never crosses one)."""
        connection = getattr(self._local, "connection", None)
        if connection is not None and self._local.pid == os.getpid():
            return connection
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Opened one at a time across the box's workers and threads (a lock on a file beside it): a new
        # file switched to WAL while another process already had it open in the default journal mode
        # gave each process counters of its own, or "disk I/O error", and the limit N times over.
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released as the file closes
            connection = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            # The counters name client addresses: the file is the app's alone, whatever the umask.
            # (chmod, not an open and close of our own: closing any descriptor of the file drops every
            # POSIX lock this process holds on it, those of the other threads' connections too.)
            os.chmod(self.path, 0o600)
            # WAL: reads never wait for an increment. Kept in the file, so set once for every opener.
            connection.execute("PRAGMA journal_mode = WAL")
            # A counter lost in a power cut costs nothing; no fsync per increment.
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute(_SCHEMA)
        self._local.connection, self._local.pid = connection, os.getpid()
        return connection

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the lock as it begins, so it waits its turn, never fails midway."""
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            if connection.in_transaction:  # an error may have ended it already
                connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add `amount` to the key's window (a new one of `expiry` seconds if none is live); the new count."""
        now = self.clock()
        with self._writing() as connection:
            count = connection.execute(
                _INCREMENT, {"key": key, "amount": amount, "expires_at": now + expiry, "now": now}
            ).fetchone()[0]
            if now - self._last_sweep > SWEEP_SECONDS:
                self._last_sweep = now
                connection.execute("DELETE FROM counter WHERE expires_at <= ?", (now,))
        return count

    def _live(self, key: str, now: float) -> tuple[int, float] | None:
        """The key's count and end of window, if it has a live one."""
        query = "SELECT count, expires_at FROM counter WHERE key = ? AND expires_at > ?"
        return self._connection().execute(query, (key, now)).fetchone()

    def get(self, key: str) -> int:
        """The key's count in its live window, 0 if none."""
        live = self._live(key, self.clock())
        return live[0] if live else 0

    def get_expiry(self, key: str) -> float:
        """When the key's window ends (epoch seconds); now if it has none, as the memory storage says."""
        now = self.clock()
        live = self._live(key, now)
        return live[1] if live else now

    def check(self) -> bool:
        """Whether the file can be read: Flask-Limiter asks before leaving its in-memory fallback."""
        try:
            self._connection().execute("SELECT count(*) FROM counter").fetchone()
        except (sqlite3.Error, OSError):
            return False
        return True

    def reset(self) -> int | None:
        """Forget every counter; how many there were."""
        with self._writing() as connection:
            return connection.execute("DELETE FROM counter").rowcount

    def clear(self, key: str) -> None:
        """Forget one key's counter."""
        with self._writing() as connection:
            connection.execute("DELETE FROM counter WHERE key = ?", (key,))
