"""Keeping leads only as long as the privacy notice says."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete, or_, select

from ..extensions import db
from ..models import Lead, LeadStatus, Notification, utcnow

log = logging.getLogger(__name__)


def purge_leads(days: int, spam_days: int) -> int:
    """Delete leads older than `days`, and suspected spam older than `spam_days`; returns how many."""
    now = utcnow()
    old = or_(
        Lead.created_at < now - timedelta(days=days),
        (Lead.status == LeadStatus.SPAM) & (Lead.created_at < now - timedelta(days=spam_days)),
    )
    ids = list(db.session.scalars(select(Lead.id).where(old)))
    if ids:
        # Notifications first: SQLite only cascades with foreign keys on, so don't rely on it.
        db.session.execute(delete(Notification).where(Notification.lead_id.in_(ids)))
        db.session.execute(delete(Lead).where(Lead.id.in_(ids)))
    db.session.commit()
    log.info("purge: deleted %s lead(s)", len(ids))
    return len(ids)
