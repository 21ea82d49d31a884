"""Running the site: private files, rate limits every worker shares, settings refused at start-up."""

from __future__ import annotations

import multiprocessing
import os
import re
import stat
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import browser_headers, make_config, submit, valid_data
from sqlalchemy import select, update

from microsite import config as settings
from microsite import create_app, keep_files_private
from microsite.database import writing
from microsite.extensions import db
from microsite.models import Lead, utcnow
from microsite.ratelimit import SQLiteStorage, default_storage_uri, storage_uri


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask():
    """The umask a shell usually starts the app with (022), restored after the test."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


# -- what the app writes only its user can read ------------------------------------------


def test_what_the_app_writes_only_its_user_can_read_and_static_files_stay_public(tmp_path, usual_umask):
    app = create_app(
        make_config(f"sqlite:///{tmp_path / 'leads.sqlite3'}", tmp_path, RATELIMIT_ENABLED=True,
                    STATIC_ROOT=str(tmp_path / "static"))
    )  # fmt: skip
    with app.app_context():
        db.create_all()
    assert submit(app.test_client()).status_code == 303
    assert app.test_cli_runner().invoke(args=["outbox", "run", "--once"]).exit_code == 0

    assert mode(Path(app.instance_path)) == 0o700
    for name in ["leads.sqlite3", "leads.sqlite3-wal", "leads.sqlite3-shm", "ratelimit.sqlite3"]:
        assert mode(tmp_path / name) == 0o600, name
    mail = tmp_path / "mail"
    emails = list(mail.glob("*.eml"))
    assert len(emails) == 1
    assert mode(mail) == 0o700 and mode(emails[0]) == 0o600
    # nginx (another user) reads the static files.
    static = tmp_path / "static"
    assert mode(static) == 0o755
    assert {mode(path) for path in static.iterdir()} == {0o644}


def test_an_existing_instance_folder_is_made_private_at_start_up(tmp_path, usual_umask):
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    keep_files_private(loose)
    assert mode(loose) == 0o700
    fresh = tmp_path / "fresh" / "instance"
    keep_files_private(fresh)
    assert mode(fresh) == 0o700


def test_leads_purge_deletes_the_eml_files_of_the_leads_it_deletes(app, runner):
    app.config["MAIL_SERVER"] = None  # no server: each email is written as an .eml file
    client = app.test_client()
    for n in range(2):
        assert submit(client, phone=f"941-555-01{n:02d}", email=f"p{n}@example.com").status_code == 303
    assert runner.invoke(args=["outbox", "run", "--once"]).exit_code == 0
    mail = Path(app.config["MAIL_FILE_DIR"])
    other = mail / "notes.txt"
    other.write_text("not an email of ours")
    with app.app_context():
        old, recent = db.session.scalars(select(Lead.id).order_by(Lead.id)).all()
        with writing() as session:
            session.execute(
                update(Lead).where(Lead.id == old).values(created_at=utcnow() - timedelta(days=400))
            )
    assert {_lead_of(path) for path in mail.glob("*.eml")} == {old, recent}

    result = runner.invoke(args=["leads", "purge", "--older-than", "365"])
    assert result.exit_code == 0, result.output
    assert {_lead_of(path) for path in mail.glob("*.eml")} == {recent}
    assert other.exists()


def _lead_of(path: Path) -> int:
    return int(re.search(r"-lead-(\d+)-notification-", path.name).group(1))


# -- one set of counters for every worker ------------------------------------------------


def test_two_app_instances_on_the_same_counter_file_count_together(tmp_path):
    """Two workers are two apps: by default both count in the SQLite file beside the database."""
    url = f"sqlite:///{tmp_path / 'leads.sqlite3'}"

    def worker():
        config = make_config(url, tmp_path, RATELIMIT_ENABLED=True, RATELIMIT_CONSULTATION="3 per minute")
        app = create_app(config)
        with app.app_context():
            db.create_all()
        return app.test_client()

    first, second = worker(), worker()
    statuses = [_post(client, n).status_code for n, client in enumerate([first, second, first, second])]
    assert statuses == [303, 303, 303, 429]
    assert (tmp_path / "ratelimit.sqlite3").exists()


def _post(client, n: int):
    data = valid_data(phone=f"941-555-02{n:02d}", email=f"rl{n}@example.com")
    return client.post("/consultation", data=data, headers=browser_headers())


def test_the_storage_counts_expires_and_clears(tmp_path):
    path = tmp_path / "counters.sqlite3"
    one, other = SQLiteStorage(storage_uri(path)), SQLiteStorage(storage_uri(path))
    now = 1_000_000.0
    for storage in (one, other):
        storage.clock = lambda: now
    assert [one.incr("k", 60), other.incr("k", 60), one.incr("k", 60, amount=2)] == [1, 2, 4]
    assert other.get("k") == 4 and other.get_expiry("k") == now + 60
    assert one.check() and mode(path) == 0o600

    now += 60  # the window is over: the count starts again, with a new window
    assert one.get("k") == 0 and one.get_expiry("k") == now
    assert other.incr("k", 60) == 1 and one.get_expiry("k") == now + 60

    one.incr("j", 60)
    other.clear("k")
    assert one.get("k") == 0 and one.get("j") == 1
    assert one.reset() == 1 and other.get("j") == 0


def test_expired_windows_are_swept_away(tmp_path):
    storage = SQLiteStorage(storage_uri(tmp_path / "counters.sqlite3"))
    now = 1_000_000.0
    storage.clock = lambda: now
    for n in range(5):
        storage.incr(f"old-{n}", 60)
    now += 3600
    storage.incr("new", 60)  # an increment sweeps when the last sweep is a minute old
    rows = storage._connection().execute("SELECT key FROM counter").fetchall()
    assert rows == [("new",)]


def test_parallel_increments_are_all_counted(tmp_path):
    """Threads of one worker, each with its own connection, queue for the lock: no lost update."""
    uri = storage_uri(tmp_path / "counters.sqlite3")
    storages = [SQLiteStorage(uri) for _ in range(2)]
    counts: list[int] = []

    def hit(storage):
        for _ in range(25):
            counts.append(storage.incr("k", 60))

    threads = [threading.Thread(target=hit, args=(storages[n % 2],)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == list(range(1, 201))


def _open_and_hit(uri: str, start, counts) -> None:
    """A gunicorn worker's first requests: four threads, each opening the counter file as it hits it."""
    storage = SQLiteStorage(uri)

    def hit() -> None:
        start.wait()
        try:
            counts.put(storage.incr("k", 60))
        except Exception as exc:  # what went wrong is the answer the test reads
            counts.put(repr(exc))

    threads = [threading.Thread(target=hit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_workers_opening_a_new_counter_file_at_once_count_together(tmp_path):
    """Three processes of four threads open a new file at the same moment, twenty times over. Once a
    worker counted on its own (the WAL switch raced a connection still in the default journal), or
    failed with "disk I/O error" (closing a descriptor of our own dropped the threads' SQLite locks):
    Flask-Limiter then fell back to memory, and "2 per minute" let 3 through."""
    fork = multiprocessing.get_context("fork")
    for trial in range(20):
        uri = storage_uri(tmp_path / f"counters-{trial}.sqlite3")
        start, counts = fork.Barrier(12), fork.Queue()
        workers = [fork.Process(target=_open_and_hit, args=(uri, start, counts)) for _ in range(3)]
        for worker in workers:
            worker.start()
        answers = sorted((counts.get(timeout=30) for _ in range(12)), key=str)
        for worker in workers:
            worker.join(30)
        assert answers == sorted(range(1, 13), key=str), (trial, answers)


def test_a_broken_counter_file_never_loses_a_lead(tmp_path):
    """RATELIMIT_SWALLOW_ERRORS and the in-memory fallback still hold for our own storage."""
    (tmp_path / "not-a-folder").write_text("")
    broken = storage_uri(tmp_path / "not-a-folder" / "ratelimit.sqlite3")
    app = create_app(
        make_config(f"sqlite:///{tmp_path / 'leads.sqlite3'}", tmp_path, RATELIMIT_ENABLED=True,
                    RATELIMIT_STORAGE_URI=broken)
    )  # fmt: skip
    with app.app_context():
        db.create_all()
    assert _post(app.test_client(), 1).status_code == 303
    with app.app_context():
        assert len(db.session.scalars(select(Lead)).all()) == 1


def test_where_the_counters_live_by_default(tmp_path):
    instance = tmp_path / "instance"
    assert default_storage_uri(f"sqlite:///{tmp_path}/db/leads.sqlite3", instance) == storage_uri(
        tmp_path / "db" / "ratelimit.sqlite3"
    )
    assert default_storage_uri("postgresql+psycopg://db/x", instance) == storage_uri(
        instance / "ratelimit.sqlite3"
    )
    config = settings.from_env(instance, env={"RATELIMIT_STORAGE_URI": "redis://cache:6379/0"})
    settings.finalize(config, instance)
    assert config["RATELIMIT_STORAGE_URI"] == "redis://cache:6379/0"


@pytest.mark.slow
def test_the_stated_limit_holds_across_gunicorn_workers(tmp_path, started):
    """ "2 per minute" from one address is 2 accepted, whichever of 3 workers takes each request."""
    from processes import Database, Visitor, process_env, visitor_data

    database = Database.sqlite(tmp_path / "leads.sqlite3")
    env = process_env(
        DATABASE_URL=database.url, RATELIMIT_ENABLED="true", RATELIMIT_CONSULTATION="2 per minute",
        MAIL_SERVER="", MAIL_FILE_DIR=tmp_path / "mail", STATIC_ROOT=tmp_path / "static",
    )  # fmt: skip
    database.upgrade()
    server = started.gunicorn(env, workers=3, threads=2)
    server.wait_ready()
    visitor = Visitor(server.port)
    visitor.open()
    answers: list = []

    def burst(first: int) -> None:
        start = threading.Barrier(12)

        def send(n: int) -> None:
            start.wait()
            answers.append(visitor.send(visitor_data(n)).status)

        threads = [threading.Thread(target=send, args=(n,)) for n in range(first, first + 12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

    def workers() -> set[str]:
        return set(re.findall(r'"POST /consultation [^"]*" \d+ .* pid=<?(\d+)', server.output()))

    # gthread workers sometimes let one of them accept a whole burst: send bursts (within the same
    # minute) until at least two workers have answered, so the check spans workers.
    for first in range(0, 48, 12):
        burst(first)
        if len(workers()) >= 2:
            break
    assert len(workers()) >= 2, f"the POSTs did not reach several workers: {workers()}"
    assert sorted(answers) == [303] * 2 + [429] * (len(answers) - 2), sorted(answers)
    assert database.count("lead") == 2
    # What the workers wrote is theirs alone (from a real server), the staff emails included.
    deadline = time.monotonic() + 30
    while len(list((tmp_path / "mail").glob("*.eml"))) < 2:
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.1)
    assert {mode(path) for path in (tmp_path / "mail").glob("*.eml")} == {0o600}
    for name in ["leads.sqlite3", "leads.sqlite3-wal", "ratelimit.sqlite3", "ratelimit.sqlite3-wal"]:
        assert mode(tmp_path / name) == 0o600, name
    assert mode(tmp_path / "mail") == 0o700


# -- 17: settings refused at start-up -------------------------------------------------------------


def _finalized(tmp_path, **env: str) -> dict:
    config = settings.from_env(tmp_path, env={"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}", **env})
    settings.finalize(config, tmp_path)
    return config


@pytest.mark.parametrize(
    "key",
    [settings.EXAMPLE_SECRET_KEY, "change-me", "Change-Me-" + "a" * 40, "too-short-for-a-secret-key"],
)
def test_the_example_or_a_short_secret_key_is_refused(tmp_path, key):
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        _finalized(tmp_path, SECRET_KEY=key)


def test_the_example_secret_key_is_refused_by_create_app(tmp_path):
    example = settings.EXAMPLE_SECRET_KEY
    config = make_config(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path, SECRET_KEY=example)
    with pytest.raises(RuntimeError, match=r"deploy/env\.example"):
        create_app(config)


def test_a_real_or_generated_secret_key_is_accepted(tmp_path):
    assert _finalized(tmp_path, SECRET_KEY="0123456789abcdef" * 4)["SECRET_KEY"] == "0123456789abcdef" * 4
    generated = _finalized(tmp_path)["SECRET_KEY"]
    assert len(generated) == 64 and mode(tmp_path / "secret_key") == 0o600
