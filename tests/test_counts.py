"""Counting without cookies: POST /v, the daily counters, their purge, and
views, leads and conversion on the staff dashboard and in its CSV.

Route tests run on a SQLite file; the upsert under parallel requests and the dashboard's hand-computed
month run on PostgreSQL too. The browser's side (site.js sending the beacon) is tests/test_counts_browser.py.
"""

from __future__ import annotations

import csv
import io
import random
import re
import threading
import urllib.request
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import SITE_URL, add_staff, live_server, make_config, staff_login
from sqlalchemy import func, select

from microsite import create_app
from microsite.counts.report import Period, period_from
from microsite.database import writing
from microsite.extensions import db
from microsite.leads.retention import months_before, purge_counts
from microsite.models import Lead, LeadStatus, PageViewCount

pytestmark = pytest.mark.both_databases

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Origin": SITE_URL}  # what Chromium sends with sendBeacon
CLINIC = ZoneInfo("America/New_York")
EMAIL, PASSWORD = "staff@example.com", "correct horse battery"


@pytest.fixture
def make_app(tmp_path):
    """An app on its own database (a SQLite file unless given a URL), dropped afterwards."""
    made = []

    def make(database_url: str | None = None, **config):
        url = database_url or f"sqlite:///{tmp_path / f'counts{len(made)}.sqlite3'}"
        app = create_app(make_config(url, tmp_path, **config))
        with app.app_context():
            db.drop_all()
            db.create_all()
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


def beacon(client, headers=SAME_ORIGIN, **fields):
    """What site.js sends: the path, the page's campaign tags, the other site's host."""
    return client.post("/v", data={"path": "/", **fields}, headers=headers)


def counters(app) -> list[tuple]:
    with app.app_context():
        rows = db.session.execute(
            select(
                PageViewCount.day,
                PageViewCount.path,
                PageViewCount.source,
                PageViewCount.medium,
                PageViewCount.campaign,
                PageViewCount.views,
            ).order_by(PageViewCount.id)
        ).all()
        db.session.rollback()
        return [tuple(row) for row in rows]


def total_views(app) -> int:
    with app.app_context():
        total = db.session.scalar(select(func.coalesce(func.sum(PageViewCount.views), 0)))
        db.session.rollback()
        return total


def today_at_the_clinic() -> date:
    return datetime.now(CLINIC).date()


# -- 1. the beacon -------------------------------------------------------------------------------


def test_a_view_adds_one_to_its_daily_counter_and_answers_204_with_nothing_else(app):
    client = app.test_client()
    response = beacon(client, utm_source="acc-test", utm_campaign="spring")
    assert response.status_code == 204 and response.data == b""
    assert "Set-Cookie" not in response.headers and "Cookie" not in response.headers.get("Vary", "")
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get_cookie("session") is None
    assert beacon(client, utm_source="acc-test", utm_campaign="spring").status_code == 204
    assert counters(app) == [(today_at_the_clinic(), "/", "acc-test", "", "spring", 2)]


@pytest.mark.parametrize(
    "fields,source,medium,campaign",
    [
        ({"utm_source": " Google ", "utm_medium": "cpc", "from": "www.bing.com"}, "google", "cpc", ""),
        ({"from": "www.bing.com"}, "bing.com", "", ""),  # no tag: the other site's host
        ({"from": "clinic.example.com"}, "", "", ""),  # our own page is no source: direct
        ({"from": "localhost"}, "", "", ""),  # the host the request named is ours too
        ({"from": "https://evil.example/a/path?q=1"}, "evil.example", "", ""),  # a URL: its host only
        ({"from": "not a host!"}, "", "", ""),
        ({"from": "https://[clinic.example.com/"}, "", "", ""),  # not a URL at all
        ({"utm_campaign": "spring\x00\u202e" + "x" * 20}, "", "", "spring" + "x" * 20),  # cleaned
        # A tag is [a-z0-9._-], at most 40 characters; anything else is counted as "(other)".
        ({"utm_source": "News.Letter_2026-v1", "utm_medium": "e" * 40}, "news.letter_2026-v1", "e" * 40, ""),
        ({"utm_campaign": "x" * 41}, "", "", "(other)"),
        ({"utm_campaign": "spring sale", "utm_medium": "cpc;drop"}, "", "(other)", "(other)"),
        ({"utm_source": "claim-your-refund-at-evil-example-" + "z" * 20}, "(other)", "", ""),
        ({"utm_source": "gоogle"}, "(other)", "", ""),  # a Cyrillic о
        ({"from": "a" * 30 + ".example.com"}, "(other)", "", ""),  # a host over 40 characters
    ],
)
def test_the_source_is_the_tag_else_the_other_sites_host_else_direct(app, fields, source, medium, campaign):
    client = app.test_client()
    response = client.post(
        "/v", data={"path": "/", **fields}, headers=SAME_ORIGIN, base_url="http://localhost"
    )
    assert response.status_code == 204
    [(_, _, *key, views)] = counters(app)
    assert (key, views) == ([source, medium, campaign], 1)


