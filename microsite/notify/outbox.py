"""The outbox sender: claim due notifications atomically, send them, record the outcome.

A claim sets status "sending" and a short lease (OUTBOX_LEASE_SECONDS, 30 s). While a sender works
through its claims, a heartbeat renews their leases every third of one, however long the mail server
or a webhook's receiver takes; a sender that dies (kill -9, a power cut) stops renewing, its leases
run out within the lease's length, and the next sweep takes the notification back: within a
minute, never while the live holder is still at it. On PostgreSQL candidates
are picked with FOR UPDATE SKIP LOCKED; on SQLite the claim is a write transaction
(BEGIN IMMEDIATE), one at a time. Either way the UPDATE repeats the conditions, so a
row is claimed once. Reading and rendering a notification, and talking to the mail
server, happen outside any write transaction.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import socket
import threading
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.exc import OperationalError

from ..database import write_connection, writing
from ..extensions import db
from ..models import DeliveryAttempt, Notification, NotificationKind, NotificationStatus, utcnow
from . import kinds, webhook
from .schedule import schedule_due
from .transport import PermanentError, TransientError, deliver

log = logging.getLogger(__name__)
N = Notification


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def _claimable(now, waiting_too: bool = False):
    pending = N.status == NotificationStatus.PENDING
    return or_(
        pending if waiting_too else and_(pending, N.next_attempt_at <= now),
        and_(N.status == NotificationStatus.SENDING, N.lease_until < now),
    )


def claim(
    worker: str,
    limit: int = 10,
    ids: list[int] | None = None,
    waiting_too: bool = False,
    exclude: set[int] | frozenset[int] = frozenset(),
) -> list[int]:
    """Claim up to `limit` due notifications (or just `ids`) for `worker`; returns the ids won.

    `waiting_too` also takes those still waiting out their back-off (an operator's manual pass);
    `exclude` leaves out those this pass already tried.
    """
    now = utcnow()
    pick = select(N.id).where(_claimable(now, waiting_too))
    if ids is not None:
        pick = pick.where(N.id.in_(ids))
    if exclude:
        pick = pick.where(N.id.not_in(exclude))
    if ids is None:
        # A sweep mostly finds nothing: look first, without taking SQLite's write lock.
        found = db.session.scalar(pick.limit(1))
        db.session.rollback()
        if found is None:
            return []
    with writing():
        # The manager's alerts first: an alert about a backlog must not queue behind it.
        first = case((N.kind == NotificationKind.ALERT, 0), else_=1)
        candidates = list(
            db.session.scalars(
                pick.order_by(first, N.next_attempt_at).limit(limit).with_for_update(skip_locked=True)
            )
        )
        if not candidates:
            return []
        won = db.session.scalars(
            update(N)
            .where(N.id.in_(candidates), _claimable(now, waiting_too))
            .values(
                status=NotificationStatus.SENDING,
                lease_until=now + timedelta(seconds=current_app.config["OUTBOX_LEASE_SECONDS"]),
                claimed_by=worker,
                attempts=N.attempts + 1,
            )
            .returning(N.id)
        ).all()
    return list(won)


def renew(ids: list[int], worker: str) -> int:
    """Extend the lease of those of `ids` that `worker` still holds; how many it holds.

    A claim that lapsed and was taken by another sender is not taken back.
    """
    lease = timedelta(seconds=current_app.config["OUTBOX_LEASE_SECONDS"])
    with write_connection() as connection:
        return connection.execute(
            update(N)
            .where(N.id.in_(ids), N.status == NotificationStatus.SENDING, N.claimed_by == worker)
            .values(lease_until=utcnow() + lease)
        ).rowcount


class Heartbeat:
    """A thread that keeps `worker`'s claims on `ids` alive while it sends them, one after another.

    Every third of a lease it renews the lease of each claim still in hand (`finished` takes one out),
    so a lease stays short however long a send takes. A renewal that fails (the database briefly
    away) is tried again at the next beat; two more beats fit in a lease.
    """

    def __init__(self, app: Flask, worker: str, ids: list[int]):
        self.app = app
        self.worker = worker
        self.held = set(ids)
        self.every = app.config["OUTBOX_LEASE_SECONDS"] / 3
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="outbox-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._done.set()
        self._thread.join()

    def finished(self, notification_id: int) -> None:
        with self._lock:
            self.held.discard(notification_id)

    def _beat(self) -> None:
        while not self._done.wait(self.every):
            with self._lock:
                ids = sorted(self.held)
            if not ids:
                continue
            try:
                with self.app.app_context():
                    renew(ids, self.worker)
            except Exception as exc:
                log.warning("outbox: leases of %s not renewed (%s); trying again", ids, type(exc).__name__)


def send_all(ids: list[int], worker: str) -> None:
    """Send what `worker` claimed, one after another, its leases renewed until each is done."""
    if not ids:
        return
    with Heartbeat(current_app._get_current_object(), worker, ids) as heartbeat:
        for notification_id in ids:
            send_claimed(notification_id, worker)
            heartbeat.finished(notification_id)


ALERT_RETRY_MAX_SECONDS = 60.0  # the manager's alert goes out within a minute of the mail server's return


def retry_delay(attempts: int, kind: str | None = None) -> float:
    """Exponential back-off with jitter: ~30 s, 1 min, 2 min … capped at an hour (an alert: a minute)."""
    base = current_app.config["OUTBOX_RETRY_BASE_SECONDS"]
    cap = current_app.config["OUTBOX_RETRY_MAX_SECONDS"]
    if kind == NotificationKind.ALERT:
        cap = min(cap, ALERT_RETRY_MAX_SECONDS)
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return delay * random.uniform(0.5, 1.0)  # noqa: S311 -- jitter, not a secret


def _finish(notification_id: int, worker: str, attempt: dict, **values) -> bool:
    """Record the try (`attempt`: its time, status code, error) and, only if this worker still holds
    the claim, the outcome.

    The email may already be out. If the database is briefly away, keep trying for a
    lease's length: giving up leaves the claim to lapse, and another sender sends it again.
    """
    statement = (
        update(N)
        .where(N.id == notification_id, N.status == NotificationStatus.SENDING, N.claimed_by == worker)
        .values(lease_until=None, **values)
    )
    deadline = time.monotonic() + current_app.config["OUTBOX_LEASE_SECONDS"]
    pause = 0.5
    while True:
        try:
            with writing():
                result = db.session.execute(statement)
                db.session.add(DeliveryAttempt(notification_id=notification_id, **attempt))
            return result.rowcount == 1
        except OperationalError as exc:
            if time.monotonic() + pause >= deadline:
                raise
            log.warning(
                "notification %s: outcome not recorded, database unavailable (%s); retrying in %.1f s",
                notification_id, type(exc.orig).__name__, pause,
            )  # fmt: skip
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def _unexpected(step: str, about: str, notification_id: int, exc: Exception) -> TransientError:
    """An exception nobody foresaw (a bug, a surprise in a library): retried, as a fix may come.

    The log gets the traceback without the exception's own words, which may quote the visitor.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    log.error(
        "%s: notification %s could not be %s: %s%s (message left out)\n%s",
        about, notification_id, step, type(exc).__name__, where, "".join(traceback.format_list(frames)),
    )  # fmt: skip
    return TransientError(f"the message could not be {step}: {type(exc).__name__}{where}")


