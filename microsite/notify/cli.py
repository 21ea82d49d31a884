"""`flask outbox run [--once]`: deliver pending notifications; several may run at once."""

from __future__ import annotations

import logging
import signal
import threading

import click
from flask import current_app
from flask.cli import AppGroup

from .outbox import sweep, worker_name

log = logging.getLogger(__name__)

outbox_cli = AppGroup("outbox", help="Deliver the staff notifications waiting in the outbox.")


@outbox_cli.command("run")
@click.option(
    "--once",
    is_flag=True,
    help="Schedule what is due, try everything pending once, even what waits for a retry, then exit.",
)
def run(once: bool) -> None:
    """Deliver pending notifications (forever, or one pass with --once); each pass first schedules the
    reminders and the weekly summary that have come due."""
    worker = worker_name()
    if once:
        tried = sweep(worker, waiting_too=True)
        click.echo(f"outbox: {tried} notification(s) tried")
        return
    stop = threading.Event()
    # Finish the message in hand, then stop: systemd and docker send SIGTERM.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    poll = current_app.config["OUTBOX_POLL_SECONDS"]
    click.echo(f"outbox: {worker} running, polling every {poll:g} s")
    while not stop.is_set():
        try:
            tried = sweep(worker)
        except Exception:
            # The database may be restarting; what is pending stays pending.
            log.exception("outbox: pass failed, trying again in %g s", poll)
            tried = 0
        if tried == 0:
            stop.wait(poll)
