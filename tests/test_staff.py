"""The staff side: logins, the inbox, lead pages and their actions, the audit log, CSV, minimal email."""

from __future__ import annotations

import csv
import io
import logging
import re
import time
from datetime import timedelta

import pyotp
import pytest
from conftest import SITE_URL, STAFF_PASSWORD, add_staff, fresh_code, hidden_fields, staff_login, submit
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import select, update

from microsite.database import writing
from microsite.extensions import db
from microsite.models import (
    AuditEvent,
    Lead,
    LeadStatus,
    Notification,
    NotificationStatus,
    StaffSession,
    StaffUser,
    utcnow,
)
from microsite.notify.outbox import run_once
from microsite.staff import PUBLIC_ENDPOINTS, accounts, logins

# On SQLite; on PostgreSQL too where a query is the point: search, pages, filters, the CSV, the
# dashboard's sums, what a status change or a resend writes. Logins, tokens and headers come before SQL.

EMAIL = "staff@example.com"
PASSWORD = STAFF_PASSWORD


@pytest.fixture
def staff(app):
    """A manager with an authenticator app set up."""
    with app.app_context():
        add_staff(EMAIL, PASSWORD)
    return EMAIL


@pytest.fixture
def unenrolled(app):
    """A manager with only a password: what `flask staff create` makes."""
    with app.app_context():
        add_staff(EMAIL, PASSWORD, second_factor=False)
    return EMAIL


def csrf(client, path: str = "/staff/login") -> str:
    return hidden_fields(client.get(path).get_data(as_text=True))["csrf_token"]


def login(client, email=EMAIL, password=PASSWORD, next_url=None):
    """The password, then the code from the authenticator app."""
    return staff_login(client, email, password, next_url)


def password_only(client, email=EMAIL, password=PASSWORD):
    """The password step alone."""
    fields = hidden_fields(client.get("/staff/login").get_data(as_text=True))
    return client.post("/staff/login", data={**fields, "email": email, "password": password})


@pytest.fixture
def staff_client(client, staff):
    assert login(client).status_code == 303
    return client


def post(client, path: str, **data):
    """A staff form posted with the token from the page it is on."""
    return client.post(path, data={"csrf_token": csrf(client, "/staff/account"), **data})


def new_lead(client, **overrides) -> int:
    assert submit(client, **overrides).status_code == 303
    lead_id = db.session.scalar(select(Lead.id).order_by(Lead.id.desc()))
    db.session.rollback()  # end the read: on SQLite its snapshot would not see the next lead
    return lead_id


def audit_rows(app) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        db.session.expunge_all()
        return rows


def goes_to_login(response) -> bool:
    return response.status_code in (302, 303) and response.headers["Location"].startswith("/staff/login")


# -- logging in ------------------------------------------------------------------------


def _example_url(rule) -> str:
    values = {arg: 1 for arg in rule.arguments}
    return rule.build(values)[1]


def test_every_staff_route_needs_a_login(app, client):
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/staff")]
    assert len(rules) > 10
    token = csrf(client)
    checked = 0
    for rule in rules:
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        url = _example_url(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method, data={"csrf_token": token})
            assert goes_to_login(response), (method, url, response.status_code)
            checked += 1
    assert checked >= 15


def test_login_page_and_staff_pages_are_private(client, staff):
    for response in (client.get("/staff/login"), (login(client), client.get("/staff/"))[1]):
        assert response.headers["Cache-Control"] == "no-store"
        assert "noindex" in response.headers["X-Robots-Tag"]


def test_login_then_logout(client, staff):
    response = login(client)
    assert response.status_code == 303 and response.headers["Location"] == "/staff/"
    assert client.get("/staff/").status_code == 200
    response = client.post("/staff/logout", data={"csrf_token": csrf(client, "/staff/")})
    assert goes_to_login(response)
    assert goes_to_login(client.get("/staff/"))


