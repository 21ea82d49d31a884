"""Readers' questions in a real browser: a reader asks, staff answer and publish, the answer
shows under the article with its JSON-LD, and the reader's one email goes out through a real SMTP
server (aiosmtpd), after which the address is gone. A question with crisis words reaches the office's
inbox at once (the web process's own sender) and tops the staff queue. axe-core checks the pages.
"""

from __future__ import annotations

import json
import time

import pytest
from aiosmtpd.controller import Controller
from conftest import (
    SMTPRecorder,
    add_staff,
    browser_staff_login,
    free_port,
    live_server,
    make_config,
    new_context,
)
from sqlalchemy import select
from test_browser import DESKTOP, PHONE, axe_violations

from microsite import create_app
from microsite.database import writing
from microsite.extensions import db
from microsite.models import Question, utcnow

pytestmark = pytest.mark.browser

EMAIL = "reviewer@example.com"
PASSWORD = "a long reviewer password"


@pytest.fixture(scope="module")
def inbox():
    handler = SMTPRecorder()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory, inbox):
    """The app with its own background sender on (OUTBOX_INLINE), as `make run` serves it."""
    tmp = tmp_path_factory.mktemp("questions-browser")
    config = make_config(f"sqlite:///{tmp / 'q.sqlite3'}", tmp, OUTBOX_INLINE=True, MAIL_SERVER="127.0.0.1",
                         MAIL_PORT=inbox.port)  # fmt: skip
    app = create_app(config)
    with app.app_context():
        db.create_all()
        add_staff(EMAIL, PASSWORD)
    with live_server(app):
        yield app
    app.extensions["outbox"].stop()


