"""Keeping leads only as long as the privacy notice says."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete, or_, select

from ..database import writing
from ..models import Lead, LeadStatus, Notification, utcnow

log = logging.getLogger(__name__)


BATCH = 500  # leads per write transaction: each holds SQLite's write lock only briefly


def purge_leads(days: int, spam_days: int) -> int:
    """Delete leads older than `days`, and suspected spam older than `spam_days`; returns how many.

    In batches, each its own short write transaction, so a purge of any size never holds up a
    visitor's request for long, nor runs into the database's limit on a statement's parameters.
    """
    now = utcnow()
    old = or_(
        Lead.created_at < now - timedelta(days=days),
        (Lead.status == LeadStatus.SPAM) & (Lead.created_at < now - timedelta(days=spam_days)),
    )
    deleted = 0
    while True:
        with writing() as session:
            ids = list(session.scalars(select(Lead.id).where(old).order_by(Lead.id).limit(BATCH)))
            if ids:
                # Notifications first: SQLite only cascades with foreign keys on, so don't rely on it.
                session.execute(delete(Notification).where(Notification.lead_id.in_(ids)))
                session.execute(delete(Lead).where(Lead.id.in_(ids)))
        deleted += len(ids)
        if len(ids) < BATCH:
            break
    log.info("purge: deleted %s lead(s)", deleted)
    return deleted
