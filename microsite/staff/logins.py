"""One `StaffSession` row per login: the session cookie carries only its token, so ending a login is
deleting its row, whoever holds a copy of the cookie."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select, update

from ..extensions import db
from ..models import StaffSession, StaffUser, utcnow

PENDING = timedelta(minutes=5)  # time to type the code after the password


def _hashed(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(user: StaffUser, verified: bool = True) -> str:
    """A new login of `user` (only the code still to come unless `verified`); returns its token.

    Call it inside `writing()`. Expired logins of anyone are deleted on the way.
    """
    now = utcnow()
    token = secrets.token_urlsafe(32)
    lifetime = current_app.permanent_session_lifetime if verified else PENDING
    db.session.execute(delete(StaffSession).where(StaffSession.expires_at < now))
    db.session.add(
        StaffSession(
            token_hash=_hashed(token),
            staff_id=user.id,
            verified=verified,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    user.login_token = token
    return token


def user_of(token: object, verified: bool = True) -> StaffUser | None:
    """The active staff member whose unexpired login this token is (awaiting its code if not `verified`)."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    user = db.session.scalar(
        select(StaffUser)
        .join(StaffSession, StaffSession.staff_id == StaffUser.id)
        .where(
            StaffSession.token_hash == _hashed(token),
            StaffSession.verified.is_(verified),
            StaffSession.expires_at > utcnow(),
            StaffUser.active.is_(True),
        )
    )
    if user is not None:
        user.login_token = token
    return user


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