def test_wrong_password_is_refused_and_logged_without_the_password(client, staff, caplog):
    caplog.set_level(logging.WARNING, logger="microsite")
    response = login(client, password="wrong horse battery")
    assert response.status_code == 200
    assert "do not match" in response.get_data(as_text=True)
    assert goes_to_login(client.get("/staff/"))
    assert "staff login failed: wrong password for staff 1 from 127.0.0.1" in caplog.text
    assert "staff@example.com" not in caplog.text  # a staff id, not the address
    assert "wrong horse battery" not in caplog.text
    # A password typed into the email box is not logged either.
    login(client, email="my secret password", password="x")
    assert "my secret password" not in caplog.text


def test_unknown_account_gets_the_same_answer(client, staff):
    response = login(client, email="nobody@example.com")
    assert response.status_code == 200 and "do not match" in response.get_data(as_text=True)


def test_disabled_account_cannot_log_in(app, client, runner, staff):
    assert login(client).status_code == 303
    assert runner.invoke(args=["staff", "disable", EMAIL]).exit_code == 0
    assert goes_to_login(client.get("/staff/"))  # the open session ends at once
    assert login(client).status_code == 200


@pytest.mark.parametrize(
    "next_url,expected",
    [
        ("/staff/dashboard", "/staff/dashboard"),
        ("/staff/?status=new", "/staff/?status=new"),
        ("https://evil.example.com/staff/", "/staff/"),
        ("//evil.example.com/staff/", "/staff/"),
        ("/\\evil.example.com", "/staff/"),
        ("javascript:alert(1)", "/staff/"),
        ("/thanks", "/staff/"),
    ],
)
def test_next_only_leads_inside_the_staff_pages(client, staff, next_url, expected):
    response = login(client, next_url=next_url)
    assert response.status_code == 303
    assert response.headers["Location"] == expected


def test_anonymous_request_comes_back_after_login(client, staff):
    response = client.get("/staff/dashboard")
    assert goes_to_login(response)
    page = client.get(response.headers["Location"])
    fields = hidden_fields(page.get_data(as_text=True))
    assert fields["next"] == "/staff/dashboard"
    response = client.post("/staff/login", data={**fields, "email": EMAIL, "password": PASSWORD})
    assert response.headers["Location"] == "/staff/login/code"
    response = code_step(client, fresh_code(client.application, EMAIL))
    assert response.headers["Location"] == "/staff/dashboard"


@pytest.mark.both_databases
def test_forged_session_is_refused(app, client, staff):
    with app.app_context(), writing():
        token = logins.start(accounts.find(EMAIL))

    def cookie(secret_key: str) -> str:
        signer = type("App", (), {"secret_key": secret_key, "config": app.config})()
        session = {"_user_id": token, "_permanent": True}
        return SecureCookieSessionInterface().get_signing_serializer(signer).dumps(session)

    forged = app.test_client()
    forged.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie("not-the-key"))
    assert goes_to_login(forged.get("/staff/"))
    signed = app.test_client()  # the same login, signed with the app's key, is one
    signed.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie(app.secret_key))
    assert signed.get("/staff/").status_code == 200


@pytest.mark.both_databases
def test_stale_session_is_refused(app, client, staff):
    login(client)
    assert client.get("/staff/").status_code == 200
    with app.app_context(), writing():
        # Logged in yesterday morning: the login's row says until when it lasts.
        db.session.execute(update(StaffSession).values(expires_at=utcnow() - timedelta(minutes=1)))
    assert goes_to_login(client.get("/staff/"))


def test_new_password_ends_other_sessions(client, runner, staff):
    login(client)
    result = runner.invoke(args=["staff", "reset-password", EMAIL], input="another long password\n" * 2)
    assert result.exit_code == 0, result.output
    assert goes_to_login(client.get("/staff/"))
    assert login(client, password="another long password").status_code == 303


# -- the second factor -----------------------------------------------------------------


