"""Staff members in a real browser: working a lead and downloading the CSV; a passkey registered on the
account page with Chromium's virtual authenticator (the DevTools protocol's WebAuthn domain) and used to
sign in alone, and one made for another site refused; every staff page read by axe, and none scrolling
sideways on a 390-pixel phone.

The site is served as http://localhost:PORT: a passkey is bound to a name, never to an address.
"""

from __future__ import annotations

import csv
import logging
from datetime import timedelta

import pytest
from conftest import add_staff, browser_staff_login, free_port, live_server, make_config, new_context
from test_browser import DESKTOP, PHONE, axe_violations

from microsite import create_app
from microsite.database import writing
from microsite.extensions import db
from microsite.models import (
    AuditEvent,
    Lead,
    LeadStatus,
    Notification,
    Question,
    StaffInvite,
    StaffPasskey,
    StaffRole,
    utcnow,
)
from microsite.staff import accounts, invites

pytestmark = pytest.mark.browser

EMAIL = "front-desk@example.com"
ADMIN = "admin@example.com"
NEWCOMER = "newcomer@example.com"
DESK = "sarasota-desk@example.com"
# The staff pages no browser shows: downloads, and what the passkey script asks for in JSON.
NOT_PAGES = {"staff.export_csv", "staff.conversion_csv"}
DESKTOP_PAGES = ["/staff/?status=any&office=sarasota", "/staff/leads/3", "/staff/team", "/staff/team/1",
                 "/staff/account", "/staff/reauth?next=/staff/"]  # fmt: skip


def add_lead(name: str, phone: str, location: str = "bradenton", age=timedelta(0), **values) -> int:
    at = utcnow() - age
    lead = Lead(
        full_name=name,
        phone=phone,
        email=values.pop("email", f"{name.partition(' ')[0].lower()}@example.com"),
        location=location,
        contact_method=values.pop("contact_method", "phone"),
        message="Please call after 3pm.",
        consent_text="I agree.",
        consent_version="test",
        consent_at=at,
        created_at=at,
        **values,
    )
    lead.notifications.append(Notification(status="sent", sent_at=at, attempts=1, created_at=at))
    with writing():
        db.session.add(lead)
    return lead.id


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("staff-browser")
    port = free_port()
    site = f"http://localhost:{port}"
    app = create_app(
        make_config(f"sqlite:///{tmp / 'staff.sqlite3'}", tmp, OUTBOX_INLINE=False, SITE_URL=site)
    )
    with app.app_context():
        db.create_all()
        add_staff(EMAIL)
        add_staff(ADMIN, role=StaffRole.ADMIN)
        add_staff(NEWCOMER, second_factor=False)
        add_staff(DESK, role=StaffRole.STAFF, offices=("sarasota",))
        add_lead("Carla Finder", "+19415550177", "sarasota")
        add_lead("Dan Other", "+19415550166")
        add_lead("Maximiliana Estefanía Rodríguez-Villanueva de la Cruz", "+19415550155", "sarasota",
                 age=timedelta(days=3), contact_method="text", utm_source="google", utm_medium="cpc",
                 utm_campaign="winter", landing_path="/ketamine-therapy-sarasota",
                 email="maximiliana.estefania.rodriguez-villanueva@example-very-long-domain.com")  # fmt: skip
        add_lead("Eve Email", "+19415550144", contact_method="email", language="es")
        with writing():
            db.session.add(Question(language="en", office="sarasota", text="Is it safe?", consent_text="ok"))
        invites.create("invited@example.com", StaffRole.STAFF, ["sarasota"], accounts.find(ADMIN))
    with live_server(app, port=port, host="localhost"):
        assert app.base_url == site
        yield app


