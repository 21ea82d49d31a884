"""Staff accounts: password hashing, per-account lockout, the TOTP second factor and recovery codes."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

import pyotp
from flask import current_app, has_request_context, request
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from ..database import writing
from ..extensions import db
from ..models import StaffUser, utcnow

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 12
RECOVERY_CODE_COUNT = 10


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def hash_password(password: str) -> str:
    """Werkzeug's scrypt, with a random salt per password."""
    return generate_password_hash(password, method="scrypt")


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > 1024:
        return "Use at most 1024 characters."
    return None


@cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_hex(16))


def find(email: str) -> StaffUser | None:
    return db.session.scalar(select(StaffUser).where(StaffUser.email == normalize_email(email)))


def create(email: str, password: str) -> StaffUser:
    user = StaffUser(
        email=normalize_email(email),
        password_hash=hash_password(password),
        active=True,
        session_token=secrets.token_hex(16),
        failed_logins=0,
    )
    db.session.add(user)
    return user


def set_password(user: StaffUser, password: str) -> None:
    """A new password ends every open session of the account and lifts a lockout."""
    user.password_hash = hash_password(password)
    user.session_token = secrets.token_hex(16)
    user.failed_logins = 0
    user.locked_until = None


def end_sessions(user: StaffUser) -> None:
    user.session_token = secrets.token_hex(16)


# -- logging in ------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    user: StaffUser | None
    problem: str | None  # None, "wrong" or "locked"


def _where() -> str:
    return (request.remote_addr or "?") if has_request_context() else "cli"


def _loggable(email: str) -> str:
    # People type their password into the email box; only something shaped like an address is logged.
    email = normalize_email(email)
    return email[:254] if "@" in email and " " not in email else "(not an email address)"


def check_password(email: str, password: str) -> Attempt:
    """The first factor, with lockout.

    The account is read and the password hashed outside any write transaction: a burst of failed
    logins never holds SQLite's write lock while scrypt runs. Only a failure's count is written.
    """
    user = find(email)
    if user is None:
        check_password_hash(_dummy_hash(), password)  # the same time as a real account
        log.warning("staff login failed: no such account %s from %s", _loggable(email), _where())
        return Attempt(None, "wrong")
    if is_locked(user):
        log.warning("staff login refused: account %s is locked, from %s", user.email, _where())
        return Attempt(None, "locked")
    if not check_password_hash(user.password_hash, password) or not user.active:
        with writing():
            problem = register_failure(user, "wrong password" if user.active else "disabled account")
        return Attempt(None, problem)
    return Attempt(user, None)


def is_locked(user: StaffUser) -> bool:
    return user.locked_until is not None and user.locked_until > utcnow()


def register_failure(user: StaffUser, reason: str) -> str:
    """Count a failed attempt; enough in a row lock the account for a while. Returns the problem."""
    user.failed_logins = (user.failed_logins or 0) + 1
    limit = current_app.config["STAFF_LOCKOUT_ATTEMPTS"]
    log.warning(
        "staff login failed: %s for %s from %s (%s of %s)",
        reason, user.email, _where(), user.failed_logins, limit,
    )  # fmt: skip
    if user.failed_logins >= limit:
        user.failed_logins = 0
        user.locked_until = utcnow() + timedelta(minutes=current_app.config["STAFF_LOCKOUT_MINUTES"])
        log.error("staff account %s locked after %s failed attempts", user.email, limit)
        return "locked"
    return "wrong"


def register_success(user: StaffUser) -> None:
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = utcnow()
    log.info("staff login: %s from %s", user.email, _where())


# -- the second factor -----------------------------------------------------------------


def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    issuer = current_app.extensions["clinic"].name
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def totp_counter(secret: str, code: str, after: int | None = None) -> int | None:
    """The time step whose code this is (allowing one step of clock drift), if not used before."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now = int(time.time() // totp.interval)
    for counter in (now - 1, now, now + 1):
        if (after is None or counter > after) and hmac.compare_digest(totp.generate_otp(counter), code):
            return counter
    return None


def _hash_code(code: str) -> str:
    # Recovery codes carry 80 random bits, so a fast hash cannot be brute-forced.
    return hashlib.sha256("".join(code.lower().split()).replace("-", "").encode()).hexdigest()


def new_recovery_codes(user: StaffUser) -> list[str]:
    """Fresh recovery codes: shown once, only their hashes are kept."""
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = secrets.token_hex(10)
        codes.append("-".join(raw[i : i + 5] for i in range(0, 20, 5)))
    user.recovery_codes = "\n".join(_hash_code(c) for c in codes)
    return codes


def use_recovery_code(user: StaffUser, code: str) -> bool:
    hashed = _hash_code(code)
    stored = (user.recovery_codes or "").split()
    match = next((h for h in stored if hmac.compare_digest(h, hashed)), None)
    if match is None:
        return False
    stored.remove(match)
    user.recovery_codes = "\n".join(stored)
    log.warning("staff %s used a recovery code; %s left", user.email, len(stored))
    return True


def check_second_factor(user: StaffUser, code: str) -> bool:
    """A current TOTP code (each accepted once) or an unused recovery code. Call it in `writing()`."""
    counter = totp_counter(user.totp_secret or "", code, after=user.totp_last_counter)
    if counter is not None:
        user.totp_last_counter = counter
        return True
    return len(code.strip()) > 6 and use_recovery_code(user, code)


def enable_totp(user: StaffUser, secret: str, counter: int) -> list[str]:
    user.totp_secret = secret
    user.totp_last_counter = counter
    return new_recovery_codes(user)


def disable_totp(user: StaffUser) -> None:
    user.totp_secret = None
    user.totp_last_counter = None
    user.recovery_codes = None


def recovery_codes_left(user: StaffUser) -> int:
    return len((user.recovery_codes or "").split())
