"""The self-check and the forms' drafts in a real browser (Debian's Chromium through Playwright, the
module's one browser and one live server; each test its own context, no sleeps).

The self-check: item 9 "Several days" puts the crisis notice first, at once; no request the page makes
carries an answer; the answers reach the form only when the visitor sends them, and are stored with the
lead; without JavaScript the result is shown and nothing is kept. The drafts: what was typed survives a
reload and the Back button, is gone after a send, and a send while offline stays on the page.
"""

from __future__ import annotations

import itertools
import json
import logging
from urllib.parse import parse_qs

import pytest
from conftest import live_server, make_config, new_context
from sqlalchemy import inspect, select, text
from test_browser import DESKTOP, axe_violations

from microsite import create_app
from microsite.extensions import db
from microsite.models import Lead

pytestmark = pytest.mark.browser

NARROW = {"width": 320, "height": 640}  # the narrowest phone the pages are made for
CODE = "0123012301"  # q1..q9 then the difficulty: total 12, "moderate", item 9 "Not at all"
VISITORS = itertools.count(40)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("phq9-browser")
    app = create_app(make_config(f"sqlite:///{tmp / 'phq9.sqlite3'}", tmp, OUTBOX_INLINE=False))
    with app.app_context():
        db.create_all()
    with live_server(app):
        yield app


def visit(browser, live, viewport=NARROW, javascript=True, bypass_csp=False):
    """A fresh visitor; `page.sent` records each request's method, URL and body as it leaves the browser."""
    context = new_context(browser, viewport=viewport, java_script_enabled=javascript, bypass_csp=bypass_csp)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.sent, page.errors = [], []
    page.on("request", lambda r: page.sent.append((r.method, r.url, r.post_data or "")))
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and page.errors.append(message.text))
    return context, page


def rows(app) -> dict[str, int]:
    with app.app_context(), db.engine.connect() as connection:
        names = inspect(connection).get_table_names()
        return {t: connection.scalar(text(f"SELECT count(*) FROM {t}")) for t in names}


def latest(app) -> Lead:
    with app.app_context():
        lead = db.session.scalars(select(Lead).order_by(Lead.id.desc())).first()
        db.session.expunge_all()
        return lead


def answer(page, code: str) -> None:
    """Click each answer, as a visitor does (the difficulty, if the code has it, last)."""
    for n, value in enumerate(code[:9], start=1):
        page.locator(f"#q{n}-{value}").check()
    if len(code) == 10:
        page.locator(f"#difficulty-{code[9]}").check()


def fill_form(page) -> str:
    """The consultation form by its ids (the same in both languages); returns the phone as stored."""
    n = next(VISITORS)
    page.locator("#full_name").fill("Self Check")
    page.locator("#phone").fill(f"(941) 555-01{n:02d}")
    page.locator("#email").fill(f"check{n}@example.com")
    page.locator("#location-0").check()
    page.locator("#consent").check()
    return f"+194155501{n:02d}"


def above(page, first: str, second: str) -> bool:
    """Whether `first` ends above where `second` starts, both measured at one moment."""
    return page.evaluate(
        "([a, b]) => document.querySelector(a).getBoundingClientRect().bottom"
        " <= document.querySelector(b).getBoundingClientRect().top",
        [first, second],
    )


def no_sideways_scroll(page) -> list[str]:
    """What sticks out at this width: the page scrolling sideways, or a control's text overflowing it."""
    return page.evaluate("""() => {
        const width = document.documentElement.scrollWidth;
        const over = [...document.querySelectorAll('a, button, label, legend, .choice, p, h1, h2')]
            .filter(el => el.offsetParent !== null)
            .filter(el => el.scrollWidth > el.clientWidth + 1
                || el.getBoundingClientRect().right > innerWidth + .5)
            .map(el => el.tagName + ' ' + el.textContent.trim().slice(0, 40));
        return (width > innerWidth ? ['page ' + width] : []).concat(over);
    }""")


