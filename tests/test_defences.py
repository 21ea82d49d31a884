"""Spam, floods, proxies, headers and retention: the form holds on the open internet."""

from datetime import timedelta

import pytest
from conftest import browser_headers, make_config, submit, valid_data
from sqlalchemy import func, select, update

from microsite import create_app
from microsite.database import writing
from microsite.extensions import db
from microsite.logs import printable
from microsite.models import Lead, LeadStatus, Notification, NotificationStatus, utcnow
from microsite.notify.outbox import run_once


def leads(app) -> list[Lead]:
    with app.app_context():
        rows = db.session.scalars(select(Lead).order_by(Lead.id)).all()
        db.session.expunge_all()
        return rows


# -- spam ------------------------------------------------------------------------


def test_a_filled_honeypot_looks_like_success_but_is_held_as_spam(app, client, smtp):
    response = submit(client, website="https://spam.example.com")
    assert response.status_code == 303 and response.headers["Location"] == "/thanks"
    [lead] = leads(app)
    assert lead.status == LeadStatus.SPAM and lead.spam_reason == "honeypot"
    with app.app_context():
        assert db.session.scalars(select(Notification.status)).all() == [NotificationStatus.HELD]
        run_once()
    assert smtp.messages == []


def test_a_form_sent_faster_than_form_min_seconds_is_held_as_spam(app, client, smtp):
    app.config["FORM_MIN_SECONDS"] = 3
    response = submit(client, elapsed="1.4")  # site.js: seconds from the page shown to Send
    assert response.status_code == 303 and response.headers["Location"] == "/thanks"
    [lead] = leads(app)
    assert lead.status == LeadStatus.SPAM and lead.spam_reason == "too-fast"
    with app.app_context():
        run_once()
    assert smtp.messages == []


@pytest.mark.parametrize("elapsed", ["3.0", "45.2", "3600"])
def test_a_person_who_took_their_time_is_not_spam(app, client, elapsed):
    app.config["FORM_MIN_SECONDS"] = 3
    assert submit(client, elapsed=elapsed).status_code == 303
    assert leads(app)[0].status == LeadStatus.NEW


@pytest.mark.parametrize("elapsed", [None, "", "soon", "nan", "-5", "inf"])
def test_without_a_measured_time_nothing_is_judged(app, client, elapsed):
    """No JavaScript, or a value no script of ours sends: the time trap says nothing either way."""
    app.config["FORM_MIN_SECONDS"] = 3
    assert submit(client, elapsed=elapsed).status_code == 303
    assert leads(app)[0].status == LeadStatus.NEW


# -- floods ----------------------------------------------------------------------


def test_more_than_a_few_requests_per_contact_per_hour_get_a_friendly_429(app, client):
    for n in range(3):
        assert submit(client, message=f"Question {n}").status_code == 303
    response = submit(client)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3600"
    html = response.get_data(as_text=True)
    assert "already received several requests" in html
    for office in app.extensions["clinic"].offices:
        assert office.phone_display in html
    assert len(leads(app)) == 3
    # Another person is not affected.
    assert submit(client, phone="941-555-0177", email="other@example.com").status_code == 303


def test_suspected_spam_with_someones_number_does_not_lock_them_out(app, client):
    """A bot filling in a real person's phone and email: its requests are kept aside, not counted."""
    for n in range(5):
        assert submit(client, website="https://spam.example", message=f"Spam {n}").status_code == 303
    assert [lead.status for lead in leads(app)] == [LeadStatus.SPAM] * 5
    assert submit(client, message="The real person.").status_code == 303
    assert leads(app)[-1].status == LeadStatus.NEW


def test_the_per_contact_limit_still_thanks_a_double_click(app, client):
    for n in range(2):
        assert submit(client, message=f"Question {n}").status_code == 303
    assert submit(client).status_code == 303
    assert submit(client).status_code == 303  # the same request again: the third lead, not a 429
    assert len(leads(app)) == 3


def _limited_app(database_url, tmp_path, storage: str, **extra):
    config = make_config(
        database_url,
        tmp_path,
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=storage,
        RATELIMIT_CONSULTATION="2 per minute",
        **extra,
    )
    app = create_app(config)
    with app.app_context():
        db.create_all()
    return app


def _post_from(client, n: int, **headers):
    data = valid_data(phone=f"941-555-01{n:02d}", email=f"p{n}@example.com")
    return client.post("/consultation", data=data, headers={**browser_headers(), **headers})


def test_per_ip_rate_limit_answers_429_with_retry_after_and_phones(tmp_path):
    app = _limited_app(f"sqlite:///{tmp_path / 'rl.sqlite3'}", tmp_path, "memory://")
    client = app.test_client()
    assert _post_from(client, 1).status_code == 303
    assert _post_from(client, 2).status_code == 303
    response = _post_from(client, 3)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    html = response.get_data(as_text=True)
    assert "Too many requests" in html
    for office in app.extensions["clinic"].offices:
        assert office.phone_display in html
    assert len(leads(app)) == 2