def enable_totp(client) -> tuple[str, list[str], str]:
    page = client.get("/staff/account/totp").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)
    fields = hidden_fields(page)
    first_code = pyotp.TOTP(secret).now()
    response = client.post("/staff/account/totp", data={**fields, "code": first_code})
    assert response.status_code == 200, response.get_data(as_text=True)
    codes = re.findall(r"<code>([0-9a-f]{5}(?:-[0-9a-f]{5}){3})</code>", response.get_data(as_text=True))
    assert len(codes) == 10
    return secret, codes, first_code


def code_step(client, code: str):
    page = client.get("/staff/login/code")
    return client.post("/staff/login/code", data={**hidden_fields(page.get_data(as_text=True)), "code": code})


@pytest.fixture
def enrolling_client(client, unenrolled):
    """Logged in with the password alone, on an account with no second step yet."""
    assert password_only(client).headers["Location"] == "/staff/"
    return client


def test_totp_second_step(app, enrolling_client):
    client = enrolling_client
    secret, codes, first_code = enable_totp(client)
    assert client.get("/staff/").status_code == 200  # this session goes on
    client.post("/staff/logout", data={"csrf_token": csrf(client, "/staff/")})

    response = password_only(client)
    assert response.headers["Location"] == "/staff/login/code"
    assert goes_to_login(client.get("/staff/"))  # the password alone is not a login
    assert "not right" in code_step(client, "000000").get_data(as_text=True)
    # The code used at set-up cannot be replayed; the next one (clock drift) is fine.
    assert "not right" in code_step(client, first_code).get_data(as_text=True)
    response = code_step(client, pyotp.TOTP(secret).at(time.time() + 30))
    assert response.status_code == 303 and response.headers["Location"] == "/staff/"
    assert client.get("/staff/").status_code == 200

    # A recovery code works once.
    client.post("/staff/logout", data={"csrf_token": csrf(client, "/staff/")})
    password_only(client)
    assert code_step(client, codes[0].upper()).status_code == 303
    client.post("/staff/logout", data={"csrf_token": csrf(client, "/staff/")})
    password_only(client)
    assert "not right" in code_step(client, codes[0]).get_data(as_text=True)
    with app.app_context():
        user = accounts.find(EMAIL)
        assert accounts.recovery_codes_left(user) == 9
        assert codes[1] not in user.recovery_codes  # only hashes are kept


def test_wrong_codes_are_throttled_like_passwords(app, enrolling_client):
    app.config["STAFF_THROTTLE_AFTER"] = 3
    staff_client = enrolling_client
    secret, _, _ = enable_totp(staff_client)
    staff_client.post("/staff/logout", data={"csrf_token": csrf(staff_client, "/staff/")})
    password_only(staff_client)
    for _ in range(3):
        assert "not right" in code_step(staff_client, "123456").get_data(as_text=True)
    # Throttled now: the right code gets the same answer, and the password step does not reset it.
    response = code_step(staff_client, pyotp.TOTP(secret).at(time.time() + 30))
    assert response.status_code == 200 and "not right" in response.get_data(as_text=True)
    assert "do not match" in password_only(staff_client).get_data(as_text=True)


# -- the inbox -------------------------------------------------------------------------


