"""Day boundaries in the clinic's zone, the status labels and webhook hosts, for the staff templates."""

from __future__ import annotations

from datetime import date, datetime, time

from flask import Flask

from ..models import LeadStatus
from ..notify.webhook import host_of
from ..templating import clinic_zone


def day_start(day: date) -> datetime:
    """Midnight of `day` at the clinic, as an aware datetime."""
    return datetime.combine(day, time.min, tzinfo=clinic_zone())


def status_label(status: str) -> str:
    return LeadStatus.LABELS.get(status, status)


def init_templating(app: Flask) -> None:
    app.jinja_env.filters["status_label"] = status_label
    # A webhook's endpoint by its host only: the path may hold the receiver's token.
    app.jinja_env.filters["host_of"] = host_of
