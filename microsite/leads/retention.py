"""Keeping leads, and the page-view counters, only as long as the privacy notice says."""

from __future__ import annotations

import calendar
import logging
import re
from datetime import date, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import delete, or_, select

from ..database import writing
from ..models import DeliveryAttempt, Lead, LeadStatus, Notification, PageViewCount, utcnow

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


def delete_mail_files(lead_ids: set[int]) -> int:
    """Delete the .eml files of these (deleted) leads' emails: a copy must not outlive the lead."""
    folder = Path(current_app.config["MAIL_FILE_DIR"])
    if not lead_ids or not folder.is_dir():
        return 0
    removed = 0
    for path in folder.glob("*.eml"):
        match = EML_NAME.search(path.name)
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