@pytest.mark.both_databases
def test_inbox_finds_leads_by_phone_name_or_email(app, client, staff):
    with app.app_context():
        new_lead(client, full_name="Ann Bradenton", phone="941-555-0111", email="ann@example.com")
        new_lead(client, full_name="Ben Sarasota", phone="941-555-0122", email="ben@example.org",
                 location="sarasota")  # fmt: skip
        new_lead(client, full_name="Spam Bot", phone="941-555-0133", website="x")
    login(client)

    def names(query: str) -> list[str]:
        page = client.get("/staff/?" + query).get_data(as_text=True)
        return re.findall(r'<td class="name"><a href="/staff/leads/\d+">([^<]+)</a></td>', page)

    assert names("") == ["Ben Sarasota", "Ann Bradenton"]  # newest first, no spam
    assert names("q=(941) 555-0111") == ["Ann Bradenton"]
    assert names("q=5550122") == ["Ben Sarasota"]
    assert names("q=ann") == ["Ann Bradenton"]
    assert names("q=example.org") == ["Ben Sarasota"]
    assert names("q=%25") == []  # a LIKE wildcard is just a character
    assert names("office=sarasota") == ["Ben Sarasota"]
    assert names("status=spam") == ["Spam Bot"]
    assert names("status=any") == ["Spam Bot", "Ben Sarasota", "Ann Bradenton"]
    today = utcnow().date()
    assert len(names(f"since={today - timedelta(days=1)}&until={today + timedelta(days=1)}")) == 2
    assert names(f"since={today + timedelta(days=2)}") == []
    assert client.get("/staff/?since=not-a-date").status_code == 400  # a hand-made URL: said so, not a 500


@pytest.mark.both_databases
def test_inbox_is_paginated(app, client, staff):
    app.config["STAFF_PAGE_SIZE"] = 2
    with app.app_context():
        for i in range(5):
            new_lead(client, full_name=f"Person {i}", phone=f"941-555-01{i:02d}", email=f"p{i}@example.com")
    login(client)
    first = client.get("/staff/").get_data(as_text=True)
    assert "Person 4" in first and "Person 2" not in first and "page 1 of 3" in first
    last = client.get("/staff/?page=3").get_data(as_text=True)
    assert "Person 0" in last and "Person 1" not in last


@pytest.mark.both_databases
def test_lead_page_shows_everything_and_is_audited(app, client, staff):
    with app.app_context():
        lead_id = new_lead(client)
        with writing():
            db.session.execute(update(Lead).values(utm_source="google", referrer="https://www.google.com/"))
    login(client)
    page = client.get(f"/staff/leads/{lead_id}").get_data(as_text=True)
    for text in ("Maria Example", "+19415550123", "maria@example.com", "I have tried two antidepressants.",
                 "google", "https://www.google.com/", "version 2026-11-29", "I agree that"):  # fmt: skip
        assert text in page
    [view] = [e for e in audit_rows(app) if e.action == "lead.view"]
    assert (view.actor, view.lead_id, view.detail) == (EMAIL, lead_id, None)
    assert client.get("/staff/leads/999999").status_code == 404


@pytest.mark.both_databases
def test_status_change_and_note_are_audited_without_content(app, client, staff):
    with app.app_context():
        lead_id = new_lead(client)
    login(client)
    response = post(client, f"/staff/leads/{lead_id}/status", status="contacted")
    assert response.status_code == 303
    post(client, f"/staff/leads/{lead_id}/notes", body="Left a voicemail for Maria at 941-555-0123.")
    with app.app_context():
        assert db.session.get(Lead, lead_id).status == LeadStatus.CONTACTED
    page = client.get(f"/staff/leads/{lead_id}").get_data(as_text=True)
    assert "Left a voicemail for Maria" in page
    events = {e.action: e for e in audit_rows(app)}
    assert events["lead.status"].detail == "new -> contacted"
    assert events["lead.status"].actor == EMAIL and events["lead.status"].lead_id == lead_id
    assert events["lead.note"].lead_id == lead_id
    for event in audit_rows(app):
        assert "Maria" not in (event.detail or "") and "555" not in (event.detail or "")
    audit_page = client.get("/staff/audit").get_data(as_text=True)
    assert "lead.status" in audit_page and "voicemail" not in audit_page


def test_unknown_status_changes_nothing(app, client, staff):
    with app.app_context():
        lead_id = new_lead(client)
    login(client)
    post(client, f"/staff/leads/{lead_id}/status", status="deleted")
    with app.app_context():
        assert db.session.get(Lead, lead_id).status == LeadStatus.NEW


def test_a_post_without_its_token_changes_nothing(app, client, staff):
    with app.app_context():
        lead_id = new_lead(client)
    login(client)
    response = client.post(f"/staff/leads/{lead_id}/status", data={"status": "closed"})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(Lead, lead_id).status == LeadStatus.NEW


