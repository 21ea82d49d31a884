"""Capture: a valid form becomes a lead and its notification, written in one transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from ..content import Clinic
from ..extensions import db
from ..models import Lead, LeadStatus, Notification, NotificationStatus, utcnow
from .forms import ConsultationForm

log = logging.getLogger(__name__)


class TooManyForContact(Exception):
    """This phone number or email already sent LEADS_PER_CONTACT_PER_HOUR requests in the last hour."""


@dataclass(frozen=True)
class Captured:
    lead_id: int
    notification_id: int | None  # None when nothing is to be sent now (spam, or a repeat)
    created: bool


def capture(form: ConsultationForm, clinic: Clinic) -> Captured:
    """Store the lead with its pending notification; a repeated submission key returns the first lead."""
    key = form.cleaned_submission_key()
    spam_reason = form.spam_reason()
    now = utcnow()
    limit = current_app.config["LEADS_PER_CONTACT_PER_HOUR"]
    recent = db.session.scalar(
        select(func.count())
        .select_from(Lead)
        .where(
            or_(Lead.phone == form.phone_e164, Lead.email == form.email_normalized),
            Lead.created_at >= now - timedelta(hours=1),
        )
    )
    if recent >= limit:
        repeated = db.session.scalar(select(Lead.id).where(Lead.submission_key == key))
        db.session.rollback()
        if repeated is not None:
            return Captured(repeated, None, created=False)
        raise TooManyForContact
    lead = Lead(
        submission_key=key,
        status=LeadStatus.SPAM if spam_reason else LeadStatus.NEW,
        spam_reason=spam_reason,
        full_name=form.full_name.data,
        phone=form.phone_e164,
        email=form.email_normalized,
        location=form.location.data,
        contact_method=form.contact_method.data,
        best_time=form.best_time.data or None,
        message=form.cleaned_message(),
        consent_text=clinic.consent_text,
        consent_version=clinic.consent_version,
        consent_at=now,
        created_at=now,
        **form.attribution(),
    )
    notification = Notification(
        status=NotificationStatus.HELD if spam_reason else NotificationStatus.PENDING,
        next_attempt_at=now,
        created_at=now,
    )
    lead.notifications.append(notification)
    db.session.add(lead)
    try:
        # The ids come back from the INSERTs; read them before the commit expires the objects,
        # so that nothing is loaded again (and no second transaction begins) after it.
        db.session.flush()
        lead_id, notification_id = lead.id, notification.id
        db.session.commit()
    except IntegrityError:
        # The same form sent twice (a double click, a resend after "back"): the first one stands.
        db.session.rollback()
        lead_id = db.session.scalar(select(Lead.id).where(Lead.submission_key == key))
        db.session.commit()
        if lead_id is None:
            raise
        log.info("lead %s: repeated submission ignored", lead_id)
        return Captured(lead_id, None, created=False)

    if spam_reason:
        log.info("lead %s: kept as suspected spam (%s)", lead_id, spam_reason)
        return Captured(lead_id, None, created=True)
    log.info("lead %s: stored, notification %s pending", lead_id, notification_id)
    return Captured(lead_id, notification_id, created=True)
