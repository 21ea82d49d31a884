"""Failed logins slow down where they come from; they never lock an account.

A lockout lets anyone lock anyone out. Instead each failed password or code check is counted for
the email typed together with the client's address, and for the address alone; after a few
failures the next check from there waits, twice as long after each further failure, up to
STAFF_THROTTLE_MAX_SECONDS. The real person, from their own address, is not slowed down by a
stranger elsewhere, and a success clears their own count. Unknown accounts are counted exactly like
real ones. No library does this for Flask (Flask-Limiter counts requests per window, not failures),
so it is this small table: shared by every worker and instance through the database, each failure
one atomic upsert, so parallel failures all count.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from ..database import writing
from ..extensions import db
from ..models import LoginThrottle, utcnow
from ..security import client_address  # accounts.py logs it from here too

BASE_SECONDS = 2.0  # the first wait; each further failure doubles it
FORGET_AFTER = timedelta(days=1)  # a failure older than this no longer counts
ANY_ACCOUNT = ""  # the `account` of the row that counts an address's failures for every account


def account_key(email: str) -> str:
    """The stored name of a typed email (normalised by the caller): its SHA-256, so nothing typed
    into the box is kept."""
    return hashlib.sha256(email.encode("utf-8", "surrogatepass")).hexdigest()


def delay(failures: int, free: int) -> float:
    """Seconds to wait after `failures` failures when the first `free` of them cost nothing."""
    if failures < free:
        return 0.0
    cap = current_app.config["STAFF_THROTTLE_MAX_SECONDS"]
    return min(BASE_SECONDS * 2.0 ** min(failures - free, 32), cap)


def _rows(email: str, address: str) -> list[LoginThrottle]:
    return db.session.scalars(
        select(LoginThrottle).where(
            LoginThrottle.address == address,
            LoginThrottle.account.in_((account_key(email), ANY_ACCOUNT)),
        )
    ).all()


def wait_seconds(email: str, now: datetime | None = None) -> float:
    """How long before a check for `email` from this client is judged; 0 when it may be now."""
    now = now or utcnow()
    config = current_app.config
    longest = 0.0
    for row in _rows(email, client_address()):
        if row.last_failure_at < now - FORGET_AFTER:
            continue
        free = config[
            "STAFF_THROTTLE_ADDRESS_AFTER" if row.account == ANY_ACCOUNT else "STAFF_THROTTLE_AFTER"
        ]
        until = row.last_failure_at + timedelta(seconds=delay(row.failures, free))
        longest = max(longest, (until - now).total_seconds())
    return longest


def _upsert(account: str, address: str, now: datetime):
    """INSERT … ON CONFLICT DO UPDATE: one statement, so two failures at once both count."""
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    stale = LoginThrottle.last_failure_at < now - FORGET_AFTER
    return (
        insert(LoginThrottle)
        .values(account=account, address=address, failures=1, last_failure_at=now)
        .on_conflict_do_update(
            index_elements=[LoginThrottle.account, LoginThrottle.address],
            set_={
                "failures": case((stale, 1), else_=LoginThrottle.failures + 1),
                "last_failure_at": now,
            },
        )
    )


def record_failure(email: str) -> None:
    """Count a failed check for `email` and for the client's address alone; forget stale rows."""
    now = utcnow()
    address = client_address()
    with writing() as session:
        session.execute(_upsert(account_key(email), address, now))
        session.execute(_upsert(ANY_ACCOUNT, address, now))
        session.execute(delete(LoginThrottle).where(LoginThrottle.last_failure_at < now - FORGET_AFTER))


def clear(email: str, everywhere: bool = False) -> None:
    """Forget the failures for `email` from this client (a success), or from everywhere (a reset).

    Call it inside `writing()`. The address's own count stays: it is about every account.
    """
    where = [LoginThrottle.account == account_key(email)]
    if not everywhere:
        where.append(LoginThrottle.address == client_address())
    db.session.execute(delete(LoginThrottle).where(*where))


def throttled_addresses(email: str) -> int:
    """From how many addresses checks for `email` are being slowed down now (`flask staff list`)."""
    now = utcnow()
    free = current_app.config["STAFF_THROTTLE_AFTER"]
    rows = db.session.scalars(
        select(LoginThrottle).where(
            LoginThrottle.account == account_key(email),
            LoginThrottle.last_failure_at >= now - FORGET_AFTER,
        )
    ).all()
    return sum(1 for row in rows if row.last_failure_at + timedelta(seconds=delay(row.failures, free)) > now)
