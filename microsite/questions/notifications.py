"""What the outbox sends about a reader's question (registered in questions.init_app): the reader's one email
when the answer is published ("answer:<id>"), after which the reader's address is forgotten. A question with
crisis words is told to the office by the crisis alerts (crisis/alerts.py)."""

from __future__ import annotations

from flask import current_app, url_for
from flask_babel import force_locale, gettext
from flask_mail import Message

from ..content import current_clinic
from ..extensions import db
from ..models import Notification, Question
from ..notify.email import clinic_message
from ..notify.kinds import Sent
from ..notify.outbox import delete_file_copies
from ..notify.transport import PermanentError
from .service import forget_reader


def _question_id(once_key: str) -> int:
    return int(once_key.split(":")[1])


def _question(notification: Notification) -> Question:
    """The question an "answer:<id>" notification is about."""
    question = db.session.get(Question, _question_id(notification.once_key))
    if question is None:
        raise PermanentError("the question was deleted before its email went out")
    return question


def answer_url(question: Question) -> str:
    """Where the reader finds the answer: the page they asked on, in their language, at the question."""
    with current_app.test_request_context(base_url=current_app.config["SITE_URL"]):
        if question.office and current_clinic().office(question.office):
            path = url_for("pages.location", slug=question.office, lang=question.language)
        else:
            path = url_for("pages.index", lang=question.language)
    return f"{current_app.config['SITE_URL']}{path}#question-{question.id}"


def build_answer_message(notification: Notification) -> Message:
    """The one email to a reader who left an address: their question is answered, with a link to it."""
    question = _question(notification)
    if not question.email:
        raise PermanentError("the reader's address is no longer kept")
    with force_locale(question.language):
        context = {
            "lang": question.language,
            "name": question.name,
            "clinic_name": current_clinic().name,
            "answer_url": answer_url(question),
            "question_text": question.public_text,
            "answer": question.answer,
            "reviewer": question.reviewer,
        }
        subject = gettext("Your question was answered")
        return clinic_message(notification, subject, [question.email], "question_answered", context, {})


def forget_reader_once_answered(sent: Sent) -> None:
    """The address served its one purpose: deleted once the answer email is out, and with it the email's
    .eml copy, when there is no mail server (it holds the address, the name and the question)."""
    forget_reader(_question_id(sent.once_key))
    delete_file_copies([sent.id])
