"""Readers' questions: the form under the article and its defences, the staff queue, crisis
words, publishing with the page cache catching up, the reader's one email, and retention.

Real parts: SQLite and PostgreSQL (the `app` fixture), aiosmtpd for the emails, the page cache in front
of Flask. The cache's clock is the one thing replaced, so that "after the TTL" needs no sleep.
"""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import SITE_URL, browser_headers, hidden_fields, make_config, text_of
from sqlalchemy import func, select, update
from test_staff import login, post, staff  # noqa: F401 -- `staff` is a fixture

from microsite import create_app
from microsite.content.clinic import DEFAULT_CRISIS_WORDS, folded_words
from microsite.database import writing
from microsite.extensions import db
from microsite.models import AuditEvent, Notification, Question, QuestionStatus, utcnow
from microsite.notify.outbox import run_once

# On SQLite; on PostgreSQL too where storing, publishing, the queue's order, the content version or
# deleting the reader's details is the point. The form's checks and the crisis words come before SQL.

PUBLIC_PAGES = ["/", "/ketamine-therapy-bradenton", "/ketamine-therapy-sarasota", "/es/",
                "/es/terapia-con-ketamina-bradenton", "/es/terapia-con-ketamina-sarasota"]  # fmt: skip
EVERY_PUBLIC_URL = [*PUBLIC_PAGES, "/sitemap.xml", "/questions/thanks", "/es/preguntas/gracias", "/privacy"]


def question_data(**overrides) -> dict[str, str]:
    data = {
        "question": "How many infusions does a course of ketamine usually take?",
        "asker": "M.",
        "email": "reader@example.com",
        "consent": "y",
        "website": "",
        "elapsed": "",
        "language": "en",
        "office": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def ask(client, headers: dict | None = None, **overrides):
    return client.post("/questions", data=question_data(**overrides), headers=headers or browser_headers())


def questions(app) -> list[Question]:
    with app.app_context():
        rows = db.session.scalars(select(Question).order_by(Question.id)).all()
        db.session.expunge_all()
        return rows


def question_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Question))


class Clock:
    """The page cache's monotonic clock, moved by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(app):
    clock = Clock()
    app.extensions["page_freshness"].clock = clock
    return clock


@pytest.fixture
def staff_client(client, staff):  # noqa: F811
    assert login(client).status_code == 303
    return client


def shown_greeting_name(client, question_id: int) -> str | None:
    """The greeting's name as the question page fills it in (None: no field, no answer email to go)."""
    page = client.get(f"/staff/questions/{question_id}").get_data(as_text=True)
    found = re.search(r'<input[^>]*name="greeting_name"[^>]*>', page)
    value = re.search(r'value="([^"]*)"', found.group(0)) if found else None
    return html.unescape(value.group(1)) if value else ("" if found else None)


def answer_and_publish(client, question_id: int, text: str | None = None, answer: str = "Usually six.",
                       reviewer: str = "Jane Example, MD", greeting_name: str = ""):  # fmt: skip
    saved = post(
        client, f"/staff/questions/{question_id}", edited_text=text or "", answer=answer, reviewer=reviewer,
        greeting_name=greeting_name,
    )  # fmt: skip
    assert saved.status_code == 303, saved.get_data(as_text=True)
    published = post(client, f"/staff/questions/{question_id}/publish")
    assert published.status_code == 303
    return published


def json_ld(html: str) -> list[dict]:
    return [
        json.loads(m) for m in re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    ]


def faq_of(html: str) -> dict | None:
    graph = json_ld(html)[0]["@graph"]
    return next((node for node in graph if node["@type"] == "FAQPage"), None)


# -- the form under the article ----------------------------------------------------------


@pytest.mark.parametrize("path,lang,office", [("/", "en", ""), ("/es/", "es", ""),
                                              ("/ketamine-therapy-sarasota", "en", "sarasota")])  # fmt: skip
def test_the_form_is_under_the_article_the_same_for_everyone(client, path, lang, office):
    html = client.get(path).get_data(as_text=True)
    form = html[html.index('<form id="question"') :]
    form = form[: form.index("</form>")]
    assert 'action="/questions"' in form and 'name="website"' in form and 'maxlength="500"' in form
    assert 'name="csrf_token"' not in form  # no per-visitor value in a cached page
    assert f'id="question-language" name="language" type="hidden" value="{lang}"' in form
    assert f'id="question-office" name="office" type="hidden" value="{office}"' in form
    assert "988" in form and "911" in form
    # One id per page, though both forms have an email field and a honeypot.
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))


