"""`flask db backup` and `flask db restore`: copies taken while the site serves, put back."""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest
from conftest import make_config, submit

from microsite import create_app
from microsite.backup import BACKUP_NAME
from microsite.extensions import db

# -- in process: a migrated SQLite file and the Flask CLI runner ------------------------------------


def site(tmp_path: Path, name: str = "site.sqlite3", **overrides):
    """An app on a SQLite file whose schema `flask db upgrade` made, as in production."""
    overrides.setdefault("BACKUP_DIR", str(tmp_path / "backups"))
    app = create_app(make_config(f"sqlite:///{tmp_path / name}", tmp_path, **overrides))
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    return app


def post_leads(app, first: int, count: int) -> None:
    client = app.test_client()
    for n in range(first, first + count):
        answer = submit(
            client, full_name=f"Visitor {n}", phone=f"941200{n:04d}", email=f"visitor{n}@example.com"
        )
        assert answer.status_code == 303, answer.status_code


def emails(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as connection:
        return {row[0] for row in connection.execute("SELECT email FROM lead")}


def integrity(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as connection:
        return [row[0] for row in connection.execute("PRAGMA integrity_check")]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run(app, *args: str, input: str | None = None):
    return app.test_cli_runner().invoke(args=["db", *args], input=input)


def take_backup(app, *args: str) -> Path:
    result = run(app, "backup", *args)
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip())


def test_a_backup_is_checked_private_and_named_by_utc_time(tmp_path):
    app = site(tmp_path)
    post_leads(app, 0, 3)
    result = run(app, "backup")
    assert result.exit_code == 0, result.output
    path = Path(result.stdout.strip())  # the path alone on stdout, for scripts
    assert path.parent == tmp_path / "backups"  # BACKUP_DIR
    assert BACKUP_NAME.match(path.name)
    stamp = re.search(r"(\d{8}T\d{6})", path.name).group(1)
    assert abs(time.mktime(time.strptime(stamp, "%Y%m%dT%H%M%S")) - time.mktime(time.gmtime())) < 120
    versions = Path(__file__).resolve().parent.parent / "migrations" / "versions"
    head = max(p.name[:4] for p in versions.glob("[0-9][0-9][0-9][0-9]_*.py"))
    assert f"integrity ok, schema {head}" in result.stderr  # the newest migration
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert integrity(path) == ["ok"]
    assert emails(path) == {f"visitor{n}@example.com" for n in range(3)}
    # One self-contained file: no WAL flag, nothing left beside it.
    assert path.read_bytes()[18:20] == b"\x01\x01"
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_backup_keep_prunes_the_oldest_of_its_own_files_only(tmp_path):
    app = site(tmp_path, BACKUP_KEEP=2)
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    foreign = [folder / "notes.txt", folder / "microsite-before-upgrade.sqlite3"]
    for path in foreign:
        path.write_text("the operator's")
    # What a killed backup left: deleted once a day old, never while one may still be writing it.
    stale, recent = folder / ".microsite-x.sqlite3.partial", folder / ".microsite-y.sqlite3.partial"
    for path in (stale, recent):
        path.write_bytes(b"half")
    os.utime(stale, (time.time() - 2 * 86400, time.time() - 2 * 86400))
    made = [take_backup(app, "--to", str(folder)) for _ in range(4)]
    kept = {p.name for p in folder.iterdir()}
    assert kept == {p.name for p in foreign} | {p.name for p in made[-2:]} | {recent.name}


def test_backup_keep_below_one_is_refused(tmp_path):
    app = site(tmp_path, BACKUP_KEEP=0)
    result = run(app, "backup")
    assert result.exit_code == 1
    assert "BACKUP_KEEP" in result.output
    assert not (tmp_path / "backups").exists()


def test_a_backup_refuses_at_once_while_a_restore_holds_the_database(tmp_path):
    app = site(tmp_path, SQLITE_BUSY_TIMEOUT_MS=300)
    post_leads(app, 0, 1)
    with app.app_context():
        db.engine.dispose()  # the test's own site process is "stopped"
    # What restore holds while it writes: an exclusive lock that no reader gets past.
    holder = sqlite3.connect(tmp_path / "site.sqlite3", isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        result = run(app, "backup")
        assert result.exit_code == 1
        assert "is a restore running?" in result.output
        assert time.monotonic() - started < 10
    finally:
        holder.close()
    assert not list((tmp_path / "backups").iterdir())  # no partial file left behind
    take_backup(app)


def test_a_missing_database_is_not_created_by_a_backup(tmp_path):
    app = create_app(make_config(f"sqlite:///{tmp_path / 'typo.sqlite3'}", tmp_path))
    result = run(app, "backup", "--to", str(tmp_path / "b"))
    assert result.exit_code == 1
    assert "no database at" in result.output
    assert not (tmp_path / "typo.sqlite3").exists()


def test_restore_puts_a_backup_back_and_keeps_the_replaced_database(tmp_path):
    app = site(tmp_path)
    post_leads(app, 0, 2)
    backup = take_backup(app)
    post_leads(app, 2, 3)  # after the backup: in the replaced file, not in the restored one
    live = tmp_path / "site.sqlite3"
    before = emails(live)
    result = run(app, "restore", str(backup), "--yes")
    assert result.exit_code == 0, result.output
    assert emails(live) == {"visitor0@example.com", "visitor1@example.com"}
    assert integrity(live) == ["ok"]
    [aside] = tmp_path.glob("site.sqlite3.replaced-*")
    assert f"kept at {aside}" in result.output
    assert mode(aside) == 0o600
    assert emails(aside) == before  # what was in the -wal file too: it was copied through SQLite
    assert integrity(aside) == ["ok"]
    # The site runs on it: nothing to upgrade, new requests are stored beside the restored ones.
    upgrade = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert upgrade.exit_code == 0 and "Running upgrade" not in upgrade.output
    post_leads(app, 10, 1)
    assert len(emails(live)) == 3


def test_restore_asks_first(tmp_path):
    app = site(tmp_path)
    post_leads(app, 0, 1)
    backup = take_backup(app)
    post_leads(app, 1, 1)
    result = run(app, "restore", str(backup), input="n\n")
    assert result.exit_code == 1 and "Aborted" in result.output
    assert len(emails(tmp_path / "site.sqlite3")) == 2
    assert not list(tmp_path.glob("site.sqlite3.replaced-*"))


def _corrupt(path: Path) -> None:
    """Garbage over the pages after the first, where the tables' rows are."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page : len(data)] = b"\xa5" * (len(data) - page)
    path.write_bytes(bytes(data))


def _not_ours(path: Path) -> None:
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("CREATE TABLE notes (body TEXT)")


def _not_sqlite(path: Path) -> None:
    path.write_text("name,phone\nMaria,941\n")


def _from_a_newer_release(path: Path) -> None:
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")


def _planted(sql: str):
    def plant(path: Path) -> None:
        with closing(sqlite3.connect(path)) as connection, connection:
            connection.execute(sql)

    return plant


# What the review tried: a disabled account enabled again by the site's own next write.
REENABLE = """CREATE TRIGGER reenable AFTER INSERT ON lead BEGIN
    UPDATE staff_user SET active = 1 WHERE email = 'fired@example.com'; END"""


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_corrupt, "integrity_check failed|not a usable SQLite database"),
        (_not_sqlite, "is not a SQLite database"),
        (_not_ours, "not a database of this site: no alembic_version, lead, notification table"),
        (_from_a_newer_release, "has schema 9999, from a newer release: deploy that release first"),
        (_planted(REENABLE), "migrations never made: trigger 'reenable'"),
        (_planted("CREATE VIEW everyone AS SELECT email, phone FROM lead"), "never made: view 'everyone'"),
        (_planted("CREATE INDEX ix_lead_spy ON lead (email)"), "never made: index 'ix_lead_spy'"),
        (_planted("CREATE TABLE notes (body TEXT)"), "never made: table 'notes'"),
    ],
    ids=["corrupt", "not-sqlite", "another-database", "newer-schema", "trigger", "view", "index", "table"],
)
def test_restore_refuses_a_file_that_is_not_a_good_backup(tmp_path, make, message):
    app = site(tmp_path)
    post_leads(app, 0, 2)
    bad = tmp_path / "bad.sqlite3"
    if make not in (_not_ours, _not_sqlite):  # the others spoil a real backup
        bad = take_backup(app)
    make(bad)
    result = run(app, "restore", str(bad), "--yes")
    assert result.exit_code == 1
    assert re.search(message, result.output), result.output
    assert len(emails(tmp_path / "site.sqlite3")) == 2
    assert not list(tmp_path.glob("site.sqlite3.replaced-*"))


def test_restore_refuses_the_live_database_itself(tmp_path):
    app = site(tmp_path)
    post_leads(app, 0, 1)
    result = run(app, "restore", str(tmp_path / "site.sqlite3"), "--yes")
    assert result.exit_code == 1 and "is the live database itself" in result.output
    assert len(emails(tmp_path / "site.sqlite3")) == 1


def test_restore_refuses_while_the_database_is_open(tmp_path):
    app = site(tmp_path)
    post_leads(app, 0, 1)
    backup = take_backup(app)
    post_leads(app, 1, 1)
    live = tmp_path / "site.sqlite3"
    # What a gunicorn worker holds: a pooled connection that has read, idle between requests.
    other = sqlite3.connect(live)
    other.execute("SELECT count(*) FROM lead").fetchone()
    started = time.monotonic()
    result = run(app, "restore", str(backup), "--yes")
    assert result.exit_code == 1
    assert "stop the site first" in result.output
    assert time.monotonic() - started < 15  # a short wait, then a clear refusal
    assert len(emails(live)) == 2
    assert not list(tmp_path.glob("site.sqlite3.replaced-*"))
    other.close()
    assert run(app, "restore", str(backup), "--yes").exit_code == 0
    assert len(emails(live)) == 1


def test_the_daily_timer_runs_this_command(tmp_path):
    """deploy/systemd/microsite-backup.service runs a command that exists and backs up."""
    units = Path(__file__).resolve().parent.parent / "deploy" / "systemd"
    timer = (units / "microsite-backup.timer").read_text()
    assert "OnCalendar=daily" in timer and "Persistent=true" in timer
    service = (units / "microsite-backup.service").read_text()
    [exec_start] = re.findall(r"^ExecStart=(.+)$", service, re.MULTILINE)
    program, *args = exec_start.split()
    assert program.endswith("/.venv/bin/flask") and args[:2] == ["--app", "wsgi"]
    assert "UMask=0077" in service and "ReadWritePaths=/srv/microsite/app/instance" in service
    app = site(tmp_path)
    result = app.test_cli_runner().invoke(args=args[2:])
    assert result.exit_code == 0, result.output
    assert BACKUP_NAME.match(Path(result.stdout.strip()).name)


@pytest.mark.postgres
def test_both_commands_refuse_on_postgresql_and_point_to_the_docs(tmp_path, postgres_url):
    app = create_app(make_config(postgres_url, tmp_path, BACKUP_DIR=str(tmp_path / "backups")))
    any_file = tmp_path / "x.sqlite3"
    any_file.write_text("")
    for args in (["backup"], ["restore", str(any_file), "--yes"]):
        result = run(app, *args)
        assert result.exit_code == 1, result.output
        assert "pg_dump" in result.output and "docs/backups.md" in result.output, result.output
    assert not (tmp_path / "backups").exists()
    # The pointer's target.
    section = (Path(__file__).resolve().parent.parent / "docs" / "backups.md").read_text()
    assert "pg_dump" in section and "point-in-time" in section and "Litestream" in section


# -- a real server: a backup while leads are posted -----------------------------------------------


@pytest.mark.slow
def test_a_backup_taken_while_leads_pour_in_holds_every_lead_answered_before_it(tmp_path, started):
    from processes import ROOT, Database, Visitor, flask_command, process_env, report, visitor_data

    live = tmp_path / "live.sqlite3"
    database = Database.sqlite(live)
    env = process_env(
        DATABASE_URL=database.url, MAIL_SERVER="", MAIL_FILE_DIR=tmp_path / "mail",
        STATIC_ROOT=tmp_path / "static",
    )  # fmt: skip
    database.upgrade()
    server = started.gunicorn(env, workers=2, threads=4)
    server.wait_ready()
    posters = 4
    answered: dict[int, float] = {}  # visitor -> when its 303 came back
    failures: list = []
    lock = threading.Lock()
    stop = threading.Event()

    def post(first: int) -> None:
        visitor = Visitor(server.port)
        visitor.open()
        n = first
        while not stop.is_set():
            try:
                answer = visitor.send(visitor_data(n))
            except OSError as exc:
                failures.append((n, exc))
            else:
                if answer.status == 303:
                    with lock:
                        answered[n] = time.monotonic()
                else:
                    failures.append((n, answer.status))
            n += posters
            stop.wait(0.1)  # a steady stream, not a flood: the backup must not wait behind the posters

    def wait_for_answers(count: int) -> None:
        while len(answered) < count:
            assert not failures and all(t.is_alive() for t in threads), failures
            time.sleep(0.01)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(posters)]
    for thread in threads:
        thread.start()
    wait_for_answers(25)  # a steady stream, and the backup starts in the middle of it
    backup_started = time.monotonic()
    with lock:
        before = {n for n, at in answered.items() if at < backup_started}
    output = flask_command(["db", "backup", "--to", str(tmp_path / "backups")], env)
    backup_ended = time.monotonic()
    wait_for_answers(len(answered) + 10)  # and it goes on after
    stop.set()
    for thread in threads:
        thread.join(60)
    assert failures == []
    total = len(answered)  # each request sent was answered 303 (no failures)
    [backup] = (tmp_path / "backups").iterdir()
    assert str(backup) in output
    assert mode(backup) == 0o600

    # The running site has the database open: restoring over it is refused, and changes nothing.
    refused = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "restore", str(backup), "--yes"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode == 1 and "stop the site first" in refused.stderr, refused.stderr
    assert len(emails(live)) == total
    assert not list(tmp_path.glob("live.sqlite3.replaced-*"))

    # Restored into a new file (a new machine after a dead disk): checked, and every lead answered before.
    restored = tmp_path / "restored.sqlite3"
    restore_env = {**env, "DATABASE_URL": f"sqlite:///{restored}"}
    flask_command(["db", "restore", str(backup), "--yes"], restore_env)
    assert integrity(restored) == ["ok"]
    assert mode(restored) == 0o600
    in_backup = emails(restored)
    assert {visitor_data(n)["email"] for n in before} <= in_backup
    assert in_backup <= {visitor_data(n)["email"] for n in answered}  # no half-written rows
    during = sum(1 for at in answered.values() if backup_started <= at <= backup_ended)
    assert during > 0  # the site kept taking requests while the backup ran
    figures = {"leads_before": len(before), "leads_in_backup": len(in_backup)}
    report(
        "backup under load",
        {**figures, "answered_during_backup": during, "backup_s": backup_ended - backup_started},
    )

    # The site serves from it: `db upgrade` has nothing to do, and it takes new requests.
    upgraded = flask_command(["db", "upgrade"], restore_env)
    assert "Running upgrade" not in upgraded
    server.stop()
    again = started.gunicorn(restore_env, workers=1, threads=2)
    again.wait_ready()
    visitor = Visitor(again.port)
    visitor.open()
    assert visitor.send(visitor_data(max(answered) + 1)).status == 303
    assert len(emails(restored)) == len(in_backup) + 1