def _prepare(notification: Notification, about: str, created_at) -> Callable[[], int | None]:
    """Build the notification's email or webhook now, while it is read; returns what sends it (and
    gives the answer's HTTP status, for a webhook)."""
    built = kinds.build(notification)
    if isinstance(built, webhook.WebhookRequest):
        return lambda: webhook.deliver(built)
    # leads/retention.py finds a purged lead's files by "-lead-<id>-notification-".
    label = about.replace(" ", "-").replace(":", "-")
    name = f"{created_at:%Y%m%dT%H%M%S}-{label}-notification-{notification.id}"
    return lambda: deliver(built, name)


def delete_file_copies(notification_ids: list[int] | set[int]) -> int:
    """Delete the .eml files these notifications left (written when no mail server is set; `_prepare`
    names them `…-notification-<id>.eml`): a copy must not outlive the data it holds. How many went."""
    folder = Path(current_app.config["MAIL_FILE_DIR"])
    if not notification_ids or not folder.is_dir():
        return 0
    removed = 0
    for notification_id in notification_ids:
        for path in folder.glob(f"*-notification-{int(notification_id)}.eml"):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def send_claimed(notification_id: int, worker: str) -> str:
    """Send one claimed notification and record what happened; returns its new status.

    Whatever goes wrong with this one, building or sending it, is recorded on it and goes no further:
    the rest of the batch is sent all the same.
    """
    # Reading and rendering take no write lock: on SQLite, POSTs go on writing meanwhile.
    notification = db.session.get(N, notification_id)
    lead_id = notification.lead_id
    created_at = notification.created_at
    attempts = notification.attempts
    claimed = kinds.Sent(notification_id, notification.kind, notification.once_key, lead_id)
    # What the logs and the .eml file name it by: its lead ("lead 12"), or its key ("weekly:2026-W48").
    about = f"lead {lead_id}" if lead_id is not None else claimed.once_key or claimed.kind
    send = None
    outcome: Exception | None = None
    try:
        send = _prepare(notification, about, created_at)
    except PermanentError as exc:  # e.g. a visitor's address no Reply-To can carry
        outcome = exc
    except Exception as exc:
        outcome = _unexpected("built", about, notification_id, exc)
    # End the read transaction before talking to SMTP or to a webhook's receiver.
    db.session.rollback()

    status_code = None
    if send is not None:
        try:
            status_code = send()
        except (TransientError, PermanentError) as exc:
            outcome = exc
            status_code = exc.status_code
        except Exception as exc:  # Flask-Mail builds the MIME message only now, as it sends
            outcome = _unexpected("sent", about, notification_id, exc)

    now = utcnow()
    error = None if outcome is None else str(outcome)[:1000]
    attempt = {"at": now, "status_code": status_code, "error": error}
    if outcome is None:
        sent = {"status": NotificationStatus.SENT, "sent_at": now, "last_error": None}
        _finish(notification_id, worker, attempt, **sent)
        log.info("%s: notification %s sent (attempt %s)", about, notification_id, attempts)
        # Even if this worker lost its claim meanwhile: the message is out either way.
        kinds.after_sent(claimed)
        return NotificationStatus.SENT

    give_up_at = created_at + timedelta(hours=current_app.config["OUTBOX_GIVE_UP_HOURS"])
    if isinstance(outcome, PermanentError) or now >= give_up_at:
        _finish(notification_id, worker, attempt, status=NotificationStatus.FAILED, last_error=error)
        log.error(
            "%s: notification %s FAILED after %s attempts; the lead is kept, staff must be told: %s",
            about, notification_id, attempts, error,
        )  # fmt: skip
        return NotificationStatus.FAILED

    delay = retry_delay(attempts, claimed.kind)
    _finish(
        notification_id,
        worker,
        attempt,
        status=NotificationStatus.PENDING,
        next_attempt_at=now + timedelta(seconds=delay),
        last_error=error,
    )
    log.warning(
        "%s: notification %s attempt %s failed, retrying in %.0f s: %s",
        about, notification_id, attempts, delay, error,
    )  # fmt: skip
    return NotificationStatus.PENDING


