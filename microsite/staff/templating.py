"""Day boundaries in the clinic's zone, the status labels and webhook hosts, for the staff templates."""

from __future__ import annotations

from datetime import date, datetime, time

from flask import Flask
from sqlalchemy import case

from ..models import LeadStatus
from ..notify.webhook import host_of
from ..templating import clinic_zone


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


def status_label(status: str) -> str:
    return LeadStatus.LABELS.get(status, status)


def init_templating(app: Flask) -> None:
    app.jinja_env.filters["status_label"] = status_label
    # A webhook's endpoint by its host only: the path may hold the receiver's token.
    app.jinja_env.filters["host_of"] = host_of