# -- the self-check ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path,several_days,send,thanks", [
    ("/phq-9", "Several days", "Send my answers with a consultation request", "**/thanks/support"),
    ("/es/phq-9", "Varios días", "Enviar mis respuestas con una solicitud de consulta",
     "**/es/gracias/apoyo"),
])  # fmt: skip
def test_item_9_puts_the_crisis_notice_first_and_no_answer_leaves_unless_sent(
    browser, live, path, several_days, send, thanks
):
    context, page = visit(browser, live)
    page.goto(live.base_url + path)
    result = page.locator("#phq9-result")
    assert result.get_attribute("aria-live") == "polite"
    assert result.inner_text().strip() == ""
    # Item 9 "Several days", by keyboard, before anything else is answered.
    choice = page.locator("#q9").get_by_label(several_days, exact=True)
    choice.focus()
    page.keyboard.press("Space")
    assert choice.is_checked() and page.locator("input[type=radio]:checked").count() == 1
    crisis, score = result.locator(".phq9-crisis"), result.locator(".phq9-progress")
    assert crisis.is_visible() and score.is_visible()
    assert crisis.get_attribute("role") == "alert"
    assert above(page, "#phq9-result .phq9-crisis", "#phq9-result .phq9-progress")
    assert crisis.locator('a[href="tel:988"]').count() and crisis.locator('a[href="tel:911"]').count()
    if path.startswith("/es/"):
        assert "marque 2" in crisis.inner_text() and "AYUDA" in crisis.inner_text()
    # The rest answered: the total and its band, the crisis notice still first.
    answer(page, "0123012311")
    band = result.locator(".phq9-score")
    assert band.locator("[data-slot=total]").inner_text() == "13"
    assert above(page, "#phq9-result .phq9-crisis", "#phq9-result .phq9-score")
    assert no_sideways_scroll(page) == []
    # Until the visitor chooses to send them, the answers are not even in this tab's storage.
    assert page.evaluate("sessionStorage.getItem('phq9')") is None
    page.get_by_role("button", name=send).click()
    page.wait_for_url("**/#consultation")
    assert page.locator("#phq9-value").input_value() == "0123012311"
    # Nothing of the answers left the browser meanwhile: each request was a page, a file of the site, or
    # the page-view count, which carries the path alone.
    pages = {path, "/es/" if path.startswith("/es/") else "/"}
    for method, url, body in page.sent:
        route = url.removeprefix(live.base_url)
        assert "?" not in route and "#" not in route, url
        if method == "POST":
            assert route == "/v" and parse_qs(body) == {"path": [parse_qs(body)["path"][0]]}, body
            assert parse_qs(body)["path"][0] in pages, body
        else:
            assert method == "GET" and body == "", url
            assert route in pages or route.startswith("/static/"), url
    # The form sent: stored with the answers and urgent (item 9 above 0), so thanked with the crisis
    # lines first; and the tab forgets the answers.
    phone = fill_form(page)
    page.locator("#consultation button[type=submit]").click()
    page.wait_for_url(thanks)
    assert "988" in page.get_by_role("heading", level=1).inner_text()
    lead = latest(live)
    stored = (lead.phone, lead.phq9_items, lead.phq9_total, lead.phq9_band, lead.urgent)
    assert stored == (phone, "012301231", 13, "moderate", True)
    assert page.evaluate("sessionStorage.getItem('phq9')") is None
    assert page.errors == [] and context.cookies() == []
    context.close()


def test_the_answers_can_be_taken_out_of_the_request(browser, live):
    context, page = visit(browser, live, DESKTOP)
    page.goto(live.base_url + "/phq-9")
    page.evaluate(f"sessionStorage.setItem('phq9', '{CODE}')")  # what "Send my answers" keeps
    page.goto(live.base_url + "/ketamine-therapy-bradenton")
    attached = page.locator("#phq9")
    assert "PHQ-9 score 12 out of 27" in attached.inner_text()
    assert page.locator("#phq9-value").input_value() == CODE
    attached.get_by_role("button", name="Remove my answers").click()
    assert "removed" in attached.inner_text() and attached.get_by_role("button").count() == 0
    assert page.locator("#phq9-value").input_value() == ""
    assert page.evaluate("sessionStorage.getItem('phq9')") is None
    page.reload()
    assert attached.is_hidden() and page.locator("#phq9-value").input_value() == ""
    assert page.errors == []
    context.close()


def test_without_javascript_the_result_is_shown_and_nothing_is_kept(browser, live, caplog):
    caplog.set_level(logging.DEBUG)
    context, page = visit(browser, live, javascript=False)
    page.goto(live.base_url + "/phq-9")
    answer(page, CODE)
    before = rows(live)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="See my result").click()
    response = navigation.value
    assert response.status == 200 and response.headers["cache-control"] == "no-store"
    assert page.get_by_role("heading", name="Your score: 12 out of 27, moderate").is_visible()
    assert page.locator(".phq9-crisis").count() == 0
    assert rows(live) == before
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "POST /phq-9" in logged  # the server's access line: the path, nothing of the body
    assert CODE not in logged and "q1=" not in logged and "phq9" not in logged.replace("/phq-9", "")
    # The consultation form on the result page carries the answers; sending it stores them with the lead.
    assert "PHQ-9 score 12 out of 27" in page.locator("#phq9").inner_text()
    phone = fill_form(page)
    page.get_by_role("button", name="Send my request").click()
    page.wait_for_url("**/thanks")
    lead = latest(live)
    assert (lead.phone, lead.phq9_total, lead.phq9_band, lead.landing_path) == (
        phone,
        12,
        "moderate",
        "/phq-9",
    )
    assert context.cookies() == []
    context.close()


# -- drafts -----------------------------------------------------------------------------------------------


