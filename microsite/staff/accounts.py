"""Staff accounts: their role and offices, passwords (hashing, what is refused), checks that are
throttled (throttle.py), the TOTP second factor and recovery codes."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from functools import cache

import pyotp
from flask import current_app
from sqlalchemy import or_, select, update
from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn import zxcvbn

from ..content import current_clinic
from ..database import writing
from ..extensions import db
from ..logs import printable
from ..models import StaffRole, StaffUser, utcnow
from . import logins, throttle

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
# zxcvbn's score: 3 means about 10^8 guesses or more. Below it are the passwords people commonly choose
# (on the leaked lists it ships) and what is guessed as fast: a keyboard row, a repeat, a word and a year.
MIN_PASSWORD_SCORE = 3
# zxcvbn's time grows with the length; past this it has seen enough to judge.
PASSWORD_CHECKED_CHARACTERS = 100
RECOVERY_CODE_COUNT = 10


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def hash_password(password: str) -> str:
    """Werkzeug's scrypt (PASSWORD_HASH_METHOD: its default cost), with a random salt per password."""
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def password_problem(password: str, email: str = "") -> str | None:
    """Why a new password is refused, in plain words, or None: too short, too long, or commonly used
    (or as easily guessed). The same rule for the browser's forms and `flask staff create`."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Use at most {MAX_PASSWORD_LENGTH} characters."
    hints = [email, normalize_email(email).partition("@")[0], current_clinic().name] if email else []
    result = zxcvbn(password[:PASSWORD_CHECKED_CHARACTERS], user_inputs=[h for h in hints if h])
    if result["score"] >= MIN_PASSWORD_SCORE:
        return None
    why = result["feedback"]["warning"] or "It is too close to passwords people commonly use."
    return (
        f"That password is easy to guess: {why.rstrip('.')}. Attackers try such passwords first. "
        "Choose another; a few unrelated words work well."
    )


def valid_role(role: str, offices: list[str]) -> str | None:
    """Why a role and its offices cannot go together, or None."""
    if role not in StaffRole.LABELS:
        return f"The role must be one of: {', '.join(StaffRole.LABELS)}."
    known = {office.slug for office in current_clinic().offices}
    if unknown := [o for o in offices if o not in known]:
        return f"No office {', '.join(unknown)}; the offices are {', '.join(sorted(known))}."
    if role == StaffRole.STAFF and not offices:
        return "A staff account needs at least one office."
    return None


def _dummy_hash() -> str:
    """What a failed login is checked against when there is no password to check: made once per
    process and cost, so that it takes as long as checking a real one, not twice as long."""
    return _random_hash(current_app.config["PASSWORD_HASH_METHOD"])


@cache
def _random_hash(method: str) -> str:
    return generate_password_hash(secrets.token_hex(16), method=method)


def find(email: str) -> StaffUser | None:
    return db.session.scalar(select(StaffUser).where(StaffUser.email == normalize_email(email)))


def create(
    email: str,
    password: str | None = None,
    role: str = StaffRole.STAFF,
    offices: list[str] | tuple[str, ...] = (),
    password_hash: str | None = None,
) -> StaffUser:
    """A new account (call it inside `writing()`): its password, or a hash of it already made."""
    user = StaffUser(
        email=normalize_email(email),
        password_hash=password_hash or hash_password(password or ""),
        active=True,
        role=role,
        offices=" ".join(sorted(set(offices))) if role == StaffRole.STAFF else "",
    )
    db.session.add(user)
    return user


def set_password(user: StaffUser, password: str, keep_login: str | None = None) -> None:
    """A new password ends every login of the account but `keep_login`, the one changing it. The
    failed logins are forgotten: an operator's reset forgets them from every address, the owner's own
    change only from theirs. Call it inside `writing()`."""
    user.password_hash = hash_password(password)
    logins.end_all(user, keep=keep_login)
    throttle.clear(user.email, everywhere=keep_login is None)


# -- checking a password or a code -------------------------------------------------------


def _typed(email: str) -> str:
    # People type their password into the email box; only something shaped like an address is logged.
    email = normalize_email(email)
    return printable(email) if "@" in email and " " not in email else "(not an email address)"


def _throttled(email: str, what: str) -> bool:
    """True when checks for `email` from this client must wait; logged, not counted as a failure."""
    wait = throttle.wait_seconds(email)
    if wait > 0:
        log.warning(
            "staff login failed: throttled (%.0f s more) for %s from %s",
            wait,
            what,
            throttle.client_address(),
        )
    return wait > 0


def _failed(email: str, reason: str, what: str) -> None:
    throttle.record_failure(email)
    log.warning("staff login failed: %s for %s from %s", reason, what, throttle.client_address())


def check_password(email: str, password: str) -> StaffUser | None:
    """The first factor: the active account with this email and password, or None.

    Every failure looks the same and takes the same time (a password is hashed even for an unknown
    account or a throttled client); each counts in the throttle, but one turned away by it (a wait
    that kept growing would lock the real person out). The account is read and the password
    hashed outside any write transaction: a burst of failed logins never holds SQLite's write lock
    while scrypt runs. Only a failure's count is written.
    """
    email = normalize_email(email)
    user = find(email)
    what = f"staff {user.id}" if user is not None else f"no such account {_typed(email)}"
    if _throttled(email, what):
        check_password_hash(_dummy_hash(), password)
        return None
    if user is None:
        check_password_hash(_dummy_hash(), password)
        _failed(email, "wrong password", what)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        _failed(email, "wrong password" if user.active else "disabled account", what)
        return None
    return user


def confirm_password(user: StaffUser, password: str) -> bool:
    """A logged-in staff member's own password again (account page), throttled and counted like a login."""
    what = f"staff {user.id} (account page)"
    if _throttled(user.email, what):
        check_password_hash(_dummy_hash(), password)
        return False
    if check_password_hash(user.password_hash, password):
        return True
    _failed(user.email, "wrong password", what)
    return False


