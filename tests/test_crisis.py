"""Crisis words: a consultation request whose message suggests a crisis is stored and sent like any other,
its staff email says URGENT and the visitor's thank-you page begins with the crisis lines; the crisis
alerts (questions, and requests held as suspected spam) come at once, then as one digest, a few a day.

Real parts: SQLite (and PostgreSQL where what is stored and locked is the point), aiosmtpd for the
emails. The clock is controlled as the outbox's sweeps take it: `schedule_due(now)` and `flag(…, now)`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from conftest import submit, text_of
from sqlalchemy import select
from test_questions import ask

from microsite.config import DEFAULT_CLINIC_FILE
from microsite.content.clinic import load_clinic
from microsite.crisis import alerts
from microsite.database import write_connection
from microsite.extensions import db
from microsite.models import CrisisFlag, Lead, Notification, NotificationStatus, utcnow
from microsite.notify.outbox import run_once
from microsite.notify.schedule import schedule_due

CRISIS_MESSAGE = "I have tried everything. I want to end my life."
SHIPPED = load_clinic(DEFAULT_CLINIC_FILE)


def main_text(html: str) -> str:
    return text_of(html.split('<main id="main" tabindex="-1">', 1)[1]).strip()


# -- the words ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "Some nights I just want to end it all.", "I took an OVERDOSE last year", "Me quiero matar.",
    "He pensado en suicidarme", "No quiero seguir viviendo así", "I don't want to live like this",
    "a veces pienso en la sobredosis", "I keep cutting myself", "Quisiera acabar con todo",
])  # fmt: skip
def test_what_a_clinician_would_add_is_flagged_as_whole_words_accents_folded(text):
    assert SHIPPED.suggests_crisis(text)


@pytest.mark.parametrize("text", [
    "I have tried two antidepressants.", "Can I drive after the infusion?", "¿Cuánto cuesta la consulta?",
    "My overdue bill is paid", "Is the endpoint of the trial known?", "Quiero vivir mejor",
])  # fmt: skip
def test_ordinary_messages_are_not_flagged(text):
    assert not SHIPPED.suggests_crisis(text)


# -- a consultation request ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "thanks", "first_words"),
    [
        ("/", "/thanks/support", "If you are thinking about suicide or are in crisis, call or text 988 now."),
        ("/es/", "/es/gracias/apoyo",
         "Si piensa en el suicidio o está en crisis, llame ahora al 988 y marque 2, o envíe AYUDA por "
         "mensaje de texto al 988."),
    ],
)  # fmt: skip
def test_a_request_with_crisis_words_is_urgent_and_thanked_with_the_crisis_lines_first(
    app, client, smtp, page, thanks, first_words
):
    response = submit(client, page, message=CRISIS_MESSAGE)
    assert response.status_code == 303 and response.headers["Location"] == thanks
    with app.app_context():
        lead = db.session.scalars(select(Lead)).one()
        assert lead.urgent and lead.status == "new" and lead.message == CRISIS_MESSAGE
        lead_id = lead.id
        run_once()
    [email] = smtp.messages
    assert email["Subject"].startswith("URGENT: ") and f"#{lead_id}" in email["Subject"]
    body = email.get_body(("plain",)).get_content()
    assert body.startswith("URGENT: what they sent suggests they may be in crisis.")
    assert CRISIS_MESSAGE in body  # sent like any other request

    page_response = client.get(thanks)
    html = page_response.get_data(as_text=True)
    assert main_text(html).startswith(first_words)
    assert "911" in main_text(html)[:400] and 'href="tel:988"' in html
    assert ('href="sms:988?body=AYUDA"' in html) is thanks.startswith("/es/")
    assert '<meta name="robots" content="noindex">' in html
    # Cached like every public page: the same bytes for everyone, no cookie, nothing of the visitor.
    assert page_response.headers["Cache-Control"] == "public, max-age=300"
    assert "Set-Cookie" not in page_response.headers
    again = app.test_client().get(thanks)
    assert again.headers["ETag"] == page_response.headers["ETag"]
    assert "Maria" not in html and "end my life" not in html


def test_an_ordinary_request_is_not_urgent(app, client, smtp):
    assert submit(client).headers["Location"] == "/thanks"
    with app.app_context():
        assert not db.session.scalars(select(Lead)).one().urgent
        run_once()
    [email] = smtp.messages
    assert not email["Subject"].startswith("URGENT")
    assert "call or text 988 now" not in client.get("/thanks").get_data(as_text=True)


def test_the_repeat_of_an_urgent_request_is_thanked_with_the_crisis_lines_too(app, client, smtp):
    assert submit(client, message=CRISIS_MESSAGE).headers["Location"] == "/thanks/support"
    assert submit(client, message=CRISIS_MESSAGE).headers["Location"] == "/thanks/support"
    with app.app_context():
        assert len(db.session.scalars(select(Lead)).all()) == 1


@pytest.mark.both_databases
def test_urgent_suspected_spam_is_held_but_the_office_is_alerted_without_the_message(app, client, smtp):
    """Autofill fills the honeypot for real people too: the request is kept aside, and staff still hear."""
    response = submit(client, location="sarasota", website="https://autofill.example", message=CRISIS_MESSAGE)
    assert response.headers["Location"] == "/thanks/support"  # the same page as anyone's
    with app.app_context():
        lead = db.session.scalars(select(Lead)).one()
        assert lead.status == "spam" and lead.urgent
        lead_id = lead.id
        run_once()
        [held] = db.session.scalars(select(Notification).where(Notification.lead_id == lead_id)).all()
        assert held.status == NotificationStatus.HELD
    [alert] = smtp.messages
    assert alert["Subject"] == f"URGENT: crisis words in consultation request #{lead_id}"
    assert alert["To"] == "sarasota-staff@example.com"
    body = alert.get_body(("plain",)).get_content()
    assert f"/staff/leads/{lead_id}" in body and "suspected spam" in body
    # The headers and both bodies as read (the MIME boundaries are random digits, and may hold "555").
    read = body + alert.get_body(("html",)).get_content() + "".join(f"{k}: {v}\n" for k, v in alert.items())
    for private in ("end my life", "Maria", "555-0123", "5550123", "maria@example.com"):
        assert private not in read


# -- pacing the alerts --------------------------------------------------------------------


def sent_by_office(smtp) -> dict[str, list[str]]:
    offices: dict[str, list[str]] = {}
    for message in smtp.messages:
        offices.setdefault(message["To"], []).append(message["Subject"])
    return offices


@pytest.mark.both_databases
def test_twenty_flagged_questions_in_a_minute_make_one_alert_and_one_digest_per_office(app, client, smtp):
    started = utcnow()
    for n in range(20):  # from the main article: every office is told
        assert ask(client, question=f"Flood {n}: I want to kill myself", email="").status_code == 303
    assert utcnow() - started < timedelta(minutes=1)
    with app.app_context():
        run_once()
        at_once = sent_by_office(smtp)
        assert schedule_due(utcnow()) == []  # the window is still open
        window = timedelta(minutes=app.config["CRISIS_DIGEST_MINUTES"])
        assert len(schedule_due(started + window + timedelta(seconds=30))) == 2
        run_once()
        assert schedule_due(started + window + timedelta(minutes=5)) == []  # made once
        run_once()
    assert at_once == {
        "bradenton-staff@example.com": ["URGENT: crisis words in reader's question #1"],
        "sarasota-staff@example.com": ["URGENT: crisis words in reader's question #1"],
    }
    assert sent_by_office(smtp) == {
        f"{slug}-staff@example.com": [
            "URGENT: crisis words in reader's question #1",
            f"URGENT: 19 more flagged for crisis words – {slug.title()} office",
        ]
        for slug in ("bradenton", "sarasota")
    }
    digest = smtp.messages[-1].get_body(("plain",)).get_content()
    assert re.findall(r"/staff/questions/(\d+)", digest) == [str(n) for n in range(2, 21)]
    assert "kill myself" not in "".join(m.as_string() for m in smtp.messages)


def at(minute: int, day: int = 1) -> datetime:
    """Minutes after 10:00 on a December day, clinic time (New York: UTC-5)."""
    return datetime(2026, 12, day, 15, 0, tzinfo=UTC) + timedelta(minutes=minute)


@pytest.mark.both_databases
def test_windows_reopen_and_the_day_has_a_cap(app):
    app.config["CRISIS_ALERTS_PER_DAY"] = 3

    def flag(now: datetime, question_id: int) -> list[int]:
        with app.app_context(), write_connection() as connection:
            return alerts.flag(connection, ["bradenton"], now, question_id=question_id)

    assert len(flag(at(0), 1)) == 1  # the first: at once
    assert flag(at(5), 2) == [] and flag(at(14), 3) == []  # in its window: the digest
    assert len(flag(at(16), 4)) == 1  # the window is over: at once again (3 emails with the digest)
    assert flag(at(17), 5) == []  # its digest would be the fourth email today
    assert flag(at(40), 6) == []  # and so would an alert
    assert len(flag(at(0, day=2), 7)) == 1  # a new day
    with app.app_context():
        roles = dict(db.session.execute(select(CrisisFlag.question_id, CrisisFlag.role)).all())
        assert roles == {
            1: "alert",
            2: "digest",
            3: "digest",
            4: "alert",
            5: "capped",
            6: "capped",
            7: "alert",
        }
        [digest] = alerts.due(at(30))
        assert digest["once_key"] == f"crisis-digest:{_flag_id(1)}"
        assert alerts.due(at(14)) == []


def _flag_id(question_id: int) -> int:
    return db.session.scalar(select(CrisisFlag.id).where(CrisisFlag.question_id == question_id))
