"""Delivery: the outbox and its sender (claims, retries, back-off), the email and webhook transports,
`flask outbox` and `flask webhooks`. It knows no feature: each package registers its kinds of
notification here (kinds.py)."""

from __future__ import annotations

from flask import Flask, current_app

from ..models import NotificationKind
from . import health
from .cli import outbox_cli, webhooks_cli
from .kinds import AfterSent, Builder, DueFinder, Registry
from .outbox import Dispatcher


def init_app(app: Flask) -> None:
    """Before the packages that register kinds: they find the registry here. The outbox's own kind is
    the manager's alert about it (health.py)."""
    app.extensions["notification_kinds"] = Registry()
    app.extensions["outbox"] = Dispatcher(app, threads=app.config.get("OUTBOX_THREADS", 1))
    register(app, NotificationKind.ALERT, health.build_alert)
    register_due(app, health.due_alerts)
    app.cli.add_command(outbox_cli)
    app.cli.add_command(webhooks_cli)


def register(app: Flask, kind: str, build: Builder, after_sent: AfterSent | None = None) -> None:
    """Let the outbox send notifications of `kind`: `build` makes the email or webhook from the stored
    row, `after_sent` (if any) runs once it is out."""
    app.extensions["notification_kinds"].add(kind, build, after_sent)


def register_due(app: Flask, find_due: DueFinder) -> None:
    """Let each sweep ask `find_due(now)` what time has made due (reminders, a weekly summary)."""
    app.extensions["notification_kinds"].due_finders.append(find_due)


def _dispatcher() -> Dispatcher:
    return current_app.extensions["outbox"]


def start_inline_sender(app: Flask) -> None:
    """Start this process's background sender now, so what a restart left pending goes out at once.

    gunicorn calls it as each worker boots (gunicorn.conf.py): waiting for a first request
    would leave a crashed night's leads unsent until the next visitor came by.
    """
    if app.config["OUTBOX_INLINE"]:
        app.extensions["outbox"].ensure_started()


def hand_off(notification_id: int) -> None:
    """After the commit: let this process's background sender deliver it now."""
    if current_app.config["OUTBOX_INLINE"]:
        _dispatcher().hand_off(notification_id)
