"""The clinic's clock: its time zone, its days, and each office's hours as office-hours arithmetic needs them.

Staff read times on STAFF_TIMEZONE (the clinic file's `timezone` unless set); the offices' hours are read on
the clinic file's `timezone` (STAFF_TIMEZONE's when it names none).
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from sqlalchemy import case

from .content import current_clinic
from .content.clinic import DEFAULT_TIMEZONE
from .models import utcnow
from .officehours import Schedule


def clinic_zone() -> ZoneInfo:
    """The clock staff read times on (STAFF_TIMEZONE)."""
    return ZoneInfo(current_app.config["STAFF_TIMEZONE"])


def clinic_today() -> date:
    """Today at the clinic: the day a view is counted under, as leads are shown by the clinic's clock."""
    return utcnow().astimezone(clinic_zone()).date()


def day_start(day: date) -> datetime:
    """Midnight of `day` at the clinic, as an aware datetime."""
    return datetime.combine(day, time.min, tzinfo=clinic_zone())


def period_bucket(column, starts: list[datetime]):
    """A SQL expression: which of the periods beginning at `starts` (in order) `column` falls in, 0 to
    len(starts) - 1. The boundaries are the clinic's midnights, worked out here: the database needs no
    time zones, and a count per week is one GROUP BY."""
    return case(
        *[(column < start, i - 1) for i, start in enumerate(starts[1:], start=1)],
        else_=len(starts) - 1,
    )


def clinic_timezone() -> str:
    """The clock the offices' hours are read on: the clinic file's, else STAFF_TIMEZONE."""
    return current_clinic().timezone or current_app.config["STAFF_TIMEZONE"]


def schedule_for(location: str) -> Schedule | None:
    """The office's hours and the clinic's holidays (made at start-up); None for an office the clinic
    file no longer names."""
    return current_app.extensions["schedules"].get(location)


def init_app(app: Flask) -> None:
    """The staff clock's default, and each office's schedule, made once: hours that cannot be counted
    stop start-up, not a reminder. After `content.init_app`, which reads the clinic file."""
    clinic = app.extensions["clinic"]
    if not app.config.get("STAFF_TIMEZONE"):
        app.config["STAFF_TIMEZONE"] = clinic.timezone or DEFAULT_TIMEZONE
    schedules = {}
    for office in clinic.offices:
        try:
            schedules[office.slug] = Schedule.from_hours(
                office.hours, clinic.timezone or app.config["STAFF_TIMEZONE"], clinic.holidays
            )
        except ValueError as exc:
            raise ValueError(f"{app.config['CLINIC_FILE']}: office {office.slug!r}: {exc}") from exc
    app.extensions["schedules"] = schedules
