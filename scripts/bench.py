"""`make bench`: the app against a Flask hello-world (the floor) and nginx (the ceiling), side by side.

Everything runs on 127.0.0.1 and back to back, because this machine is shared and noisy: each figure is
read as a ratio to a baseline measured in the same rounds. gunicorn serves the apps with the
repository's gunicorn.conf.py, as docs/operating.md tells operators to. nginx serves a saved copy of the
landing page as a static file, and, as deploy/nginx does, the app through its `proxy_cache` microcache
(deploy/nginx/microsite-cache.conf). A local aiosmtpd server receives the staff emails (one answers at
once, one takes 2 s per message).

    .venv/bin/python scripts/bench.py [--duration 8] [--rounds 5] [--connections 32]

The targets: GET / at least 0.9x hello-world, its 304 at least 1.0x; GET / through the
microcache at least 0.8x nginx's static file; while one address floods POST /consultation (answered
429), readers of / keep a p99 within 2x of their p99 without the flood. The POSTs, the 300-lead drain
and the slow-SMTP p99 are reported. Prints a table (requests/s, p50, p99: medians over the rounds) and
writes reports/bench.json. Exits 1 when a target is missed.

Five rounds by default: now and then gunicorn's gthread workers let one worker accept all of wrk's
connections at once, and that run goes at one process's speed. With five rounds one or two such runs
cannot move a median. `scripts/inprocess.py` measures the per-request cost without a server.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BIN = ROOT / ".venv" / "bin"
REPORTS = ROOT / "reports"
POSTGRES_URL = os.environ.get("BENCH_DATABASE_URL") or os.environ.get(
    "TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SCHEMA = "bench"
SECRET = "bench-" + uuid.uuid4().hex

# (scenario, baseline, the least ratio of their requests/s)
TARGETS = [("get", "hello", 0.9), ("get_304", "hello", 1.0), ("stylesheet", "hello", 0.9),
           ("nginx_cache", "nginx_static", 0.8)]  # fmt: skip
FLOOD_P99_FACTOR = 2.0
SLOW_P99_MARGIN = 0.10
DRAIN_SECONDS = 5.0
DRAIN_LEADS = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the mail servers ---------------------------------------------------------------


class Sink:
    """An SMTP server that notes when each message arrived; `delay` makes it answer DATA that late."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.arrivals: list[float] = []
        self.lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.arrivals.append(time.monotonic())
        return "250 Message accepted for delivery"

    @property
    def port(self) -> int:
        return self.controller.port

    def count(self) -> int:
        with self.lock:
            return len(self.arrivals)


# -- the servers --------------------------------------------------------------------


class Server:
    """A process in its own group, its output in a log file, stopped with SIGTERM then SIGKILL."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path, url: str):
        self.name = name
        self.url = url
        self.log = open(logs / f"{name}.log", "wb")  # noqa: SIM115 -- closed in stop()
        self.popen = subprocess.Popen(  # noqa: S603 -- our own commands
            args, env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_until_up(self, path: str = "/", seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        parsed = urllib.parse.urlsplit(self.url)
        while True:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log.name}")
            try:
                conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=2)
                conn.request("GET", path)
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not come up; see {self.log.name}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        self.log.close()


def app_env(database_url: str, mail_port: int, site_url: str) -> dict[str, str]:
    """The app's settings for the benchmark: a real SMTP server, no bot timer, no rate limits."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "GUNICORN_"))}
    env.update(
        SECRET_KEY=SECRET,
        DATABASE_URL=database_url,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(mail_port),
        MAIL_DEFAULT_SENDER="Clinic <no-reply@example.com>",
        FORM_MIN_SECONDS="0",
        RATELIMIT_ENABLED="false",
        LEADS_PER_CONTACT_PER_HOUR="1000000",
        SITE_URL=site_url,
        GUNICORN_ACCESS_LOG=os.environ.get("GUNICORN_ACCESS_LOG", "-"),
    )
    return env


