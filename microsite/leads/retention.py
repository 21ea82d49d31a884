"""Keeping leads, and the page-view counters, only as long as the privacy notice says."""

from __future__ import annotations

import calendar
import logging
import re
from datetime import date, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import delete, or_, select, update

from ..database import writing
from ..models import (
    CrisisFlag,
    DeliveryAttempt,
    Lead,
    LeadStatus,
    Notification,
    PageViewCount,
    Question,
    QuestionStatus,
    utcnow,
)

log = logging.getLogger(__name__)


BATCH = 500  # leads per write transaction: each holds SQLite's write lock only briefly
# The .eml copies written when no mail server is set (notify/outbox.py names them, notify/transport.py
# writes them): `<time>-lead-<lead id>-notification-<notification id>.eml`.
EML_NAME = re.compile(r"-lead-(\d+)-notification-\d+\.eml$")


def purge_leads(days: int, spam_days: int) -> int:
    """Delete leads older than `days`, and suspected spam older than `spam_days`, with their .eml files;
    returns how many leads.

    In batches, each its own short write transaction, so a purge of any size never holds up a
    visitor's request for long, nor runs into the database's limit on a statement's parameters.
    """
    now = utcnow()
    old = or_(
        Lead.created_at < now - timedelta(days=days),
        (Lead.status == LeadStatus.SPAM) & (Lead.created_at < now - timedelta(days=spam_days)),
    )
    deleted = files = 0
    last = 0  # each batch goes on from the last id deleted, rather than reading the kept rows again
    while True:
        with writing() as session:
            ids = list(
                session.scalars(select(Lead.id).where(old, Lead.id > last).order_by(Lead.id).limit(BATCH))
            )
            if ids:
                # Attempts, then notifications (emails and webhooks): SQLite only cascades with foreign
                # keys on, so don't rely on it.
                of_leads = select(Notification.id).where(Notification.lead_id.in_(ids))
                session.execute(delete(DeliveryAttempt).where(DeliveryAttempt.notification_id.in_(of_leads)))
                session.execute(delete(Notification).where(Notification.lead_id.in_(ids)))
                session.execute(delete(Lead).where(Lead.id.in_(ids)))
        deleted += len(ids)
        last = ids[-1] if ids else last
        files += delete_mail_files(set(ids))
        if len(ids) < BATCH:
            break
    log.info("purge: deleted %s lead(s) and %s mail file(s)", deleted, files)
    return deleted


# A question's email to its reader (questions/service.py): `<time>-answer-<id>-notification-<n>.eml`.
ANSWER_EML_NAME = re.compile(r"-answer-(\d+)-notification-\d+\.eml$")
# The crisis alerts and digests (crisis/alerts.py), by the flag in their key: `-crisis-alert-<id>-`.
CRISIS_EML_NAME = re.compile(r"-crisis-(?:alert|digest)-(\d+)-notification-\d+\.eml$")
# Crisis flags pace the alerts of a day and name what a digest lists; a week covers every retry.
CRISIS_FLAG_DAYS = 7


def purge_questions(days: int, spam_days: int) -> tuple[int, int]:
    """Past `days` (suspected spam: `spam_days`): delete the questions never published, with their
    emails, and the reader's name and email from the published ones; returns (deleted, anonymised).

    A published question stays while it is published: it holds no personal data by then (staff edited
    its text; the name and address are gone once the answer email was sent, or now).
    """
    now = utcnow()
    old = Question.created_at < now - timedelta(days=days)
    expired = (Question.status != QuestionStatus.PUBLISHED) & or_(
        old, Question.spam_reason.is_not(None) & (Question.created_at < now - timedelta(days=spam_days))
    )
    deleted = 0
    while True:
        with writing() as session:
            ids = list(session.scalars(select(Question.id).where(expired).order_by(Question.id).limit(BATCH)))
            if ids:
                keys = [f"answer:{i}" for i in ids]
                of_questions = select(Notification.id).where(Notification.once_key.in_(keys))
                session.execute(
                    delete(DeliveryAttempt).where(DeliveryAttempt.notification_id.in_(of_questions))
                )
                session.execute(delete(Notification).where(Notification.once_key.in_(keys)))
                session.execute(delete(Question).where(Question.id.in_(ids)))
        deleted += len(ids)
        delete_mail_files(set(ids), ANSWER_EML_NAME)
        if len(ids) < BATCH:
            break
    with writing() as session:
        kept = or_(Question.name.is_not(None), Question.email.is_not(None))
        ids = set(session.scalars(select(Question.id).where(old, kept)))
        if ids:
            session.execute(update(Question).where(Question.id.in_(ids)).values(name=None, email=None))
        anonymised = len(ids)
    # The answer email's .eml copy, if one was left (the reader's address and name are in it).
    delete_mail_files(ids, ANSWER_EML_NAME)
    log.info("purge: deleted %s question(s), removed the reader's details from %s", deleted, anonymised)
    return deleted, anonymised


def purge_crisis_flags() -> int:
    """Delete the crisis flags older than CRISIS_FLAG_DAYS with their alerts and digests (which hold
    numbers and links only) and those emails' .eml copies; returns how many flags."""
    old = CrisisFlag.created_at < utcnow() - timedelta(days=CRISIS_FLAG_DAYS)
    with writing() as session:
        keys = select(CrisisFlag.alert_key).where(old, CrisisFlag.alert_key.is_not(None))
        emails = select(Notification.id).where(Notification.once_key.in_(keys))
        ids = set(session.scalars(select(CrisisFlag.id).where(old)))
        session.execute(delete(DeliveryAttempt).where(DeliveryAttempt.notification_id.in_(emails)))
        session.execute(delete(Notification).where(Notification.once_key.in_(keys)))
        session.execute(delete(CrisisFlag).where(old))
    delete_mail_files(ids, CRISIS_EML_NAME)
    log.info("purge: deleted %s crisis flag(s)", len(ids))
    return len(ids)


def delete_mail_files(lead_ids: set[int], pattern: re.Pattern = EML_NAME) -> int:
    """Delete the .eml files of these (deleted) leads' emails (or questions', with their `pattern`): a
    copy must not outlive the lead."""
    folder = Path(current_app.config["MAIL_FILE_DIR"])
    if not lead_ids or not folder.is_dir():
        return 0
    removed = 0
    for path in folder.glob("*.eml"):
        match = pattern.search(path.name)
        if match and int(match.group(1)) in lead_ids:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def months_before(day: date, months: int) -> date:
    """The same day `months` months earlier (the month's last day when that month is shorter)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def purge_counts(months: int, today: date) -> int:
    """Delete the daily page-view counters of days more than `months` months before `today`; returns
    how many rows. In batches, like the leads, so the write lock is held briefly each time."""
    oldest_kept = months_before(today, months)
    deleted = 0
    while True:
        with writing() as session:
            ids = list(
                session.scalars(select(PageViewCount.id).where(PageViewCount.day < oldest_kept).limit(BATCH))
            )
            if ids:
                session.execute(delete(PageViewCount).where(PageViewCount.id.in_(ids)))
        deleted += len(ids)
        if len(ids) < BATCH:
            break
    log.info("purge: deleted %s page-view counter(s) from before %s", deleted, oldest_kept)
    return deleted