# -- cross-origin requests: Fetch Metadata as well as the token ------------------------

# What a browser sends with a form another site's page made it post; the Origin is checked only
# when Sec-Fetch-Site is missing, so a forged Origin does not get a cross-site request through.
FOREIGN = [
    pytest.param({"Sec-Fetch-Site": "cross-site"}, id="cross-site"),
    pytest.param({"Sec-Fetch-Site": "same-site"}, id="same-site"),
    pytest.param({"Sec-Fetch-Site": "cross-site", "Origin": SITE_URL}, id="cross-site-with-our-origin"),
    pytest.param({"Origin": "https://evil.example"}, id="foreign-origin"),
]
# What a browser sends from our own pages (or for a typed-in request).
OURS = [
    pytest.param({"Sec-Fetch-Site": "same-origin", "Origin": SITE_URL}, id="same-origin"),
    pytest.param({"Sec-Fetch-Site": "none"}, id="none"),
    pytest.param({"Origin": SITE_URL}, id="our-origin"),
]


def login_data(client) -> dict[str, str]:
    fields = hidden_fields(client.get("/staff/login").get_data(as_text=True))
    assert fields["csrf_token"]
    return {**fields, "email": EMAIL, "password": PASSWORD}


@pytest.mark.parametrize("headers", FOREIGN)
def test_login_from_another_site_is_refused_even_with_a_valid_token(app, client, staff, headers):
    response = client.post("/staff/login", data=login_data(client), headers=headers)
    assert response.status_code == 403
    assert "That request came from another website" in response.get_data(as_text=True)
    assert goes_to_login(client.get("/staff/"))  # not logged in
    assert audit_rows(app) == []  # no staff.login
    with app.app_context():
        assert accounts.find(EMAIL).last_login_at is None


@pytest.mark.parametrize("headers", FOREIGN)
def test_status_change_from_another_site_is_refused_even_with_a_valid_token(app, client, staff, headers):
    with app.app_context():
        lead_id = new_lead(client)
    login(client)
    before = audit_rows(app)
    data = {"csrf_token": csrf(client, f"/staff/leads/{lead_id}"), "status": "closed"}
    response = client.post(f"/staff/leads/{lead_id}/status", data=data, headers=headers)
    assert response.status_code == 403
    with app.app_context():
        assert db.session.get(Lead, lead_id).status == LeadStatus.NEW
    # Only the read of the lead page (for its token) is in the log: no lead.status.
    assert [e.action for e in audit_rows(app)] == [*(e.action for e in before), "lead.view"]
    assert client.get("/staff/").status_code == 200  # the session goes on


def test_same_origin_without_a_token_is_refused(app, client, staff):
    """Fetch Metadata alone is not enough on the staff side: the token is checked as well."""
    same_origin = {"Sec-Fetch-Site": "same-origin", "Origin": SITE_URL}
    fields = login_data(client)
    del fields["csrf_token"]
    response = client.post("/staff/login", data=fields, headers=same_origin)
    assert response.status_code == 303
    assert "That form had expired" in client.get(response.headers["Location"], follow_redirects=True).text
    assert goes_to_login(client.get("/staff/"))
    assert audit_rows(app) == []

    with app.app_context():
        lead_id = new_lead(client)
    login(client)
    before = [e.action for e in audit_rows(app)]
    page = f"/staff/leads/{lead_id}"
    response = client.post(
        f"{page}/status",
        data={"status": "closed"},
        headers={**same_origin, "Referer": f"http://localhost{page}"},
    )
    assert response.status_code == 303 and response.headers["Location"] == page  # back to the lead
    assert "That form had expired, so nothing was changed." in client.get(page).text
    with app.app_context():
        assert db.session.get(Lead, lead_id).status == LeadStatus.NEW
    assert [e.action for e in audit_rows(app)] == [*before, "lead.view"]  # no lead.status


