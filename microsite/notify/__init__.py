"""Staff notifications: the email, the outbox sender and the `flask outbox` command."""

from __future__ import annotations

from flask import Flask, current_app

from .cli import outbox_cli
from .outbox import Dispatcher


def init_app(app: Flask) -> None:
    app.extensions["outbox"] = Dispatcher(app, threads=app.config.get("OUTBOX_THREADS", 1))
    app.cli.add_command(outbox_cli)
    if app.config["OUTBOX_INLINE"]:

        @app.before_request
        def start_inline_sender():
            # Cheap after the first request; catches notifications left pending by a restart.
            app.extensions["outbox"].ensure_started()


def hand_off(notification_id: int) -> None:
    """After the commit: let this process's background sender deliver it now."""
    if current_app.config["OUTBOX_INLINE"]:
        current_app.extensions["outbox"].hand_off(notification_id)
