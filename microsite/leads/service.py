"""Capture: a valid form becomes a lead and its notification, written in one transaction; `urgent` says
whether it is one staff must see at once, and the visitor the crisis lines first."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, func, insert, or_, select

from ..content.clinic import Clinic
from ..content.phq9 import parse as parse_phq9
from ..crisis import alerts
from ..database import write_connection
from ..metrics import count_created
from ..models import (
    Lead,
    LeadStatus,
    Notification,
    NotificationKind,
    NotificationStatus,
    name_key,
    phone_digits,
    utcnow,
)
from .forms import ConsultationForm

log = logging.getLogger(__name__)
LEAD = Lead.__table__
NOTIFICATION = Notification.__table__
# The window in which the same request again (a double click, "back, send again") is the same lead.
REPEAT_WINDOW = timedelta(hours=1)
# Built once: constructing a statement costs more than running it on SQLite.
# Suspected spam does not count: a bot posting someone's phone number must not lock them out.
RECENT_FOR_CONTACT = (
    select(func.count())
    .select_from(LEAD)
    .where(
        or_(LEAD.c.phone == bindparam("phone"), LEAD.c.email == bindparam("email")),
        LEAD.c.created_at >= bindparam("since"),
        LEAD.c.status != LeadStatus.SPAM,
    )
)
SAME_REQUEST = (
    select(LEAD.c.id)
    .where(LEAD.c.fingerprint == bindparam("fingerprint"), LEAD.c.created_at >= bindparam("since"))
    .order_by(LEAD.c.id)
    .limit(1)
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
    webhook_ids: tuple[int, ...] = ()  # one per WEBHOOK_URLS endpoint; none for spam or a repeat
    urgent: bool = False  # the visitor is shown the crisis lines first (`urgent`)
    alert_ids: tuple[int, ...] = ()  # the office's crisis alert, for urgent suspected spam

    @property
    def to_send(self) -> list[int]:
        """The notifications to hand to this process's sender after the commit."""
        first = [] if self.notification_id is None else [self.notification_id]
        return first + list(self.webhook_ids) + list(self.alert_ids)


def urgent(lead: dict, clinic: Clinic) -> bool:
    """Whether what the visitor sent suggests they may be in crisis: their message has crisis words, or
    the PHQ-9 self-check they sent with it has item 9 (thoughts of being better off dead or of self-harm)
    above 0, which calls for a crisis response whatever the total (content/phq9.py).

    The one place that decides it, from the lead's values as they are stored: an urgent lead's staff
    email says URGENT first, the visitor's thank-you page begins with the crisis lines (988, 911), and
    one that also looks like spam still raises the office's crisis alert (crisis/alerts.py).
    """
    self_check = parse_phq9(lead.get("phq9_items"))
    return clinic.suggests_crisis(lead["message"] or "") or bool(self_check and self_check.crisis)


def _one_at_a_time(connection, fingerprint: str) -> None:
    """Serialise captures of the same request, so two clicks at once store one lead.

    SQLite's BEGIN IMMEDIATE already lets one writer in at a time; on PostgreSQL a transaction-scoped
    advisory lock on the fingerprint does it, without holding up anybody else's request.
    """
    if connection.dialect.name == "postgresql":
        key = int.from_bytes(bytes.fromhex(fingerprint[:16]), "big", signed=True)
        connection.execute(select(func.pg_advisory_xact_lock(key)))


def capture(form: ConsultationForm, clinic: Clinic, attribution: dict[str, str | None]) -> Captured:
    """Store the lead with its pending notification; the same request within the hour is the first lead."""
    fingerprint = form.fingerprint()
    spam_reason = form.spam_reason()
    now = utcnow()
    phq9 = form.phq9_answers()
    limit = current_app.config["LEADS_PER_CONTACT_PER_HOUR"]
    # Everything is built before the transaction, which holds SQLite's one write lock: inside, a few
    # prepared Core statements and the commit (no ORM session, no unit of work, no reload).
    lead_values = {
        "fingerprint": fingerprint,
        "language": form.language_code(),
        "status": LeadStatus.SPAM if spam_reason else LeadStatus.NEW,
        "spam_reason": spam_reason,
        "full_name": form.full_name.data,
        "phone": form.phone_e164,
        "phone_digits": phone_digits(form.phone_e164),  # what the inbox's search finds
        "name_key": name_key(form.full_name.data),
        "email": form.email_normalized,
        "location": form.location.data,
        "contact_method": form.contact_method.data,
        "best_time": form.best_time.data or None,
        "message": form.cleaned_message(),
        "consent_text": clinic.consent_text_in(form.language_code()),
        "consent_version": clinic.consent_version,
        "consent_at": now,
        "created_at": now,
        **attribution,
        "phq9_items": phq9.code[:9] if phq9 else None,
        "phq9_total": phq9.total if phq9 else None,
        "phq9_band": phq9.band if phq9 else None,
        "phq9_difficulty": phq9.difficulty if phq9 else None,
    }
    lead_values["urgent"] = urgent(lead_values, clinic)
    notification_values = {
        "status": NotificationStatus.HELD if spam_reason else NotificationStatus.PENDING,
        "next_attempt_at": now,
        "created_at": now,
    }
    since = now - REPEAT_WINDOW
    contact = {"phone": form.phone_e164, "email": form.email_normalized, "since": since}
    with write_connection() as connection:
        _one_at_a_time(connection, fingerprint)
        repeated = connection.scalar(SAME_REQUEST, {"fingerprint": fingerprint, "since": since})
        if repeated is not None:
            log.info("lead %s: repeated request ignored", repeated)
            return Captured(repeated, None, created=False, urgent=lead_values["urgent"])
        if connection.execute(RECENT_FOR_CONTACT, contact).scalar_one() >= limit:
            raise TooManyForContact
        lead_id = connection.execute(INSERT_LEAD, lead_values).scalar_one()
        notification_id = connection.execute(
            INSERT_NOTIFICATION, {"lead_id": lead_id, **notification_values}
        ).scalar_one()
        # Held like the email for suspected spam: released with it if staff say it is not spam.
        webhook_ids = tuple(
            connection.execute(
                INSERT_NOTIFICATION,
                {"lead_id": lead_id, "kind": NotificationKind.WEBHOOK, "target": url, **notification_values},
            ).scalar_one()
            for url in current_app.config["WEBHOOK_URLS"]
        )
        # Its own staff email, held with it, would tell nobody: browser autofill trips the honeypot, and
        # a person in crisis nobody was told of costs more than a bot's flag, which the alerts' pace absorbs.
        alert_ids = ()
        if spam_reason and lead_values["urgent"]:
            alert_ids = tuple(alerts.flag(connection, [form.location.data], now, lead_id=lead_id))

    urgent_note = ", URGENT" if lead_values["urgent"] else ""
    count_created("lead")
    if spam_reason:
        log.info("lead %s: kept as suspected spam (%s)%s", lead_id, spam_reason, urgent_note)
        return Captured(lead_id, None, created=True, urgent=lead_values["urgent"], alert_ids=alert_ids)
    log.info(
        "lead %s: stored%s, notification(s) %s pending",
        lead_id, urgent_note, ", ".join(map(str, (notification_id, *webhook_ids))),
    )  # fmt: skip
    return Captured(
        lead_id, notification_id, created=True, webhook_ids=webhook_ids, urgent=lead_values["urgent"]
    )