def test_a_spoofed_x_forwarded_for_is_ignored_without_trusted_proxies(tmp_path):
    app = _limited_app(f"sqlite:///{tmp_path / 'rl.sqlite3'}", tmp_path, "memory://")
    client = app.test_client()
    statuses = [_post_from(client, n, **{"X-Forwarded-For": f"203.0.113.{n}"}).status_code for n in range(3)]
    assert statuses == [303, 303, 429]


def test_with_a_trusted_proxy_the_client_address_comes_from_it(tmp_path):
    app = _limited_app(f"sqlite:///{tmp_path / 'rl.sqlite3'}", tmp_path, "memory://", TRUSTED_PROXY_COUNT=1)
    client = app.test_client()
    statuses = [_post_from(client, n, **{"X-Forwarded-For": f"203.0.113.{n}"}).status_code for n in range(3)]
    assert statuses == [303, 303, 303]  # three different clients behind the proxy


def test_twelve_ipv6_addresses_in_one_64_share_one_limit_and_another_64_has_its_own(tmp_path):
    app = _limited_app(f"sqlite:///{tmp_path / 'rl.sqlite3'}", tmp_path, "memory://")
    client = app.test_client()

    def post_from(address: str, n: int) -> int:
        client.environ_base["REMOTE_ADDR"] = address
        return _post_from(client, n).status_code

    one_64 = [post_from(f"2001:db8:1:2:{n:x}:{n * 7:x}::{n + 1:x}", n) for n in range(12)]
    assert one_64 == [303, 303] + [429] * 10
    # Another household, and an IPv4 client, are counted apart.
    assert post_from("2001:db8:1:3::1", 20) == 303
    assert post_from("203.0.113.9", 21) == 303
    assert len(leads(app)) == 4


def test_redis_counters_are_shared_between_instances(tmp_path, redis_counters):
    url, prefix, _ = redis_counters
    db_url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    first = _limited_app(db_url, tmp_path, url, RATELIMIT_KEY_PREFIX=prefix)
    second = _limited_app(db_url, tmp_path, url, RATELIMIT_KEY_PREFIX=prefix)
    a, b = first.test_client(), second.test_client()
    assert _post_from(a, 1).status_code == 303
    assert _post_from(b, 2).status_code == 303
    assert _post_from(a, 3).status_code == 429
    assert _post_from(b, 4).status_code == 429


def test_an_unreachable_rate_limit_store_does_not_lose_a_lead(tmp_path):
    app = _limited_app(f"sqlite:///{tmp_path / 'rl.sqlite3'}", tmp_path, "redis://127.0.0.1:1/0")
    assert _post_from(app.test_client(), 1).status_code == 303
    assert len(leads(app)) == 1


# -- size, method ----------------------------------------------------------------


def test_a_body_over_max_content_length_is_413_before_parsing(app, client):
    big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.post("/consultation", data=valid_data(message=big), headers=browser_headers())
    assert response.status_code == 413
    assert app.extensions["clinic"].offices[0].phone_display in response.get_data(as_text=True)
    assert leads(app) == []


def test_get_on_consultation_is_a_branded_405(client, app):
    response = client.get("/consultation")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert app.extensions["clinic"].offices[0].phone_display in response.get_data(as_text=True)


# -- headers ---------------------------------------------------------------------

PATHS = [
    "/",
    "/ketamine-therapy-bradenton",
    "/thanks",
    "/privacy",
    "/no-such-page",
    "/healthz",
    "/robots.txt",
]


@pytest.mark.parametrize("path", PATHS)
def test_security_headers_on_every_response(client, path):
    headers = client.get(path).headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    for directive in ["object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"]:
        assert directive in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "camera=()" in headers["Permissions-Policy"]
    assert "Strict-Transport-Security" not in headers  # plain HTTP here


def test_headers_on_error_responses_too(client):
    for response in [client.get("/consultation"), client.post("/consultation", data={})]:
        assert response.status_code in (400, 405)
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


# -- hosts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,path", [("GET", "/"), ("GET", "/es/"), ("GET", "/static/site.css"), ("GET", "/healthz"),
                    ("GET", "/staff/login"), ("POST", "/consultation"), ("POST", "/v")],
)  # fmt: skip
def test_another_host_gets_a_branded_400_that_no_cache_keeps(app, client, method, path):
    assert client.open(path, method=method, headers=browser_headers()).status_code != 400  # held, if public
    response = client.open(path, method=method, headers={**browser_headers(), "Host": "evil.example"})
    assert response.status_code == 400
    assert response.headers["Cache-Control"] == "no-store" and "Set-Cookie" not in response.headers
    html = response.get_data(as_text=True)  # the branded page, in the path's language
    assert "<h1" in html and app.extensions["clinic"].offices[0].phone_display in html
    assert len(leads(app)) == 0


def test_the_site_host_and_the_extra_trusted_names_are_answered(tmp_path):
    config = make_config(f"sqlite:///{tmp_path / 'h.sqlite3'}", tmp_path, TRUSTED_HOSTS=["www.example.org"])
    app = create_app(config)
    client = app.test_client()
    for host in ["clinic.example.com", "clinic.example.com:443", "www.example.org"]:
        assert client.get("/healthz", headers={"Host": host}).status_code == 200, host
    for host in ["localhost", "127.0.0.1:8000", "clinic.example.com.evil.example", "evil.example"]:
        assert client.get("/healthz", headers={"Host": host}).status_code == 400, host