@pytest.mark.both_databases
def test_a_question_is_stored_and_the_reader_thanked(app, client):
    response = ask(client)
    assert response.status_code == 303 and response.headers["Location"] == "/questions/thanks"
    [question] = questions(app)
    assert (question.status, question.language, question.office) == (QuestionStatus.NEW, "en", None)
    assert question.email == "reader@example.com" and question.name == "M."
    assert "may publish my question" in question.consent_text
    assert not question.crisis and question.spam_reason is None
    thanks = client.get("/questions/thanks")
    page = text_of(thanks.get_data(as_text=True))
    assert "read it" in page and "not for emergencies" in page and "988" in page and "911" in page
    assert '<meta name="robots" content="noindex">' in thanks.get_data(as_text=True)
    assert thanks.headers["Cache-Control"] == "public, max-age=300" and "Set-Cookie" not in thanks.headers


def test_a_spanish_question_is_thanked_in_spanish(app, client):
    response = ask(client, headers=browser_headers("/es/terapia-con-ketamina-bradenton"), language="es",
                   office="bradenton", question="¿Cuántas infusiones hacen falta?")  # fmt: skip
    assert response.headers["Location"] == "/es/preguntas/gracias"
    [question] = questions(app)
    assert (question.language, question.office) == ("es", "bradenton")
    assert "publique mi pregunta" in question.consent_text
    page = text_of(client.get("/es/preguntas/gracias").get_data(as_text=True))
    assert "no es para emergencias" in page and "marque 2" in page and "AYUDA" in page and "911" in page


# -- bad input: the consultation form's checks, on this form -------------------------------


BAD_INPUT = [
    pytest.param({"question": "x" * 501}, "500 characters or fewer", id="too-long"),
    pytest.param({"question": "   "}, "Please write your question", id="empty"),
    pytest.param({"question": "Is it safe?\u202eevil"}, "special or invisible", id="override-in-question"),
    pytest.param({"question": "Is it\u200b safe?"}, "special or invisible", id="zero-width-in-question"),
    pytest.param({"asker": "M\u200b."}, "special or invisible", id="zero-width-in-name"),
    pytest.param({"asker": "M\r\nBcc: x"}, "special or invisible", id="line-break-in-name"),
    pytest.param(
        {"email": "a@example.com\r\nBcc: b@example.com"}, "special or invisible", id="header-in-email"
    ),
    pytest.param({"email": "nope"}, "name@example.com", id="not-an-email"),
    pytest.param({"email": "a?b@example.com"}, "name@example.com", id="url-syntax-in-email"),
    pytest.param({"consent": None}, "Please tick this box", id="no-consent"),
    pytest.param({"office": "tampa"}, "unknown office", id="forged-office"),
]


@pytest.mark.parametrize("overrides,message", BAD_INPUT)
def test_bad_input_is_a_422_with_the_values_kept_and_nothing_stored(app, client, overrides, message):
    response = ask(client, **overrides)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html
    assert 'id="error-summary"' in html and "noindex" in html
    assert "reader@example.com" in html or "email" in overrides  # the reader's values are kept
    assert response.headers["Cache-Control"] == "no-store"
    assert question_count(app) == 0


def test_a_422_in_spanish_speaks_spanish(app, client):
    response = ask(client, language="es", question="")
    assert response.status_code == 422
    assert "Escriba su pregunta." in response.get_data(as_text=True)


@pytest.mark.parametrize("overrides,reason", [({"website": "http://spam.example"}, "honeypot"),
                                              ({"elapsed": "0.4"}, "too-fast")])  # fmt: skip
def test_what_looks_like_a_bot_is_thanked_and_kept_aside(tmp_path, smtp, overrides, reason):
    app = create_app(make_config(f"sqlite:///{tmp_path / 'q.sqlite3'}", tmp_path, FORM_MIN_SECONDS=3,
                                 MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port))  # fmt: skip
    with app.app_context():
        db.create_all()
    client = app.test_client()
    response = ask(client, **overrides)
    assert response.status_code == 303 and response.headers["Location"] == "/questions/thanks"
    [question] = questions(app)
    assert question.spam_reason == reason and question.status == QuestionStatus.NEW
    with app.app_context():
        run_once()
    assert smtp.messages == []


REFUSED = [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Sec-Fetch-Site": "cross-site", "Origin": SITE_URL},
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
]


