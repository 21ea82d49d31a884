"""A staff member in a real browser: logs in, finds a lead by phone, changes its status, downloads the CSV."""

from __future__ import annotations

import csv

import pytest
from conftest import live_server, make_config
from test_browser import DESKTOP, PHONE, axe_violations

from microsite import create_app
from microsite.database import writing
from microsite.extensions import db
from microsite.models import AuditEvent, Lead, LeadStatus, Notification, utcnow
from microsite.staff import accounts

pytestmark = pytest.mark.browser

EMAIL = "front-desk@example.com"
PASSWORD = "a long front desk password"


def add_lead(name: str, phone: str, location: str = "bradenton") -> int:
    now = utcnow()
    lead = Lead(
        full_name=name,
        phone=phone,
        email=f"{name.partition(' ')[0].lower()}@example.com",
        location=location,
        contact_method="phone",
        message="Please call after 3pm.",
        consent_text="I agree.",
        consent_version="test",
        consent_at=now,
        created_at=now,
    )
    lead.notifications.append(Notification(status="sent", sent_at=now, attempts=1, created_at=now))
    with writing():
        db.session.add(lead)
    return lead.id


def open_page(browser, live, viewport):
    """A fresh context; CSP is bypassed only so that axe-core can be injected."""
    context = browser.new_context(viewport=viewport, bypass_csp=True, accept_downloads=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.requests = []
    page.on("request", lambda request: page.requests.append(request.url))
    return context, page


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("staff-browser")
    app = create_app(make_config(f"sqlite:///{tmp / 'staff.sqlite3'}", tmp, OUTBOX_INLINE=False))
    with app.app_context():
        db.create_all()
        with writing():
            accounts.create(EMAIL, PASSWORD)
        add_lead("Carla Finder", "+19415550177", "sarasota")
        add_lead("Dan Other", "+19415550166")
    with live_server(app):
        yield app


def test_staff_member_works_a_lead_and_downloads_the_csv(browser, live, tmp_path):
    context, page = open_page(browser, live, DESKTOP)
    page.goto(live.base_url + "/staff/")
    assert "/staff/login" in page.url  # anonymous: the login page

    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/staff/")

    page.get_by_label("Name, phone or email").fill("(941) 555-0177")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/staff/?*")
    rows = page.locator("table.leads tbody tr")
    assert rows.count() == 1
    rows.get_by_role("link", name="Carla Finder").click()
    page.wait_for_url("**/staff/leads/*")
    assert page.get_by_role("heading", level=1).inner_text().endswith("Carla Finder")
    assert page.get_by_text("Please call after 3pm.").is_visible()

    page.get_by_role("combobox", name="Status").select_option("scheduled")
    page.get_by_role("button", name="Save status").click()
    page.wait_for_load_state()
    assert page.get_by_text("Status set to “Scheduled”.").is_visible()

    page.get_by_role("link", name="← Inbox").click()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download these as CSV").click()
    path = tmp_path / "leads.csv"
    download_info.value.save_as(path)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["full_name"]: r["status"] for r in rows} == {"Carla Finder": "Scheduled", "Dan Other": "New"}
    assert all(url.startswith(live.base_url) for url in page.requests), page.requests

    with live.app_context():
        assert db.session.scalar(db.select(Lead.status).where(Lead.full_name == "Carla Finder")) == (
            LeadStatus.SCHEDULED
        )
        actions = db.session.scalars(db.select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["staff.login", "lead.view", "lead.status", "lead.view", "leads.export"]
    context.close()


def logged_in_page(browser, live, viewport):
    context, page = open_page(browser, live, viewport)
    page.goto(live.base_url + "/staff/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/staff/")
    return context, page


@pytest.mark.parametrize("viewport", [pytest.param(PHONE, id="phone"), pytest.param(DESKTOP, id="desktop")])
@pytest.mark.parametrize(
    "path", ["/staff/", "/staff/leads/1", "/staff/dashboard", "/staff/audit", "/staff/account"]
)
def test_axe_finds_no_violations_on_staff_pages(browser, live, path, viewport):
    context, page = logged_in_page(browser, live, viewport)
    page.goto(live.base_url + path)
    violations = axe_violations(page)
    assert violations == [], "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']}\n  {v['nodes']}" for v in violations
    )
    if viewport is PHONE:
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    context.close()


def test_axe_finds_no_violations_on_the_login_page(browser, live):
    context, page = open_page(browser, live, PHONE)
    page.goto(live.base_url + "/staff/login")
    assert axe_violations(page) == []
    context.close()