def register_success(user: StaffUser) -> None:
    """A login is complete: its failures from this client are forgotten. Call it inside `writing()`."""
    user.last_login_at = utcnow()
    throttle.clear(user.email)
    log.info("staff login: staff %s from %s", user.id, throttle.client_address())


# -- the second factor -----------------------------------------------------------------


def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    issuer = current_clinic().name
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


def _use_totp_code(user: StaffUser, code: str) -> bool:
    """Accept a TOTP code once: a conditional UPDATE moves the last used step forward, so of two
    requests with the same code at once, on either database, only one changes the row."""
    counter = totp_counter(user.totp_secret or "", code, after=user.totp_last_counter)
    if counter is None:
        return False
    with writing() as session:
        moved = session.execute(
            update(StaffUser)
            .where(
                StaffUser.id == user.id,
                or_(StaffUser.totp_last_counter.is_(None), StaffUser.totp_last_counter < counter),
            )
            .values(totp_last_counter=counter)
            .execution_options(synchronize_session=False)
        )
    return moved.rowcount == 1


def _use_recovery_code(user: StaffUser, code: str) -> bool:
    """Accept a recovery code once: the list is replaced only if no one changed it since it was read
    (compare and swap), so the same code in two requests at once opens one."""
    hashed = _hash_code(code)
    for _ in range(RECOVERY_CODE_COUNT):  # another code used meanwhile: read the list again
        stored = db.session.scalar(select(StaffUser.recovery_codes).where(StaffUser.id == user.id)) or ""
        hashes = stored.split()
        match = next((h for h in hashes if hmac.compare_digest(h, hashed)), None)
        if match is None:
            return False
        hashes.remove(match)
        with writing() as session:
            swapped = session.execute(
                update(StaffUser)
                .where(StaffUser.id == user.id, StaffUser.recovery_codes == stored)
                .values(recovery_codes="\n".join(hashes))
                .execution_options(synchronize_session=False)
            )
        if swapped.rowcount == 1:
            log.warning("staff %s used a recovery code; %s left", user.id, len(hashes))
            return True
    return False


def check_second_factor(user: StaffUser, code: str) -> bool:
    """A current TOTP code or an unused recovery code, each accepted once; throttled and counted
    like a password."""
    what = f"staff {user.id}"
    if _throttled(user.email, what):
        return False
    code = code.strip()
    totp_ok = bool(user.totp_secret) and _use_totp_code(user, code)
    if totp_ok or (len(code) > 6 and _use_recovery_code(user, code)):
        return True
    _failed(user.email, "wrong code", what)
    return False


def enable_totp(user: StaffUser, secret: str, counter: int) -> list[str]:
    user.totp_secret = secret
    user.totp_last_counter = counter
    return new_recovery_codes(user)


def disable_totp(user: StaffUser) -> None:
    """The authenticator app off; the recovery codes go with the last factor."""
    user.totp_secret = None
    user.totp_last_counter = None
    if not user.passkeys:
        user.recovery_codes = None


def clear_second_factor(user: StaffUser) -> None:
    """Every factor gone (a lost phone, an admin's reset): the account sets one up at its next login.
    Call it inside `writing()`."""
    user.passkeys.clear()
    disable_totp(user)
    user.recovery_codes = None


def recovery_codes_left(user: StaffUser) -> int:
    return len((user.recovery_codes or "").split())
