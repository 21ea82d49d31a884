"""Fixtures with the real parts on: a SQLite file or the PostgreSQL server, an aiosmtpd SMTP server."""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import re
import shutil
import signal
import socket
import sys
import threading
from contextlib import contextmanager
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import NoReturn

import pyotp
import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask_migrate import upgrade
from jinja2 import BytecodeCache
from sqlalchemy import create_engine, text, update
from sqlalchemy.pool import NullPool
from werkzeug.security import generate_password_hash

from microsite import create_app
from microsite.database import writing
from microsite.extensions import db
from microsite.models import StaffRole, StaffUser
from microsite.ratelimit import storage_uri
from microsite.staff import accounts

IN_CI = os.environ.get("CI", "").lower() == "true"


class _SharedBytecode(BytecodeCache):
    """Jinja's compiled templates kept for the whole run: the tests build a new app (and so a new
    Jinja environment) for almost every test, and compiling the templates again each time was most of
    the suite's time. Keyed, as Jinja keys it, by the template's name and a checksum of its source."""

    def __init__(self):
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket):
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket):
        self.compiled[bucket.key] = bucket.bytecode_to_string()


Flask.jinja_options = {**Flask.jinja_options, "bytecode_cache": _SharedBytecode()}
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
SITE_URL = "https://clinic.example.com"  # the apps' under test: the one origin a form may come from


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unavailable(reason: str) -> NoReturn:
    """Skip locally; under CI=true a missing service or browser means the checks did not run: a failure."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def require_postgres() -> str:
    """The PostgreSQL URL, or a skip locally; in CI a missing server is a failure, never a skip."""
    if not TEST_DATABASE_URL:
        unavailable("TEST_DATABASE_URL is not set")
    try:
        engine = create_engine(TEST_DATABASE_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        unavailable(f"PostgreSQL at TEST_DATABASE_URL is unreachable: {exc}")
    return TEST_DATABASE_URL


# -- SMTP -------------------------------------------------------------------------


class SMTPRecorder:
    """An aiosmtpd handler that keeps what it receives and can answer with scripted failures."""

    def __init__(self):
        self.messages: list[EmailMessage] = []
        self.envelopes = []
        self.data_replies: list[str] = []  # answers to DATA, used before accepting
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.data_replies:
                return self.data_replies.pop(0)
            self.envelopes.append(envelope)
            self.messages.append(message_from_bytes(envelope.content, policy=default_policy))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp():
    handler = SMTPRecorder()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


# -- the app ----------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own, which reads the groups into the node ids
def pytest_collection_modifyitems(items):
    """Under pytest-xdist (`--dist loadgroup`) a module that drives Chromium or starts servers, or has
    another costly module fixture (`one_worker`: the HTML checker's JVM), runs in one worker: its browser
    pages, server or JVM start once, and no more than one such test per worker competes for the cores
    (spread over both, the browser's tests made the suite a fifth slower). The in-process tests are
    spread over every worker."""
    if not items or not items[0].config.pluginmanager.has_plugin("xdist"):
        return  # run without pytest-xdist (`-p no:xdist`): one process, no groups
    grouped = ("browser", "slow", "one_worker")
    for item in items:
        if any(item.get_closest_marker(name) for name in grouped):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
    # The long groups are handed out first and the short in-process tests fill the gaps after them, so
    # that no worker is left with a whole module of servers while the other has nothing to do.
    items.sort(key=lambda item: not any(item.get_closest_marker(name) for name in grouped))


@pytest.fixture(scope="session")
def postgres_url():
    """A schema of this test process's own (each xdist worker has one), so that runs and workers can
    share the server; the models' tables are made in it once, and each test empties them."""
    url = require_postgres()
    schema = f"test_{os.getpid()}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in url else "?"
    yield f"{url}{separator}options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_engine(postgres_url):
    engine = create_engine(postgres_url, poolclass=NullPool)
    yield engine
    engine.dispose()


def empty_postgres(engine) -> None:
    """The models' tables, empty, their ids starting again at 1, in one round trip. DELETE rather than
    TRUNCATE: a test leaves a few rows, and TRUNCATE's new files for fifteen tables cost four times
    as much. A test that dropped or changed tables gets them made again."""
    with engine.begin() as conn:
        have = {
            r[0]
            for r in conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))
        }
        if have != {t.name for t in db.metadata.sorted_tables} | (have & {"alembic_version"}):
            db.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
            db.metadata.create_all(conn)
        sequences = conn.scalars(
            text("SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")
        ).all()
        statements = [f'DELETE FROM "{t.name}"' for t in reversed(db.metadata.sorted_tables)]
        statements += [f'ALTER SEQUENCE "{name}" RESTART' for name in sequences]
        conn.exec_driver_sql("; ".join(statements))


