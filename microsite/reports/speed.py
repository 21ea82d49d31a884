"""Speed to lead: how long a request waited, in minutes of its office's hours, for one lead or many.

A request's wait ends at its first contact (`Lead.first_contact_at`, the first status other than new
or suspected spam); one still new has waited until now. The numbers are counted on the office's
schedule (microsite/officehours.py), so a night or a weekend adds nothing to a wait.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import Row, func, select

from ..clinictime import day_start, period_bucket, schedule_for
from ..content import current_clinic
from ..extensions import db
from ..models import Lead, LeadStatus
from ..officehours import format_minutes


def threshold() -> int:
    """Minutes of office hours after which a request still new is overdue: the reminder's."""
    return current_app.config["REMIND_AFTER_MINUTES"]


@dataclass(frozen=True)
class Wait:
    """One request's wait: minutes of office hours, and whether it is still going on."""

    minutes: float
    waiting: bool
    overdue: bool

    @property
    def label(self) -> str:
        return format_minutes(self.minutes)


def _minutes(lead: Lead, now: datetime) -> tuple[float, bool] | None:
    """(minutes of office hours waited, still waiting) for a real request, or None."""
    schedule = schedule_for(lead.location)
    if schedule is None or lead.status == LeadStatus.SPAM:
        return None
    if lead.first_contact_at is not None:
        if lead.first_contact_minutes is not None:
            return lead.first_contact_minutes, False
        return schedule.minutes_between(lead.created_at, lead.first_contact_at), False
    if lead.status != LeadStatus.NEW:
        return None  # closed without a recorded contact
    return schedule.minutes_between(lead.created_at, now), True


def minutes_to_first_contact(lead: Lead) -> float | None:
    """The wait its first contact ended, in minutes of its office's hours (kept on the lead then)."""
    schedule = schedule_for(lead.location)
    if schedule is None or lead.first_contact_at is None:
        return None
    return schedule.minutes_between(lead.created_at, lead.first_contact_at)


def wait_of_lead(lead: Lead, now: datetime) -> Wait | None:
    """The request's wait for the inbox and the lead page; None when there is none to tell."""
    found = _minutes(lead, now)
    if found is None:
        return None
    minutes, waiting = found
    return Wait(minutes, waiting, waiting and minutes > threshold())


@dataclass(frozen=True)
class Speed:
    """Time to first contact over a set of requests: how many, how fast, how many waited too long."""

    requests: int
    contacted: int
    median: float | None
    p90: float | None  # nearest rank: 9 in 10 contacted requests were answered within it
    slow: int  # contacted after more than the threshold, or still waiting longer than it
    waiting: int  # not contacted yet

    @property
    def median_label(self) -> str:
        return "–" if self.median is None else format_minutes(self.median)

    @property
    def p90_label(self) -> str:
        return "–" if self.p90 is None else format_minutes(self.p90)


def _speed(requests: int, contacted: list[float], waiting: list[float]) -> Speed:
    contacted = sorted(contacted)
    limit = threshold()
    return Speed(
        requests=requests,
        contacted=len(contacted),
        median=statistics.median(contacted) if contacted else None,
        p90=contacted[math.ceil(0.9 * len(contacted)) - 1] if contacted else None,
        slow=sum(1 for minutes in contacted if minutes > limit) + sum(1 for m in waiting if m > limit),
        waiting=len(waiting),
    )


def speed_of(leads: Iterable[Lead], now: datetime) -> Speed:
    """The Speed of these requests (suspected spam and offices no longer named left out)."""
    contacted: list[float] = []
    waiting: list[float] = []
    requests = 0
    for lead in leads:
        found = _minutes(lead, now)
        if found is None and lead.status == LeadStatus.SPAM:
            continue
        requests += 1
        if found is None:
            continue
        minutes, still = found
        (waiting if still else contacted).append(minutes)
    return _speed(requests, contacted, waiting)


def leads_between(first_day: date, last_day: date) -> Sequence[Row]:
    """The real requests received from `first_day` to `last_day` (both included, clinic time): only the
    columns a wait is computed from (office, status, received, first contact), not whole leads."""
    return db.session.execute(
        select(
            Lead.id,
            Lead.location,
            Lead.status,
            Lead.created_at,
            Lead.first_contact_at,
            Lead.first_contact_minutes,
        ).where(
            Lead.created_at >= day_start(first_day),
            Lead.created_at < day_start(last_day + timedelta(days=1)),
            Lead.status != LeadStatus.SPAM,
        )
    ).all()


@dataclass(frozen=True)
class OfficeWeek:
    week: date
    office: str
    speed: Speed


def by_office_and_week(weeks: list[date], now: datetime) -> list[OfficeWeek]:
    """Speed per office and week (weeks start on Monday), newest week first; weeks without requests
    left out.

    Thousands of requests in a busy quarter: the database counts them and hands over the waits kept at
    first contact (floats, one column); only the requests still new, and any contacted without a kept
    wait, are worked out here in office hours.
    """
    if not weeks:
        return []
    clinic = current_clinic()
    # Every Monday from the first week to the last: the database says which week each request is in.
    mondays = [weeks[0] + timedelta(weeks=n) for n in range((weeks[-1] - weeks[0]).days // 7 + 1)]
    week_of = period_bucket(Lead.created_at, [day_start(monday) for monday in mondays])
    in_window = (
        Lead.created_at >= day_start(mondays[0]),
        Lead.created_at < day_start(mondays[-1] + timedelta(days=7)),
        Lead.status != LeadStatus.SPAM,
    )
    requests = {
        (mondays[week], location): n
        for week, location, n in db.session.execute(
            select(week_of, Lead.location, func.count()).where(*in_window).group_by(week_of, Lead.location)
        )
    }
    contacted: dict[tuple[date, str], list[float]] = {key: [] for key in requests}
    waiting: dict[tuple[date, str], list[float]] = {key: [] for key in requests}
    kept = Lead.first_contact_minutes.is_not(None)
    for week, location, minutes in db.session.execute(
        select(week_of, Lead.location, Lead.first_contact_minutes).where(*in_window, kept)
    ):
        contacted[mondays[week], location].append(minutes)
    columns = (Lead.location, Lead.status, Lead.created_at, Lead.first_contact_at, Lead.first_contact_minutes)
    unkept = select(week_of, *columns).where(
        *in_window,
        ~kept,
        Lead.first_contact_at.is_not(None) | (Lead.status == LeadStatus.NEW),
    )
    for lead in db.session.execute(unkept):
        found = _minutes(lead, now)
        if found is not None:
            minutes, still = found
            (waiting if still else contacted)[mondays[lead[0]], lead.location].append(minutes)
    rows = []
    for week in reversed(weeks):
        for office in clinic.offices:
            key = (week, office.slug)
            if key in requests:
                speed = _speed(requests[key], contacted[key], waiting[key])
                rows.append(OfficeWeek(week, office.city, speed))
    return rows
