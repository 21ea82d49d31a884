"""`flask db backup` and `flask db restore`: checked copies of the SQLite database, and putting one back.

Both go through SQLite's online backup API, never a file copy: a copy of the file while the site
writes can catch half a transaction, and misses what is still in the `-wal` file. The API copies
one consistent snapshot inside a read transaction; in WAL mode the site keeps writing meanwhile.
On PostgreSQL both commands refuse: pg_dump and point-in-time recovery are the tools there (docs/backups.md).

A file to restore is read with `trusted_schema` off (no function its schema names runs unless SQLite
calls it harmless), and refused when it holds a table, index, view or trigger that this release's
migrations do not make: a trigger planted in a backup would run with every write of the site, and
could, say, re-enable a disabled account.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click
from alembic import command as alembic_command
from alembic.script import ScriptDirectory
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_migrate.cli import db as db_group
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from .extensions import db, migrate

# A backup's name, so that pruning never touches a file the operator put beside them.
BACKUP_NAME = re.compile(r"^microsite-\d{8}T\d{6}\.\d{6}Z\.sqlite3$")
SQLITE_MAGIC = b"SQLite format 3\x00"
OUR_TABLES = {"alembic_version", "lead", "notification"}
STALE_PARTIAL_SECONDS = 24 * 3600
LOCK_WAIT_SECONDS = 2.0  # how long restore waits for the site's connections to go before refusing
POSTGRES_HINT = (
    "works on the SQLite database only; on PostgreSQL use pg_dump and point-in-time recovery "
    "(docs/backups.md)"
)


class BackupError(click.ClickException):
    """A refusal with a message for the operator; exits 1."""


def database_path(url: str) -> Path:
    """The SQLite file behind the engine URL, or a refusal for any other database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise BackupError(f"{parsed.get_backend_name()}: this command {POSTGRES_HINT}.")
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError("the database is in memory: there is no file to back up or restore.")
    return Path(parsed.database).resolve()


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def _create_private(path: Path) -> None:
    """An empty file only its owner can read, made before a byte of health information goes in."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _distrusting(connection: sqlite3.Connection) -> sqlite3.Connection:
    """`trusted_schema` off: a view, trigger, default or index in the file may call only the functions
    SQLite marks harmless, whoever wrote its schema."""
    connection.execute("PRAGMA trusted_schema = OFF")
    return connection


def _read_only(path: Path, timeout: float = 5.0) -> sqlite3.Connection:
    """A connection that cannot create or change the file (a typo must not make an empty database)."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    return _distrusting(sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None))


def _schema_objects(connection) -> set[tuple[str, str]]:
    """(type, name) of every table, index, view and trigger, SQLite's own (sqlite_…) left out."""
    rows = connection.execute("SELECT type, name FROM sqlite_master")
    return {(kind, name) for kind, name in rows if not name.startswith("sqlite_")}


def migrations_make(revision: str) -> set[tuple[str, str]]:
    """What this release's migrations make, up to `revision`: run on a scratch database, never the site's."""
    with tempfile.TemporaryDirectory(prefix="microsite-schema-") as scratch:
        engine = create_engine(f"sqlite:///{Path(scratch) / 'reference.sqlite3'}")
        try:
            with engine.begin() as connection:
                config = migrate.get_config()
                config.attributes["connection"] = connection  # migrations/env.py migrates this one
                config.attributes["configure_logger"] = False
                alembic_command.upgrade(config, revision)
            with engine.connect() as connection:
                made = _schema_objects(connection.connection.driver_connection)
        finally:
            engine.dispose()
    return made


def refuse_foreign(path: Path, revision: str) -> None:
    """Refuse a file with a table, index, view or trigger the migrations up to its revision do not make."""
    with closing(_read_only(path)) as connection:
        found = _schema_objects(connection)
    foreign = sorted(found - migrations_make(revision))
    if foreign:
        named = ", ".join(f"{kind} {name!r}" for kind, name in foreign)
        raise BackupError(
            f"{path} holds what this site's migrations never made: {named}. A trigger or view planted "
            "in a backup would run inside the site; restore a backup `flask db backup` wrote"
        )


def _verify(connection: sqlite3.Connection) -> str:
    """integrity_check passes and our tables are there; the schema's revision."""
    try:
        problems = [row[0] for row in connection.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(f"integrity_check failed: {'; '.join(problems[:5])}")
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if missing := OUR_TABLES - tables:
            raise BackupError(f"not a database of this site: no {', '.join(sorted(missing))} table")
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"not a usable SQLite database: {exc}") from exc
    if revision is None:
        raise BackupError("the schema has no alembic version: run `flask db upgrade` on the site first")
    return revision[0]


def _begin_read(connection: sqlite3.Connection, path: Path) -> None:
    """Open the read transaction the copy is made in, within the busy timeout.

    Python's backup() retries a locked source forever; a read first turns a database held by a
    restore into a clear refusal instead.
    """
    try:
        connection.execute("BEGIN")
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as exc:
        raise BackupError(f"cannot read {path} ({exc}): is a restore running?") from exc


def check(path: Path) -> str:
    """A backup file that can be put back: a SQLite database of this site that passes integrity_check."""
    try:
        with open(path, "rb") as fh:
            if fh.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
                raise BackupError(f"{path} is not a SQLite database")
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from exc
    with closing(_read_only(path)) as connection:
        return _verify(connection)