def run_once(worker: str | None = None, batch: int = 10, waiting_too: bool = False) -> int:
    """Deliver all that is due (with `waiting_too`, all that is pending); returns how many were tried."""
    worker = worker or worker_name()
    tried: set[int] = set()
    while True:
        ids = claim(worker, limit=batch, waiting_too=waiting_too, exclude=tried)
        if not ids:
            return len(tried)
        send_all(ids, worker)
        tried.update(ids)


def sweep(worker: str | None = None, waiting_too: bool = False) -> int:
    """Put what time made due in the outbox (schedule.py), then deliver all that is due.

    A fault in the scheduling is logged and goes no further: the leads' own emails still go out.
    """
    try:
        schedule_due()
    except OperationalError:
        db.session.rollback()
        raise  # the database is away: sending fails too, and the caller says so once
    except Exception:
        db.session.rollback()
        log.exception("outbox: what time made due could not be scheduled this time")
    return run_once(worker, waiting_too=waiting_too)


class Dispatcher:
    """The web process's background sender (OUTBOX_INLINE): a queue, a thread and a sweep.

    New notifications are handed over after their commit and sent at once; what piled up meanwhile
    is claimed in one batch. Every OUTBOX_POLL_SECONDS the thread also sweeps for retries and lapsed
    claims, and for what time has made due (reminders, the weekly summary). The thread starts in
    the process that serves requests, after any fork. Nothing waits in memory only: a handed-over id
    is in the outbox too, and a sweep or `flask outbox run` takes it.
    A busy site runs `flask outbox run` as its own service instead (docs/operating.md).
    """

    def __init__(self, app: Flask, threads: int = 1):
        self.app = app
        self.threads = threads
        self.batch = 50
        self.queue: queue.Queue[int] = queue.Queue()
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def ensure_started(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self.queue = queue.Queue()  # a queue inherited through fork is not ours
            self._stop = threading.Event()
            self._threads = [
                threading.Thread(target=self._loop, name=f"outbox-{i}", daemon=True)
                for i in range(self.threads)
            ]
            for thread in self._threads:
                thread.start()
            self._pid = os.getpid()

    def stop(self, timeout: float = 10.0) -> None:
        """Let the threads finish the message in hand, then end; what is pending stays in the outbox."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._pid = None

    def hand_off(self, notification_id: int) -> None:
        self.ensure_started()
        self.queue.put(notification_id)

    def _take_queued(self, first: int) -> list[int]:
        """`first` and whatever else is already queued, up to a batch: one claim for all of them."""
        ids = [first]
        while len(ids) < self.batch:
            try:
                ids.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return ids

    def _loop(self) -> None:
        poll = self.app.config["OUTBOX_POLL_SECONDS"]
        stop = self._stop
        next_sweep = 0.0  # sweep at once: a restart may have left notifications pending
        while not stop.is_set():
            try:
                # Wake at least every second to notice stop(); sweep every `poll` seconds.
                notification_id = self.queue.get(timeout=min(poll, 1.0))
            except queue.Empty:
                notification_id = None
            if stop.is_set():
                break
            sweep_now = time.monotonic() >= next_sweep
            if notification_id is None and not sweep_now:
                continue
            try:
                with self.app.app_context():
                    worker = worker_name()
                    if notification_id is not None:
                        ids = self._take_queued(notification_id)
                        send_all(claim(worker, limit=self.batch, ids=ids), worker)
                    # Also between hand-offs: a steady stream of new leads must not starve the retries.
                    if sweep_now:
                        next_sweep = time.monotonic() + poll
                        sweep(worker)
            except Exception:
                # The notification stays in the outbox; the next sweep or `outbox run` takes it.
                log.exception("outbox: background pass failed")