def open_page(browser, live, viewport=PHONE):
    """A fresh context; CSP is bypassed only so that axe-core can be injected."""
    context = new_context(browser, viewport=viewport, bypass_csp=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.requests = []
    page.on("request", lambda request: page.requests.append(request.url))
    return context, page


def ask(page, live, text: str, email: str = "", name: str = "", path: str = "/"):
    """Fill in and send the question form on `path` (by its ids: the labels are in the page's language)."""
    page.goto(live.base_url + path)
    form = page.locator("#question")
    form.locator("#question-text").fill(text)
    if name:
        form.locator("#question-name").fill(name)
    if email:
        form.locator("#question-email").fill(email)
    form.locator("#question-consent").check()
    with page.expect_navigation():
        form.locator("button[type=submit]").click()


def staff_login(page, live):
    browser_staff_login(page, live, EMAIL, PASSWORD)


def question_id(live, text: str) -> int:
    with live.app_context():
        found = db.session.scalar(select(Question.id).where(Question.text == text))
        db.session.rollback()
        return found


def stored(live, qid: int) -> Question:
    with live.app_context():
        question = db.session.get(Question, qid)
        db.session.expunge_all()
        return question


def wait_for(condition, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def faq(page) -> dict | None:
    graph = json.loads(page.locator('script[type="application/ld+json"]').first.text_content())["@graph"]
    return next((node for node in graph if node["@type"] == "FAQPage"), None)


def test_a_question_sent_answered_published_and_emailed_once(browser, live, inbox):
    text = "My husband Tom Rivera asks: can ketamine be combined with an SSRI?"
    context, reader = open_page(browser, live, PHONE)
    ask(reader, live, text, email="rivera@example.com", name="T.R.")
    assert reader.url.endswith("/questions/thanks")
    assert reader.get_by_role("link", name="Call 988").is_visible()
    assert reader.get_by_role("link", name="Call 911").is_visible()
    qid = question_id(live, text)
    reader.goto(live.base_url + "/")
    assert "Tom Rivera" not in reader.content()  # not published: nowhere public

    staff_context, staff = open_page(browser, live, DESKTOP)
    staff_login(staff, live)
    staff.get_by_role("link", name="Questions").click()
    staff.get_by_role("link", name=str(qid), exact=True).click()
    staff.get_by_label("Question as published").fill("Can ketamine be combined with an SSRI?")
    answer = "Often, yes. Your clinician reviews every medicine you take first."
    staff.get_by_role("textbox", name="Answer", exact=True).fill(answer)
    staff.get_by_label("Reviewed by").fill("Jane Example, MD")
    staff.get_by_role("button", name="Save").click()
    staff.wait_for_load_state()
    staff.get_by_role("button", name="Publish").click()
    staff.wait_for_load_state()
    assert staff.get_by_text("Published under the article.").is_visible()

    # The reader's browser may keep "/" for its max-age (5 minutes); a reload asks again with its ETag,
    # which no longer matches.
    reader.goto(live.base_url + "/")
    reader.reload()
    section = reader.locator("#readers-asked")
    assert section.get_by_role("heading", name="Can ketamine be combined with an SSRI?").is_visible()
    assert section.get_by_text("Answered by Jane Example, MD").is_visible()
    assert "Tom Rivera" not in reader.content()
    entry = faq(reader)["mainEntity"][0]
    assert entry["name"] == "Can ketamine be combined with an SSRI?"
    assert entry["acceptedAnswer"]["text"].startswith("Often, yes.")
    assert all(url.startswith(live.base_url) for url in reader.requests), reader.requests

    # The reader's one email, through the web process's own sender; then the address is gone.
    message = wait_for(lambda: next((m for m in inbox.messages if m["To"] == "rivera@example.com"), None))
    assert f"/#question-{qid}" in message.get_body(("plain",)).get_content()
    wait_for(lambda: stored(live, qid).email is None)
    assert stored(live, qid).name is None
    staff.get_by_role("button", name="Unpublish").click()
    staff.wait_for_load_state()
    staff.get_by_role("button", name="Publish").click()
    staff.wait_for_load_state()
    time.sleep(1)
    assert [m["To"] for m in inbox.messages].count("rivera@example.com") == 1
    context.close()
    staff_context.close()


def test_an_unpublished_question_is_visible_nowhere_public(browser, live):
    text = "Unpublished-only: does insurance pay for it?"
    context, page = open_page(browser, live, DESKTOP)
    ask(page, live, text, path="/ketamine-therapy-sarasota")
    assert question_id(live, text)
    for path in ("/", "/ketamine-therapy-bradenton", "/ketamine-therapy-sarasota", "/es/", "/sitemap.xml",
                 "/questions/thanks"):  # fmt: skip
        page.goto(live.base_url + path)
        assert "Unpublished-only" not in page.content(), path
    context.close()


def test_a_crisis_question_reaches_the_office_at_once_and_tops_the_queue(browser, live, inbox):
    context, reader = open_page(browser, live, PHONE)
    before = len(inbox.messages)
    ask(
        reader,
        live,
        "Llevo semanas pensando en quitarme la vida. ¿Me ayudaría?",
        path="/es/terapia-con-ketamina-bradenton",
    )
    assert reader.url.endswith("/es/preguntas/gracias")
    qid = question_id(live, "Llevo semanas pensando en quitarme la vida. ¿Me ayudaría?")
    message = wait_for(
        lambda: next((m for m in inbox.messages[before:] if "URGENT" in m["Subject"]), None), 5
    )
    assert message["To"] == "bradenton-staff@example.com"
    assert "quitarme" not in message.as_string()

    staff_context, staff = open_page(browser, live, DESKTOP)
    staff_login(staff, live)
    staff.goto(live.base_url + "/staff/questions")
    first = staff.locator("#question-queue tbody tr").first
    assert first.get_by_role("link", name=str(qid), exact=True).is_visible()
    assert "Crisis words" in first.inner_text()
    context.close()
    staff_context.close()


AXE_PAGES = ["/", "/es/", "/ketamine-therapy-bradenton", "/questions/thanks", "/es/preguntas/gracias"]


@pytest.mark.parametrize("path", AXE_PAGES)
def test_axe_finds_no_violations_with_the_questions_section(browser, live, path):
    with live.app_context():  # a published question in each language, whatever ran before
        for lang in ("en", "es"):
            with writing():
                db.session.add(
                    Question(text="Is it safe?", language=lang, consent_text="I agree.", status="published",
                             answer="Mostly.\n\nAsk us.", reviewer="R. Example", published_at=utcnow())
                )  # fmt: skip
        live.extensions["page_freshness"].forget()
    context, page = open_page(browser, live, PHONE)
    page.goto(live.base_url + path)
    if path in ("/", "/es/"):
        assert page.locator("#readers-asked").is_visible()
    violations = axe_violations(page)
    assert violations == [], "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']}\n  {v['nodes']}" for v in violations
    )
    context.close()


def test_axe_finds_no_violations_on_the_question_form_shown_again(browser, live):
    context, page = open_page(browser, live, PHONE)
    page.goto(live.base_url + "/")
    form = page.locator("#question")
    form.get_by_label("Your question").fill("Is it safe?")
    with page.expect_navigation():
        form.get_by_role("button", name="Send my question").click()
    assert page.locator("#error-summary").is_visible()
    assert page.locator("#question-text").input_value() == "Is it safe?"
    violations = axe_violations(page)
    assert violations == [], violations
    context.close()


@pytest.mark.parametrize("path", ["/staff/questions", "/staff/questions/1"])
def test_axe_finds_no_violations_on_the_staff_queue(browser, live, path):
    with live.app_context():
        if db.session.get(Question, 1) is None:
            with writing():
                db.session.add(Question(text="Is it safe?", language="en", consent_text="I agree."))
        db.session.rollback()
    context, page = open_page(browser, live, DESKTOP)
    staff_login(page, live)
    page.goto(live.base_url + path)
    violations = axe_violations(page)
    assert violations == [], violations
    context.close()
