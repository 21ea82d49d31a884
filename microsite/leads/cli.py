"""`flask leads …`: what operators do with stored leads from the command line (purge, export)."""

from __future__ import annotations

import getpass

import click
from flask import current_app
from flask.cli import AppGroup

from .. import audit
from ..clinictime import clinic_today
from ..content import current_clinic
from ..database import writing
from ..models import LeadStatus
from .export import csv_lines
from .filter import LeadFilter
from .retention import CRISIS_FLAG_DAYS, purge_counts, purge_crisis_flags, purge_leads, purge_questions

leads_cli = AppGroup("leads", help="Work with stored consultation requests.")


@leads_cli.command("purge")
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(min=1),
    default=None,
    help="Delete leads received more than DAYS days ago (default: the clinic's retention_days).",
)
def purge(days: int | None) -> None:
    """Delete old leads with their notifications, suspected spam after SPAM_RETENTION_DAYS, readers'
    questions never published (and the reader's details of published ones), page-view counters after
    COUNTS_RETENTION_MONTHS, and the crisis flags that paced last week's crisis alerts."""
    days = days or current_clinic().retention_days
    deleted = purge_leads(days, current_app.config["SPAM_RETENTION_DAYS"])
    click.echo(f"leads: deleted {deleted} lead(s) older than {days} days or spam older than "
               f"{current_app.config['SPAM_RETENTION_DAYS']} days")  # fmt: skip
    deleted, anonymised = purge_questions(days, current_app.config["SPAM_RETENTION_DAYS"])
    click.echo(f"questions: deleted {deleted} unpublished question(s) and removed the reader's name and "
               f"email from {anonymised} more, older than {days} days")  # fmt: skip
    months = current_app.config["COUNTS_RETENTION_MONTHS"]
    counters = purge_counts(months, clinic_today())
    click.echo(f"page views: deleted {counters} daily counter(s) older than {months} months")
    flags = purge_crisis_flags()
    click.echo(f"crisis alerts: deleted {flags} crisis flag(s) older than {CRISIS_FLAG_DAYS} days")


def _office(value: str | None) -> str | None:
    if not value:
        return None
    wanted = value.strip().lower()
    offices = current_clinic().offices
    for office in offices:
        if wanted in (office.slug, office.city.lower()):
            return office.slug
    names = ", ".join(o.slug for o in offices)
    raise click.BadParameter(f"{value!r} is none of: {names}", param_hint="--office")


def _who() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


@leads_cli.command("export")
@click.option(
    "--since", type=click.DateTime(["%Y-%m-%d"]), help="Only requests from this day on (clinic time)."
)
@click.option("--office", help="bradenton or sarasota (default: both).")
@click.option(
    "--status",
    type=click.Choice([*LeadStatus.LABELS, "any"]),
    help="Only this status; 'any' includes suspected spam (default: all but spam).",
)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, writable=True), help="A file instead of stdout."
)
def export(since, office, status, output) -> None:
    """Write the leads, newest first, as CSV; a cell that could run as a formula is neutralised."""
    lead_filter = LeadFilter(office=_office(office), status=status, since=since.date() if since else None)
    with writing():
        audit.record("leads.export", detail=f"cli {lead_filter.describe()}", actor=f"cli:{_who()}")
    if output:
        with open(output, "w", encoding="utf-8", newline="") as fh:
            fh.writelines(csv_lines(lead_filter))
        click.echo(f"Wrote {output}", err=True)
    else:
        for chunk in csv_lines(lead_filter, bom=False):
            click.echo(chunk, nl=False)
