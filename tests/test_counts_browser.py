"""Counting without cookies in a real browser: static/site.js's beacon, the server's counter, nothing else.

Debian's Chromium through Playwright, one live server and one browser for the module. Each test waits
for the beacon's own answer (or for the page to fall quiet) and then reads the database: no sleeps.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import live_server, make_config, new_context
from sqlalchemy import func, select

from microsite import create_app
from microsite.extensions import db
from microsite.models import PageViewCount

pytestmark = pytest.mark.browser

CLIENT_ADDRESS = "127.0.0.1"  # where the browser's requests come from, as the server sees it


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """The app with its rate limits on (their counters in a file of their own), on a fresh SQLite file."""
    tmp = tmp_path_factory.mktemp("counts")
    app = create_app(make_config(f"sqlite:///{tmp / 'counts.sqlite3'}", tmp, RATELIMIT_ENABLED=True))
    app.database_file = tmp / "counts.sqlite3"
    app.ratelimit_file = tmp / "ratelimit.sqlite3"  # make_config's
    with app.app_context():
        db.create_all()
    with live_server(app):
        yield app


def views(app, campaign: str | None = None, **key) -> int:
    """The views counted so far, all of them or those of one counter's key."""
    with app.app_context():
        stmt = select(func.coalesce(func.sum(PageViewCount.views), 0))
        for name, value in {**key, **({"campaign": campaign} if campaign is not None else {})}.items():
            stmt = stmt.where(getattr(PageViewCount, name) == value)
        total = db.session.scalar(stmt)
        db.session.rollback()
        return total


def wait_for(condition, timeout: float = 10.0) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def beacons(page) -> list:
    """The requests to /v this page makes, recorded as they start."""
    sent = []
    page.on("request", lambda request: request.url.endswith("/v") and sent.append(request))
    return sent


def stored_bytes(path: Path) -> bytes:
    """A SQLite database as it is on disk: the file, and its write-ahead log and shared memory."""
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())


def test_a_view_adds_one_to_its_counter_and_leaves_no_cookie_or_address(browser, live):
    context = new_context(browser)
    page = context.new_page()
    key = {"path": "/", "source": "acc-test", "medium": ""}
    before = views(live, "spring", **key)
    with page.expect_response("**/v") as answer:
        page.goto(live.base_url + "/?utm_source=acc-test&utm_campaign=spring")
    assert answer.value.status == 204
    assert wait_for(lambda: views(live, "spring", **key) == before + 1)
    assert views(live, "spring", **key) == before + 1  # one view, one count: not two
    assert context.cookies() == []
    agent = page.evaluate("navigator.userAgent")
    stored = stored_bytes(live.database_file)
    assert b"acc-test" in stored  # the check reads what was written...
    assert CLIENT_ADDRESS.encode() not in stored and agent.encode() not in stored  # ...and finds no one
    # The address searched for is the one the server saw: the rate limit's own counters, kept apart for a
    # minute (the privacy notice says so), hold it.
    assert CLIENT_ADDRESS.encode() in stored_bytes(live.ratelimit_file)
    context.close()


def test_without_javascript_nothing_is_counted_and_the_page_works(browser, live):
    context = new_context(browser, java_script_enabled=False)
    page = context.new_page()
    sent = beacons(page)
    before = views(live)
    page.goto(live.base_url + "/?utm_source=acc-test&utm_campaign=no-js", wait_until="networkidle")
    assert page.get_by_role("heading", level=1).is_visible()
    assert page.locator("#consultation").get_by_role("button", name="Send my request").is_enabled()
    assert sent == []
    assert views(live) == before
    context.close()


def test_global_privacy_control_is_not_counted(browser, live):
    """Chromium sends no Sec-GPC of its own: the header is added, as an extension or Brave would send it.

    The script still sends its beacon (navigator.globalPrivacyControl is Chromium's undefined), and the
    server, seeing the header, counts nothing. Then a browser whose script sees the setting sends none.
    """
    context = new_context(browser, extra_http_headers={"Sec-GPC": "1"})
    page = context.new_page()
    with page.expect_response("**/v") as answer:
        page.goto(live.base_url + "/?utm_source=acc-test&utm_campaign=gpc")
    assert answer.value.status == 204
    assert answer.value.request.all_headers().get("sec-gpc") == "1"
    assert views(live, "gpc") == 0
    context.close()

    context = new_context(browser)
    context.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})"
    )
    page = context.new_page()
    sent = beacons(page)
    page.goto(live.base_url + "/?utm_source=acc-test&utm_campaign=gpc-script", wait_until="networkidle")
    assert sent == []
    assert views(live, "gpc-script") == 0
    context.close()