def test_a_draft_survives_a_reload_and_back_and_is_gone_after_sending(browser, live):
    context, page = visit(browser, live)
    page.goto(live.base_url + "/ketamine-therapy-sarasota")
    page.locator("#full_name").fill("Draft Keeper")
    page.locator("#email").fill("draft@example.com")
    page.locator("#message").fill("Typed before the signal dropped.")
    page.locator("#location-0").check()  # Bradenton, though Sarasota's page preselects Sarasota
    page.locator("#question-text").fill("Does it hurt?")
    page.locator("#hp-website").evaluate(
        "el => { el.value = 'autofill'; el.dispatchEvent(new Event('input', {bubbles: true})) }"
    )
    stored = json.loads(
        page.evaluate("sessionStorage.getItem('draft:consultation:/ketamine-therapy-sarasota')")
    )
    assert stored["fields"]["full_name"] == "Draft Keeper"
    assert not {"website", "elapsed", "referrer", "language", "landing", "phq9"} & set(stored["fields"])
    assert page.evaluate("localStorage.length") == 0

    page.reload()
    assert page.locator("#full_name").input_value() == "Draft Keeper"
    assert page.locator("#message").input_value() == "Typed before the signal dropped."
    assert page.locator("#location-0").is_checked() and not page.locator("#location-1").is_checked()
    assert page.locator("#question-text").input_value() == "Does it hurt?"
    assert page.locator("#hp-website").input_value() == ""  # the honeypot is never brought back

    page.get_by_role("link", name="Privacy notice").first.click()
    page.wait_for_url("**/privacy")
    page.go_back()
    page.wait_for_url("**/ketamine-therapy-sarasota")
    assert page.locator("#email").input_value() == "draft@example.com"

    n = next(VISITORS)
    page.locator("#phone").fill(f"(941) 555-01{n:02d}")
    page.locator("#consent").check()
    page.get_by_role("button", name="Send my request").click()
    page.wait_for_url("**/thanks")
    lead = latest(live)
    assert (lead.full_name, lead.location, lead.spam_reason) == ("Draft Keeper", "bradenton", None)
    assert page.evaluate("sessionStorage.getItem('draft:consultation:/ketamine-therapy-sarasota')") is None
    # The question's draft stays: it was not sent.
    assert page.evaluate("sessionStorage.getItem('draft:question:/ketamine-therapy-sarasota')") is not None
    page.go_back()
    page.wait_for_url("**/ketamine-therapy-sarasota")
    assert page.locator("#full_name").input_value() == ""
    assert page.locator("#location-1").is_checked()  # the office page's own choice again
    assert page.errors == []
    context.close()


def test_a_send_while_offline_stays_on_the_page_with_everything_typed(browser, live):
    context, page = visit(browser, live)
    page.goto(live.base_url + "/es/")
    fill_form(page)
    before = rows(live)["lead"]
    message = ("No se envió: parece que no tiene conexión. Su solicitud sigue aquí; pulse Enviar de nuevo "
               "cuando tenga conexión.")  # fmt: skip
    context.set_offline(True)
    page.get_by_role("button", name="Enviar mi solicitud").click()
    notice = page.locator("#consultation .offline-message")
    assert notice.inner_text() == message and notice.get_attribute("role") == "alert"
    assert page.url == live.base_url + "/es/" and page.locator("#full_name").input_value() == "Self Check"
    # Online again, but the server out of reach: the same.
    context.set_offline(False)
    page.route("**/*", lambda route: route.abort() if route.request.method == "HEAD" else route.continue_())
    notice.evaluate("el => el.remove()")
    page.get_by_role("button", name="Enviar mi solicitud").click()
    assert notice.inner_text() == message
    assert rows(live)["lead"] == before
    page.unroute("**/*")
    page.get_by_role("button", name="Enviar mi solicitud").click()
    page.wait_for_url("**/es/gracias")
    assert rows(live)["lead"] == before + 1
    context.close()


# -- accessibility and the narrow phone ---------------------------------------------------------------------


def answered_with_crisis(page, live):
    page.goto(live.base_url + "/es/phq-9")
    answer(page, "0123012321")
    assert page.locator("#phq9-result .phq9-crisis").is_visible()


def result_without_javascript(page, live):
    """The result page a visitor without JavaScript gets (posted here by the form's own submit(), which
    the self-check's script does not intercept), item 9 above 0."""
    page.goto(live.base_url + "/phq-9")
    answer(page, "3210321032")
    with page.expect_navigation():
        page.evaluate("document.getElementById('phq9-form').submit()")
    assert page.locator(".phq9-crisis").is_visible()


def form_with_answers(page, live):
    """The consultation form with the line saying the answers go with it (checked on its own: the rest of
    the page is test_browser.py's)."""
    page.goto(live.base_url + "/es/phq-9")
    page.evaluate(f"sessionStorage.setItem('phq9', '{CODE}')")
    page.goto(live.base_url + "/es/")
    assert page.locator("#phq9").is_visible()
    return "#consultation-section"


PHQ9_AXE_PAGES = {
    "es-phq9-answered": answered_with_crisis,
    "phq9-result": result_without_javascript,
    "es-form-with-answers": form_with_answers,
}


@pytest.mark.parametrize("name", list(PHQ9_AXE_PAGES))
def test_axe_finds_no_violations_on_the_self_check(browser, live, name):
    context, page = visit(browser, live, bypass_csp=True)  # axe-core goes in as an inline script
    within = PHQ9_AXE_PAGES[name](page, live)
    violations = axe_violations(page, within)
    assert violations == [], "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']}\n  {v['nodes']}" for v in violations
    )
    assert no_sideways_scroll(page) == []
    context.close()
