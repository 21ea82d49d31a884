"""How the outbox is doing, read from the database: notifications by state, the oldest one waiting; and
the manager's alert when one fails for good or the oldest waits longer than OUTBOX_ALERT_MINUTES.

The alert is a notification like any other (kind "alert", once per incident by its once-only key), so
it is stored, retried and never lost, and it is claimed before everything else (outbox.claim). What it
cannot do is report the mail server's own outage: then it waits in the outbox with the rest, and goes
first once the server answers again. For that, an outside monitor reads /metrics (docs/operating.md).

An incident is one notification that failed for good ("alert:failed:<id>"), or a stretch in which the
oldest waiting notification is late ("alert:late:<id>"): an alert made after a notification entered
the outbox covers it, so the backlog of one outage makes one email, and a notification that entered
after the alert and is late again is a new incident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_mail import Message
from sqlalchemy import func, select

from ..content import current_clinic
from ..extensions import db
from ..models import Notification, NotificationKind, NotificationStatus, utcnow
from .email import clinic_message
from .transport import PermanentError

N = Notification
STATES = (NotificationStatus.PENDING, NotificationStatus.SENDING, NotificationStatus.SENT,
          NotificationStatus.FAILED, NotificationStatus.HELD)  # fmt: skip
WAITING = (NotificationStatus.PENDING, NotificationStatus.SENDING)
ALERT = NotificationKind.ALERT


@dataclass(frozen=True)
class OutboxState:
    by_state: dict[str, int]
    oldest_waiting_seconds: float  # 0 when nothing waits


def outbox_state(now: datetime | None = None) -> OutboxState:
    """Counts by state, and how long the oldest notification still to deliver has been waiting."""
    now = now or utcnow()
    counted = dict(db.session.execute(select(N.status, func.count()).group_by(N.status)).all())
    oldest = db.session.scalar(select(func.min(N.created_at)).where(N.status.in_(WAITING)))
    db.session.rollback()  # end the read
    age = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
    return OutboxState({state: counted.get(state, 0) for state in STATES}, age)


def due_alerts(now: datetime) -> list[dict]:
    """The alerts due by `now` and not yet made (registered with the sweeps in notify.init_app)."""
    if not current_clinic().manager:
        return []
    return _failed(now) + _late(now)


def _failed(now: datetime) -> list[dict]:
    """One alert per notification that failed for good after trying (an alert's own failure aside).

    Only those from the last days: a failure is known within a sweep, and an old one, seen for the first
    time by a new release, is in the logs already.
    """
    since = now - timedelta(hours=current_app.config["OUTBOX_GIVE_UP_HOURS"] + 24)
    failed = db.session.scalars(
        select(N.id).where(
            N.status == NotificationStatus.FAILED, N.kind != ALERT, N.attempts > 0, N.created_at >= since
        )
    ).all()
    keys = {f"alert:failed:{notification_id}" for notification_id in failed}
    if keys:
        keys -= set(db.session.scalars(select(N.once_key).where(N.once_key.in_(keys))))
    return [{"kind": ALERT, "once_key": key, "lead_id": None} for key in sorted(keys)]


def _late(now: datetime) -> list[dict]:
    """An alert when the oldest waiting notification waited longer than OUTBOX_ALERT_MINUTES, unless an
    alert made after it entered the outbox already told of it."""
    minutes = current_app.config["OUTBOX_ALERT_MINUTES"]
    if minutes <= 0:
        return []
    oldest = db.session.execute(
        select(N.id, N.created_at)
        .where(N.status.in_(WAITING), N.kind != ALERT)
        .order_by(N.created_at, N.id)
        .limit(1)
    ).first()
    if oldest is None or now - oldest.created_at <= timedelta(minutes=minutes):
        return []
    told = db.session.scalar(
        select(func.count()).where(
            N.kind == ALERT, N.once_key.like("alert:late:%"), N.created_at >= oldest.created_at
        )
    )
    return [] if told else [{"kind": ALERT, "once_key": f"alert:late:{oldest.id}", "lead_id": None}]


def build_alert(notification: Notification) -> Message:
    """The manager's email: what went wrong, the outbox's state now, where to look. No personal data."""
    _, what, about_id = notification.once_key.split(":")
    about = db.session.get(N, int(about_id))
    state = outbox_state()
    site = current_app.config["SITE_URL"]
    context = {
        "what": what,
        "about_id": about_id,
        "about": about,
        "lead_url": f"{site}/staff/leads/{about.lead_id}" if about and about.lead_id else None,
        "minutes": f"{current_app.config['OUTBOX_ALERT_MINUTES']:g}",
        "state": state,
        "waiting_minutes": round(state.oldest_waiting_seconds / 60),
    }
    if what == "failed":
        subject = f"Outbox: notification {about_id} could not be delivered"
    elif what == "late":
        subject = f"Outbox: notifications waiting for over {context['minutes']} minutes"
    else:
        raise PermanentError(f"unknown alert {notification.once_key!r}")
    return clinic_message(notification, subject, list(current_clinic().manager), "outbox_alert", context, {})
