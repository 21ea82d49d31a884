"""`flask leads …`: what operators do with stored leads from the command line."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from .retention import purge_leads

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
    """Delete old leads with their notifications, and suspected spam after SPAM_RETENTION_DAYS."""
    days = days or current_app.extensions["clinic"].retention_days
    deleted = purge_leads(days, current_app.config["SPAM_RETENTION_DAYS"])
    click.echo(f"leads: deleted {deleted} lead(s) older than {days} days or spam older than "
               f"{current_app.config['SPAM_RETENTION_DAYS']} days")  # fmt: skip