def test_global_privacy_control_is_not_counted(app):
    response = beacon(app.test_client(), headers={**SAME_ORIGIN, "Sec-GPC": "1"}, utm_source="gpc")
    assert response.status_code == 204
    assert counters(app) == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
    ],
)
def test_a_view_sent_from_another_site_is_refused(app, headers):
    response = beacon(app.test_client(), headers=headers)
    assert response.status_code == 403
    assert counters(app) == []


@pytest.mark.parametrize("tokens", [True, False], ids=["tokens-on", "tokens-off"])
def test_a_request_no_browser_vouched_for_gets_204_and_counts_nothing(make_app, tokens):
    """Neither Sec-Fetch-Site nor Origin: the forms would ask for a token; the beacon just counts nothing."""
    app = make_app(WTF_CSRF_ENABLED=tokens)
    response = beacon(app.test_client(), headers={})
    assert (response.status_code, response.data) == (204, b"")
    assert counters(app) == []


def test_only_public_pages_are_counted(app):
    client = app.test_client()
    ignored = [
        "/staff/",
        "/consultation",
        "/sitemap.xml",
        "/robots.txt",
        "/v",
        "/healthz",
        "/ketamine-therapy-tampa",
        "//evil.example/",
        "/privacy/",
        "/?utm_source=x",
        "",
        "/x" * 200,
    ]
    for path in ignored:
        assert beacon(client, path=path).status_code == 204
    assert client.post("/v", data={}, headers=SAME_ORIGIN).status_code == 204  # no path at all
    assert counters(app) == []
    public = ["/", "/ketamine-therapy-bradenton", "/ketamine-therapy-sarasota", "/phq-9", "/privacy",
              "/thanks"]  # fmt: skip
    for path in public:
        beacon(client, path=path)
    assert sorted(row[1] for row in counters(app)) == sorted(public)


def test_the_beacon_is_rate_limited_per_address(make_app):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_BEACON="3 per minute")
    client = app.test_client()
    statuses = [beacon(client).status_code for _ in range(4)]
    assert statuses == [204, 204, 204, 429]
    assert total_views(app) == 3
    # Another address is not held up by this one.
    other = client.post(
        "/v", data={"path": "/"}, headers=SAME_ORIGIN, environ_base={"REMOTE_ADDR": "10.0.0.9"}
    )
    assert other.status_code == 204
    assert total_views(app) == 4


