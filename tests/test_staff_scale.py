"""The inbox at scale: pages by cursor, the phone search through its digits column, migration 0007."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import phonenumbers
import pytest
from conftest import add_staff, migrated_to, staff_login, submit
from flask_migrate import upgrade
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import insert, select, text

from microsite.database import write_connection, writing
from microsite.extensions import db
from microsite.models import Lead
from microsite.templating import phone_display

pytestmark = pytest.mark.both_databases

EMAIL, PASSWORD = "scale@example.com", "correct horse battery staple"
ROW = re.compile(r'<td><a href="/staff/leads/(\d+)">')


@pytest.fixture
def staff_client(app, client):
    with app.app_context():
        add_staff(EMAIL, PASSWORD)
    assert staff_login(client, EMAIL, PASSWORD).status_code == 303
    return client


def lead_row(n: int, created_at: datetime, **overrides) -> dict:
    return {
        "created_at": created_at, "status": "new", "full_name": f"Person {n}", "phone": f"+1941555{n:04d}",
        "email": f"p{n}@example.com", "location": "bradenton", "contact_method": "phone",
        "consent_text": "I agree", "consent_version": "v1", "consent_at": created_at, **overrides,
    }  # fmt: skip


def link(html_text: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', html_text)
    return html.unescape(found.group(1)) if found else None


def test_older_and_newer_links_cover_every_lead_once_in_order_with_ties(app, staff_client):
    app.config["STAFF_PAGE_SIZE"] = 3
    base = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    # Eleven leads in four instants: three pages end in the middle of a tie.
    times = [base] * 4 + [base + timedelta(minutes=1)] * 3 + [base + timedelta(minutes=2)] * 4
    with app.app_context(), writing() as session:
        session.execute(insert(Lead), [lead_row(n, at) for n, at in enumerate(times)])
    with app.app_context():
        newest_first = select(Lead.id).order_by(Lead.created_at.desc(), Lead.id.desc())
        expected = [str(i) for i in db.session.scalars(newest_first)]
    pages, url = [], "/staff/"
    while url:
        page = staff_client.get(url).get_data(as_text=True)
        pages.append(list(dict.fromkeys(ROW.findall(page))))
        url = link(page, "next")
        assert url is None or "before=" in url
    assert [lead for page in pages for lead in page] == expected
    assert [len(page) for page in pages] == [3, 3, 3, 2]
    # And back: each "newer" link shows the page before it, the last one the first page.
    back, url = [], link(page, "prev")
    while url:
        page = staff_client.get(url).get_data(as_text=True)
        back.append(list(dict.fromkeys(ROW.findall(page))))
        url = link(page, "prev")
    assert back == pages[-2::-1]


def test_a_cursor_that_is_not_one_is_a_400(staff_client):
    assert staff_client.get("/staff/?page=40000&before=1764000000000000-7").status_code == 200  # a label
    assert staff_client.get("/staff/?page=40000").status_code == 400  # an offset: bounded
    for query in ("before=abc", "before=1-2-3", "after=" + "9" * 30 + "-1", "before=1-1&after=1-1"):
        assert staff_client.get(f"/staff/?{query}").status_code == 400


def test_more_leads_than_the_count_cap_say_more_than(app, staff_client, monkeypatch):
    from microsite.staff import inbox

    monkeypatch.setattr(inbox, "COUNT_CAP", 2)
    now = datetime.now(UTC)
    with app.app_context(), writing() as session:
        session.execute(insert(Lead), [lead_row(n, now - timedelta(minutes=n)) for n in range(4)])
    assert "More than 2 requests, page 1." in staff_client.get("/staff/").get_data(as_text=True)


@pytest.mark.parametrize(
    "typed", ["(941) 555-0123", "+1 941 555 0123", "9415550123", "1-941-555-0123", "555.0123", "0123"]
)
def test_a_phone_number_typed_in_any_format_finds_the_lead_by_its_digits(app, client, staff_client, typed):
    assert submit(client, full_name="Dana Digits", phone="941-555-0123").status_code == 303
    other = submit(client, full_name="Other Person", phone="941-555-0132", email="o@example.com")
    assert other.status_code == 303
    with app.app_context():
        digits = db.session.scalars(select(Lead.phone_digits).order_by(Lead.id)).all()
    assert digits[-2:] == ["32105551491", "23105551491"]  # stored on capture, last digit first
    page = client.get("/staff/", query_string={"q": typed}).get_data(as_text=True)
    names = re.findall(r'<td class="name"><a href="/staff/leads/\d+">([^<]+)</a>', page)
    assert names == ["Dana Digits"]


def test_a_name_is_found_by_its_start_in_any_case(app, client, staff_client):
    assert submit(client, full_name="Ángela  Ruiz", phone="941-555-0144").status_code == 303
    for typed, found in (("ángela r", True), ("ÁNGELA", True), ("ruiz", False), ("Ángela Ruiz x", False)):
        page = client.get("/staff/", query_string={"q": typed}).get_data(as_text=True)
        names = re.findall(r'<td class="name"><a href="/staff/leads/\d+">([^<]+)</a>', page)
        assert names == (["Ángela  Ruiz"] if found else []), typed


# A lead as revision 0006 stores it: no search keys yet.
OLD_INSERT = text(
    "INSERT INTO lead (created_at, status, full_name, phone, email, location, contact_method, consent_text,"
    " consent_version, consent_at)"
    " VALUES (:t, 'new', :name, :phone, :email, 'bradenton', 'phone', 'x', 'v1', :t)"
)


def test_migration_0007_fills_the_search_keys_of_stored_leads(database_url, tmp_path):
    with migrated_to(database_url, tmp_path, "0006"):
        stamp = "2026-11-30 12:00:00.000000"
        with write_connection() as conn:
            for n, (name, phone) in enumerate([("Old  Lead", "+19415550177"), ("ANA Vieja", "+19415550188")]):
                values = {"t": stamp, "name": name, "phone": phone, "email": f"o{n}@example.com"}
                conn.execute(OLD_INSERT, values)
        upgrade()
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT name_key, phone_digits FROM lead ORDER BY id")).all()
        assert [tuple(row) for row in rows] == [("old lead", "77105551491"), ("ana vieja", "88105551491")]


@given(st.from_regex(r"\+1[2-9]\d{2}[2-9]\d{6}", fullmatch=True))
def test_a_north_american_number_is_shown_as_phonenumbers_formats_it(e164):
    """The export's shortcut for +1 numbers gives what phonenumbers' national format gives."""
    number = phonenumbers.parse(e164, None)
    assert phone_display(e164) == phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def test_other_numbers_are_shown_in_international_format():
    assert phone_display("+442079460958") == "+44 20 7946 0958"
    assert phone_display("not a number") == "not a number"