@pytest.mark.parametrize(
    "site_url,extra,expected",
    [
        ("https://clinic.example.com", [], ["clinic.example.com"]),
        ("https://clinic.example.com", ["127.0.0.1"], ["clinic.example.com", "127.0.0.1"]),
        # The embedded mode: a browser on this machine may say either loopback name.
        ("http://127.0.0.1:5000", [], ["127.0.0.1", "localhost"]),
        ("http://localhost:5000", [], ["localhost", "127.0.0.1"]),
    ],
)
def test_trusted_hosts_come_from_site_url(site_url, extra, expected):
    from microsite.config import trusted_hosts

    assert trusted_hosts(site_url, extra) == expected


def test_hsts_for_a_year_over_https(client):
    response = client.get("/", base_url="https://clinic.example.com")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_hsts_behind_a_trusted_proxy_that_says_https(tmp_path):
    app = _limited_app(f"sqlite:///{tmp_path / 'rl.sqlite3'}", tmp_path, "memory://", TRUSTED_PROXY_COUNT=1)
    client = app.test_client()
    assert "Strict-Transport-Security" not in client.get("/robots.txt").headers
    response = client.get("/robots.txt", headers={"X-Forwarded-Proto": "https"})
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_a_header_a_view_set_itself_is_kept_and_not_doubled(client):
    response = client.get("/staff/login")
    assert response.headers.getlist("Referrer-Policy") == ["same-origin"]
    assert len(response.headers.getlist("Content-Security-Policy")) == 1


def test_the_invalid_form_with_personal_data_is_never_stored(client):
    response = submit(client, phone="12")
    assert response.status_code == 422
    assert response.headers["Cache-Control"] == "no-store"


# -- retention and logs ------------------------------------------------------------


def test_purge_deletes_old_leads_and_old_spam_with_their_notifications(app, client, runner):
    submit(client, phone="941-555-0101", email="old@example.com")
    submit(client, phone="941-555-0102", email="recent@example.com")
    submit(client, phone="941-555-0103", email="spam@example.com", website="x")
    with app.app_context(), writing() as session:
        session.execute(
            update(Lead)
            .where(Lead.email == "old@example.com")
            .values(created_at=utcnow() - timedelta(days=400))
        )
        session.execute(
            update(Lead)
            .where(Lead.email == "spam@example.com")
            .values(created_at=utcnow() - timedelta(days=31))
        )
    result = runner.invoke(args=["leads", "purge", "--older-than", "365"])
    assert result.exit_code == 0, result.output
    assert "deleted 2 lead(s)" in result.output
    assert [lead.email for lead in leads(app)] == ["recent@example.com"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Notification)) == 1


def test_purge_deletes_however_many_rows_in_short_batches(app, runner):
    """More leads than one batch (and than SQLite's limit on a statement's parameters, if it were one)."""
    from sqlalchemy import insert

    from microsite.database import write_connection
    from microsite.leads.retention import BATCH

    old = utcnow() - timedelta(days=400)
    row = {"status": "new", "full_name": "Old Lead", "phone": "+19415550100", "email": "old@example.com",
           "location": "bradenton", "contact_method": "phone", "consent_text": "yes", "consent_version": "1",
           "consent_at": old, "created_at": old}  # fmt: skip
    count = 2 * BATCH + 7
    with app.app_context(), write_connection() as conn:
        ids = conn.execute(insert(Lead).returning(Lead.id), [row] * count).scalars().all()
        conn.execute(insert(Notification), [{"lead_id": i, "created_at": old, "next_attempt_at": old,
                                             "status": "sent", "attempts": 1} for i in ids])  # fmt: skip
    result = runner.invoke(args=["leads", "purge", "--older-than", "365"])
    assert result.exit_code == 0, result.output
    assert f"deleted {count} lead(s)" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Lead)) == 0
        assert db.session.scalar(select(func.count()).select_from(Notification)) == 0


def test_purge_refuses_a_nonsense_period(runner):
    result = runner.invoke(args=["leads", "purge", "--older-than", "0"])
    assert result.exit_code != 0


def test_logs_carry_lead_ids_never_personal_data(app, client, smtp, caplog):
    caplog.set_level("INFO")
    submit(
        client, full_name="Secret Person", phone="941-555-0166", email="secret@example.com", message="private"
    )
    with app.app_context():
        run_once()
    text = caplog.text
    assert "lead 1:" in text
    for private in ["Secret", "5550166", "555-0166", "secret@example.com", "private"]:
        assert private not in text


def test_text_from_outside_cannot_forge_a_log_line():
    assert (
        printable("/x\n2026-11-30 INFO microsite: lead 9 stored")
        == "/x\\n2026-11-30 INFO microsite: lead 9 stored"
    )
    assert printable("a\x1b[31m\u202eb\\") == "a\\x1b[31m\\u202eb\\\\"
    assert printable("Zoë Ångström") == "Zoë Ångström"
