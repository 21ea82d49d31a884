"""Small helpers the templates share: ARIA attributes, the clinic's clock, phone numbers, mailto: links."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from urllib.parse import quote

import phonenumbers
from flask import Flask, current_app

from .clinictime import clinic_zone


def aria(field, hint: bool = False, describe: bool = True, extra: dict | None = None) -> dict:
    """`extra` plus the ARIA attributes a control needs: only those that apply (WTForms prints None)."""
    attrs: dict = dict(extra or {})
    ids = ([f"{field.id}-hint"] if hint else []) + ([f"{field.id}-error"] if field.errors else [])
    if describe and ids:
        attrs["aria-describedby"] = " ".join(ids)
    if field.errors:
        attrs["aria-invalid"] = "true"
    return attrs


def local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An aware UTC time as the clinic's wall-clock time."""
    return value.astimezone(clinic_zone()).strftime(fmt) if value else ""


def clinic_day(value: datetime) -> date:
    """The day `value` fell on at the clinic (a question's publication date)."""
    return value.astimezone(clinic_zone()).date()


def phone_display(e164: str) -> str:
    """(941) 555-0123 for US numbers (easier to read, and no leading + in a CSV); others international."""
    if len(e164) == 12 and e164.startswith("+1") and e164[2:].isascii() and e164[2:].isdigit():
        # North American numbers all read (NPA) NXX-XXXX, as phonenumbers formats them: the CSV export
        # shows thousands, and parsing each one cost more than the rest of its row.
        return f"({e164[2:5]}) {e164[5:8]}-{e164[8:]}"
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    if number.country_code == 1:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def mailto(address: str) -> str:
    """A mailto: URL for `address`, all but its @ percent-encoded: no address can add a Bcc or a body."""
    return "mailto:" + quote(address, safe="@")


def render_apart(render: Callable[[], str]) -> bytes:
    """`render()` outside the visitor's request, as UTF-8, for a page every visitor is sent.

    Nothing of the request being answered (its query string, cookies, headers) can reach the page.
    """
    with current_app.test_request_context(base_url=current_app.config["SITE_URL"]):
        return render().encode()


def init_app(app: Flask) -> None:
    app.jinja_env.globals["aria"] = aria
    app.jinja_env.filters["local"] = local
    app.jinja_env.filters["clinic_day"] = clinic_day
    app.jinja_env.filters["phone_display"] = phone_display
    app.jinja_env.filters["mailto"] = mailto