def test_parallel_views_all_count(make_app, database_url):
    """One upsert per view: 40 views at once from 8 threads against a threaded server are 40, not fewer."""
    app = make_app(database_url)
    errors: list[BaseException] = []

    def send(n: int) -> None:
        for _ in range(n):
            request = urllib.request.Request(
                f"{app.base_url}/v", data=b"path=%2F&utm_source=parallel", headers=SAME_ORIGIN, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=20) as response:
                    assert response.status == 204
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

    with live_server(app):
        threads = [threading.Thread(target=send, args=(5,)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert errors == []
    assert counters(app) == [(today_at_the_clinic(), "/", "parallel", "", "", 40)]


def test_a_thousand_beacons_with_random_tags_leave_at_most_the_days_rows(make_app, database_url):
    """From 4 threads at once: every view counted, the day's rows capped, the rest on "(other)"."""
    cap = 40
    # A long busy timeout: on a loaded machine a view may queue behind the others for a while.
    app = make_app(database_url, COUNTS_MAX_KEYS_PER_DAY=cap, SQLITE_BUSY_TIMEOUT_MS=60_000)
    paths = ["/", "/privacy", "/ketamine-therapy-sarasota"]
    errors: list[BaseException] = []

    def send(seed: int) -> None:
        rng = random.Random(seed)
        client = app.test_client()
        for _ in range(250):
            tags = {name: "".join(rng.choices("abcdefghij0123", k=8)) for name in
                    ("utm_source", "utm_medium", "utm_campaign")}  # fmt: skip
            try:
                assert beacon(client, path=rng.choice(paths), **tags).status_code == 204
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

    threads = [threading.Thread(target=send, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    rows = counters(app)
    assert {row[0] for row in rows} == {today_at_the_clinic()}
    assert len(rows) <= cap
    assert sum(row[-1] for row in rows) == 1000
    folded = [row for row in rows if row[2:5] == ("(other)", "(other)", "(other)")]
    assert {row[1] for row in folded} == set(paths)
    assert len(rows) - len(folded) >= cap - len(app.extensions["counted_paths"])  # the room was used


def test_a_day_full_of_rows_still_counts_views_of_the_tags_it_holds(make_app):
    app = make_app(COUNTS_MAX_KEYS_PER_DAY=14)  # twelve counted pages: room for two rows of tags
    client = app.test_client()
    for campaign in ["a", "b", "c", "a", "b", "c"]:
        beacon(client, utm_campaign=campaign)
    assert [(row[4], row[-1]) for row in counters(app)] == [("a", 2), ("b", 2), ("(other)", 2)]


def test_a_cap_below_the_counted_pages_is_refused(tmp_path):
    with pytest.raises(RuntimeError, match="COUNTS_MAX_KEYS_PER_DAY must be more than the 12 counted pages"):
        create_app(make_config(f"sqlite:///{tmp_path / 'cap.sqlite3'}", tmp_path, COUNTS_MAX_KEYS_PER_DAY=12))


@pytest.mark.parametrize(
    "path",
    ["/", "/ketamine-therapy-bradenton", "/ketamine-therapy-sarasota", "/phq-9", "/privacy", "/thanks"],
)
def test_every_counted_page_loads_the_script_that_sends_the_beacon(app, path):
    html = app.test_client().get(path).get_data(as_text=True)
    assert re.search(r'<script src="/static/site\.[0-9a-f]+\.js" defer></script>', html)


def test_the_privacy_notice_says_what_is_counted_and_what_is_not(make_app):
    app = make_app(COUNTS_RETENTION_MONTHS=13)
    text = " ".join(re.sub(r"<[^>]+>", " ", app.test_client().get("/privacy").get_data(as_text=True)).split())
    for words in [
        "What we count when you read these pages",
        "utm_source, utm_medium and utm_campaign",
        "only that website's name (such as www.google.com), not the page you were on",
        "We add one to a count for that day, page, website and campaign",
        "not your IP address, your browser or device, the time, a cookie or any other identifier",
        "Nothing is counted if your browser sends Global Privacy Control or does not run JavaScript",
        "The counts are deleted after 13 months",
    ]:
        assert words in text, words


# -- 1. the purge --------------------------------------------------------------------------------


def test_months_before_keeps_the_day_or_the_months_last():
    assert months_before(date(2026, 11, 30), 25) == date(2024, 10, 30)
    assert months_before(date(2026, 3, 31), 1) == date(2026, 2, 28)
    assert months_before(date(2024, 3, 31), 1) == date(2024, 2, 29)
    assert months_before(date(2026, 1, 15), 13) == date(2024, 12, 15)


def add_counter(
    day: date, path: str = "/", views: int = 1, source: str = "", medium: str = "", campaign: str = ""
):
    db.session.add(
        PageViewCount(day=day, path=path, source=source, medium=medium, campaign=campaign, views=views)
    )


def test_leads_purge_deletes_counters_older_than_the_retention(app):
    today = today_at_the_clinic()
    oldest_kept = months_before(today, 25)
    with app.app_context(), writing():
        add_counter(oldest_kept - timedelta(days=1), source="old")
        add_counter(oldest_kept - timedelta(days=400), source="older")
        add_counter(oldest_kept, source="kept")
        add_counter(today, source="today")
    result = app.test_cli_runner().invoke(args=["leads", "purge"])
    assert result.exit_code == 0, result.output
    assert "deleted 2 daily counter(s) older than 25 months" in result.output
    assert [row[2] for row in counters(app)] == ["kept", "today"]


def test_purge_counts_works_in_batches_with_a_controlled_clock(app):
    """More rows than one batch (500) holds, all older than 3 months before a given day, are deleted."""
    today = date(2026, 11, 30)
    with app.app_context():
        with writing():
            for n in range(1200):
                add_counter(date(2026, 8, 29), source=f"s{n}")
            add_counter(date(2026, 8, 30), source="kept")
        assert purge_counts(3, today) == 1200
    assert [row[2] for row in counters(app)] == ["kept"]


# -- 2. the dashboard ----------------------------------------------------------------------------


def logged_in(app):
    """A test client logged in to /staff/."""
    with app.app_context():
        add_staff(EMAIL, PASSWORD)
    client = app.test_client()
    assert staff_login(client, EMAIL, PASSWORD).status_code == 303
    return client


def add_lead(at: datetime, location: str, status: str = LeadStatus.NEW, **values) -> None:
    db.session.add(
        Lead(
            created_at=at.astimezone(UTC),
            status=status,
            full_name="Seeded Person",
            phone="+19415550123",
            email="seeded@example.com",
            location=location,
            contact_method="phone",
            consent_text="I agree.",
            consent_version="1",
            consent_at=at.astimezone(UTC),
            **values,
        )
    )


def clinic_time(*args) -> datetime:
    return datetime(*args, tzinfo=CLINIC)


def seed_november(app) -> None:
    """A month of views and leads, with something just outside it on each side."""
    google = {"source": "google", "medium": "cpc", "campaign": "spring"}
    with app.app_context(), writing():
        add_counter(date(2026, 11, 3), "/", 40, **google)
        add_counter(date(2026, 11, 10), "/", 40, **google)
        add_counter(date(2026, 11, 5), "/ketamine-therapy-sarasota", 50, source="google.com")
        add_counter(date(2026, 11, 12), "/ketamine-therapy-bradenton", 30)
        add_counter(date(2026, 11, 20), "/privacy", 7)
        add_counter(date(2026, 11, 21), "/thanks", 5)
        add_counter(date(2026, 10, 31), "/", 1000, **google)  # the day before
        add_counter(date(2026, 12, 1), "/", 1000, **google)  # the day after

        tagged = {"utm_source": "Google", "utm_medium": "cpc", "utm_campaign": "spring", "landing_path": "/"}
        for n, office in enumerate(["bradenton", "bradenton", "sarasota", "sarasota"]):
            add_lead(clinic_time(2026, 11, 3 + n, 10), office, **tagged)
        add_lead(clinic_time(2026, 11, 4, 9), "bradenton", LeadStatus.SPAM, **tagged)  # left out
        searched = {"referrer": "https://www.google.com", "landing_path": "/ketamine-therapy-sarasota"}
        add_lead(clinic_time(2026, 11, 5, 11), "sarasota", LeadStatus.CONTACTED, **searched)
        add_lead(clinic_time(2026, 11, 6, 11), "sarasota", LeadStatus.CLOSED, **searched)
        direct = {"landing_path": "/ketamine-therapy-bradenton"}
        add_lead(clinic_time(2026, 11, 12, 15), "bradenton", **direct)
        add_lead(clinic_time(2026, 11, 30, 23, 30), "bradenton", **direct)  # Dec 1 in UTC: still November
        add_lead(clinic_time(2026, 10, 31, 23, 30), "bradenton", **direct)  # Nov 1 in UTC: October
        add_lead(clinic_time(2026, 12, 1, 0, 30), "bradenton", **direct)


# By hand. Views of the pages with the form: "/" 80 (google/cpc/spring), the Sarasota page 50 (from
# google.com), the Bradenton page 30 (direct); 160 in all. The privacy notice (7) and the thank-you page
# (5) are listed by page only. Leads (spam and the days outside left out): 4 google/cpc/spring from "/"
# (2 Bradenton, 2 Sarasota), 2 from google.com on the Sarasota page, 2 direct on the Bradenton page; 8.
# Per office, the article's 80 views count for both: Bradenton 80 + 30 = 110 views, 2 + 2 = 4 leads;
# Sarasota 80 + 50 = 130 views, 2 + 2 = 4 leads.
NOVEMBER = {
    ("total", "All"): ("160", "8", "0.0500"),
    ("source", "google"): ("80", "4", "0.0500"),
    ("source", "google.com"): ("50", "2", "0.0400"),
    ("source", "direct"): ("30", "2", "0.0667"),
    ("medium", "cpc"): ("80", "4", "0.0500"),
    ("medium", "(none)"): ("80", "4", "0.0500"),
    ("campaign", "spring"): ("80", "4", "0.0500"),
    ("campaign", "(none)"): ("80", "4", "0.0500"),
    ("page", "/"): ("80", "4", "0.0500"),
    ("page", "/ketamine-therapy-sarasota"): ("50", "2", "0.0400"),
    ("page", "/ketamine-therapy-bradenton"): ("30", "2", "0.0667"),
    ("page", "/privacy"): ("7", "0", ""),  # no form: no conversion
    ("page", "/thanks"): ("5", "0", ""),
    ("office", "Bradenton"): ("110", "4", "0.0364"),
    ("office", "Sarasota"): ("130", "4", "0.0308"),
}


def table_rows(html: str) -> list[list[str]]:
    """Each table row's cells, as text."""
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd]\b[^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", html, re.S)
    ]


def read_csv(response) -> dict[tuple[str, str], tuple[str, str, str]]:
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert {(row["from"], row["to"]) for row in rows} <= {("2026-11-01", "2026-11-30")}
    return {(row["dimension"], row["value"]): (row["views"], row["leads"], row["conversion"]) for row in rows}


def test_conversion_for_a_seeded_month_matches_the_hand_computation(make_app, database_url):
    app = make_app(database_url)
    seed_november(app)
    client = logged_in(app)
    november = "since=2026-11-01&until=2026-11-30"

    response = client.get(f"/staff/conversion.csv?{november}")
    assert response.status_code == 200
    assert (
        response.headers["Content-Disposition"]
        == 'attachment; filename="conversion-2026-11-01-2026-11-30.csv"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    assert read_csv(response) == NOVEMBER

    page = client.get(f"/staff/dashboard?{november}").get_data(as_text=True)
    assert "160 views of the pages with the form, 8 requests, conversion 5.0 %" in " ".join(page.split())
    rows = table_rows(page)
    for cells in (
        ["google", "80", "4", "5.0 %"],
        ["Bradenton", "110", "4", "3.6 %"],
        ["/privacy", "7", "0", "—"],
    ):
        assert cells in rows, cells
    assert "Seeded Person" not in page and "seeded@example.com" not in page


def test_the_csv_cannot_start_a_spreadsheet_formula(app):
    with app.app_context(), writing():
        add_counter(today_at_the_clinic(), "/", 3, source="=cmd|' /c calc'!a0", campaign="@sum(1+1)")
    response = logged_in(app).get("/staff/conversion.csv?days=7")
    text = response.get_data(as_text=True)
    assert "\"'=cmd|' /c calc'!a0\"" in text and '"\'@sum(1+1)"' in text
    assert '"=' not in text and '"@' not in text


@pytest.mark.parametrize(
    "query",
    [
        "days=5",
        "days=abc",
        "days=-7",
        "days=30&since=2026-11-01",
        "since=2026-13-01",
        "since=2026-11-31",
        "since=2026-11-30&until=2026-11-01",
        "until=2026-11-30",
        "since=9999-12-31",
        "since=1999-12-31",
        "since=20261101",
        "since=2026-11-1",
    ],
)
def test_nonsense_periods_are_400(app, query):
    client = logged_in(app)
    assert client.get(f"/staff/dashboard?{query}").status_code == 400
    assert client.get(f"/staff/conversion.csv?{query}").status_code == 400


@pytest.mark.parametrize(
    "query", ["", "days=7", "days=30", "days=90", "since=2026-11-01", "since=2026-11-01&until=2026-11-30"]
)
def test_the_periods_staff_can_choose(app, query):
    client = logged_in(app)
    assert client.get(f"/staff/dashboard?{query}").status_code == 200
    assert client.get(f"/staff/conversion.csv?{query}").status_code == 200


def test_a_period_is_the_last_n_days_today_included_or_the_dates_given():
    today = date(2026, 11, 30)
    assert period_from({}, today) == Period(date(2026, 11, 1), today, 30)
    assert period_from({"days": "7"}, today) == Period(date(2026, 11, 24), today, 7)
    assert period_from({"days": "90"}, today).since == date(2026, 9, 2)
    assert period_from({"since": "2026-01-01"}, today) == Period(date(2026, 1, 1), today)
    assert period_from({"since": "2026-11-05", "until": "2026-11-05"}, today) == Period(
        date(2026, 11, 5), date(2026, 11, 5)
    )