@pytest.mark.parametrize("headers", REFUSED)
def test_a_cross_site_post_is_a_403_that_stores_nothing(app, client, headers):
    response = client.post("/questions", data=question_data(), headers=headers)
    assert response.status_code == 403
    assert "only accepts requests sent from our own pages" in response.get_data(as_text=True)
    assert question_count(app) == 0


def test_without_fetch_metadata_or_origin_the_form_comes_back_with_a_token(app, client):
    response = client.post("/questions", data=question_data(question="Is ketamine addictive?"))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "press <strong>Send my question</strong> again" in html
    assert "Is ketamine addictive?" in html and 'value="reader@example.com"' in html
    fields = hidden_fields(html)
    assert fields["csrf_token"] and question_count(app) == 0
    again = client.post("/questions", data={**fields, **question_data(question="Is ketamine addictive?")})
    assert again.status_code == 303
    assert question_count(app) == 1


def test_too_many_questions_from_one_address_get_a_429(tmp_path):
    config = make_config(f"sqlite:///{tmp_path / 'rl.sqlite3'}", tmp_path, RATELIMIT_ENABLED=True,
                         RATELIMIT_STORAGE_URI="memory://", RATELIMIT_QUESTIONS="2 per minute")  # fmt: skip
    app = create_app(config)
    with app.app_context():
        db.create_all()
    client = app.test_client()
    assert [ask(client, question=f"Question {n}?").status_code for n in range(3)] == [303, 303, 429]
    response = ask(client, headers={"Sec-Fetch-Site": "cross-site"})  # a refused request counts too
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    html = response.get_data(as_text=True)
    for office in app.extensions["clinic"].offices:
        assert office.phone_display in html
    assert question_count(app) == 2


# -- crisis words ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["I think about SUICIDE a lot", "Some days I want to end my life.",
                                  "A veces quiero quitarme la vída", "¿Y si pienso en el suicidio?",
                                  "pensé en matarme", "I self-harm sometimes"])  # fmt: skip
def test_crisis_words_are_found_as_words_whatever_the_case_or_accents(app, text):
    assert app.extensions["clinic"].suggests_crisis(text)


@pytest.mark.parametrize("text", ["Does it help with suicidal-free... no", "How long does it last?",
                                  "Is the life of a vial long?", "Can I drive after?"])  # fmt: skip
def test_ordinary_questions_are_not_flagged(app, text):
    expected = "suicidal" in folded_words(text)
    assert app.extensions["clinic"].suggests_crisis(text) is expected


def test_the_clinic_file_lists_the_default_crisis_words(app):
    assert app.extensions["clinic"].crisis_words == tuple(folded_words(p) for p in DEFAULT_CRISIS_WORDS)


@pytest.mark.both_databases
def test_a_crisis_question_emails_the_office_at_once_and_tops_the_queue(app, client, smtp, staff_client):
    ask(client, question="What does a consultation cost?")
    ask(client, headers=browser_headers("/ketamine-therapy-sarasota"), office="sarasota",
        question="I don't see the point anymore, I want to kill myself. Would ketamine help?")  # fmt: skip
    ask(client, question="Can I drive home after an infusion?")
    crisis_id = questions(app)[1].id
    with app.app_context():
        run_once()
    [message] = smtp.messages
    assert message["To"] == "sarasota-staff@example.com"
    assert f"reader's question #{crisis_id}" in message["Subject"] and "URGENT" in message["Subject"]
    body = message.get_body(("plain",)).get_content()
    assert f"{SITE_URL}/staff/questions/{crisis_id}" in body
    assert "kill myself" not in message.as_string() and "reader@example.com" not in message.as_string()
    queue = staff_client.get("/staff/questions").get_data(as_text=True)
    rows = re.findall(r'<a href="/staff/questions/(\d+)">\d+</a>', queue)
    assert rows[0] == str(crisis_id)  # first, though not the newest
    assert "Crisis words:" in queue
    with app.app_context():
        run_once()
    assert len(smtp.messages) == 1  # once


@pytest.mark.both_databases
def test_a_crisis_question_from_the_main_article_reaches_every_office(app, client, smtp):
    ask(client, language="es", question="Pienso en el SUICIDIO cada día")
    with app.app_context():
        run_once()
    # One alert per office: each office's alerts are paced on their own.
    offices = ["bradenton-staff@example.com", "sarasota-staff@example.com"]
    assert sorted(m["To"] for m in smtp.messages) == offices
    assert all("in Spanish" in m.get_body(("plain",)).get_content() for m in smtp.messages)


