"""The first view of `/` in a real browser: at most 50 KB over the wire, all of it from our own origin.

Chromium (Debian's, through Playwright) loads the page with an empty cache from the app served as in
production (WhiteNoise in front); every response's headers and encoded body are added up. The figure
is written to reports/first-view.json.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import make_config, new_context
from werkzeug.serving import make_server

from microsite import create_app
from microsite.extensions import db

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 50 * 1024


@pytest.fixture
def served(tmp_path):
    app = create_app(make_config(f"sqlite:///{tmp_path / 'view.sqlite3'}", tmp_path))
    with app.app_context():
        db.create_all()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)
    with app.app_context():
        db.engine.dispose()


def test_first_view_of_the_landing_page_is_light(served, browser):
    context = new_context(browser, viewport={"width": 390, "height": 844})
    page = context.new_page()
    finished = []
    # A lambda, not finished.append: Playwright cannot wrap a built-in method as a handler.
    page.on("requestfinished", lambda request: finished.append(request))  # noqa: PLW0108
    page.goto(served + "/", wait_until="networkidle")
    rows = []
    for request in finished:
        sizes = request.sizes()
        response = request.response()
        rows.append(
            {
                "url": urlsplit(request.url).path,
                "type": request.resource_type,
                "bytes": sizes["responseHeadersSize"] + sizes["responseBodySize"],
                "encoding": response.headers.get("content-encoding") if response else None,
                "origin_is_ours": request.url.startswith(served),
            }
        )
    context.close()
    total = sum(row["bytes"] for row in rows)
    (ROOT / "reports").mkdir(exist_ok=True)
    (ROOT / "reports" / "first-view.json").write_text(
        json.dumps({"bytes": total, "requests": rows}, indent=2)
    )
    print(f"\nfirst view of /: {total} bytes in {len(rows)} requests")
    assert total <= BUDGET, rows
    assert all(row["origin_is_ours"] for row in rows), rows
    assert [row["type"] for row in rows].count("font") == 0
    stylesheet = next(row for row in rows if row["type"] == "stylesheet")
    assert stylesheet["encoding"] in {"br", "gzip"}
