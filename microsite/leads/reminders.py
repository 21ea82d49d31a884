"""Speed to lead: a request still new after REMIND_AFTER_MINUTES of its office's hours is emailed about
again to its office (a reminder), after ESCALATE_AFTER_MINUTES to the clinic file's `manager`.

The outbox's sweeps ask `due(now)` (registered in leads.init_app), so no cron or timer is needed. Each
reminder has a once-only key ("reminder:12", "escalation:12"): however many instances and workers sweep
at once, each is made once, then claimed, retried and never lost like any notification.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_mail import Message
from sqlalchemy import exists, or_, select

from ..clinictime import schedule_for
from ..content import current_clinic
from ..extensions import db
from ..models import Lead, LeadStatus, Notification, NotificationKind
from ..notify.email import clinic_message, staff_recipients
from ..officehours import Schedule, format_minutes

N = Notification
# A request still new after this long was missed long ago: the inbox shows it as overdue and the weekly
# summary counts it, but a reminder now would only add noise.
LOOKBACK = timedelta(days=14)


def due(now: datetime) -> list[dict]:
    """Reminders and escalations due by `now` for requests still new, and not yet made."""
    remind = current_app.config["REMIND_AFTER_MINUTES"]
    escalate = current_app.config["ESCALATE_AFTER_MINUTES"] if current_clinic().manager else 0
    if remind <= 0 and escalate <= 0:
        return []

    def made(kind: str):
        return exists().where(N.lead_id == Lead.id, N.kind == kind)

    reminded, escalated = made(NotificationKind.REMINDER), made(NotificationKind.ESCALATION)
    # Only requests with something left to send that may be due: N minutes of office hours take at
    # least N minutes. A sweep runs every few seconds in every process; it must stay a small read.
    may_be_due = [
        ~already & (Lead.created_at <= now - timedelta(minutes=minutes))
        for already, minutes in ((reminded, remind), (escalated, escalate))
        if minutes > 0
    ]
    rows = db.session.execute(
        select(Lead.id, Lead.location, Lead.created_at, reminded, escalated).where(
            Lead.status == LeadStatus.NEW,  # suspected spam is never reminded about
            Lead.first_contact_at.is_(None),
            Lead.created_at >= now - LOOKBACK,
            or_(*may_be_due),
        )
    ).all()
    found = []
    for lead_id, location, created_at, was_reminded, was_escalated in rows:
        schedule = schedule_for(location)
        if schedule is None:
            continue
        for kind, minutes, made_already in (
            (NotificationKind.REMINDER, remind, was_reminded),
            (NotificationKind.ESCALATION, escalate, was_escalated),
        ):
            if minutes > 0 and not made_already and _due_at(schedule, created_at, minutes) <= now:
                found.append({"kind": kind, "once_key": f"{kind}:{lead_id}", "lead_id": lead_id})
    return found


def _due_at(schedule: Schedule, created_at: datetime, minutes: int) -> datetime:
    """When `minutes` of office hours after `created_at` have passed; never, for an office never open."""
    try:
        return schedule.add(created_at, minutes)
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)


def build_message(notification: Notification) -> Message:
    """A request still new: to its office's staff (reminder) or the clinic's manager (escalation).

    Only the request's number, its office and a link, in both LEAD_EMAIL_DETAIL modes: less than even
    the minimal staff email (no first name), as a reminder adds nothing staff need to act on.
    """
    clinic = current_clinic()
    lead = notification.lead
    office = clinic.office(lead.location)
    city = office.city if office else lead.location
    escalation = notification.kind == NotificationKind.ESCALATION
    remind = current_app.config["REMIND_AFTER_MINUTES"]
    after = current_app.config["ESCALATE_AFTER_MINUTES"] if escalation else remind
    if escalation:
        subject = f"Not contacted yet: request #{lead.id} – {city} office"
        recipients = list(clinic.manager)
    else:
        subject = f"Reminder: request #{lead.id} – {city} office is still new"
        recipients = staff_recipients(lead.location)
    context = {
        "escalation": escalation,
        "lead_id": lead.id,
        "city": city,
        "after": format_minutes(after),
        "reminded_after": format_minutes(remind) if remind > 0 else None,
        "lead_url": f"{current_app.config['SITE_URL']}/staff/leads/{lead.id}",
    }
    return clinic_message(notification, subject, recipients, "reminder", context, {"X-Lead-Id": str(lead.id)})
