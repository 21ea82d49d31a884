"""The leads as CSV (the staff inbox's download and `flask leads export`), safe to open in a spreadsheet."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..extensions import db
from ..models import Lead, LeadStatus
from ..spreadsheet import csv_lines as spreadsheet_lines
from ..templating import local, phone_display
from .filter import LeadFilter

COLUMNS = [
    ("id", lambda lead: lead.id),
    ("received", lambda lead: local(lead.created_at, "%Y-%m-%d %H:%M")),
    ("status", lambda lead: LeadStatus.label_of(lead.status)),
    ("office", lambda lead: lead.location),
    ("full_name", lambda lead: lead.full_name),
    ("phone", lambda lead: phone_display(lead.phone)),
    ("email", lambda lead: lead.email),
    ("contact_method", lambda lead: lead.contact_method),
    ("best_time", lambda lead: lead.best_time),
    ("message", lambda lead: lead.message),
    ("phq9_total", lambda lead: lead.phq9_total),
    ("phq9_band", lambda lead: lead.phq9_band),
    ("utm_source", lambda lead: lead.utm_source),
    ("utm_medium", lambda lead: lead.utm_medium),
    ("utm_campaign", lambda lead: lead.utm_campaign),
    ("referrer", lambda lead: lead.referrer),
    ("landing_path", lambda lead: lead.landing_path),
    ("consent_version", lambda lead: lead.consent_version),
    ("consent_at", lambda lead: local(lead.consent_at, "%Y-%m-%d %H:%M")),
]


def rows(leads: Iterable[Lead]) -> Iterator[list]:
    yield [name for name, _ in COLUMNS]
    for lead in leads:
        yield [get(lead) for _, get in COLUMNS]


def csv_lines(lead_filter: LeadFilter, bom: bool = True) -> Iterator[str]:
    """The leads `lead_filter` selects, newest first, as CSV text, a line at a time."""
    leads = db.session.scalars(lead_filter.statement().execution_options(yield_per=500))
    yield from spreadsheet_lines(rows(leads), bom=bom)
