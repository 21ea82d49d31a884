"""Times in the clinic's own zone, and the status labels, for the staff templates."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import phonenumbers
from flask import Flask, current_app

from ..models import LeadStatus


def clinic_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["STAFF_TIMEZONE"])


def local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An aware UTC time as the clinic's wall-clock time."""
    return value.astimezone(clinic_zone()).strftime(fmt) if value else ""


def day_start(day: date) -> datetime:
    """Midnight of `day` at the clinic, as an aware datetime."""
    return datetime.combine(day, time.min, tzinfo=clinic_zone())


def phone_display(e164: str) -> str:
    """(941) 555-0123 for US numbers (easier to read, and no leading + in a CSV); others international."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    if number.country_code == 1:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def status_label(status: str) -> str:
    return LeadStatus.LABELS.get(status, status)


def init_templating(app: Flask) -> None:
    app.jinja_env.filters["local"] = local
    app.jinja_env.filters["status_label"] = status_label
    app.jinja_env.filters["phone_display"] = phone_display
