"""What becomes due with time, put in the outbox once: the sweeps ask each registered finder (kinds.py)
what is due by now, and insert it under its once-only key.

The outbox's sweeps call `schedule_due` (the web process's background sender, and `flask outbox run`),
so no cron or timer is needed. Each such notification has a once-only key ("reminder:12",
"weekly:2026-W48"); the insert skips a key that exists, so however many instances and workers sweep at
once, each happens once. Sending goes through the outbox as usual: claimed, retried, never lost.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from ..database import writing
from ..extensions import db
from ..models import Notification, NotificationStatus, utcnow
from .kinds import registry

log = logging.getLogger(__name__)
N = Notification


def insert_once(rows: list[dict], connection: Connection | None = None) -> list[tuple[int, str]]:
    """Put `rows` in the outbox, skipping every once-only key that is there already; returns the new
    (id, once_key) pairs.

    Call it inside `writing()`, or give the Core `connection` of a `write_connection()`. INSERT … ON
    CONFLICT DO NOTHING: another instance that got there first (even in the same instant) wins, and this
    one adds nothing.
    """
    executor = db.session if connection is None else connection
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    now = utcnow()  # when it entered the outbox, whatever clock decided it was due
    values = [
        {
            **row,
            "status": NotificationStatus.PENDING,
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
        }
        for row in rows
    ]
    statement = insert(N).values(values).on_conflict_do_nothing(index_elements=[N.once_key])
    return [tuple(row) for row in executor.execute(statement.returning(N.id, N.once_key))]


def schedule_due(now: datetime | None = None) -> list[int]:
    """Put what is due by `now` in the outbox (reminders, escalations, the weekly summary); returns the ids.

    It looks first, without SQLite's write lock, and writes only when something is due.
    """
    now = now or utcnow()
    found = [row for find_due in registry().due_finders for row in find_due(now)]
    # In one order everywhere: two senders inserting the same keys in other orders could deadlock.
    due = sorted(found, key=lambda row: row["once_key"])
    db.session.rollback()  # end the read
    if not due:
        return []
    with writing():
        made = insert_once(due)
    for notification_id, once_key in made:
        log.info("outbox: %s scheduled as notification %s", once_key, notification_id)
    return [notification_id for notification_id, _ in made]
