"""What becomes due with time: reminders and escalations for requests nobody has answered, the weekly summary.

The outbox's sweeps call `schedule_due` (the web process's background sender, and `flask outbox
run`), so no cron or timer is needed. Each notification has a once-only key ("reminder:12",
"escalation:12", "weekly:2026-W48"); the insert skips a key that exists, so however many instances
and workers sweep at once, each happens once. Sending goes through the outbox as usual: claimed,
retried, never lost.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import exists, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from ..database import writing
from ..extensions import db
from ..models import Lead, LeadStatus, Notification, NotificationKind, NotificationStatus, utcnow
from ..reports.speed import clinic_timezone, schedule_for

log = logging.getLogger(__name__)
N = Notification

# A request still new after this long was missed long ago, or came before reminders existed: the inbox
# shows it as overdue and the weekly summary counts it, but no email about it goes out now.
LOOKBACK = timedelta(days=14)
REPORT_TIME = time(8, 0)  # Monday, clinic time: the weekly summary of the week just ended is due


def iso_week(day) -> str:
    """ "2026-W48": the ISO week `day` falls in."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def report_week_due(now: datetime, zone: ZoneInfo) -> str:
    """The week whose summary is due at `now`: the one before the latest Monday 8:00 that has passed."""
    local = now.astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday())
    if local < datetime.combine(monday, REPORT_TIME, tzinfo=zone):
        monday -= timedelta(weeks=1)
    return iso_week(monday - timedelta(weeks=1))


def _lead_reminders_due(now: datetime) -> list[dict]:
    """Reminders and escalations due by `now` for requests still new, and not yet made."""
    remind = current_app.config["REMIND_AFTER_MINUTES"]
    escalate = current_app.config["ESCALATE_AFTER_MINUTES"] if current_app.extensions["clinic"].manager else 0
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
    due = []
    for lead_id, location, created_at, was_reminded, was_escalated in rows:
        schedule = schedule_for(location)
        if schedule is None:
            continue
        for kind, minutes, made_already in (
            (NotificationKind.REMINDER, remind, was_reminded),
            (NotificationKind.ESCALATION, escalate, was_escalated),
        ):
            if minutes > 0 and not made_already and _due_at(schedule, created_at, minutes) <= now:
                due.append({"kind": kind, "once_key": f"{kind}:{lead_id}", "lead_id": lead_id})
    return due


def _due_at(schedule, created_at: datetime, minutes: int) -> datetime:
    """When `minutes` of office hours after `created_at` have passed; never, for an office never open."""
    try:
        return schedule.add(created_at, minutes)
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)


def _weekly_due(now: datetime) -> list[dict]:
    """The weekly summary, if the clinic file names its readers and this week's is not made yet."""
    if not current_app.extensions["clinic"].report_to:
        return []
    key = f"{NotificationKind.WEEKLY}:{report_week_due(now, ZoneInfo(clinic_timezone()))}"
    if db.session.scalar(select(N.id).where(N.once_key == key)) is not None:
        return []
    return [{"kind": NotificationKind.WEEKLY, "once_key": key, "lead_id": None}]


def insert_once(rows: list[dict]) -> list[tuple[int, str]]:
    """Put `rows` in the outbox, skipping every once-only key that is there already; returns the new
    (id, once_key) pairs.

    Call it inside `writing()`. INSERT … ON CONFLICT DO NOTHING: another instance that got there first
    (even in the same instant) wins, and this one adds nothing.
    """
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    now = utcnow()  # when it entered the outbox, whatever clock decided it was due
    values = [
        {
            **row,
            "status": NotificationStatus.PENDING,
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
        }
        for row in rows
    ]
    statement = insert(N).values(values).on_conflict_do_nothing(index_elements=[N.once_key])
    return [tuple(row) for row in db.session.execute(statement.returning(N.id, N.once_key))]


def schedule_due(now: datetime | None = None) -> list[int]:
    """Put what is due by `now` in the outbox (reminders, escalations, the weekly summary); returns the ids.

    It looks first, without SQLite's write lock, and writes only when something is due.
    """
    now = now or utcnow()
    # In one order everywhere: two senders inserting the same keys in other orders could deadlock.
    due = sorted(_lead_reminders_due(now) + _weekly_due(now), key=lambda row: row["once_key"])
    db.session.rollback()  # end the read
    if not due:
        return []
    with writing():
        made = insert_once(due)
    for notification_id, once_key in made:
        log.info("outbox: %s scheduled as notification %s", once_key, notification_id)
    return [notification_id for notification_id, _ in made]
