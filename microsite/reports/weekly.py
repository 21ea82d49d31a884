"""The weekly summary: a week's requests, sources, time to first contact and the outbox's health.

Counts only: no name, phone number, email address or message is ever read into it. It is built from
the database when it is sent (`build_message`, registered with the outbox in reports.init_app, which
also asks `due(now)` whether a Monday has come), or printed by `flask report weekly --print`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, render_template
from flask_mail import Message
from sqlalchemy import func, select

from ..clinictime import clinic_timezone, clinic_zone, day_start
from ..content import current_clinic
from ..counts import report
from ..extensions import db
from ..models import Lead, LeadStatus, Notification, NotificationKind, utcnow
from ..notify.email import clinic_message
from ..officehours import format_minutes
from . import speed
from .dashboard import delivery_health

WEEK = re.compile(r"(\d{4})-W(\d{2})")
TOP_SOURCES = 10
REPORT_TIME = time(8, 0)  # Monday, clinic time: the weekly summary of the week just ended is due


def iso_week(day: date) -> str:
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


def first_day_of(week: str) -> date:
    """The Monday of an ISO week written "2026-W48"; ValueError for anything else."""
    match = WEEK.fullmatch(week)
    if match is None:
        raise ValueError(f"{week!r} is not an ISO week such as 2026-W48")
    try:
        return date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise ValueError(f"{week!r}: no such week (an ISO week such as 2026-W48)") from None


@dataclass(frozen=True)
class Summary:
    week: str
    first_day: date
    last_day: date
    as_of: datetime  # clinic time
    zone: str
    subject: str
    per_office: list[tuple[str, int]]
    requests: int
    spam: int
    sources: list[report.Row]
    views: int  # of the pages with the form
    speed: speed.Speed
    waiting: int  # still new now, from every week
    overdue: int  # of those, past the threshold
    threshold_label: str
    delivery: list[tuple[str, int]]


def summarize(week: str, now: datetime | None = None) -> Summary:
    """The summary of `week` ("2026-W46"), as of `now`."""
    now = now or utcnow()
    clinic = current_clinic()
    first = first_day_of(week)
    last = first + timedelta(days=6)
    leads = speed.leads_between(first, last)  # suspected spam left out

    offices = {office.slug: 0 for office in clinic.offices}
    for lead in leads:
        offices[lead.location] = offices.get(lead.location, 0) + 1
    per_office = [(report.label("office", slug), n) for slug, n in offices.items()]

    spam = db.session.scalar(
        select(func.count()).where(
            Lead.created_at >= day_start(first),
            Lead.created_at < day_start(last + timedelta(days=1)),
            Lead.status == LeadStatus.SPAM,
        )
    )
    built = report.build(report.Period(first, last))

    still_new = db.session.scalars(
        select(Lead).where(
            Lead.status == LeadStatus.NEW, Lead.first_contact_at.is_(None), Lead.created_at <= now
        )
    )
    waits = [wait for wait in (speed.wait_of_lead(lead, now) for lead in still_new) if wait is not None]

    return Summary(
        week=week,
        first_day=first,
        last_day=last,
        as_of=now.astimezone(clinic_zone()),
        zone=current_app.config["STAFF_TIMEZONE"],
        subject=f"Weekly summary {week} – {clinic.name}",
        per_office=per_office,
        requests=len(leads),
        spam=spam or 0,
        sources=built.tables["source"][:TOP_SOURCES],
        views=built.total.views,
        speed=speed.speed_of(leads, now),
        waiting=len(waits),
        overdue=sum(1 for wait in waits if wait.overdue),
        threshold_label=format_minutes(speed.threshold()),
        delivery=[(bar.label, bar.value) for bar in delivery_health()],
    )


def context(summary: Summary) -> dict:
    """What the email's templates (email/weekly_report.*) are given."""
    return {"s": summary, "dashboard_url": f"{current_app.config['SITE_URL']}/staff/dashboard"}


def render_text(summary: Summary) -> str:
    return render_template("email/weekly_report.txt", subject=summary.subject, **context(summary))


def build_message(notification: Notification) -> Message:
    """The weekly summary named by the notification's key ("weekly:2026-W48"), counted now."""
    summary = summarize(notification.once_key.split(":")[1])
    recipients = list(current_clinic().report_to)
    return clinic_message(notification, summary.subject, recipients, "weekly_report", context(summary), {})


def due(now: datetime) -> list[dict]:
    """The weekly summary, if the clinic file names its readers and this week's is not made yet."""
    if not current_clinic().report_to:
        return []
    key = f"{NotificationKind.WEEKLY}:{report_week_due(now, ZoneInfo(clinic_timezone()))}"
    if db.session.scalar(select(Notification.id).where(Notification.once_key == key)) is not None:
        return []
    return [{"kind": NotificationKind.WEEKLY, "once_key": key, "lead_id": None}]