def gunicorn(name: str, target: str, env: dict[str, str], logs: Path) -> Server:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", target]
    return Server(name, args, {**env, "SITE_URL": env.get("SITE_URL") or url}, logs, url)


def nginx(page: bytes, upstream: str, work: Path, logs: Path) -> Server:
    """nginx in the foreground on a free port: /static-page is the saved landing page as a static file,
    everything else goes to `upstream` through the microcache deploy/nginx uses."""
    port = free_port()
    site = work / "nginx-site"
    site.mkdir()
    (site / "index.html").write_bytes(page)
    cache_snippet = ROOT / "deploy" / "nginx" / "microsite-cache.conf"
    conf = work / "nginx.conf"
    conf.write_text(
        f"""
worker_processes auto;
pid {work}/nginx.pid;
error_log {logs}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    # As Debian's /etc/nginx/nginx.conf, which deploy/nginx's site file runs under.
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {work}/nginx-body;
    proxy_temp_path {work}/nginx-proxy;
    fastcgi_temp_path {work}/nginx-fastcgi;
    uwsgi_temp_path {work}/nginx-uwsgi;
    scgi_temp_path {work}/nginx-scgi;
    proxy_cache_path {work}/nginx-cache levels=1:2 keys_zone=microsite_pages:10m max_size=100m inactive=10m
                     use_temp_path=off;
    default_type text/html;
    upstream microsite {{ server {upstream.removeprefix("http://")}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{port};
        root {site};
        location = /static-page {{ try_files /index.html =404; }}
        location / {{
            proxy_pass http://microsite;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            include {cache_snippet};
        }}
    }}
}}
"""
    )
    os.chmod(work, 0o755)  # noqa: S103 -- nginx's workers run as nobody and read the saved page
    args = [shutil.which("nginx") or "/usr/sbin/nginx", "-e", str(logs / "nginx-error.log"),
            "-p", str(work), "-c", str(conf), "-g", "daemon off;"]  # fmt: skip
    return Server("nginx", args, dict(os.environ), logs, f"http://127.0.0.1:{port}")


# -- what a browser sends -------------------------------------------------------------


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[bytes, dict[str, str]]:
    """GET `url`: the body and the headers."""
    parsed = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
    conn.request("GET", parsed.path or "/", headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return body, dict(response.getheaders())


def form(n: int) -> bytes:
    """A valid consultation request, its own phone and email (the same request again is one lead)."""
    fields = {
        "full_name": "Maria Example",
        "phone": f"941{2000000 + n:07d}",
        "email": f"drain-{uuid.uuid4().hex[:12]}@example.com",
        "location": "sarasota",
        "contact_method": "phone",
        "best_time": "any",
        "message": "",
        "consent": "y",
        "website": "",
        "referrer": "",
        "elapsed": "42.0",
    }
    return urllib.parse.urlencode(fields).encode()


def post(origin: str, n: int) -> tuple[int, float]:
    """POST /consultation as a browser sends it from our page: Fetch Metadata and a Referer."""
    parsed = urllib.parse.urlsplit(origin)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Sec-Fetch-Site": "same-origin",
        "Referer": origin + "/",
    }
    conn.request("POST", "/consultation", body=form(n), headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status, time.monotonic()


# -- wrk ----------------------------------------------------------------------------


def wrk_args(url: str, script: str, duration: int, connections: int, threads: int = 2) -> list[str]:
    return ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
            "-s", str(BENCH / script), url]  # fmt: skip


def wrk_env(env: dict[str, str] | None) -> dict[str, str]:
    return {**os.environ, "BENCH_DIR": str(BENCH), **(env or {})}


def wrk(url: str, script: str, duration: int, connections: int, env: dict[str, str] | None = None) -> dict:
    """One wrk run; returns requests/s, p50 and p99 (ms) and the error counts from bench/report.lua."""
    args = wrk_args(url, script, duration, connections)
    out = subprocess.run(args, env=wrk_env(env), capture_output=True, text=True, check=True)  # noqa: S603
    return parse_wrk(out.stdout)


