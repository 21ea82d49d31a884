"""Real processes for the fault, load and scale-out tests.

gunicorn and `flask outbox run` run as subprocesses configured only through the
environment, as an operator would run them; an aiosmtpd server in this process
plays the mail server and can misbehave on demand; a small TCP proxy stands in
for a database server that goes away (the real one is shared and must stay up).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from conftest import SITE_URL, browser_headers, free_port, hidden_fields, valid_data
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "reports"
REPORTED: list[str] = []  # this run's figures, repeated in pytest's summary (conftest.py)
OFFICE_PHONES = ("555-0101", "555-0102")  # the clinic's numbers, as every error page shows them

# Settings every subprocess gets unless a test says otherwise.
BASE_ENV = {
    "SECRET_KEY": "process-test-secret-key-at-least-32-characters",
    "MAIL_SERVER": "127.0.0.1",
    "MAIL_TIMEOUT": "5",
    "MAIL_DEFAULT_SENDER": "Anti Aging and Ketamine Center <no-reply@example.com>",
    "SITE_URL": SITE_URL,  # the origin browser_headers() says a form came from
    "TRUSTED_HOSTS": "127.0.0.1",  # the name the tests reach each process by, besides SITE_URL's
    "FORM_MIN_SECONDS": "0",
    "RATELIMIT_ENABLED": "false",
    "OUTBOX_INLINE": "true",
    "OUTBOX_POLL_SECONDS": "0.5",
    "OUTBOX_RETRY_BASE_SECONDS": "0.5",
    "OUTBOX_RETRY_MAX_SECONDS": "2",
    "PYTHONUNBUFFERED": "1",
}
# Settings of the developer's shell that must not leak into a test's processes.
_SCRUB = ("DATABASE_URL", "MAIL_", "OUTBOX_", "RATELIMIT_", "LEAD_NOTIFY_", "FORM_MIN", "SQLITE_", "FLASK_",
          "METRICS_TOKEN", "PROMETHEUS_", "TRUSTED_HOSTS", "COUNTS_")  # fmt: skip


def process_env(**settings: str | int | float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
    env.update(BASE_ENV)
    env.update({k: str(v) for k, v in settings.items()})
    return env


# -- processes ----------------------------------------------------------------------


class Process:
    """A subprocess in its own process group, its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path, cwd: Path = ROOT):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 -- closed in stop()
        self.popen = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        """Signal the whole group: a gunicorn master and its workers die together."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def kill(self) -> None:
        """SIGKILL: no clean-up, no finishing the message in hand."""
        self.signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout: float = 15) -> None:
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        # Orphaned workers of a killed master: their group is the master's pid.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self._log.close()


def flask_command(
    args: list[str], env: dict[str, str], timeout: float = 60, stdin: str = "", cwd: Path = ROOT
) -> str:
    """Run `flask --app wsgi …` to completion (`stdin`: what the operator types at its prompts), in `cwd`
    (the repository); its output, or an AssertionError with it."""
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


class Gunicorn(Process):
    """`gunicorn wsgi:app` on a free port."""

    def __init__(
        self, env: dict[str, str], log_dir: Path, workers: int = 2, threads: int = 4, name: str = "gunicorn",
        cwd: Path = ROOT,
    ):  # fmt: skip
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [
            sys.executable, "-m", "gunicorn",
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(workers),
            "--worker-class", "gthread",
            "--threads", str(threads),
            "--graceful-timeout", "5",
            "--timeout", "60",
            "--backlog", "2048",
            "wsgi:app",
        ]  # fmt: skip
        super().__init__(f"{name}-{self.port}", args, env, log_dir, cwd)

    def wait_listening(self, timeout: float = 30) -> None:
        """Until the port accepts connections, without sending a request."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.alive(), f"{self.name} exited:\n{self.output()}"
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"{self.name} did not listen within {timeout} s:\n{self.output()}")

    def wait_ready(self, path: str = "/healthz", status: int = 200, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            assert self.alive(), f"{self.name} exited:\n{self.output()}"
            try:
                last = request(self.port, "GET", path, timeout=5).status
                if last == status:
                    return
            except OSError as exc:
                last = exc
            time.sleep(0.1)
        raise AssertionError(f"{self.name} {path} never answered {status} (last: {last}):\n{self.output()}")


class OutboxWorker(Process):
    """`flask --app wsgi outbox run`: a separate sender, as in the scaled-out set-up."""

    def __init__(self, env: dict[str, str], log_dir: Path, name: str = "outbox"):
        args = [sys.executable, "-m", "flask", "--app", "wsgi", "outbox", "run"]
        super().__init__(f"{name}-{free_port()}", args, env, log_dir)

    def wait_running(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while "running, polling" not in self.output():
            assert self.alive(), f"{self.name} exited:\n{self.output()}"
            assert time.monotonic() < deadline, f"{self.name} did not start:\n{self.output()}"
            time.sleep(0.1)


# -- databases ----------------------------------------------------------------------


class Database:
    """A database of the test's own, its schema made by `flask db upgrade`, as in production."""

    def __init__(self, url: str, cleanup: Callable[[], None] = lambda: None):
        self.url = url
        self.engine: Engine = create_engine(url)
        self._cleanup = cleanup

    @classmethod
    def sqlite(cls, path: Path) -> Database:
        return cls(f"sqlite:///{path}")

    @classmethod
    def postgres(cls, server_url: str, prefix: str) -> Database:
        """A schema named after this process, dropped again by close()."""
        schema = f"{prefix}_{os.getpid()}"
        admin = create_engine(server_url)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {schema}"))

        def drop():
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            admin.dispose()

        separator = "&" if "?" in server_url else "?"
        return cls(f"{server_url}{separator}options=-csearch_path%3D{schema}", drop)

    def upgrade(self) -> None:
        flask_command(["db", "upgrade"], process_env(DATABASE_URL=self.url))

    def scalar(self, sql: str, **params):
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params) -> list:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def count(self, table: str, where: str = "true") -> int:
        return self.scalar(f"SELECT count(*) FROM {table} WHERE {where}")

    def close(self) -> None:
        self.engine.dispose()
        self._cleanup()


# -- a mail server that misbehaves on demand ------------------------------------------


class FaultySMTPHandler:
    """Records what it accepts; each attribute switches on one way of failing.

    hang_on_connect: accept the TCP connection and never say a word.
    hang_on_data: take the whole message, then never answer (until released: 451).
    delay: seconds to sleep before accepting each message.
    replies: answers to DATA used up before accepting ("451 …", "550 …").
    drop_on_quit: after accepting, reset the connection instead of answering QUIT.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.messages: list[EmailMessage] = []
        self.envelopes = []
        self.replies: list[str] = []
        self.delay = 0.0
        self.hang_on_connect = False
        self.hang_on_data = False
        self.drop_on_quit = False
        self.connections = 0
        self.data_started = threading.Event()  # a message came in and awaits its answer
        self.release = threading.Event()
        self.hung_transports: list[asyncio.BaseTransport] = []

    async def handle_DATA(self, server, session, envelope):
        self.data_started.set()
        if self.hang_on_data:
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 Released without accepting"
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            if self.replies:
                return self.replies.pop(0)
            self.envelopes.append(envelope)
            self.messages.append(message_from_bytes(envelope.content, policy=default_policy))
        return "250 Message accepted for delivery"

    def count(self) -> int:
        with self.lock:
            return len(self.messages)

    def message_ids(self) -> list[str]:
        with self.lock:
            return [str(m["Message-ID"]).strip() for m in self.messages]


class _FaultySMTP(SMTP):
    def connection_made(self, transport):
        handler = self.event_handler
        handler.connections += 1
        if handler.hang_on_connect:
            self._hung = True
            handler.hung_transports.append(transport)
            return
        self._hung = False
        super().connection_made(transport)

    def connection_lost(self, error):
        if getattr(self, "_hung", False):
            return
        super().connection_lost(error)

    async def smtp_QUIT(self, arg: str):
        if self.event_handler.drop_on_quit and not arg:
            # A reset where "221 Bye" should be: the client cannot know the goodbye went through.
            self.transport.abort()
            return
        await super().smtp_QUIT(arg)


class _Controller(Controller):
    def factory(self):
        return _FaultySMTP(self.handler, **self.SMTP_kwargs)


class FaultySMTPServer:
    """An aiosmtpd server on a fixed port, which can be started later (until then: refused)."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.handler = FaultySMTPHandler()
        self._controller: _Controller | None = None

    def start(self) -> FaultySMTPServer:
        self._controller = _Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is None:
            return
        self.handler.release.set()
        for transport in self.handler.hung_transports:
            controller.loop.call_soon_threadsafe(transport.abort)
        controller.stop()

    def wait_for(self, count: int, timeout: float) -> int:
        """Until `count` messages arrived or the time is up; how many did."""
        deadline = time.monotonic() + timeout
        while self.handler.count() < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.handler.count()


# -- a database server that goes away ----------------------------------------------------


class TCPProxy:
    """Forwards a local port to a server; stop() is the server going away, connections and all."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> TCPProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone leaves it listening.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, 5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


# -- a visitor --------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: str
    seconds: float


def request(port: int, method: str, path: str, body: str | None = None, headers=None, timeout=60) -> Response:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    started = time.perf_counter()
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        data = answer.read().decode("utf-8", "replace")
        # Header names folded to lower case; a repeated header's values joined, one a line.
        found: dict[str, str] = {}
        for name, value in answer.getheaders():
            key = name.lower()
            found[key] = f"{found[key]}\n{value}" if key in found else value
        return Response(answer.status, found, data, time.perf_counter() - started)
    finally:
        connection.close()


def visitor_data(n: int, **overrides) -> dict[str, str]:
    """A distinct, valid visitor: per-phone and per-email limits must not merge them, nor must the
    one-lead-per-request rule (the same office, phone, email and message within an hour is one lead)."""
    return valid_data(
        full_name=f"Visitor {n}",
        phone=f"941{200 + n // 10000:03d}{n % 10000:04d}",
        email=f"visitor{n}@example.com",
        location=("bradenton", "sarasota")[n % 2],
        **overrides,
    )


FORM_POST = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass
class Visitor:
    """One browser: loads a public page (the same bytes for everyone, no cookie), sends its form.

    Nothing from the page view is needed to send: no cookie, no token. The POST carries what a
    browser sends with a same-origin form, and the hidden fields site.js fills in.
    """

    port: int
    path: str = "/"
    fields: dict[str, str] = field(default_factory=dict)
    shown_at: float = 0.0

    def open(self, path: str | None = None) -> Response:
        self.path = path or self.path
        response = request(self.port, "GET", self.path)
        assert response.status == 200, (response.status, response.body[:500])
        assert "set-cookie" not in response.headers, response.headers  # a public page keeps no state
        self.fields = hidden_fields(response.body)
        self.shown_at = time.monotonic()
        return response

    def send(self, data: dict[str, str], port: int | None = None) -> Response:
        fields = dict(self.fields)
        if self.shown_at:  # site.js: the seconds from the page being shown to Send
            fields["elapsed"] = f"{time.monotonic() - self.shown_at:.1f}"
        body = urllib.parse.urlencode({**fields, **data})
        # What a current browser sends with a same-origin form: Sec-Fetch-Site, Origin, Referer (the page).
        headers = {**FORM_POST, **browser_headers(self.path)}
        return request(port or self.port, "POST", "/consultation", body, headers)


def wait_until(condition, timeout: float, what: str):
    """`condition()`'s first true value, asked every 0.1 s, or an AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# -- figures ------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(name: str, figures: dict) -> str:
    """Print one line of figures and keep it under reports/ (git-ignored) to be quoted."""
    shown = (f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items())
    line = f"{name}: " + ", ".join(shown)
    print(f"\n[report] {line}")
    REPORTED.append(line)
    REPORTS.mkdir(exist_ok=True)
    with open(REPORTS / "load.txt", "a") as fh:
        fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")
    return line


def latency_figures(seconds: list[float]) -> dict[str, float]:
    return {
        "p50_ms": statistics.median(seconds) * 1000 if seconds else float("nan"),
        "p99_ms": percentile(seconds, 99) * 1000,
        "max_ms": max(seconds, default=float("nan")) * 1000,
    }


# -- a crowd ------------------------------------------------------------------------------


def crowd(ports: list[int], count: int, post_port=None) -> tuple[list, float, float]:
    """`count` visitors load the page, wait for each other, then all press Send at once.

    Visitor n loads the page from ports[n % len(ports)] and posts to post_port(n) (the same
    instance by default). Returns the POST answers (or exceptions), the POSTs' wall time and start.
    """
    answers: list = [None] * count
    ready = threading.Barrier(count + 1, timeout=120)
    finished = threading.Barrier(count + 1, timeout=300)

    def visit(n: int) -> None:
        try:
            visitor = Visitor(ports[n % len(ports)])
            visitor.open()
        except Exception as exc:
            answers[n] = exc
        ready.wait()
        try:
            if answers[n] is None:
                port = post_port(n) if post_port else None
                answers[n] = visitor.send(visitor_data(n), port=port)
        except Exception as exc:
            answers[n] = exc
        finished.wait()

    threads = [threading.Thread(target=visit, args=(n,), daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    finished.wait()
    elapsed = time.perf_counter() - started
    for thread in threads:
        thread.join(10)
    return answers, elapsed, started


def check_everyone_arrived_once(name: str, database: Database, mail: FaultySMTPServer, crowd_result):
    """Exactly one lead and one email per visitor; report the figures either way."""
    answers, elapsed, started = crowd_result
    errors = [a for a in answers if isinstance(a, Exception)]
    statuses = [a.status for a in answers if not isinstance(a, Exception)]
    seconds = [a.seconds for a in answers if not isinstance(a, Exception)]
    accepted = statuses.count(303)
    mail.wait_for(accepted, timeout=120)
    all_mailed_s = time.perf_counter() - started
    time.sleep(2)  # later sweeps must not send anything again
    ids = mail.handler.message_ids()
    leads = database.count("lead")
    emailed = {int(m["X-Lead-Id"]) for m in mail.handler.messages}
    stored = {row.id for row in database.rows("SELECT id FROM lead")}
    figures = {
        "visitors": len(answers),
        "accepted_303": accepted,
        "http_5xx": sum(1 for s in statuses if s >= 500),
        "client_errors": len(errors),
        "leads": leads,
        "emails": len(ids),
        "duplicates": len(ids) - len(set(ids)),
        "losses": (accepted - leads) + len(stored - emailed),
        "leads_per_s": leads / elapsed,
        "post_wall_s": elapsed,
        "all_mailed_s": all_mailed_s,
        **latency_figures(seconds),
    }
    report(name, figures)
    assert errors == [], errors[:3]
    assert statuses == [303] * len(answers), sorted(set(statuses))
    assert leads == len(answers)
    assert len(ids) == len(answers) and len(set(ids)) == len(ids)
    assert emailed == stored
    assert {row.status for row in database.rows("SELECT status FROM notification")} == {"sent"}
    return figures