@pytest.mark.parametrize("headers", OURS)
def test_our_own_pages_with_a_valid_token_work(app, client, staff, headers):
    response = staff_login(client, EMAIL, headers=headers)
    assert response.status_code == 303 and response.headers["Location"] == "/staff/"
    assert client.get("/staff/").status_code == 200
    with app.app_context():
        lead_id = new_lead(client)
    data = {"csrf_token": csrf(client, f"/staff/leads/{lead_id}"), "status": "contacted"}
    response = client.post(f"/staff/leads/{lead_id}/status", data=data, headers=headers)
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(Lead, lead_id).status == LeadStatus.CONTACTED
    actions = [e.action for e in audit_rows(app)]
    assert actions == ["staff.login", "lead.view", "lead.status"]


def test_a_staff_session_does_not_make_public_pages_vary(app, client, staff):
    anonymous = app.test_client().get("/")
    assert login(client).status_code == 303
    assert client.get("/staff/").status_code == 200  # the cookie is a working login
    response = client.get("/")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.vary
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.data == anonymous.data
    assert response.headers["ETag"] == anonymous.headers["ETag"]
    assert client.get("/staff/").status_code == 200  # and reading a public page did not end it


# -- notifications from the lead page -------------------------------------------------


@pytest.mark.both_databases
def test_send_again_delivers_once(app, client, smtp, staff):
    with app.app_context():
        lead_id = new_lead(client)
        run_once()
    assert len(smtp.messages) == 1
    login(client)
    with app.app_context():
        [first] = db.session.scalars(select(Notification.id)).all()
    url = f"/staff/leads/{lead_id}/notifications/{first}/send-again"
    assert post(client, url).status_code == 303
    assert post(client, url).status_code == 303  # a second click queues nothing more
    with app.app_context():
        run_once()
        run_once()
        rows = db.session.scalars(select(Notification).order_by(Notification.id)).all()
        assert [n.status for n in rows] == [NotificationStatus.SENT, NotificationStatus.SENT]
    assert len(smtp.messages) == 2
    assert smtp.messages[0]["Message-ID"] != smtp.messages[1]["Message-ID"]
    assert [e.action for e in audit_rows(app)].count("lead.send_again") == 1


@pytest.mark.both_databases
def test_not_spam_sends_the_held_notification(app, client, smtp, staff):
    with app.app_context():
        lead_id = new_lead(client, website="https://autofill.example.com")
        run_once()
        assert db.session.get(Lead, lead_id).status == LeadStatus.SPAM
    assert smtp.messages == []
    login(client)
    page = client.get(f"/staff/leads/{lead_id}").get_data(as_text=True)
    assert "Not spam" in page
    assert post(client, f"/staff/leads/{lead_id}/not-spam").status_code == 303
    post(client, f"/staff/leads/{lead_id}/not-spam")  # a second click sends nothing more
    with app.app_context():
        assert db.session.get(Lead, lead_id).status == LeadStatus.NEW
        run_once()
        run_once()
    assert len(smtp.messages) == 1
    assert "Maria Example" in smtp.messages[0].get_body(("plain",)).get_content()
    actions = [e.action for e in audit_rows(app)]
    assert actions.count("lead.released") == 1


@pytest.mark.both_databases
def test_send_again_is_refused_while_held(app, client, smtp, staff):
    with app.app_context():
        lead_id = new_lead(client, website="x")
        [held] = db.session.scalars(select(Notification.id)).all()
    login(client)
    post(client, f"/staff/leads/{lead_id}/notifications/{held}/send-again")
    with app.app_context():
        run_once()
        assert db.session.scalar(select(Notification.status)) == NotificationStatus.HELD
    assert smtp.messages == []


# -- export ------------------------------------------------------------------------------


FORMULAS = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1:A2)", "\tcmd", "\rcmd"]


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


