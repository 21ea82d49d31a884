"""`flask report weekly [--week YYYY-Www] [--print]`: the weekly summary, now."""

from __future__ import annotations

from datetime import timedelta

import click
from flask.cli import AppGroup

from ..clinictime import clinic_today
from ..content import current_clinic
from ..database import writing
from ..models import NotificationKind, utcnow
from ..notify.outbox import claim, send_claimed, worker_name
from ..notify.schedule import insert_once
from .weekly import first_day_of, iso_week, render_text, summarize

report_cli = AppGroup("report", help="Reports for the clinic.")


def _week(ctx, param, value: str | None) -> str:
    """--week: an ISO week ("2026-W48"); none: the last full week."""
    if value is None:
        return iso_week(clinic_today() - timedelta(weeks=1))
    try:
        first_day_of(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


@report_cli.command("weekly")
@click.option("--week", callback=_week, metavar="YYYY-Www", help="e.g. 2026-W48 (default: last week).")
@click.option("--print", "to_stdout", is_flag=True, help="Write it to standard output; send nothing.")
def weekly(week: str, to_stdout: bool) -> None:
    """The weekly summary (counts only): sent now to the clinic file's report_to, through the outbox."""
    if to_stdout:
        click.echo(render_text(summarize(week)), nl=False)
        return
    if not current_clinic().report_to:
        raise click.ClickException("the clinic file names no report_to: nobody to send the summary to")
    row = {"kind": NotificationKind.WEEKLY, "lead_id": None}
    with writing():
        # The week's own key, so that the Monday sweep sends no second copy; asked for again, a new one.
        key = f"{NotificationKind.WEEKLY}:{week}"
        made = insert_once([{**row, "once_key": key}])
        if not made:
            made = insert_once([{**row, "once_key": f"{key}:{utcnow():%Y%m%dT%H%M%S%f}"}])
    [(notification_id, _)] = made
    worker = worker_name()
    status = "left for the outbox (another sender has it)"
    if claim(worker, ids=[notification_id], waiting_too=True):
        status = send_claimed(notification_id, worker)
    click.echo(f"weekly summary {week}: notification {notification_id} {status}")
    if status != "sent":
        raise SystemExit(1)
