"""Day boundaries in the clinic's zone and the status labels, for the staff templates."""

from __future__ import annotations

from datetime import date, datetime, time

from flask import Flask

from ..models import LeadStatus
from ..templating import clinic_zone


def day_start(day: date) -> datetime:
    """Midnight of `day` at the clinic, as an aware datetime."""
    return datetime.combine(day, time.min, tzinfo=clinic_zone())


def status_label(status: str) -> str:
    return LeadStatus.LABELS.get(status, status)


def init_templating(app: Flask) -> None:
    app.jinja_env.filters["status_label"] = status_label
