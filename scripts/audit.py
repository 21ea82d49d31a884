"""`make audit`: Lighthouse (mobile) on the landing page and a location page, served by gunicorn.

Starts gunicorn on a free port with a throwaway SQLite database (upgraded with `flask db upgrade`), runs
Lighthouse from node_modules against Debian's Chromium, prints the four category scores, LCP and the bytes the
first view transfers, and writes the JSON and HTML reports and screenshots under reports/.
Exits 1 when a category is below its target.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
LIGHTHOUSE = ROOT / "node_modules" / ".bin" / "lighthouse"
REPORTS = ROOT / "reports"
CHROME_PATH = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
CHROME_FLAGS = (
    "--headless=new --no-sandbox --disable-gpu --disable-background-networking "
    "--disable-component-update --disable-sync --no-first-run"
)
PAGES = {
    "landing": "/",
    "bradenton": "/ketamine-therapy-bradenton",
    # The Spanish pages are held to the same 100s.
    "landing-es": "/es/",
    "bradenton-es": "/es/terapia-con-ketamina-bradenton",
}
CATEGORIES = ["performance", "accessibility", "best-practices", "seo"]
TARGET = 100


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 -- our own local server
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


ATTEMPTS = 3


def save_data_url(data_url: str, path: Path) -> None:
    path.write_bytes(base64.b64decode(data_url.split(",", 1)[1]))


def lighthouse(url: str, name: str) -> dict:
    """One mobile Lighthouse run; returns the parsed JSON report (the HTML one is written beside it)."""
    out = REPORTS / name
    command = [
        str(LIGHTHOUSE),
        url,
        "--quiet",
        "--output=json",
        "--output=html",
        f"--output-path={out}",
        f"--only-categories={','.join(CATEGORIES)}",
        "--form-factor=mobile",
        f"--chrome-flags={CHROME_FLAGS}",
    ]
    # Lighthouse 12 sometimes loses the trace of Debian's newer Chromium ("NO_NAVSTART ... Please run
    # Lighthouse again"): a run that fails is tried again, up to ATTEMPTS times in all.
    for attempt in range(1, ATTEMPTS + 1):
        # Every argument is ours: the URL is the local server this script started.
        done = subprocess.run(command, check=False, env={**os.environ, "CHROME_PATH": CHROME_PATH})  # noqa: S603
        if done.returncode == 0:
            break
        if attempt == ATTEMPTS:
            raise subprocess.CalledProcessError(done.returncode, command)
        print(f"lighthouse failed on {url} (attempt {attempt} of {ATTEMPTS}); trying again", file=sys.stderr)
    report = json.loads(out.with_suffix(".report.json").read_text())
    save_data_url(report["audits"]["final-screenshot"]["details"]["data"], REPORTS / f"{name}-screenshot.jpg")
    full = report.get("fullPageScreenshot", {}).get("screenshot", {}).get("data")
    if full:
        save_data_url(full, REPORTS / f"{name}-full-page.jpg")
    return report


def main() -> int:
    if not LIGHTHOUSE.exists():
        print("Lighthouse is missing: run `make node_modules`", file=sys.stderr)
        return 2
    REPORTS.mkdir(exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="audit-") as tmp:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{Path(tmp) / 'audit.sqlite3'}",
            "SECRET_KEY": secrets.token_hex(32),
            "MAIL_SERVER": "",
            "MAIL_FILE_DIR": str(Path(tmp) / "mail"),
            "SITE_URL": base,
        }
        upgrade = [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"]
        subprocess.run(upgrade, check=True, env=env, cwd=ROOT)  # noqa: S603
        serve = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2", "wsgi:app"]
        server = subprocess.Popen(serve, env=env, cwd=ROOT)  # noqa: S603
        try:
            wait_until_up(base + "/healthz")
            reports = {name: lighthouse(base + path, name) for name, path in PAGES.items()}
        finally:
            server.terminate()
            server.wait(10)

    below = []
    print(f"\n{'page':<12}{'perf':>6}{'a11y':>6}{'best':>6}{'seo':>6}{'LCP':>10}{'bytes':>10}")
    for name, report in reports.items():
        scores = [round(report["categories"][c]["score"] * 100) for c in CATEGORIES]
        lcp = report["audits"]["largest-contentful-paint"]["numericValue"]
        weight = report["audits"]["total-byte-weight"]["numericValue"]
        print(f"{name:<12}" + "".join(f"{s:>6}" for s in scores) + f"{lcp / 1000:>9.2f}s{weight:>10.0f}")
        below += [f"{name} {c} {s}" for c, s in zip(CATEGORIES, scores, strict=True) if s < TARGET]
    print(f"\nReports and screenshots in {REPORTS.relative_to(ROOT)}/")
    if below:
        print("Below the target of 100: " + ", ".join(below), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