# -- publishing, the page cache and the JSON-LD ---------------------------------------------


@pytest.mark.both_databases
def test_publishing_changes_the_etag_after_the_ttl_and_shows_question_and_json_ld(app, client, staff_client,
                                                                                   clock):  # fmt: skip
    ask(client, question="My name is Ann Smith from Palmetto. How many infusions?")
    [question] = questions(app)
    before = client.get("/")
    etag = before.headers["ETag"]
    assert "Readers asked" not in before.get_data(as_text=True)

    answer = "Often six over two to three weeks.\n\nYour clinician decides with you."
    edited = "How many infusions does a course take?"
    answer_and_publish(staff_client, question.id, text=edited, answer=answer)
    after = client.get("/")  # this process published: it asks the database at once
    assert after.headers["ETag"] != etag
    html = after.get_data(as_text=True)
    assert "Readers asked" in html and "How many infusions does a course take?" in html
    assert "Ann Smith" not in html  # the staff's edit is what is shown
    assert "Answered by Jane Example, MD" in html and "<p>Your clinician decides with you.</p>" in html
    faq = faq_of(html)
    assert faq["mainEntity"][0]["name"] == "How many infusions does a course take?"
    assert faq["mainEntity"][0]["acceptedAnswer"]["text"].startswith("Often six")
    old = client.get("/", headers={"If-None-Match": etag})
    assert old.status_code == 200  # the old version is not "not modified"
    assert client.get("/", headers={"If-None-Match": after.headers["ETag"]}).status_code == 304
    # Only on the pages in the language it was asked in.
    assert "How many infusions does a course take?" in client.get("/ketamine-therapy-bradenton").get_data(
        as_text=True
    )
    assert "How many infusions" not in client.get("/es/").get_data(as_text=True)