@pytest.fixture(scope="session")
def sqlite_schema(tmp_path_factory):
    """An empty SQLite database with the models' schema, made once; each test starts from a copy."""
    path = tmp_path_factory.mktemp("schema") / "empty.sqlite3"
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
    db.metadata.create_all(engine)
    engine.dispose()
    return path


def pytest_generate_tests(metafunc):
    """Every test that needs a database runs on SQLite; those marked `both_databases` (where what is
    stored, queried or locked is the point) run on PostgreSQL too."""
    if "database_url" not in metafunc.fixturenames:
        return
    if any(m.args and "database_url" in m.args[0] for m in metafunc.definition.iter_markers("parametrize")):
        return  # the test chose its databases itself
    params = ["sqlite"]
    if metafunc.definition.get_closest_marker("both_databases"):
        params.append(pytest.param("postgresql", marks=pytest.mark.postgres))
    metafunc.parametrize("database_url", params, indirect=True)


@pytest.fixture
def database_url(request, tmp_path):
    """The URL of an empty database with the models' tables: a copy of the SQLite template file, or the
    process's PostgreSQL schema, emptied."""
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_schema"), path)
        return f"sqlite:///{path}"
    empty_postgres(request.getfixturevalue("postgres_engine"))
    return request.getfixturevalue("postgres_url")


def make_config(database_url: str, tmp_path, **overrides) -> dict:
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "MAIL_SERVER": None,
        "MAIL_FILE_DIR": str(tmp_path / "mail"),
        "MAIL_TIMEOUT": 3.0,
        "MAIL_DEFAULT_SENDER": "Anti Aging and Ketamine Center <no-reply@example.com>",
        "FORM_MIN_SECONDS": 0,
        "OUTBOX_INLINE": False,
        "RATELIMIT_ENABLED": False,
        # The test's own counters, wherever its database is (microsite/ratelimit.py).
        "RATELIMIT_STORAGE_URI": storage_uri(tmp_path / "ratelimit.sqlite3"),
        "SITE_URL": SITE_URL,
        # Flask's test client names the host "localhost", live_server() and the browser 127.0.0.1: the
        # names this machine's tests reach the app by, besides SITE_URL's (its own host gets a 400).
        "TRUSTED_HOSTS": ["localhost", "127.0.0.1"],
        "PASSWORD_HASH_METHOD": TEST_PASSWORD_HASH_METHOD,
    }
    config.update(overrides)
    return config


def _drop_schema() -> None:
    db.drop_all()
    with db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")


@contextmanager
def migrated_to(database_url: str, tmp_path, revision: str):
    """For a migration's test: inside an app's context, the database `flask db upgrade` built up to
    `revision` from nothing; the tables and Alembic's record are dropped again afterwards."""
    app = create_app(make_config(database_url, tmp_path))
    with app.app_context():
        _drop_schema()
        try:
            upgrade(revision=revision)
            yield app
        finally:
            db.session.remove()
            _drop_schema()
            db.engine.dispose()


@pytest.fixture
def app_config(database_url, tmp_path, smtp):
    return make_config(database_url, tmp_path, MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)


@pytest.fixture
def app(app_config):
    """The app on an empty database (`database_url`)."""
    app = create_app(app_config)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# -- forms ------------------------------------------------------------------------


class _Inputs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("type") == "hidden" and a.get("name"):
            self.values[a["name"]] = a.get("value") or ""