def open_page(browser, live, viewport):
    """A fresh context; CSP is bypassed only so that axe-core can be injected."""
    context = new_context(browser, viewport=viewport, bypass_csp=True, accept_downloads=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.requests = []
    page.on("request", lambda request: page.requests.append(request.url))
    return context, page


def test_staff_member_works_a_lead_and_downloads_the_csv(browser, live, tmp_path):
    context, page = open_page(browser, live, DESKTOP)
    page.goto(live.base_url + "/staff/")
    assert "/staff/login" in page.url  # anonymous: the login page

    browser_staff_login(page, live, EMAIL)
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
    statuses = {r["full_name"]: r["status"] for r in rows}
    assert statuses["Carla Finder"] == "Scheduled" and statuses["Dan Other"] == "New"
    assert all(url.startswith(live.base_url) for url in page.requests), page.requests

    with live.app_context():
        assert db.session.scalar(db.select(Lead.status).where(Lead.full_name == "Carla Finder")) == (
            LeadStatus.SCHEDULED
        )
        actions = db.session.scalars(
            db.select(AuditEvent.action).where(AuditEvent.actor == EMAIL).order_by(AuditEvent.id)
        ).all()
    assert actions == ["staff.login", "lead.view", "lead.status", "lead.view", "leads.export"]
    context.close()


# -- passkeys ---------------------------------------------------------------------------------


def virtual_authenticator(context, page):
    """Chromium's virtual authenticator on this page: a platform passkey that verifies its user."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


# navigator.credentials.get() on the page, its answer as the passkey script would send it.
SERIALIZE = """async ([challenge, rpId, credentialId]) => {
    const bytes = t => Uint8Array.from(atob(t.replace(/-/g, '+').replace(/_/g, '/')
                                            + '==='.slice((t.length + 3) % 4)), c => c.charCodeAt(0));
    const text = b => btoa(String.fromCharCode(...new Uint8Array(b)))
                        .replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
    const c = await navigator.credentials.get({publicKey: {challenge: bytes(challenge), rpId,
        allowCredentials: [{type: 'public-key', id: bytes(credentialId)}], userVerification: 'required'}});
    return {id: c.id, rawId: text(c.rawId), type: c.type, clientExtensionResults: {},
            response: {clientDataJSON: text(c.response.clientDataJSON),
                       authenticatorData: text(c.response.authenticatorData),
                       signature: text(c.response.signature),
                       userHandle: c.response.userHandle ? text(c.response.userHandle) : null}};
}"""


def test_a_passkey_added_on_the_account_page_signs_in_alone_and_one_made_for_another_site_is_refused(
    browser, live, caplog
):
    context, page = open_page(browser, live, PHONE)
    cdp, authenticator = virtual_authenticator(context, page)
    browser_staff_login(page, live, ADMIN)
    page.goto(live.base_url + "/staff/account")
    page.get_by_label("Name this passkey").fill("Work phone")
    page.get_by_role("button", name="Add a passkey").click()
    page.wait_for_selector("text=Passkey added")
    assert page.locator(".passkeys strong", has_text="Work phone").is_visible()
    with live.app_context():
        [passkey] = db.session.scalars(db.select(StaffPasskey)).all()
        assert passkey.user.email == ADMIN and passkey.name == "Work phone"
        db.session.rollback()

    # Logged out, the passkey alone signs in: no password, no code.
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/staff/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.wait_for_url("**/staff/")
    assert page.get_by_role("link", name=ADMIN).is_visible()
    with live.app_context():
        last = db.session.scalars(db.select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert (last.action, last.actor, last.detail) == ("staff.login", ADMIN, "passkey")
        db.session.rollback()

    # The same key pair, made for another site (evil.localhost), signs a real challenge of ours there:
    # sent here, the answer is refused, and nobody is logged in.
    [made] = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert made["rpId"] == "localhost"
    cdp.send(
        "WebAuthn.removeCredential", {"authenticatorId": authenticator, "credentialId": made["credentialId"]}
    )
    elsewhere = {**made, "rpId": "evil.localhost"}
    cdp.send("WebAuthn.addCredential", {"authenticatorId": authenticator, "credential": elsewhere})
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/staff/login")
    token = page.get_by_role("button", name="Sign in with a passkey").get_attribute("data-csrf")
    options = page.evaluate(
        """async token => (await fetch('/staff/login/passkey/options', {method: 'POST',
            headers: {'X-CSRFToken': token, 'Content-Type': 'application/json'}, body: '{}'})).json()""",
        token,
    )
    assert options["rpId"] == "localhost"
    port = live.base_url.rsplit(":", 1)[1]
    page.goto(f"http://evil.localhost:{port}/staff/login")
    credential = page.evaluate(SERIALIZE, [options["challenge"], "evil.localhost", made["credentialId"]])
    page.goto(live.base_url + "/staff/login")
    caplog.set_level(logging.WARNING, logger="microsite")
    answer = page.evaluate(
        """async ([token, credential]) => { const r = await fetch('/staff/login/passkey', {method: 'POST',
            headers: {'X-CSRFToken': token, 'Content-Type': 'application/json'},
            body: JSON.stringify({credential})}); return [r.status, await r.json()]; }""",
        [token, credential],
    )
    assert answer[0] == 400 and "did not work here" in answer[1]["error"]
    # Refused for the site it answered (its origin is not ours; its RP ID is not ours either).
    assert any("passkey refused" in m and "evil.localhost" in m for m in caplog.messages), caplog.messages
    page.goto(live.base_url + "/staff/")
    assert "/staff/login" in page.url
    context.close()


# -- every staff page: axe, and no sideways scrolling at 390 px --------------------------------


def staff_pages(live) -> list[str]:
    """Every staff page a browser opens (each GET route, its ids filled in), and the pages on the way."""
    pages = ["/staff/?status=any&office=sarasota", "/staff/reauth?next=/staff/"]
    for rule in live.url_map.iter_rules():
        if rule.rule.startswith("/staff") and "GET" in rule.methods and rule.endpoint not in NOT_PAGES:
            values = {"lead_id": 3, "question_id": 1, "staff_id": 1, "token": "x" * 43}
            pages.append(rule.build({a: values[a] for a in rule.arguments})[1])
    return pages


def check(page, url: str, viewport, seen: set[str]) -> list[str]:
    """What is wrong with the page at `url`: axe's violations, and scrolling sideways on a phone. A
    page some other address sent it to, and was read already, is not read again."""
    page.goto(url)
    if page.url in seen:
        return []
    seen.add(page.url)
    problems = [f"{url} {v['id']} ({v['impact']}): {v['help']} {v['nodes']}" for v in axe_violations(page)]
    width = page.evaluate("document.documentElement.scrollWidth")
    if viewport is PHONE and width > PHONE["width"]:
        problems.append(f"{url} scrolls sideways: {width} px wide")
    return problems


def test_every_staff_page_passes_axe_and_fits_a_390_px_phone(browser, live):
    problems, seen = [], set()
    context, page = open_page(browser, live, PHONE)
    for path in ("/staff/login", "/staff/invite/" + "x" * 43):
        problems += check(page, live.base_url + path, PHONE, seen)
    with live.app_context():
        invitation = db.session.scalars(db.select(StaffInvite)).first()
        problems += check(page, invites.link(invitation), PHONE, seen)
    # A new account: the enrolment, the authenticator's setup; then the code step at the next login.
    page.goto(live.base_url + "/staff/login")
    page.get_by_label("Email").fill(NEWCOMER)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/staff/enrol")  # the password alone opens only this
    problems += check(page, page.url, PHONE, seen)
    problems += check(page, live.base_url + "/staff/account/totp", PHONE, seen)
    context.close()

    context, page = open_page(browser, live, PHONE)
    page.goto(live.base_url + "/staff/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/staff/login/code")
    problems += check(page, page.url, PHONE, seen)
    context.close()

    context, page = open_page(browser, live, PHONE)
    browser_staff_login(page, live, DESK)
    problems += check(page, live.base_url + "/staff/dashboard", PHONE, set())  # not part of a staff role
    context.close()

    context, page = open_page(browser, live, PHONE)
    browser_staff_login(page, live, ADMIN)
    for path in staff_pages(live):
        if "/logout" not in path:
            problems += check(page, live.base_url + path, PHONE, seen)
    context.close()
    assert problems == [], "\n".join(problems)


def test_the_pages_laid_out_anew_for_a_desktop_pass_axe_there_too(browser, live):
    """A wide screen changes the layout (the inbox's table, the lead page's columns), not the markup
    the forms and flows before the inbox have: those are checked on the phone above."""
    problems, seen = [], set()
    context, page = open_page(browser, live, DESKTOP)
    browser_staff_login(page, live, ADMIN)
    for path in DESKTOP_PAGES:
        problems += check(page, live.base_url + path, DESKTOP, seen)
    context.close()
    assert problems == [], "\n".join(problems)


def test_the_inbox_on_a_phone_is_cards_with_one_tap_contact_and_first_contact(browser, live):
    context, page = open_page(browser, live, PHONE)
    browser_staff_login(page, live, EMAIL)
    filters = page.locator("details.more-filters")
    assert filters.get_attribute("open") is None and not page.get_by_label("Office").is_visible()
    filters.locator("summary").click()
    assert page.get_by_label("Office").is_visible()  # one button opens them, no script needed

    card = page.locator("table.inbox tbody tr", has_text="Maximiliana")
    box = card.bounding_box()
    assert box["width"] <= PHONE["width"] and box["height"] > 100  # a card, not a row
    assert card.get_by_text("Sarasota").is_visible()
    assert card.locator(".overdue").is_visible() and "Overdue" in card.inner_text()
    assert card.get_by_text("Text message").is_visible()
    text_link = card.get_by_role("link", name="Text (941) 555-0155")
    assert text_link.get_attribute("href") == "sms:+19415550155" and text_link.bounding_box()["height"] >= 44
    call = page.locator("table.inbox tbody tr", has_text="Dan Other").get_by_role(
        "link", name="Call (941) 555-0166"
    )
    assert call.get_attribute("href") == "tel:+19415550166"
    assert page.locator("table.inbox thead").bounding_box()["height"] <= 1  # no column headings on a card

    card.get_by_role("button", name="Record first contact").click()
    page.wait_for_url("**/staff/")
    assert page.get_by_text("Status set to “Contacted”.").is_visible()
    with live.app_context():
        lead = db.session.scalar(db.select(Lead).where(Lead.full_name.startswith("Maximiliana")))
        assert lead.status == LeadStatus.CONTACTED and lead.first_contact_at is not None
        db.session.rollback()

    page.locator("table.inbox tbody tr", has_text="Maximiliana").get_by_role(
        "link", name="Maximiliana"
    ).click()
    page.wait_for_url("**/staff/leads/*")
    facts = page.locator(".facts").first.inner_text()
    assert "Contact by\nText message" in facts
    came = page.locator("dt:has-text('Came from') + dd").inner_text()
    assert came == "Google, paid ad, campaign 'winter'"
    assert page.locator("dt:has-text('Sent from') + dd").inner_text() == "the Sarasota office page"
    assert "utm_source" not in page.content()
    context.close()
