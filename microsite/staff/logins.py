"""One `StaffSession` row per login: the session cookie carries only its token, so ending a login is
deleting its row, whoever holds a copy of the cookie. A login ends at its absolute limit
(STAFF_SESSION_HOURS) or after STAFF_IDLE_MINUTES without a request; proving who you are again
(re-authentication) lasts REAUTH_FOR.

Every time here is read from `now()`, the app's clock for logins, which a test may move by hand."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select, update

from ..database import writing
from ..extensions import db
from ..models import StaffSession, StaffUser

PENDING = timedelta(minutes=5)  # time to type the code after the password
REAUTH_FOR = timedelta(
    minutes=5
)  # a password or passkey this recent lets its holder change factors, the team, export


def now() -> datetime:
    """The time logins are measured by: UTC now, or the time source a test put in its place."""
    return current_app.extensions["staff_clock"]()


def idle_limit() -> timedelta:
    return timedelta(minutes=current_app.config["STAFF_IDLE_MINUTES"])


def _hashed(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(user: StaffUser, verified: bool = True) -> str:
    """A new login of `user` (only the code still to come unless `verified`); returns its token.

    Call it inside `writing()`. Expired logins of anyone are deleted on the way.
    """
    current = now()
    token = secrets.token_urlsafe(32)
    lifetime = current_app.permanent_session_lifetime if verified else PENDING
    db.session.execute(delete(StaffSession).where(StaffSession.expires_at < current))
    db.session.add(
        StaffSession(
            token_hash=_hashed(token),
            staff_id=user.id,
            verified=verified,
            created_at=current,
            expires_at=current + lifetime,
            last_seen_at=current,
            reauth_at=current,  # the password (or passkey) was just checked
        )
    )
    user.login_token = token
    return token


def user_of(token: object, verified: bool = True) -> StaffUser | None:
    """The active staff member whose unexpired, recently used login this token is (awaiting its code
    if not `verified`); the login counts as used now."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    current = now()
    row = db.session.execute(
        select(StaffUser, StaffSession.last_seen_at)
        .join(StaffSession, StaffSession.staff_id == StaffUser.id)
        .where(
            StaffSession.token_hash == _hashed(token),
            StaffSession.verified.is_(verified),
            StaffSession.expires_at > current,
            StaffSession.last_seen_at > current - idle_limit(),
            StaffUser.active.is_(True),
        )
    ).first()
    if row is None:
        return None
    user, last_seen = row
    # Written at most every tenth of the idle limit (and every minute): a page of requests is not a page
    # of writes, and the limit holds to within a tenth.
    if last_seen < current - min(idle_limit() / 10, timedelta(minutes=1)):
        _touch(token, last_seen, current)
    user.login_token = token
    return user


def _touch(token: str, last_seen: datetime, current: datetime) -> None:
    """Move the login's last use to now (unless another request just did)."""
    with writing() as session:
        session.execute(
            update(StaffSession)
            .where(StaffSession.token_hash == _hashed(token), StaffSession.last_seen_at == last_seen)
            .values(last_seen_at=current)
            .execution_options(synchronize_session=False)
        )


def reauthenticated_recently(token: str | None) -> bool:
    """Did this login's holder give their password or passkey within REAUTH_FOR?"""
    if not token:
        return False
    at = db.session.scalar(select(StaffSession.reauth_at).where(StaffSession.token_hash == _hashed(token)))
    return at is not None and at > now() - REAUTH_FOR


def mark_reauthenticated(token: str) -> None:
    """Its holder just gave their password or passkey again. Call it inside `writing()`."""
    db.session.execute(
        update(StaffSession).where(StaffSession.token_hash == _hashed(token)).values(reauth_at=now())
    )


def end(token: str | None) -> None:
    """End one login. Call it inside `writing()`."""
    if token:
        db.session.execute(delete(StaffSession).where(StaffSession.token_hash == _hashed(token)))


def end_all(user: StaffUser, keep: str | None = None) -> None:
    """End every login of `user` (but `keep`, the one making the change). Call it inside `writing()`."""
    stmt = delete(StaffSession).where(StaffSession.staff_id == user.id)
    if keep:
        stmt = stmt.where(StaffSession.token_hash != _hashed(keep))
    db.session.execute(stmt)


def totp_setup_secret(token: str) -> str | None:
    """The authenticator secret being set up in this login, if any: kept here, never in the cookie."""
    return db.session.scalar(
        select(StaffSession.totp_setup_secret).where(StaffSession.token_hash == _hashed(token))
    )


def keep_totp_setup_secret(token: str, secret: str | None) -> None:
    """Keep (or with None, forget) the secret being set up in this login. Call it inside `writing()`."""
    db.session.execute(
        update(StaffSession).where(StaffSession.token_hash == _hashed(token)).values(totp_setup_secret=secret)
    )
