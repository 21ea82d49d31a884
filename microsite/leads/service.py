"""Capture: a valid form becomes a lead and its notification, written in one transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, func, insert, or_, select
from sqlalchemy.exc import IntegrityError

from ..content import Clinic
from ..database import READ_ONLY
from ..extensions import db
from ..models import Lead, LeadStatus, Notification, NotificationStatus, utcnow
from .forms import ConsultationForm

log = logging.getLogger(__name__)
LEAD = Lead.__table__
NOTIFICATION = Notification.__table__
# Built once: constructing a statement costs more than running it on SQLite.
RECENT_FOR_CONTACT = (
    select(func.count())
    .select_from(LEAD)
    .where(
        or_(LEAD.c.phone == bindparam("phone"), LEAD.c.email == bindparam("email")),
        LEAD.c.created_at >= bindparam("since"),
    )
)
INSERT_LEAD = insert(LEAD).returning(LEAD.c.id)
INSERT_NOTIFICATION = insert(NOTIFICATION).returning(NOTIFICATION.c.id)


class TooManyForContact(Exception):
    """This phone number or email already sent LEADS_PER_CONTACT_PER_HOUR requests in the last hour."""


@dataclass(frozen=True)
class Captured:
    lead_id: int
    notification_id: int | None  # None when nothing is to be sent now (spam, or a repeat)
    created: bool


LEAD_WITH_KEY = select(LEAD.c.id).where(LEAD.c.submission_key == bindparam("key"))


def _lead_with_key(key: str) -> int | None:
    """The lead an earlier send of the same form stored, if any."""
    with db.engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        return connection.scalar(LEAD_WITH_KEY, {"key": key})


def capture(form: ConsultationForm, clinic: Clinic) -> Captured:
    """Store the lead with its pending notification; a repeated submission key returns the first lead."""
    key = form.cleaned_submission_key()
    spam_reason = form.spam_reason()
    now = utcnow()
    limit = current_app.config["LEADS_PER_CONTACT_PER_HOUR"]
    # Everything is built before the transaction: on SQLite it holds the one write lock, so what
    # happens inside is three prepared Core statements and the commit, on the engine's own
    # connection (no ORM session, no unit of work, no reload).
    lead_values = {
        "submission_key": key,
        "status": LeadStatus.SPAM if spam_reason else LeadStatus.NEW,
        "spam_reason": spam_reason,
        "full_name": form.full_name.data,
        "phone": form.phone_e164,
        "email": form.email_normalized,
        "location": form.location.data,
        "contact_method": form.contact_method.data,
        "best_time": form.best_time.data or None,
        "message": form.cleaned_message(),
        "consent_text": clinic.consent_text,
        "consent_version": clinic.consent_version,
        "consent_at": now,
        "created_at": now,
        **form.attribution(),
    }
    notification_values = {
        "status": NotificationStatus.HELD if spam_reason else NotificationStatus.PENDING,
        "next_attempt_at": now,
        "created_at": now,
    }
    contact = {"phone": form.phone_e164, "email": form.email_normalized, "since": now - timedelta(hours=1)}
    try:
        with db.engine.begin() as connection:
            if connection.execute(RECENT_FOR_CONTACT, contact).scalar_one() >= limit:
                repeated = connection.scalar(LEAD_WITH_KEY, {"key": key})
                if repeated is None:
                    raise TooManyForContact
                return Captured(repeated, None, created=False)
            lead_id = connection.execute(INSERT_LEAD, lead_values).scalar_one()
            notification_id = connection.execute(
                INSERT_NOTIFICATION, {"lead_id": lead_id, **notification_values}
            ).scalar_one()
    except IntegrityError:
        # The same form sent twice (a double click, a resend after "back"): the first one stands.
        lead_id = _lead_with_key(key)
        if lead_id is None:
            raise
        log.info("lead %s: repeated submission ignored", lead_id)
        return Captured(lead_id, None, created=False)

    if spam_reason:
        log.info("lead %s: kept as suspected spam (%s)", lead_id, spam_reason)
        return Captured(lead_id, None, created=True)
    log.info("lead %s: stored, notification %s pending", lead_id, notification_id)
    return Captured(lead_id, notification_id, created=True)
