"""`flask outbox run [--once]`: deliver pending notifications; several may run at once.
`flask webhooks test [URL]`: a signed ping, to check a receiver."""

from __future__ import annotations

import logging
import signal
import threading

import click
from flask import current_app
from flask.cli import AppGroup

from . import webhook
from .outbox import sweep, worker_name
from .transport import DeliveryError

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


webhooks_cli = AppGroup("webhooks", help="Check the endpoints told of each new lead.")


@webhooks_cli.command("test")
@click.argument("url", required=False)
def test(url: str | None) -> None:
    """Send a signed `ping` to URL (or to each of WEBHOOK_URLS) and print the answer."""
    urls = [url] if url else current_app.config["WEBHOOK_URLS"]
    if not urls:
        raise click.ClickException("no URL given, and WEBHOOK_URLS is not set")
    if not current_app.config["WEBHOOK_SECRET"]:
        raise click.ClickException("WEBHOOK_SECRET is not set: nothing can be signed")
    failed = False
    for target in urls:
        try:
            answer = webhook.ping(target)
        except DeliveryError as exc:
            click.echo(f"{target}: {exc}")
            failed = True
            continue
        click.echo(f"{target}: HTTP {answer.status}")
        click.echo(answer.body[: webhook.ANSWER_BYTES].decode("utf-8", "replace"))
        failed = failed or not 200 <= answer.status < 300
    if failed:
        raise SystemExit(1)
