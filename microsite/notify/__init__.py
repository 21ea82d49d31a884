"""Staff notifications: the emails and webhooks, the outbox sender, what time makes due, `flask outbox`,
`flask webhooks`, `flask report`."""

from __future__ import annotations

from flask import Flask, current_app

from .cli import outbox_cli, webhooks_cli
from .outbox import Dispatcher


def init_app(app: Flask) -> None:
    from ..reports.cli import report_cli

    app.extensions["outbox"] = Dispatcher(app, threads=app.config.get("OUTBOX_THREADS", 1))
    app.cli.add_command(outbox_cli)
    app.cli.add_command(webhooks_cli)
    app.cli.add_command(report_cli)  # the weekly summary goes out through the outbox


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
        current_app.extensions["outbox"].hand_off(notification_id)
