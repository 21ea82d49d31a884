"""A real browser against a real server: the form is filled and sent by clicking, on a phone and a desktop.

Chromium is Debian's (/usr/bin/chromium) driven by Playwright; axe-core comes from npm (`make node_modules`).
Locally a missing browser or axe-core skips these tests; under CI=true it fails them.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from conftest import live_server, make_config, new_context, unavailable
from sqlalchemy import func, select

from microsite import create_app
from microsite.extensions import db
from microsite.models import Lead

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
VIEWPORTS = [pytest.param(PHONE, id="phone"), pytest.param(DESKTOP, id="desktop")]
# Each visitor has their own phone and email: the app limits requests per contact per hour.
VISITORS = itertools.count(10)


# -- the server and the browser -----------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """The app on a free port in a background thread, with a fresh SQLite file and emails written to files."""
    tmp = tmp_path_factory.mktemp("browser")
    app = create_app(make_config(f"sqlite:///{tmp / 'browser.sqlite3'}", tmp, OUTBOX_INLINE=False))
    with app.app_context():
        db.create_all()
    with live_server(app):
        yield app


def open_page(browser, live, viewport=PHONE, javascript=True, bypass_csp=False):
    """A fresh visitor; `page.requests` and `page.errors` record every request and console error."""
    context = new_context(browser, viewport=viewport, java_script_enabled=javascript, bypass_csp=bypass_csp)
    page = context.new_page()
    page.requests = []
    page.errors = []
    page.on("request", lambda request: page.requests.append(request.url))
    page.on("console", lambda message: message.type == "error" and page.errors.append(message.text))
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    return context, page


def lead_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Lead))


def latest_lead(app) -> Lead:
    with app.app_context():
        lead = db.session.scalars(select(Lead).order_by(Lead.id.desc())).first()
        db.session.expunge_all()
        return lead


def fill_form(page, name: str, office: str | None = "Sarasota") -> str:
    """Fill the form the way a visitor does: click into each field and type, click the choices."""
    n = next(VISITORS)
    form = page.locator("#consultation")
    form.get_by_label("Full name").fill(name)
    form.get_by_label("Phone number").fill(f"(941) 555-01{n:02d}")
    form.get_by_role("textbox", name="Email").fill(f"visitor{n}@example.com")
    if office:
        form.get_by_label(office, exact=True).check()
    form.get_by_label("Text message").check()
    form.get_by_label("Best time to reach you").select_option("afternoon")
    form.get_by_label("Anything you would like us to know").fill("Sent from a real browser.")
    form.get_by_label("I agree that").check()
    return f"+194155501{n:02d}"


def axe_violations(page, within: str | None = None) -> list[dict]:
    """axe-core's violations on the page, or only inside the element `within` selects."""
    if not AXE.exists():
        unavailable(f"{AXE.relative_to(ROOT)} is missing: run `make node_modules`")
    page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async (within) => {
        const r = await axe.run(within || document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => n.target.join(' ') + ' ' + n.failureSummary)}));
    }""",
        within,
    )


# -- sending the form ---------------------------------------------------------------


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_visitor_sends_the_form_and_reaches_thanks(browser, live, viewport, javascript):
    context, page = open_page(browser, live, viewport, javascript)
    name = f"Browser {viewport['width']} {'js' if javascript else 'nojs'}"
    before = lead_count(live)
    page.goto(live.base_url + "/")
    page.get_by_role("link", name="Request a consultation").first.click()
    phone = fill_form(page, name)
    page.get_by_role("button", name="Send my request").click()
    page.wait_for_url("**/thanks")
    assert page.get_by_role("heading", level=1).inner_text() == "Thank you. We received your request."
    assert page.get_by_text(live.extensions["clinic"].callback_promise).first.is_visible()
    assert lead_count(live) == before + 1
    lead = latest_lead(live)
    assert (lead.full_name, lead.phone, lead.location, lead.contact_method) == (
        name,
        phone,
        "sarasota",
        "text",
    )
    assert lead.best_time == "afternoon" and lead.spam_reason is None
    # Nothing left this machine: no CDN, font, analytics or pixel.
    assert all(url.startswith(live.base_url) for url in page.requests), page.requests
    # Nothing broke the Content-Security-Policy (no inline script or style) or failed to load.
    assert page.errors == []
    # Reading and asking left no trace in the browser: not one cookie, from any response.
    assert context.cookies() == []
    context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_the_landing_pages_campaign_reaches_the_lead_and_the_staff_email(browser, live, javascript):
    from email import message_from_bytes
    from email.policy import default

    from microsite.notify.outbox import run_once

    context, page = open_page(browser, live, PHONE, javascript)
    landing = "/ketamine-therapy-sarasota?utm_source=google&utm_medium=cpc&utm_campaign=spring-zo%C3%AB"
    page.goto(live.base_url + landing, referer="https://www.google.com/")
    fill_form(page, f"Campaign {'js' if javascript else 'nojs'}")
    page.get_by_role("button", name="Send my request").click()
    page.wait_for_url("**/thanks")
    lead = latest_lead(live)
    assert (lead.utm_source, lead.utm_medium, lead.utm_campaign) == ("google", "cpc", "spring-zoë")
    assert lead.landing_path == "/ketamine-therapy-sarasota"
    # The search engine is known only from site.js, which reads document.referrer.
    assert lead.referrer == ("https://www.google.com" if javascript else None)
    with live.app_context():
        run_once()
    mail_dir = Path(live.config["MAIL_FILE_DIR"])
    [eml] = [p for p in mail_dir.glob("*.eml") if f"-lead-{lead.id}-" in p.name]
    body = message_from_bytes(eml.read_bytes(), policy=default).get_body(("plain",)).get_content()
    # The staff email carries the minimum necessary: the campaign stays in the inbox.
    assert f"Campaign {'js' if javascript else 'nojs'}" in body and "spring" not in body
    assert context.cookies() == []
    context.close()


def fill_spanish_form(page, name: str) -> str:
    """The Spanish form, by its Spanish labels."""
    n = next(VISITORS)
    form = page.locator("#consultation")
    form.get_by_label("Nombre completo").fill(name)
    form.get_by_label("Número de teléfono").fill(f"(941) 555-01{n:02d}")
    form.get_by_role("textbox", name="Correo electrónico").fill(f"visitante{n}@example.com")
    form.get_by_role("radio", name="Mensaje de texto").check()
    form.get_by_label("Mejor hora para comunicarnos con usted").select_option("morning")
    form.get_by_label("Acepto que").check()
    return f"+194155501{n:02d}"


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_spanish_visitor_is_stored_as_spanish_and_staff_are_told(browser, tmp_path, smtp, javascript):
    """The Spanish form sent by clicking stores a lead marked "es", thanks in Spanish, and the
    staff email (to a real SMTP server) says "Prefers Spanish"."""
    from microsite.notify.outbox import run_once

    config = make_config(f"sqlite:///{tmp_path / 'es.sqlite3'}", tmp_path, MAIL_SERVER="127.0.0.1",
                         MAIL_PORT=smtp.port, OUTBOX_INLINE=False)  # fmt: skip
    app = create_app(config)
    with app.app_context():
        db.create_all()
    with live_server(app):
        context, page = open_page(browser, app, PHONE, javascript)
        page.goto(app.base_url + "/ketamine-therapy-sarasota")
        page.get_by_role("link", name="Español").click()
        page.wait_for_url("**/es/terapia-con-ketamina-sarasota")
        assert page.locator("html").get_attribute("lang") == "es"
        phone = fill_spanish_form(page, f"José {'js' if javascript else 'nojs'}")
        page.get_by_role("button", name="Enviar mi solicitud").click()
        page.wait_for_url("**/es/gracias")
        assert page.get_by_role("heading", level=1).inner_text() == "Gracias. Recibimos su solicitud."
        lead = latest_lead(app)
        assert (lead.phone, lead.location, lead.language) == (phone, "sarasota", "es")
        with app.app_context():
            run_once()
        [message] = smtp.messages
        assert message["Subject"] == f"Prefers Spanish: Consultation request #{lead.id} – Sarasota office"
        assert message.get_body(("plain",)).get_content().startswith("Prefers Spanish:")
        assert page.errors == [] and context.cookies() == []
        context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_spanish_422_shows_spanish_messages_and_keeps_the_values(browser, live, javascript):
    context, page = open_page(browser, live, PHONE, javascript)
    page.goto(live.base_url + "/es/")
    page.locator("#full_name").fill("María Ejemplo")
    page.locator("#email").fill("no-es-un-correo")
    with page.expect_navigation():
        page.get_by_role("button", name="Enviar mi solicitud").click()
    summary = page.locator("#error-summary")
    assert summary.is_visible()
    assert "Escriba un correo electrónico como nombre@example.com." in summary.inner_text()
    assert "Escriba un número de teléfono en el que podamos llamarle." in summary.inner_text()
    assert page.locator("#full_name").input_value() == "María Ejemplo"
    assert page.locator("html").get_attribute("lang") == "es"
    context.close()


def test_the_inline_messages_are_in_the_pages_language(browser, live):
    context, page = open_page(browser, live, PHONE)
    page.goto(live.base_url + "/es/")
    page.locator("#email").fill("nope")
    page.locator("#full_name").click()
    message = page.locator("#email-error").inner_text()
    assert " ".join(message.split()) == "Error: Escriba un correo electrónico como nombre@example.com."
    context.close()


def test_a_too_quick_send_is_kept_as_suspected_spam_not_refused(browser, tmp_path):
    """site.js measures the time from the page shown to Send; a bot's second is not a person's minute."""
    app = create_app(make_config(f"sqlite:///{tmp_path / 'quick.sqlite3'}", tmp_path, FORM_MIN_SECONDS=3600))
    with app.app_context():
        db.create_all()
    with live_server(app):
        context, page = open_page(browser, app, PHONE)
        page.goto(app.base_url + "/")
        fill_form(page, "Quick Sender")
        page.get_by_role("button", name="Send my request").click()
        page.wait_for_url("**/thanks")  # the same answer as for a person
        lead = latest_lead(app)
        assert (lead.status, lead.spam_reason) == ("spam", "too-fast")
        context.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_bad_submit_shows_the_error_summary_and_keeps_the_values(browser, live, viewport, javascript):
    context, page = open_page(browser, live, viewport, javascript)
    before = lead_count(live)
    page.goto(live.base_url + "/")
    form = page.locator("#consultation")
    form.get_by_label("Full name").fill("Maria Example")
    n = next(VISITORS)
    form.get_by_label("Phone number").fill("12345")
    form.get_by_role("textbox", name="Email").fill(f"visitor{n}@example.com")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Send my request").click()
    assert navigation.value.status == 422
    summary = page.locator("#error-summary")
    assert summary.is_visible()
    assert "Please check these 3 answers" in summary.inner_text()
    if javascript:
        # The script takes the visitor to the list of what to fix.
        assert page.evaluate("document.activeElement.id") == "error-summary"
    phone = page.locator("#phone")
    assert phone.get_attribute("aria-invalid") == "true"
    assert "phone-error" in phone.get_attribute("aria-describedby")
    assert page.locator("#phone-error").inner_text().endswith("for example 941-555-0123.")
    assert page.locator("#consent").get_attribute("aria-invalid") == "true"
    assert page.locator("#location-0").get_attribute("aria-invalid") == "true"
    assert page.locator("#full_name").input_value() == "Maria Example"
    # A link in the summary takes the visitor to the field.
    summary.get_by_role("link", name="Please tick this box so that we may contact you.").click()
    assert page.evaluate("document.activeElement.id") == "consent" or page.url.endswith("#consent")
    # Fixing the answers and sending again goes through.
    page.locator("#phone").fill(f"941-555-01{n:02d}")
    page.get_by_label("Bradenton", exact=True).check()
    page.locator("#consent").check()
    page.get_by_role("button", name="Send my request").click()
    page.wait_for_url("**/thanks")
    assert lead_count(live) == before + 1
    context.close()


def test_inline_message_appears_when_leaving_a_wrong_field(browser, live):
    context, page = open_page(browser, live)
    page.goto(live.base_url + "/")
    email = page.locator("#email")
    email.fill("not-an-email")
    email.press("Tab")
    assert (
        page.locator("#email-error")
        .inner_text()
        .endswith("Please enter an email address like name@example.com.")
    )
    assert email.get_attribute("aria-invalid") == "true"
    email.fill("name@example.com")
    assert page.locator("#email-error").count() == 0
    assert email.get_attribute("aria-invalid") is None
    context.close()


@pytest.mark.parametrize("slug,city", [("bradenton", "Bradenton"), ("sarasota", "Sarasota")])
def test_location_page_preselects_its_office(browser, live, slug, city):
    context, page = open_page(browser, live, DESKTOP)
    page.goto(f"{live.base_url}/ketamine-therapy-{slug}")
    assert page.locator("#consultation").get_by_label(city, exact=True).is_checked()
    office = live.extensions["clinic"].office(slug)
    card = page.locator(".office-card")
    assert office.name in card.inner_text() and office.address_line in card.inner_text()
    assert (
        card.get_by_role("link", name=f"Call {office.phone_display}").get_attribute("href") == office.tel_href
    )
    context.close()


def test_phone_layout_has_no_sideways_scroll_and_big_targets(browser, live):
    context, page = open_page(browser, live, PHONE)
    page.goto(live.base_url + "/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    small = page.evaluate("""() => [...document.querySelectorAll(
            'input:not([type=hidden]), select, textarea, button, .button, .phones a, .crisis-actions a')]
        .filter(el => el.offsetParent !== null)
        .map(el => [el.name || el.textContent.trim(), el.getBoundingClientRect().height])
        .filter(([, h]) => h < 44 && h > 0)
        .filter(([name]) => name !== 'consent' && name !== 'location' && name !== 'contact_method')""")
    assert small == []
    # Text fields are at least 16px, so phones do not zoom into them.
    sizes = page.evaluate(
        "[...document.querySelectorAll('#consultation input[type=text], input[type=tel], input[type=email],"
        " select, textarea')].map(el => parseFloat(getComputedStyle(el).fontSize))"
    )
    assert sizes and min(sizes) >= 16
    context.close()


def test_first_view_of_the_landing_page_is_light(browser, live):
    """A phone on a weak connection gets the whole first view in at most 50 KB, all from this site."""
    context, page = open_page(browser, live, PHONE)
    responses = []
    page.on("response", lambda response: responses.append(response))  # noqa: PLW0108 -- a bound builtin is refused
    page.goto(live.base_url + "/", wait_until="networkidle")
    # What travels: each body as sent (the app sends pages, CSS and JS Brotli-compressed), plus headers.
    sizes = {r.url: r.request.sizes()["responseBodySize"] + r.request.sizes()["responseHeadersSize"]
             for r in responses}  # fmt: skip
    total = sum(sizes.values())
    assert 0 < total <= 50 * 1024, sizes
    # And the page itself stays light once unpacked: the article is text, not a framework. It holds the key
    # facts, the trials, the risks and contraindications, the treatments side by side and ten sources, in
    # the page and in its JSON-LD; Brotli sends it in about a quarter of that.
    assert len(responses[0].body()) <= 48 * 1024
    assert page.errors == []
    context.close()


# -- accessibility ------------------------------------------------------------------


def error_rendered_form(page, live, path="/", send="Send my request"):
    page.goto(live.base_url + path)
    page.locator("#email").fill("nope")
    with page.expect_navigation():
        page.get_by_role("button", name=send).click()
    assert page.locator("#error-summary").is_visible()


AXE_PAGES = {
    "landing": lambda page, live: page.goto(live.base_url + "/"),
    "location": lambda page, live: page.goto(live.base_url + "/ketamine-therapy-bradenton"),
    "error-form": error_rendered_form,
    "thanks": lambda page, live: page.goto(live.base_url + "/thanks"),
    "privacy": lambda page, live: page.goto(live.base_url + "/privacy"),
    "not-found": lambda page, live: page.goto(live.base_url + "/no-such-page"),
    "es-landing": lambda page, live: page.goto(live.base_url + "/es/"),
    "es-location": lambda page, live: page.goto(live.base_url + "/es/terapia-con-ketamina-bradenton"),
    "es-error-form": lambda page, live: error_rendered_form(page, live, "/es/", "Enviar mi solicitud"),
}


# Every page on a phone, where most visitors read it; on a desktop, the pages whose layout changes with
# the width (the article's columns, the form beside it). The Spanish pages are the same templates.
AXE_RUNS = [pytest.param(name, PHONE, id=f"{name}-phone") for name in AXE_PAGES] + [
    pytest.param(name, DESKTOP, id=f"{name}-desktop") for name in ("landing", "location", "error-form")
]


@pytest.mark.parametrize("name,viewport", AXE_RUNS)
def test_axe_finds_no_violations(browser, live, name, viewport):
    # axe-core is injected as an inline script, which the site's own policy rightly refuses.
    context, page = open_page(browser, live, viewport, bypass_csp=True)
    AXE_PAGES[name](page, live)
    violations = axe_violations(page)
    assert violations == [], "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']}\n  {v['nodes']}" for v in violations
    )
    context.close()


# -- every public page fits a small phone -------------------------------------------------

SMALL_PHONES = (320, 390)
FITS_PAGES = [
    "/", "/ketamine-therapy-bradenton", "/ketamine-therapy-sarasota", "/thanks", "/thanks/support",
    "/questions/thanks", "/privacy", "/no-such-page",
    "/es/", "/es/terapia-con-ketamina-bradenton", "/es/terapia-con-ketamina-sarasota", "/es/gracias",
    "/es/gracias/apoyo", "/es/preguntas/gracias", "/es/privacidad", "/es/no-existe",
]  # fmt: skip
# Sent empty from these pages, each form comes back with its errors (422).
FITS_FORMS = [("/", "#consultation"), ("/es/", "#consultation"), ("/", "#question"), ("/es/", "#question")]
OVERFLOW = """() => {
    const found = [];
    const page = document.scrollingElement;
    if (page.scrollWidth > window.innerWidth) found.push(`the page: ${page.scrollWidth}px`);
    const text = 'button, a, h1, h2, h3, h4, h5, h6, p, li, td, th, label, dt, dd, legend';
    for (const el of document.querySelectorAll(text)) {
        // Measured where it has a box of its own (an inline link has none), and is shown at all.
        if (el.clientWidth === 0 || el.closest('.visually-hidden, .hp, .skip')) continue;
        if (el.scrollWidth > el.clientWidth) {
            found.push(`${el.tagName.toLowerCase()} "${el.textContent.trim().slice(0, 40)}": ` +
                       `${el.scrollWidth}px in ${el.clientWidth}px`);
        }
    }
    return found;
}"""


def test_every_public_page_fits_a_small_phone_in_both_languages(browser, live):
    """At 320 and 390 px: no sideways scrolling, and no text running out of its box (the Spanish crisis
    buttons included), on every public page, the forms with their errors, and the crisis thank-you page."""
    context, page = open_page(browser, live, {"width": SMALL_PHONES[-1], "height": 800})
    overflowing = {}

    def measure(name: str) -> None:
        for width in SMALL_PHONES:
            page.set_viewport_size({"width": width, "height": 800})
            if found := page.evaluate(OVERFLOW):
                overflowing[f"{name} at {width}px"] = found

    for path in FITS_PAGES:
        page.goto(live.base_url + path)
        measure(path)
    for path, form in FITS_FORMS:
        page.goto(live.base_url + path)
        with page.expect_navigation():
            page.locator(f"{form} button[type=submit]").click()
        assert page.locator("#error-summary").count() == 1, (path, form)
        measure(f"{form} with errors, from {path}")
    assert overflowing == {}
    context.close()