@pytest.mark.both_databases
def test_another_instance_catches_up_within_the_ttl(app, app_config, client, staff_client, clock):
    """A second app on the same database, as another gunicorn worker or instance would be."""
    other = create_app(app_config)
    other_clock = Clock()
    other.extensions["page_freshness"].clock = other_clock
    reader = other.test_client()
    etag = reader.get("/").headers["ETag"]
    ask(client)
    answer_and_publish(staff_client, questions(app)[0].id)
    within = reader.get("/", headers={"If-None-Match": etag})
    assert within.status_code == 304  # not yet: at most PAGE_VERSION_SECONDS old
    other_clock.now += other.config["PAGE_VERSION_SECONDS"]
    fresh = reader.get("/", headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["ETag"] != etag
    assert "Usually six." in fresh.get_data(as_text=True)
    # Unpublished: gone again, with yet another ETag.
    assert post(staff_client, f"/staff/questions/{questions(app)[0].id}/unpublish").status_code == 303
    other_clock.now += other.config["PAGE_VERSION_SECONDS"]
    gone = reader.get("/")
    assert "Usually six." not in gone.get_data(as_text=True)
    assert gone.headers["ETag"] == etag  # the same bytes as before it was published
    assert faq_of(gone.get_data(as_text=True)) is None
    with other.app_context():
        db.engine.dispose()


@pytest.mark.both_databases
def test_nothing_unpublished_appears_on_any_public_page(app, client, staff_client):
    ask(client, question="Unique-new-question-text?")
    ask(client, question="Unique-answered-question-text?")
    ask(client, question="Unique-rejected-question-text?")
    ask(client, question="Unique-unpublished-question-text?")
    ask(client, language="es", question="Unique-spanish-new-question?")
    _, answered, rejected, unpublished, _ = (q.id for q in questions(app))
    post(staff_client, f"/staff/questions/{answered}", answer="Unique-answer-never-published", reviewer="R")
    post(staff_client, f"/staff/questions/{rejected}", answer="Unique-answer-rejected", reviewer="R")
    post(staff_client, f"/staff/questions/{rejected}/reject")
    answer_and_publish(staff_client, unpublished, answer="Unique-answer-taken-back")
    post(staff_client, f"/staff/questions/{unpublished}/unpublish")
    assert [q.status for q in questions(app)][:4] == ["new", "answered", "rejected", "answered"]
    for url in EVERY_PUBLIC_URL:
        body = client.get(url).get_data(as_text=True)
        assert "Unique-" not in body, url
        if url in PUBLIC_PAGES:
            assert (
                faq_of(body) is None
                and "Readers asked" not in body
                and "Preguntas de los lectores" not in body
            )


def test_publishing_needs_an_answer_and_a_reviewer(app, client, staff_client):
    ask(client)
    question_id = questions(app)[0].id
    response = post(staff_client, f"/staff/questions/{question_id}/publish")
    assert response.status_code == 303
    assert questions(app)[0].status == QuestionStatus.NEW
    assert "Write the answer" in staff_client.get(f"/staff/questions/{question_id}").get_data(as_text=True)


@pytest.mark.both_databases
def test_every_step_is_in_the_audit_log_without_the_text(app, client, staff_client):
    ask(client)
    question_id = questions(app)[0].id
    staff_client.get(f"/staff/questions/{question_id}")
    answer_and_publish(staff_client, question_id)
    post(staff_client, f"/staff/questions/{question_id}/unpublish")
    post(staff_client, f"/staff/questions/{question_id}/reject")
    with app.app_context():
        events = db.session.execute(
            select(AuditEvent.action, AuditEvent.detail, AuditEvent.actor).where(
                AuditEvent.action.like("question.%")
            )
        ).all()
    assert [e.action for e in events] == ["question.view", "question.edit", "question.publish",
                                          "question.unpublish", "question.reject"]  # fmt: skip
    assert {e.detail for e in events} == {f"question {question_id}"}
    assert {e.actor for e in events} == {"staff@example.com"}


def test_the_queue_and_question_pages_need_a_login_and_a_token(app, client, staff):  # noqa: F811
    ask(client)
    question_id = questions(app)[0].id
    for path in ("/staff/questions", f"/staff/questions/{question_id}"):
        assert "/staff/login" in client.get(path).headers["Location"]
    assert login(client).status_code == 303
    refused = client.post(
        f"/staff/questions/{question_id}/publish", headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert refused.status_code in (302, 303, 400) and questions(app)[0].status == QuestionStatus.NEW
    cross = client.post(f"/staff/questions/{question_id}/reject", headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403 and questions(app)[0].status == QuestionStatus.NEW


# -- the reader's one email, and what is kept -----------------------------------------------


@pytest.mark.both_databases
def test_the_reader_gets_one_email_with_a_link_and_the_address_is_deleted(app, client, staff_client, smtp):
    ask(client, headers=browser_headers("/es/terapia-con-ketamina-sarasota"), language="es",
        office="sarasota", asker="Ana", email="ana@example.com", question="¿Duele?")  # fmt: skip
    question_id = questions(app)[0].id
    assert shown_greeting_name(staff_client, question_id) == "Ana"
    answer_and_publish(staff_client, question_id, answer="No suele doler.", reviewer="Dra. Ejemplo",
                       greeting_name="Ana")  # fmt: skip
    with app.app_context():
        run_once()
    [message] = smtp.messages
    assert message["To"] == "ana@example.com"
    assert message["Subject"] == "Respondimos su pregunta"
    body = message.get_body(("plain",)).get_content()
    assert f"{SITE_URL}/es/terapia-con-ketamina-sarasota#question-{question_id}" in body
    assert "Hola, Ana:" in body and "No suele doler." in body
    [question] = questions(app)
    assert question.email is None and question.name is None  # deleted once it was sent
    # Unpublished and published again: no second email.
    post(staff_client, f"/staff/questions/{question_id}/unpublish")
    post(staff_client, f"/staff/questions/{question_id}/publish")
    with app.app_context():
        run_once()
        assert db.session.scalar(select(func.count()).select_from(Notification)) == 1
    assert len(smtp.messages) == 1
    assert "ana@example.com" not in staff_client.get(f"/staff/questions/{question_id}").get_data(as_text=True)


@pytest.mark.parametrize(
    "greeting_name,greeting",
    [("", "Hello,"), ("Maria", "Hello Maria,")],
    ids=["cleared", "edited"],
)
def test_staff_choose_the_name_the_answer_email_greets_the_reader_by(app, client, staff_client, smtp,
                                                                     greeting_name, greeting):  # fmt: skip
    ask(client, asker="Claim your refund at evil.example")
    question_id = questions(app)[0].id
    assert shown_greeting_name(staff_client, question_id) == "Claim your refund at evil.example"
    saved = post(staff_client, f"/staff/questions/{question_id}", edited_text="", answer="Usually six.",
                 reviewer="Jane Example, MD", greeting_name=greeting_name)  # fmt: skip
    assert saved.status_code == 303
    assert post(staff_client, f"/staff/questions/{question_id}/publish").status_code == 303
    with app.app_context():
        run_once()
    [message] = smtp.messages
    for part in ("plain", "html"):
        body = message.get_body((part,)).get_content()
        assert "evil.example" not in body
    assert message.get_body(("plain",)).get_content().splitlines()[0] == greeting
    assert shown_greeting_name(staff_client, question_id) is None  # sent: the name is forgotten


def test_without_a_mail_server_the_answer_emails_copy_goes_with_the_address(app, client, staff_client):
    app.config["MAIL_SERVER"] = None  # the embedded mode: each email is an .eml file in MAIL_FILE_DIR
    ask(client, email="reader-copy@example.com", asker="Ana")
    question_id = questions(app)[0].id
    answer_and_publish(staff_client, question_id)
    mail = Path(app.config["MAIL_FILE_DIR"])
    with app.app_context():
        run_once()
    [question] = questions(app)
    assert question.email is None and question.name is None
    assert [p.read_bytes() for p in mail.glob("*.eml") if b"reader-copy@example.com" in p.read_bytes()] == []
    with app.app_context():
        answer_email = select(Notification.status).where(Notification.once_key == f"answer:{question_id}")
        assert db.session.scalars(answer_email).all() == ["sent"]


@pytest.mark.both_databases
def test_a_copy_a_dead_sender_left_goes_at_reject_and_at_purge(app, client, staff_client, runner):
    """A sender that died between writing the .eml and forgetting the address left the copy behind."""
    mail = Path(app.config["MAIL_FILE_DIR"])
    mail.mkdir(parents=True, exist_ok=True)
    for text in ("Rejected later?", "Old and published?"):
        ask(client, question=text, email="left@example.com")
    rejected, published = (q.id for q in questions(app))
    for question_id in (rejected, published):
        answer_and_publish(staff_client, question_id)
    with app.app_context():
        notifications = dict(db.session.execute(select(Notification.once_key, Notification.id)).all())
    for question_id in (rejected, published):
        notification_id = notifications[f"answer:{question_id}"]
        copy = f"20261130T120000-answer-{question_id}-notification-{notification_id}.eml"
        (mail / copy).write_bytes(b"To: left@example.com\r\n\r\nHello,\r\n")
    post(staff_client, f"/staff/questions/{rejected}/reject")
    assert len(list(mail.glob(f"*-answer-{rejected}-*.eml"))) == 0
    assert len(list(mail.glob(f"*-answer-{published}-*.eml"))) == 1
    with app.app_context(), writing():
        long_ago = utcnow() - timedelta(days=400)
        db.session.execute(update(Question).where(Question.id == published).values(created_at=long_ago))
    assert runner.invoke(args=["leads", "purge"]).exit_code == 0
    assert list(mail.glob("*.eml")) == []
    assert questions(app)[1].email is None


@pytest.mark.both_databases
def test_rejecting_deletes_the_readers_details(app, client, staff_client):
    ask(client)
    post(staff_client, f"/staff/questions/{questions(app)[0].id}/reject")
    [question] = questions(app)
    assert (question.status, question.name, question.email) == (QuestionStatus.REJECTED, None, None)


@pytest.mark.both_databases
def test_purge_deletes_old_unpublished_questions_and_the_details_of_published_ones(app, client, staff_client,
                                                                                  runner):  # fmt: skip
    for text in ("Old and never answered?", "Old and published?", "Recent?"):
        ask(client, question=text, email="kept@example.com")
    old, published, recent = (q.id for q in questions(app))
    post(staff_client, f"/staff/questions/{published}", answer="Yes.", reviewer="R")
    with app.app_context(), writing():
        # Published without its email having gone out yet (the outbox was not run).
        db.session.execute(update(Question).where(Question.id == published).values(status="published"))
        long_ago = utcnow() - timedelta(days=400)
        aged = update(Question).where(Question.id.in_([old, published]))
        db.session.execute(aged.values(created_at=long_ago))
    result = runner.invoke(args=["leads", "purge"])
    assert result.exit_code == 0, result.output
    assert "questions: deleted 1" in result.output
    rows = {q.id: q for q in questions(app)}
    assert old not in rows
    assert rows[published].email is None and rows[published].status == "published"
    assert rows[recent].email == "kept@example.com"
