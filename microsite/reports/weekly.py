"""The weekly summary: a week's requests, sources, time to first contact and the outbox's health.

Counts only: no name, phone number, email address or message is ever read into it. It is built from
the database when it is sent (notify/email.py), or printed by `flask report weekly --print`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app, render_template
from sqlalchemy import func, select

from ..counts import report
from ..extensions import db
from ..models import Lead, LeadStatus, utcnow
from ..officehours import format_minutes
from ..staff.dashboard import delivery_health
from ..staff.templating import day_start
from ..templating import clinic_zone
from . import speed

WEEK = re.compile(r"(\d{4})-W(\d{2})")
TOP_SOURCES = 10


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
    clinic = current_app.extensions["clinic"]
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