def backup(source: Path, directory: Path, busy_timeout: float) -> tuple[Path, str]:
    """Copy `source` into a new, checked, 0600 file in `directory`; its path and schema revision.

    It is written under a temporary name and renamed when complete and checked, so a half-written
    file never looks like a backup (nor is ever pruned in place of a good one).
    """
    if not source.exists():
        raise BackupError(f"no database at {source}")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    final = directory / f"microsite-{_stamp()}.sqlite3"
    partial = directory / f".{final.name}.partial"
    _create_private(partial)
    try:
        with (
            closing(_read_only(source, busy_timeout)) as src,
            closing(_distrusting(sqlite3.connect(partial, isolation_level=None))) as dst,
        ):
            _begin_read(src, source)
            src.backup(dst)  # all pages in one step, inside that read transaction: one snapshot
            # The copy keeps the site's WAL flag; a backup is one self-contained file.
            dst.execute("PRAGMA journal_mode = DELETE")
            revision = _verify(dst)
        _fsync(partial)
        partial.rename(final)
        _fsync(directory)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return final, revision


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups of our own naming; what was deleted.

    A partial file a day old is from a backup that was killed, never one still being written.
    """
    ours = sorted(p for p in directory.iterdir() if BACKUP_NAME.match(p.name) and p.is_file())
    old = ours[: max(len(ours) - keep, 0)]
    for path in old:
        path.unlink()
    for path in directory.glob(".microsite-*.sqlite3.partial"):
        if time.time() - path.stat().st_mtime > STALE_PARTIAL_SECONDS:
            path.unlink(missing_ok=True)
    return old


@contextmanager
def exclusive(live: Path) -> Iterator[sqlite3.Connection]:
    """The live database, locked against every other connection, or a refusal while the site has it open.

    In WAL mode an open connection keeps a shared lock on the file, so an exclusive lock is only
    granted when no process has the database open. EXCLUSIVE locking mode keeps it until close.
    """
    connection = _distrusting(sqlite3.connect(live, timeout=LOCK_WAIT_SECONDS, isolation_level=None))
    try:
        connection.execute("PRAGMA locking_mode = EXCLUSIVE")
        try:
            connection.execute("BEGIN EXCLUSIVE")
            connection.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            raise BackupError(
                f"{live} is in use ({exc}): stop the site first (systemctl stop microsite-web "
                "microsite-outbox, and any `flask` command), then restore"
            ) from exc
        yield connection
    finally:
        connection.close()


def restore(backup_file: Path, live: Path) -> Path | None:
    """Put `backup_file` in place of the live database; where the replaced one was kept, if any."""
    fresh = not live.exists() or live.stat().st_size == 0
    if not live.exists():
        live.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _create_private(live)
    aside = None
    with exclusive(live) as target:
        if not fresh:
            # A copy through SQLite rather than a rename: what is still in the -wal file comes along,
            # and the live file keeps its owner and mode.
            aside = live.with_name(f"{live.name}.replaced-{_stamp()}")
            _create_private(aside)
            with closing(sqlite3.connect(aside, isolation_level=None)) as kept:
                target.backup(kept)
                kept.execute("PRAGMA journal_mode = DELETE")
            _fsync(aside)
        with closing(_read_only(backup_file)) as src:
            src.backup(target)  # one transaction: a crash leaves the old database, not half of each
        _verify(target)
    return aside


# -- the commands, added to Flask-Migrate's `flask db` group ----------------------------------


def _known_revisions() -> set[str]:
    """This release's migrations: a backup from a newer one would leave `db upgrade` unable to start."""
    config = migrate.get_config()
    return {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}


@click.command("backup")
@click.option(
    "--to",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write it (default: BACKUP_DIR, instance/backups/).",
)
@with_appcontext
def backup_command(directory: Path | None) -> None:
    """Write a checked copy of the SQLite database while the site serves; keep the newest BACKUP_KEEP."""
    source = database_path(current_app.config["SQLALCHEMY_DATABASE_URI"])
    keep = current_app.config["BACKUP_KEEP"]
    if keep < 1:
        raise BackupError(f"BACKUP_KEEP is {keep}: keep at least 1 backup")
    directory = directory or Path(current_app.config["BACKUP_DIR"])
    path, revision = backup(source, directory, current_app.config["SQLITE_BUSY_TIMEOUT_MS"] / 1000)
    deleted = prune(directory, keep)
    click.echo(path)
    click.echo(f"backup: checked (integrity ok, schema {revision}); {len(deleted)} older backup(s) deleted, "
               f"the newest {keep} kept", err=True)  # fmt: skip


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def restore_command(file: Path, yes: bool) -> None:
    """Put a backup in place of the SQLite database, with the site stopped; the replaced file is kept."""
    live = database_path(current_app.config["SQLALCHEMY_DATABASE_URI"])
    if file.resolve() == live:
        raise BackupError(f"{file} is the live database itself: give a backup file")
    revision = check(file)
    if revision not in _known_revisions():
        raise BackupError(f"{file} has schema {revision}, from a newer release: deploy that release first")
    refuse_foreign(file, revision)
    click.echo(f"{file}: integrity ok, schema {revision}, nothing our migrations did not make")
    if not yes:
        click.confirm(f"Replace {live} with it? (the current database is kept beside it)", abort=True)
    db.engine.dispose()  # this process's own pooled connections would hold the lock it needs
    aside = restore(file.resolve(), live)
    if aside:
        click.echo(f"restore: the replaced database is kept at {aside}")
    click.echo(f"restore: {live} now holds {file}; run `flask --app wsgi db upgrade`, then start the site")


def init_app(app: Flask) -> None:
    """Add `backup` and `restore` to Flask-Migrate's `db` group (a plain click group, shared)."""
    db_group.add_command(backup_command)
    db_group.add_command(restore_command)