def parse_wrk(stdout: str) -> dict:
    line = next(ln for ln in stdout.splitlines() if ln.startswith("WRK_JSON "))
    raw = json.loads(line.removeprefix("WRK_JSON "))
    return {
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "requests": raw["requests"],
        "errors": raw["non_2xx_3xx"] + raw["socket_errors"],
    }


def flooded(readers_url: str, flood_url: str, duration: int, connections: int) -> tuple[dict, dict]:
    """Readers GET / while one address floods POST /consultation (rate-limited: 429s); both runs."""
    half = max(1, connections // 2)
    flood = subprocess.Popen(  # noqa: S603
        wrk_args(flood_url, "flood.lua", duration, half, threads=1),
        env=wrk_env(None), stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    readers = subprocess.run(  # noqa: S603
        wrk_args(readers_url, "get.lua", duration, half, threads=1),
        env=wrk_env(None), capture_output=True, text=True, check=True,
    )  # fmt: skip
    flood_out, _ = flood.communicate(timeout=duration + 30)
    return parse_wrk(readers.stdout), parse_wrk(flood_out)


# -- the database ---------------------------------------------------------------------


def upgrade(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": SECRET}
    subprocess.run(  # noqa: S603
        [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], env=env, cwd=ROOT, check=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def postgres_schema() -> str | None:
    """A fresh `bench` schema on the local PostgreSQL, or None when it cannot be reached."""
    try:
        engine = create_engine(POSTGRES_URL)
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        engine.dispose()
    except Exception as exc:
        print(f"PostgreSQL unreachable, skipping its POST: {exc}", file=sys.stderr)
        return None
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options=-csearch_path%3D{SCHEMA}"


def unsent(sqlite_path: Path) -> int:
    with sqlite3.connect(sqlite_path, timeout=30) as conn:
        return conn.execute("SELECT count(*) FROM notification WHERE status != 'sent'").fetchone()[0]


def wait_for_outbox(sqlite_path: Path, seconds: float = 180) -> int:
    """Wait until every notification of that database is sent; returns how many are still not."""
    deadline = time.monotonic() + seconds
    while (left := unsent(sqlite_path)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def drain(origin: str, sink: Sink, sqlite_path: Path) -> dict:
    """DRAIN_LEADS leads submitted at once; seconds from the last 303 to the last email received."""
    wait_for_outbox(sqlite_path)
    settle(sink)  # the PostgreSQL app sends to the same sink
    before = sink.count()
    with concurrent.futures.ThreadPoolExecutor(max_workers=100) as pool:
        results = list(pool.map(lambda n: post(origin, n), range(DRAIN_LEADS)))
    statuses = [status for status, _ in results]
    last_303 = max(at for status, at in results if status == 303)
    deadline = time.monotonic() + 120
    while sink.count() < before + DRAIN_LEADS and time.monotonic() < deadline:
        time.sleep(0.01)
    with sink.lock:
        arrivals = sink.arrivals[before:]
    received = len(arrivals)
    return {
        "leads": DRAIN_LEADS,
        "answered_303": statuses.count(303),
        "emails_received": received,
        "seconds_after_last_303": round(max(arrivals) - last_303, 3) if received >= DRAIN_LEADS else None,
    }


# -- the table ------------------------------------------------------------------------


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def summarise(results: dict[str, list[dict]]) -> dict[str, dict]:
    hello = median_of(results["hello"], "rps")
    table = {}
    for name, runs in results.items():
        table[name] = {
            "rps": round(median_of(runs, "rps"), 1),
            "p50_ms": round(median_of(runs, "p50_ms"), 2),
            "p99_ms": round(median_of(runs, "p99_ms"), 2),
            "ratio_to_hello": round(median_of(runs, "rps") / hello, 2),
            "rounds_ratio_to_hello": [
                round(run["rps"] / base["rps"], 2) for run, base in zip(runs, results["hello"], strict=False)
            ],
            "errors": sum(run["errors"] for run in runs),
            "rounds": [{k: round(v, 2) for k, v in run.items()} for run in runs],
        }
    return table


LABELS = {
    "hello": "hello-world GET / (floor)",
    "get": "GET /",
    "get_304": "GET / with If-None-Match (304)",
    "stylesheet": "GET stylesheet",
    "nginx_static": "nginx, the page as a static file",
    "nginx_cache": "nginx microcache in front of the app",
    "readers_alone": "readers of /, alone",
    "readers_flooded": "readers of /, during a POST flood",
    "flood": "the flood (429s)",
    "post_sqlite": "POST /consultation, SQLite",
    "post_postgres": "POST /consultation, PostgreSQL",
    "post_slow_smtp": "POST, SQLite, SMTP 2 s/message",
}


def print_table(table: dict, checks: list[tuple[str, bool]], drained: dict, meta: dict) -> None:
    print()
    print(f"gunicorn {meta['worker_class']} x{meta['workers']} workers, wrk -c{meta['connections']} "
          f"-d{meta['duration']}s, {meta['rounds']} rounds alternating; medians")  # fmt: skip
    print(f"{'scenario':38} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'x hello':>8} {'errors':>7}")
    for name, row in table.items():
        print(f"{LABELS.get(name, name):38} {row['rps']:9.0f} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} "
              f"{row['ratio_to_hello']:8.2f} {row['errors']:7d}")  # fmt: skip
    print()
    print(f"outbox: {drained['leads']} leads at once, {drained['answered_303']} answered 303, "
          f"{drained['emails_received']} emails received, last email "
          f"{drained['seconds_after_last_303']} s after the last 303")  # fmt: skip
    print()
    for label, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {label}")


def ratio(table: dict, name: str, base: str) -> float:
    return round(table[name]["rps"] / table[base]["rps"], 2)


def check(table: dict, drained: dict) -> list[tuple[str, bool]]:
    checks = [
        (f"{LABELS[name]} >= {target} x {LABELS[base]} ({ratio(table, name, base)})",
         ratio(table, name, base) >= target)
        for name, base, target in TARGETS
    ]  # fmt: skip
    alone, during = table["readers_alone"]["p99_ms"], table["readers_flooded"]["p99_ms"]
    checks.append(
        (f"readers' p99 during a POST flood within {FLOOD_P99_FACTOR}x of alone "
         f"({during:.1f} vs {alone:.1f} ms)",
         during <= alone * FLOOD_P99_FACTOR)
    )  # fmt: skip
    fast, slow = table["post_sqlite"]["p99_ms"], table["post_slow_smtp"]["p99_ms"]
    checks.append(
        (f"POST p99 with a 2 s SMTP server within 10 % of a fast one ({slow:.1f} vs {fast:.1f} ms)",
         slow <= fast * (1 + SLOW_P99_MARGIN))
    )  # fmt: skip
    seconds = drained["seconds_after_last_303"]
    checks.append(
        (f"{DRAIN_LEADS} leads delivered <= {DRAIN_SECONDS} s after the last 303 ({seconds} s)",
         seconds is not None and seconds <= DRAIN_SECONDS and drained["answered_303"] == DRAIN_LEADS)
    )  # fmt: skip
    return checks


def post_env(origin: str) -> dict[str, str]:
    """What bench/post.lua needs: the origin its Referer names."""
    return {"BENCH_ORIGIN": origin}


class Bench:
    """The servers, the mail sinks and the databases of one benchmark, in a temporary folder."""

    def __init__(self, extra_env: dict[str, str] | None = None):
        self.work = Path(tempfile.mkdtemp(prefix="microsite-bench-"))
        self.logs = self.work / "logs"
        self.logs.mkdir()
        self.extra_env = extra_env or {}
        self.fast_sink, self.slow_sink = Sink(), Sink(delay=2.0)
        self.servers: list[Server] = []
        self.sqlite_fast = self.work / "fast.sqlite3"

    def env(self, database_url: str, sink: Sink) -> dict[str, str]:
        return {**app_env(database_url, sink.port, ""), **self.extra_env}

    def start(self, name: str, target: str, database_url: str, sink: Sink, **extra: str) -> Server:
        server = gunicorn(name, target, {**self.env(database_url, sink), **extra}, self.logs)
        self.servers.append(server)
        return server

    def __enter__(self) -> Bench:
        self.fast_sink.controller.start()
        self.slow_sink.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        for server in reversed(self.servers):
            server.stop()
        self.fast_sink.controller.stop()
        self.slow_sink.controller.stop()


def scenarios_for(bench: Bench, with_postgres: bool) -> list[tuple[str, str, str, dict]]:
    """Start every server; returns (name, url, wrk script, environment) in the order a round runs them.

    A scenario named "flood" runs the readers alone, then the readers during a flood (see measure).
    """
    fast_db, slow_db = f"sqlite:///{bench.sqlite_fast}", f"sqlite:///{bench.work / 'slow.sqlite3'}"
    flood_db = f"sqlite:///{bench.work / 'flood.sqlite3'}"
    postgres = postgres_schema() if with_postgres else None
    for url in [fast_db, slow_db, flood_db] + ([postgres] if postgres else []):
        upgrade(url)
    app = bench.start("app-sqlite", "wsgi:app", fast_db, bench.fast_sink)
    slow = bench.start("app-slow-smtp", "wsgi:app", slow_db, bench.slow_sink)
    hello = bench.start("hello", "bench.hello:app", fast_db, bench.fast_sink)
    # Rate limits on, as in production: one address gets a few requests a minute, then 429s.
    limited = bench.start("app-rate-limited", "wsgi:app", flood_db, bench.fast_sink, RATELIMIT_ENABLED="true")
    pg = bench.start("app-postgres", "wsgi:app", postgres, bench.fast_sink) if postgres else None
    for server in bench.servers:
        server.wait_until_up()
    plain, _ = fetch(app.url + "/")
    _, headers = fetch(app.url + "/", {"Accept-Encoding": "gzip, deflate, br"})
    stylesheet = re.search(r'href="(/static/site[^"]*\.css)"', plain.decode()).group(1)
    ceiling = nginx(plain, app.url, bench.work, bench.logs)
    bench.servers.append(ceiling)
    ceiling.wait_until_up()
    bench.app = app

    plain_encoding = {"BENCH_ACCEPT_ENCODING": ""}  # nginx's static file is the plain page: so is its copy
    scenarios = [
        ("hello", hello.url + "/", "get.lua", {}),
        ("get", app.url + "/", "get.lua", {}),
        ("get_304", app.url + "/", "get.lua", {"BENCH_IF_NONE_MATCH": headers["ETag"]}),
        ("stylesheet", app.url + stylesheet, "get.lua", {}),
        ("hello", hello.url + "/", "get.lua", {}),
        ("nginx_static", ceiling.url + "/static-page", "get.lua", plain_encoding),
        ("nginx_cache", ceiling.url + "/", "get.lua", plain_encoding),
        ("flood", limited.url, "", {}),
        ("post_sqlite", app.url + "/consultation", "post.lua", post_env(app.url)),
        ("post_slow_smtp", slow.url + "/consultation", "post.lua", post_env(slow.url)),
    ]
    if pg:
        scenarios.append(("post_postgres", pg.url + "/consultation", "post.lua", post_env(pg.url)))
    return scenarios


def settle(sink: Sink, quiet_seconds: float = 1.0, limit: float = 180) -> None:
    """Wait until the sink has received nothing for `quiet_seconds`: the app's senders are done.

    Otherwise the emails of one POST run are still being sent during the next run, on the same CPUs.
    """
    deadline = time.monotonic() + limit
    last, since = sink.count(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if (now := sink.count()) != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_seconds:
            return


def measure(scenarios, rounds: int, duration: int, connections: int, sink: Sink) -> dict[str, list[dict]]:
    """A short warm-up of each, then `rounds` rounds of every scenario in turn."""
    for name, url, script, env in scenarios:
        if name != "flood":
            wrk(url, script, 2, connections, env)
    settle(sink)
    results: dict[str, list[dict]] = {}
    for round_number in range(1, rounds + 1):
        for name, url, script, env in scenarios:
            if name == "flood":
                alone = wrk(url + "/", "get.lua", duration, connections // 2)
                readers, flood = flooded(url + "/", url + "/consultation", duration, connections)
                runs = {"readers_alone": alone, "readers_flooded": readers, "flood": flood}
            else:
                runs = {name: wrk(url, script, duration, connections, env)}
            settle(sink)
            for label, run in runs.items():
                results.setdefault(label, []).append(run)
                print(f"round {round_number} {label:15} {run['rps']:8.0f} req/s  "
                      f"p50 {run['p50_ms']:6.2f} ms  p99 {run['p99_ms']:7.2f} ms  errors {run['errors']}",
                      flush=True)  # fmt: skip
    return results


def quick_look(args) -> int:
    """Some scenarios against hello-world, for trying a change: the table only, no targets, no JSON."""
    wanted = {"hello", *args.only.split(",")}
    with Bench() as bench:
        everything = scenarios_for(bench, with_postgres="post_postgres" in wanted)
        scenarios = [scenario for scenario in everything if scenario[0] in wanted]
        table = summarise(measure(scenarios, args.rounds, args.duration, args.connections, bench.fast_sink))
    print(f"\n{'scenario':38} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'x hello':>8}")
    for name, row in table.items():
        print(f"{LABELS.get(name, name):38} {row['rps']:9.0f} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} "
              f"{row['ratio_to_hello']:8.2f}")  # fmt: skip
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--only", help="comma-separated scenarios (with hello): a quick look, no checks")
    args = parser.parse_args()
    for tool in ["wrk", "nginx"]:
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is missing: apt-get install -y wrk nginx")
    REPORTS.mkdir(exist_ok=True)
    if args.only:
        return quick_look(args)

    started = time.monotonic()
    with Bench() as bench:
        scenarios = scenarios_for(bench, with_postgres=True)
        results = measure(scenarios, args.rounds, args.duration, args.connections, bench.fast_sink)
        drained = drain(bench.app.url, bench.fast_sink, bench.sqlite_fast)
        table = summarise(results)
        checks = check(table, drained)
        meta = {
            "worker_class": os.environ.get("GUNICORN_WORKER_CLASS", "gthread (gunicorn.conf.py)"),
            "workers": os.environ.get("WEB_CONCURRENCY", "CPUs + 1, 4 threads (gunicorn.conf.py)"),
            "cpus": len(os.sched_getaffinity(0)),
            "load_average_at_end": os.getloadavg(),
            "duration": args.duration,
            "rounds": args.rounds,
            "connections": args.connections,
            "seconds": round(time.monotonic() - started),
            "leads_stored_sqlite": _count_leads(bench.sqlite_fast),
            "posts_answered_sqlite": sum(r["requests"] for r in results["post_sqlite"]),
        }
        print_table(table, checks, drained, meta)
        report = {
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "meta": meta,
            "table": table,
            "outbox_drain": drained,
            "checks": [{"check": c, "ok": ok} for c, ok in checks],
        }
        (REPORTS / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwritten: {REPORTS / 'bench.json'}; server logs in {bench.logs}")
    return 0 if all(ok for _, ok in checks) else 1


def _count_leads(sqlite_path: Path) -> int:
    with sqlite3.connect(sqlite_path, timeout=30) as conn:
        return conn.execute("SELECT count(*) FROM lead").fetchone()[0]


if __name__ == "__main__":
    sys.exit(main())
