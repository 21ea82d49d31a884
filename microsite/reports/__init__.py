"""Reports for the clinic: speed to lead (inbox, lead page, dashboard), the dashboard's numbers and the
weekly summary, which goes out through the outbox (`flask report weekly`)."""

from __future__ import annotations

from flask import Flask

from .. import notify
from ..models import NotificationKind
from . import weekly
from .cli import report_cli


def init_app(app: Flask) -> None:
    notify.register(app, NotificationKind.WEEKLY, weekly.build_message)
    notify.register_due(app, weekly.due)
    app.cli.add_command(report_cli)
