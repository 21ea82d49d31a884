"""Per-request cost inside one Python process, no server and no network: where `make bench` gaps come from.

Calls the WSGI apps directly (best of 5 rounds) for the hello-world baseline, GET / (200), GET / with a
matching If-None-Match (304), the stylesheet, a rate-limited POST (429) and a valid POST /consultation
(SQLite in a temporary folder, emails not sent). Much steadier than wrk on a shared machine, so a
change to the request path shows here first; `--profile NAME` prints cProfile's top functions for one of them.

    .venv/bin/python scripts/inprocess.py [--requests 2000] [--profile post] [--sort tottime]
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import io
import logging
import os
import pstats
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

from werkzeug.test import EnvironBuilder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from microsite import create_app  # noqa: E402


def environ(path: str = "/", method: str = "GET", body: bytes = b"", **headers) -> dict:
    content_type = "application/x-www-form-urlencoded" if body else None
    builder = EnvironBuilder(path=path, method=method, headers=headers, data=body, content_type=content_type)
    return builder.get_environ()


def call(app, env: dict) -> tuple[str, dict, bytes]:
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, dict(headers)

    env = dict(env)
    if "wsgi.input" in env:
        env["wsgi.input"] = io.BytesIO(env["wsgi.input"].getvalue())
    body = b"".join(app(env, start_response))
    return answer["status"], answer["headers"], body


def best_ms(fn, requests: int) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(requests):
            fn()
        best = min(best, (time.perf_counter() - started) / requests)
    return best * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--profile", choices=["get", "get_304", "stylesheet", "post_429", "post"])
    parser.add_argument("--sort", default="cumulative", help="cProfile order: cumulative, tottime, ncalls")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="microsite-inprocess-"))
    database = f"sqlite:///{work / 'db.sqlite3'}"
    os.environ.update(
        SECRET_KEY=uuid.uuid4().hex, DATABASE_URL=database, OUTBOX_INLINE="false", FORM_MIN_SECONDS="0",
        RATELIMIT_ENABLED="false", LEADS_PER_CONTACT_PER_HOUR="100000000", STATIC_ROOT=str(work / "static"),
    )  # fmt: skip
    subprocess.run(  # noqa: S603
        [str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    from wsgi import app  # noqa: PLC0415 -- wsgi builds the app as it is imported: once the database is made

    # Loaded by path: this folder's bench.py would shadow the bench/ folder as a module name.
    spec = importlib.util.spec_from_file_location("hello", ROOT / "bench" / "hello.py")
    hello_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hello_module)
    hello = hello_module.app

    logging.disable(logging.INFO)  # no "lead stored" line per POST on the terminal

    _, headers, page = call(app, environ())
    etag = headers["ETag"]
    stylesheet = re.search(r'href="(/static/site[^"]*\.css)"', page.decode()).group(1)
    counter = iter(range(10**9))
    browser = {"Sec-Fetch-Site": "same-origin", "Referer": "http://localhost/"}

    def post():
        n = next(counter)
        fields = {
            "full_name": "Maria Example", "phone": f"941{2000000 + n:07d}", "email": f"in-{n}@example.com",
            "location": "sarasota", "contact_method": "phone", "best_time": "any", "message": "",
            "consent": "y", "website": "", "referrer": "", "elapsed": "12.5",
        }  # fmt: skip
        env = environ("/consultation", "POST", body=urllib.parse.urlencode(fields).encode(), **browser)
        assert call(app, env)[0].startswith("303"), "the POST was not accepted"

    def get(target, env: dict):
        return lambda: call(target, env)

    # A second app whose limit is spent: every POST is refused with the 429 page.
    os.environ.update(RATELIMIT_ENABLED="true", RATELIMIT_CONSULTATION="1 per hour")
    limited = create_app()
    flood = environ("/consultation", "POST", body=b"full_name=x", **browser)
    call(limited, flood)
    assert call(limited, flood)[0].startswith("429")

    cases = {
        "hello": get(hello, environ()),
        "get": get(app, environ()),
        "get_304": get(app, environ(**{"If-None-Match": etag})),
        "stylesheet": get(app, environ(stylesheet, **{"Accept-Encoding": "br"})),
        "post_429": get(limited, flood),
        "post": post,
    }
    baseline = best_ms(cases["hello"], args.requests)
    print(f"{'request':15} {'ms':>7} {'x hello':>8}")
    for name, fn in cases.items():
        requests = args.requests // 4 if name == "post" else args.requests
        ms = baseline if name == "hello" else best_ms(fn, requests)
        print(f"{name:15} {ms:7.3f} {ms / baseline:8.1f}")
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.requests):
            cases[args.profile]()
        profile.disable()
        pstats.Stats(profile).sort_stats(args.sort).print_stats(40)
    return 0


if __name__ == "__main__":
    sys.exit(main())