@pytest.mark.both_databases
def test_csv_export_neutralises_formula_cells_and_is_audited(app, client, staff):
    with app.app_context():
        for i, formula in enumerate(FORMULAS):
            lead_id = new_lead(client, phone=f"941-555-01{i:02d}", email=f"person{i}@example.com")
            # Straight into the database: the form would strip the tab and the carriage return.
            with writing():
                db.session.execute(
                    update(Lead)
                    .where(Lead.id == lead_id)
                    .values(full_name=formula, message=formula, utm_source=formula)
                )
    login(client)
    response = client.get("/staff/leads.csv?office=bradenton")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="leads-')
    assert response.headers["Cache-Control"] == "no-store"
    rows = read_csv(response.get_data(as_text=True))
    assert sorted(row["full_name"] for row in rows) == sorted("'" + f for f in FORMULAS)
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
        assert row["phone"].startswith("(941) 555-01")
    [export] = [e for e in audit_rows(app) if e.action == "leads.export"]
    assert export.actor == EMAIL and "office=bradenton" in export.detail


@pytest.mark.both_databases
def test_csv_export_follows_the_filter_and_hides_the_search_text_from_the_audit(app, client, staff):
    with app.app_context():
        new_lead(client, full_name="Ann Example", phone="941-555-0111")
        new_lead(client, full_name="Ben Example", phone="941-555-0122")
    login(client)
    rows = read_csv(client.get("/staff/leads.csv?q=Ben").get_data(as_text=True))
    assert [r["full_name"] for r in rows] == ["Ben Example"]
    [export] = [e for e in audit_rows(app) if e.action == "leads.export"]
    assert "search=yes" in export.detail and "Ben" not in export.detail


@pytest.mark.both_databases
def test_the_inbox_filters_by_language_and_marks_spanish_requests(app, client, staff):
    with app.app_context():
        new_lead(client, full_name="Ann Example", phone="941-555-0111")
        spanish = new_lead(client, path="/es/", full_name="José Ejemplo", phone="941-555-0122")
    login(client)
    everyone = client.get("/staff/").get_data(as_text=True)
    assert "Ann Example" in everyone and "José Ejemplo" in everyone
    assert everyone.count("Prefers Spanish</span>") == 1
    only_spanish = client.get("/staff/?language=es").get_data(as_text=True)
    assert "José Ejemplo" in only_spanish and "Ann Example" not in only_spanish
    only_english = client.get("/staff/?language=en").get_data(as_text=True)
    assert "Ann Example" in only_english and "José Ejemplo" not in only_english
    assert client.get("/staff/?language=fr").status_code == 400
    rows = read_csv(client.get("/staff/leads.csv?language=es").get_data(as_text=True))
    assert [r["full_name"] for r in rows] == ["José Ejemplo"]
    assert "Spanish: prefers Spanish" in client.get(f"/staff/leads/{spanish}").get_data(as_text=True)


@pytest.mark.both_databases
def test_cli_export_by_office_and_date(app, client, runner):
    with app.app_context():
        new_lead(client, full_name="=cmd|' /C calc'!A0", location="sarasota")
        # Another phone: the same office, phone, email and message within the hour is the same lead.
        old = new_lead(client, full_name="Old Request", location="sarasota", phone="941-555-0144")
        new_lead(client, full_name="Bradenton Person")
        with writing():
            db.session.execute(
                update(Lead).where(Lead.id == old).values(created_at=utcnow() - timedelta(days=40))
            )
    since = (utcnow() - timedelta(days=7)).date().isoformat()
    result = runner.invoke(args=["leads", "export", "--since", since, "--office", "Sarasota"])
    assert result.exit_code == 0, result.output
    rows = read_csv(result.output)
    assert [r["full_name"] for r in rows] == ["'=cmd|' /C calc'!A0"]
    assert rows[0]["office"] == "sarasota"
    [export] = [e for e in audit_rows(app) if e.action == "leads.export"]
    assert export.actor.startswith("cli:") and "office=sarasota" in export.detail
    assert runner.invoke(args=["leads", "export", "--office", "tampa"]).exit_code != 0