def hidden_fields(html: str) -> dict[str, str]:
    """The hidden inputs of a rendered form (on a public page: the empty ones site.js would fill in)."""
    parser = _Inputs()
    parser.feed(html)
    return parser.values


def browser_headers(path: str = "/") -> dict[str, str]:
    """What a current browser sends with a form posted from our page at `path` (Fetch Metadata)."""
    return {"Sec-Fetch-Site": "same-origin", "Origin": SITE_URL, "Referer": f"{SITE_URL}{path}"}


def valid_data(**overrides) -> dict[str, str]:
    data = {
        "full_name": "Maria Example",
        "phone": "(941) 555-0123",
        "email": "maria@example.com",
        "location": "bradenton",
        "contact_method": "phone",
        "best_time": "morning",
        "message": "I have tried two antidepressants.",
        "consent": "y",
        "website": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def submit(client, path: str = "/", headers: dict[str, str] | None = None, **overrides):
    """Load `path`, then post its form as a browser would: its hidden fields, Fetch Metadata, Referer."""
    page = client.get(path)
    assert page.status_code == 200, path
    fields = hidden_fields(page.get_data(as_text=True))
    return client.post(
        "/consultation", data={**fields, **valid_data(**overrides)}, headers=headers or browser_headers(path)
    )


# -- staff accounts ---------------------------------------------------------------------

STAFF_PASSWORD = "correct horse battery"


# scrypt at 1/32 of its production cost: every login in the suite checks a password, and the cost is
# read from the hash, so the production cost would be most of a staff test's time. Production's own
# cost is tested where it matters (tests/test_staff_security.py, tests/test_write_lock.py).
TEST_PASSWORD_HASH_METHOD = "scrypt:1024:8:1"


@cache
def password_hash(password: str) -> str:
    """scrypt once per password for the whole run: a test's account is made with the hash, not the work."""
    return generate_password_hash(password, method=TEST_PASSWORD_HASH_METHOD)


def totp_secret_of(email: str) -> str:
    """The authenticator secret a test account gets: known to the tests, different per account."""
    return base64.b32encode(hashlib.sha256(email.encode()).digest()[:20]).decode()


def add_staff(email: str, password: str = STAFF_PASSWORD, role: str = StaffRole.MANAGER, offices=(),
              second_factor: bool = True) -> int:  # fmt: skip
    """A staff account, inside an app context: by default a manager with an authenticator app set up,
    as every account must have before the staff pages open (STAFF_SECOND_FACTOR=required)."""
    with writing():
        user = accounts.create(email, role=role, offices=offices, password_hash=password_hash(password))
        if second_factor:
            user.totp_secret = totp_secret_of(email)
        db.session.flush()
        return user.id


def fresh_code(app, email: str) -> str:
    """A code the login takes now. A code is accepted once per 30-second step, and a test logs in more
    often than that: the account's last used step is forgotten first."""
    with app.app_context(), writing():
        db.session.execute(update(StaffUser).where(StaffUser.email == email).values(totp_last_counter=None))
    return pyotp.TOTP(totp_secret_of(email)).now()


def staff_login(
    client, email: str, password: str = STAFF_PASSWORD, next_url: str | None = None, headers=None
):
    """Log in as a browser would: the password, then (when asked) the authenticator code. Returns the
    last answer: a 303 into /staff/ when both were right."""
    page = client.get("/staff/login" + (f"?next={next_url}" if next_url else ""))
    fields = hidden_fields(page.get_data(as_text=True))
    if next_url is not None:
        fields["next"] = next_url  # as a crafted form would send it
    response = client.post(
        "/staff/login", data={**fields, "email": email, "password": password}, headers=headers
    )
    if response.status_code == 303 and response.headers["Location"] == "/staff/login/code":
        code_page = client.get("/staff/login/code")
        fields = {
            **hidden_fields(code_page.get_data(as_text=True)),
            "code": fresh_code(client.application, email),
        }
        response = client.post("/staff/login/code", data=fields, headers=headers)
    return response


def browser_staff_login(page, app, email: str, password: str = STAFF_PASSWORD) -> None:
    """Log in in a real browser: the password, then the authenticator code, as a person types them."""
    page.goto(app.base_url + "/staff/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/staff/login/code")
    page.get_by_label("Code from your authenticator app").fill(fresh_code(app, email))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/staff/")


@contextmanager
def live_server(app, port: int = 0, host: str = "127.0.0.1"):
    """Serve `app` on a free port (or `port`) from a thread, for a real browser; sets `app.base_url`,
    naming the server `host` (passkeys need a name, "localhost", not an address)."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.base_url = f"http://{host}:{server.server_port}"
    try:
        yield app
    finally:
        server.shutdown()
        thread.join(5)
        with app.app_context():
            db.engine.dispose()


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# -- real processes (tests/processes.py) --------------------------------------------

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def require_redis() -> str:
    """The Redis URL (a database of the tests' own), or a skip locally; in CI a failure, never a skip."""
    import redis

    try:
        redis.Redis.from_url(TEST_REDIS_URL, socket_timeout=5).ping()
    except Exception as exc:
        unavailable(f"Redis at TEST_REDIS_URL is unreachable: {exc}")
    return TEST_REDIS_URL


@pytest.fixture
def redis_counters():
    """Redis for a test's rate limits: its URL and a key prefix of the test's process (RATELIMIT_KEY_PREFIX;
    Flask-Limiter keeps the first one a process gives it), so that pytest-xdist workers and the test's
    gunicorn instances never see another's counts; the keys go afterwards."""
    import redis

    url = require_redis()
    prefix = f"test-{os.getpid()}-{next(_PREFIXES)}"
    counters = redis.Redis.from_url(url)
    yield url, prefix, counters
    for key in counters.scan_iter(match=f"*{prefix}*"):
        counters.delete(key)
    counters.close()


_PREFIXES = itertools.count()


class _Started:
    """Starts gunicorn and `flask outbox run` processes for one test and stops them after it."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.all = []

    def gunicorn(self, env, **options):
        from processes import Gunicorn

        self.all.append(Gunicorn(env, self.log_dir, **options))
        return self.all[-1]

    def outbox(self, env, **options):
        from processes import OutboxWorker

        self.all.append(OutboxWorker(env, self.log_dir, **options))
        return self.all[-1]

    def stop_all(self):
        """Stop them all at once (each is asked, then each is waited for); a fixture whose clean-up
        needs them gone calls it early."""
        for process in reversed(self.all):
            process.signal(signal.SIGTERM)
        while self.all:
            self.all.pop().stop()


@pytest.fixture
def started(tmp_path):
    processes = _Started(tmp_path)
    yield processes
    processes.stop_all()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """The figures a test reported (tests/processes.py `report`) travel with its report, so that they
    reach the summary from a pytest-xdist worker too."""
    report = yield
    processes = sys.modules.get("processes")
    if processes is not None and call.when == "call":
        report.user_properties.extend(("figures", line) for line in processes.REPORTED)
        processes.REPORTED.clear()
    return report


def pytest_terminal_summary(terminalreporter):
    """The load and scale-out figures at the end of the run, to be quoted even without -s."""
    lines = [
        value
        for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", [])
        for name, value in getattr(report, "user_properties", ())
        if name == "figures"
    ]
    if lines:
        terminalreporter.section("load and scale-out figures (also in reports/load.txt)")
        for line in lines:
            terminalreporter.write_line(line)


# -- the browser ------------------------------------------------------------------------

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")  # Debian's; never Playwright's download
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def new_context(browser, **options):
    """A browser context of the test's own (no cache or cookie from another test), asking for reduced
    motion: the site scrolls smoothly otherwise, and Playwright waits for every scroll to end."""
    return browser.new_context(reduced_motion="reduce", **options)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium through Playwright, started once per test process; skipped locally when missing,
    a failure under CI=true. Each test opens its own context, so no cache or cookie goes from one to the
    next."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        unavailable("playwright is not installed")
    if not Path(CHROMIUM).exists():
        unavailable(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as p:
        try:
            chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Error as exc:
            unavailable(f"Chromium at {CHROMIUM} does not start: {exc}")
        yield chromium
        chromium.close()
