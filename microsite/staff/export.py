"""The leads as CSV, safe to open in a spreadsheet: no cell can start a formula."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from ..extensions import db
from ..models import Lead
from ..templating import local, phone_display
from .inbox import LeadFilter
from .templating import status_label

# A spreadsheet reads a cell starting with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

COLUMNS = [
    ("id", lambda lead: lead.id),
    ("received", lambda lead: local(lead.created_at, "%Y-%m-%d %H:%M")),
    ("status", lambda lead: status_label(lead.status)),
    ("office", lambda lead: lead.location),
    ("full_name", lambda lead: lead.full_name),
    ("phone", lambda lead: phone_display(lead.phone)),
    ("email", lambda lead: lead.email),
    ("contact_method", lambda lead: lead.contact_method),
    ("best_time", lambda lead: lead.best_time),
    ("message", lambda lead: lead.message),
    ("utm_source", lambda lead: lead.utm_source),
    ("utm_medium", lambda lead: lead.utm_medium),
    ("utm_campaign", lambda lead: lead.utm_campaign),
    ("referrer", lambda lead: lead.referrer),
    ("landing_path", lambda lead: lead.landing_path),
    ("consent_version", lambda lead: lead.consent_version),
    ("consent_at", lambda lead: local(lead.consent_at, "%Y-%m-%d %H:%M")),
]


def neutralise(value) -> str:
    """The cell as text; one that a spreadsheet would run as a formula gets a leading apostrophe."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def rows(leads: Iterable[Lead]) -> Iterator[list[str]]:
    yield [name for name, _ in COLUMNS]
    for lead in leads:
        yield [neutralise(get(lead)) for _, get in COLUMNS]


def csv_lines(lead_filter: LeadFilter, bom: bool = True) -> Iterator[str]:
    """The CSV text, a line at a time; the byte-order mark makes Excel read it as UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    if bom:
        yield "\ufeff"
    leads = db.session.scalars(lead_filter.statement().execution_options(yield_per=500))
    for row in rows(leads):
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