# -- the email ---------------------------------------------------------------------------


def test_minimal_email_carries_no_health_or_contact_details(app, client, smtp):
    app.config["LEAD_EMAIL_DETAIL"] = "minimal"
    with app.app_context():
        lead_id = new_lead(client, full_name="Maria Example", location="sarasota")
        run_once()
    [message] = smtp.messages
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for part in (text, html, message["Subject"]):
        for secret in ("+19415550123", "941", "555-0123", "5550123", "maria@example.com",
                       "antidepressants", "Example"):  # fmt: skip
            assert secret not in part, (secret, part)
    for part in (text, html):
        assert "Maria" in part and f"#{lead_id}" in part and "Sarasota" in part
        assert f"https://clinic.example.com/staff/leads/{lead_id}" in part
    assert message["Reply-To"] == "maria@example.com"  # staff can still answer from their mail client


def test_full_email_stays_the_default(app, client, smtp):
    with app.app_context():
        new_lead(client)
        run_once()
    assert "I have tried two antidepressants." in smtp.messages[0].get_body(("plain",)).get_content()


# -- dashboard and commands ----------------------------------------------------------------


@pytest.mark.both_databases
def test_dashboard_draws_with_inline_svg(app, client, staff):
    with app.app_context():
        new_lead(client)
        lead_id = new_lead(client, phone="941-555-0100")
        with writing():
            db.session.execute(update(Lead).where(Lead.id == lead_id).values(utm_source="newsletter"))
    login(client)
    page = client.get("/staff/dashboard").get_data(as_text=True)
    assert page.count("<svg") == 3
    assert "<script" not in page
    assert "newsletter" in page and "direct" in page
    assert "Pending" in page and "Retrying" in page and "Failed" in page


def test_source_of_a_lead():
    from microsite.reports.dashboard import source_of

    assert source_of("Google", "https://bing.com/") == "google"
    assert source_of(None, "https://www.bing.com/search?q=x") == "bing.com"
    assert source_of(None, None) == "direct"
    assert source_of("", "not a url") == "direct"


def test_staff_create_asks_for_the_password_twice(app, runner):
    typed = "long enough pass\ndifferent pass!!\nlong enough pass\nlong enough pass\n"
    result = runner.invoke(args=["staff", "create", "New@Example.com", "--role", "manager"], input=typed)
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output.lower() or "error" in result.output.lower()
    with app.app_context():
        user = db.session.scalar(select(StaffUser).where(StaffUser.email == "new@example.com"))
        assert user.password_hash.startswith("scrypt:")
        assert "long enough pass" not in user.password_hash
        assert (user.role, user.offices) == ("manager", "")
    assert runner.invoke(args=["staff", "create", "new@example.com"], input="x\n").exit_code != 0
    short = runner.invoke(
        args=["staff", "create", "short@example.com", "--role", "admin"], input="short\nshort\n"
    )
    assert "at least 12" in short.output


def test_login_attempts_are_rate_limited(database_url, tmp_path):
    from conftest import make_config

    from microsite import create_app

    app = create_app(
        make_config(database_url, tmp_path, RATELIMIT_ENABLED=True, RATELIMIT_STAFF_LOGIN="3 per minute")
    )
    with app.app_context():
        db.create_all()
    try:
        client = app.test_client()
        statuses = [login(client, password="guess guess guess").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        assert client.get("/staff/login").status_code == 200  # reading the page is not limited
    finally:
        with app.app_context():
            db.drop_all()
            db.engine.dispose()


def test_a_malformed_referer_on_an_expired_staff_form_is_not_a_5xx(client, staff):
    """The token-expired handler goes back to the Referer only when it is a staff page of ours."""
    response = client.post(
        "/staff/login",
        data={"email": "x@example.com", "password": "x"},
        headers={"Sec-Fetch-Site": "same-origin", "Referer": "https://[clinic.example.com/staff/"},
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/staff/")
