"""Readers' questions: stored with their crisis flag in one transaction; edited, answered, published,
unpublished or rejected by staff, each step with its audit entry; the published ones for the pages.

What the public pages show changes only here: each publish or unpublish bumps the "questions" row of
`ContentVersion` in its own transaction, and every process's page cache (pages/cache.py) renders its
pages again once it reads the new number.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask_babel import force_locale
from sqlalchemy import func, insert, select, update

from .. import audit
from ..content.clinic import Clinic
from ..crisis import alerts
from ..database import writing
from ..extensions import db
from ..metrics import count_created
from ..models import (
    ContentVersion,
    Notification,
    NotificationKind,
    NotificationStatus,
    Question,
    QuestionStatus,
    utcnow,
)
from ..notify.outbox import delete_file_copies
from ..notify.schedule import insert_once
from .forms import CONSENT, QuestionForm

log = logging.getLogger(__name__)
VERSION = "questions"  # the ContentVersion row the public pages' cache watches
PUBLIC_LIMIT = 20  # the newest published questions a page shows


@dataclass(frozen=True)
class Asked:
    question_id: int
    to_send: tuple[int, ...]  # crisis alerts, handed to this process's sender after the commit


def capture(form: QuestionForm, clinic: Clinic) -> Asked:
    """Store the question; with crisis words, its crisis flag for the office too, in the same transaction."""
    spam_reason = form.spam_reason()
    language = form.language_code()
    crisis = clinic.suggests_crisis(form.question.data)
    now = utcnow()
    with writing() as session:
        question = Question(
            created_at=now,
            status=QuestionStatus.NEW,
            language=language,
            office=form.office.data or None,
            text=form.question.data,
            name=form.asker.data or None,
            email=form.email_normalized,
            consent_text=consent_text(language),
            crisis=crisis,
            spam_reason=spam_reason,
        )
        session.add(question)
        session.flush()
        to_send: tuple[int, ...] = ()
        if crisis:
            # Flagged even for suspected spam: browser autofill trips the honeypot, and a person in
            # crisis nobody was told of costs more than a bot's flag, which the alerts' pace absorbs.
            # The office of the page it was asked on; every office for the main article.
            offices = [question.office] if question.office else [o.slug for o in clinic.offices]
            to_send = tuple(alerts.flag(session.connection(), offices, now, question_id=question.id))
        question_id = question.id
    count_created("question")
    if spam_reason:
        log.info("question %s: kept as suspected spam (%s)", question_id, spam_reason)
    log.info("question %s: stored%s", question_id, ", crisis words: office(s) flagged" if crisis else "")
    return Asked(question_id, to_send)


def consent_text(language: str) -> str:
    """The consent line the reader ticked, stored with the question."""
    with force_locale(language):
        return str(CONSENT)


# -- the public pages ---------------------------------------------------------------------


def published(language: str) -> list:
    """The published questions asked in `language`, newest first: the only ones any page shows.

    Plain rows, read on a connection of their own: rendering a public page leaves no transaction open
    on the request's session (on SQLite an open read would keep seeing the database as it was).
    """
    statement = (
        select(
            Question.id,
            func.coalesce(Question.edited_text, Question.text).label("public_text"),
            Question.answer,
            Question.reviewer,
            Question.published_at,
        )
        .where(Question.status == QuestionStatus.PUBLISHED, Question.language == language)
        .order_by(Question.published_at.desc(), Question.id.desc())
        .limit(PUBLIC_LIMIT)
    )
    with db.engine.connect() as connection:
        return list(connection.execute(statement))


def bump_version(session) -> None:
    """Tell every process's page cache that the published questions changed (in the caller's transaction)."""
    row = ContentVersion.__table__
    changed = session.execute(update(row).where(row.c.name == VERSION).values(version=row.c.version + 1))
    if changed.rowcount == 0:  # a database made by create_all (the tests) rather than the migration
        session.execute(insert(row).values(name=VERSION, version=1))


def read_version(connection) -> int:
    """The "questions" version, on a plain connection: the page cache reads it outside any request."""
    row = ContentVersion.__table__
    return connection.scalar(select(row.c.version).where(row.c.name == VERSION)) or 0


# -- staff --------------------------------------------------------------------------------


def queue(status: str | None) -> list[Question]:
    """The staff queue: crisis first, then newest first; one status, or all but the rejected."""
    statement = select(Question).order_by(
        Question.crisis.desc(), Question.created_at.desc(), Question.id.desc()
    )
    if status:
        statement = statement.where(Question.status == status)
    else:
        statement = statement.where(Question.status != QuestionStatus.REJECTED)
    return list(db.session.scalars(statement.limit(500)))


def save(question_id: int, edited_text: str | None, answer: str | None, reviewer: str | None,
         name: str | None) -> Question:  # fmt: skip
    """Keep staff's edit, answer, reviewer and the name the answer email greets the reader by (None: a
    plain greeting); a question with an answer is "answered" until published."""
    with writing() as session:
        question = session.get(Question, question_id)
        question.edited_text, question.answer, question.reviewer = edited_text, answer, reviewer
        question.name = name
        question.updated_at = utcnow()
        if question.status == QuestionStatus.NEW and answer:
            question.status = QuestionStatus.ANSWERED
        if question.status == QuestionStatus.PUBLISHED:
            bump_version(session)  # an edit of a published answer shows at once too
        audit.record("question.edit", detail=f"question {question_id}")
    return question


def publish(question_id: int) -> list[int]:
    """Show the question and its answer on the pages of its language; returns the reader's email to hand off.

    The reader's email (if they left an address) is put in the outbox once ever ("answer:<id>"): a
    question unpublished and published again is not announced twice.
    """
    with writing() as session:
        question = session.get(Question, question_id)
        if not (question.answer and question.reviewer):
            raise ValueError("a question is published with its answer and its reviewer")
        question.status = QuestionStatus.PUBLISHED
        question.published_at = question.published_at or utcnow()
        question.updated_at = utcnow()
        bump_version(session)
        to_send = []
        if question.email:
            answer_email = {"kind": NotificationKind.ANSWER, "once_key": f"answer:{question_id}"}
            to_send = [i for i, _ in insert_once([answer_email])]
        audit.record("question.publish", detail=f"question {question_id}")
    log.info("question %s: published", question_id)
    return to_send


def unpublish(question_id: int) -> None:
    """Take it off the pages; it stays answered, to be published again or rejected."""
    with writing() as session:
        question = session.get(Question, question_id)
        if question.status == QuestionStatus.PUBLISHED:
            question.status = QuestionStatus.ANSWERED
            question.published_at = None
            question.updated_at = utcnow()
            bump_version(session)
        audit.record("question.unpublish", detail=f"question {question_id}")
    log.info("question %s: unpublished", question_id)


def reject(question_id: int) -> None:
    """Never to be published: the reader's name and email are deleted now, as nothing will be sent."""
    with writing() as session:
        question = session.get(Question, question_id)
        if question.status == QuestionStatus.PUBLISHED:
            bump_version(session)
        question.status = QuestionStatus.REJECTED
        question.published_at = None
        question.name = question.email = None
        question.updated_at = utcnow()
        # An answer email not yet sent goes nowhere now.
        session.execute(
            update(Notification)
            .where(
                Notification.once_key == f"answer:{question_id}",
                Notification.status == NotificationStatus.PENDING,
            )
            .values(status=NotificationStatus.FAILED, last_error="question rejected before sending")
        )
        audit.record("question.reject", detail=f"question {question_id}")
        answer_emails = list(session.scalars(select(Notification.id).where(
            Notification.once_key == f"answer:{question_id}")))  # fmt: skip
    delete_file_copies(answer_emails)  # an .eml copy, if one was left, holds the address too
    log.info("question %s: rejected", question_id)


def forget_reader(question_id: int) -> None:
    """After the answer email went out: the reader's name and address are no longer needed."""
    with writing() as session:
        session.execute(update(Question).where(Question.id == question_id).values(name=None, email=None))
    log.info("question %s: reader's address deleted after the answer email", question_id)
