"""Passkeys (WebAuthn), through the `webauthn` library: adding one on the account page, signing in with it
alone, confirming it is you before a sensitive change.

User verification is required every time (the phone's or laptop's PIN, fingerprint or face), so a passkey
is two factors in one: something held and something known or been. The relying party is SITE_URL's host
and the one origin accepted is SITE_URL's: a passkey made for another site, or an answer relayed from
one, is refused. Each ceremony's challenge is random, kept by its hash for a few minutes, bound to the
browser that asked for it (its session cookie) and used once.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app, session
from sqlalchemy import delete, select, update
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from ..content import current_clinic
from ..database import writing
from ..extensions import db
from ..models import StaffPasskey, StaffUser, WebAuthnChallenge
from . import logins

log = logging.getLogger(__name__)

CHALLENGE_FOR = timedelta(minutes=5)
TIMEOUT_MS = 120_000  # how long the browser waits for the person
REGISTER, LOGIN, REAUTH = "register", "login", "reauth"
_SESSION_KEY = "staff_webauthn"


class Refused(Exception):
    """A passkey answer that proves nothing: the reason is logged, the person told only that it failed."""


def rp_id() -> str:
    """The relying party: SITE_URL's host (no port), to which every passkey is bound by the browser."""
    return urlsplit(current_app.config["SITE_URL"]).hostname or "localhost"


def expected_origin() -> str:
    return current_app.extensions["site_origin"]


def _hash(challenge: bytes) -> str:
    return hashlib.sha256(challenge).hexdigest()


def _new_challenge(purpose: str, staff_id: int | None) -> bytes:
    """A fresh challenge kept for this browser's session and, by its hash, on the server."""
    challenge = secrets.token_bytes(32)
    now = logins.now()
    with writing() as s:
        s.execute(delete(WebAuthnChallenge).where(WebAuthnChallenge.expires_at < now))
        s.add(
            WebAuthnChallenge(
                challenge_hash=_hash(challenge),
                purpose=purpose,
                staff_id=staff_id,
                expires_at=now + CHALLENGE_FOR,
            )
        )
    session[_SESSION_KEY] = {"challenge": bytes_to_base64url(challenge), "purpose": purpose}
    return challenge


def _use_challenge(purpose: str, staff_id: int | None) -> bytes:
    """This browser's challenge for `purpose`, deleted as it is read: a second answer finds none."""
    kept = session.pop(_SESSION_KEY, None)
    if not isinstance(kept, dict) or kept.get("purpose") != purpose:
        raise Refused("no ceremony under way in this session")
    challenge = base64url_to_bytes(str(kept.get("challenge", "")))
    with writing() as s:
        used = s.execute(
            delete(WebAuthnChallenge).where(
                WebAuthnChallenge.challenge_hash == _hash(challenge),
                WebAuthnChallenge.purpose == purpose,
                WebAuthnChallenge.staff_id.is_(None)
                if staff_id is None
                else WebAuthnChallenge.staff_id == staff_id,
                WebAuthnChallenge.expires_at > logins.now(),
            )
        )
    if used.rowcount != 1:
        raise Refused("challenge expired or used")
    return challenge


def _handle(user: StaffUser) -> bytes:
    """The account's WebAuthn user handle: random, made with its first passkey. Call inside `writing()`."""
    if not user.webauthn_handle:
        user.webauthn_handle = bytes_to_base64url(secrets.token_bytes(32))
    return base64url_to_bytes(user.webauthn_handle)


# -- adding a passkey ---------------------------------------------------------------------


def registration_options(user: StaffUser) -> str:
    """The options for navigator.credentials.create(), as JSON: a discoverable passkey with user
    verification, none of the account's own passkeys again."""
    with writing():
        handle = _handle(user)
    options = generate_registration_options(
        rp_id=rp_id(),
        rp_name=current_clinic().name,
        user_id=handle,
        user_name=user.email,
        user_display_name=user.email,
        challenge=_new_challenge(REGISTER, user.id),
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id)) for p in user.passkeys
        ],
    )
    return options_to_json(options)


def verify_new(user: StaffUser, credential: dict):
    """Check the browser's answer to this session's registration; raises Refused."""
    challenge = _use_challenge(REGISTER, user.id)
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id(),
            expected_origin=expected_origin(),
            require_user_verification=True,
        )
    except (WebAuthnException, KeyError, TypeError, ValueError) as exc:
        raise Refused(f"registration: {type(exc).__name__}: {exc}") from None
    return verified


def keep(user: StaffUser, verified, name: str) -> StaffPasskey:
    """The verified passkey, kept on the account. Call it inside `writing()`."""
    passkey = StaffPasskey(
        credential_id=bytes_to_base64url(verified.credential_id),
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        name=name,
        created_at=logins.now(),
    )
    user.passkeys.append(passkey)
    return passkey


# -- signing in, or confirming it is you -----------------------------------------------------


def authentication_options(purpose: str, user: StaffUser | None = None) -> str:
    """The options for navigator.credentials.get(), as JSON. To sign in, any passkey of this site (the
    browser offers those it holds); to confirm, only the account's own."""
    allowed = (
        [PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id)) for p in user.passkeys]
        if user is not None
        else []
    )
    options = generate_authentication_options(
        rp_id=rp_id(),
        challenge=_new_challenge(purpose, user.id if user is not None else None),
        timeout=TIMEOUT_MS,
        allow_credentials=allowed,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json(options)


def authenticate(credential: dict, purpose: str, user: StaffUser | None = None) -> StaffUser:
    """The active account whose passkey made this answer to this browser's challenge (for `user` only,
    when given); raises Refused otherwise. Its signature counter moves forward."""
    challenge = _use_challenge(purpose, user.id if user is not None else None)
    try:
        parsed = parse_authentication_credential_json(credential)
    except (WebAuthnException, KeyError, TypeError, ValueError) as exc:
        raise Refused(f"unreadable answer: {type(exc).__name__}") from None
    passkey = db.session.scalar(
        select(StaffPasskey).where(StaffPasskey.credential_id == bytes_to_base64url(parsed.raw_id))
    )
    if passkey is None:
        raise Refused("unknown passkey")
    owner = passkey.user
    if not owner.active or (user is not None and owner.id != user.id):
        raise Refused(f"passkey {passkey.id} is not this account's, or the account is disabled")
    handle = parsed.response.user_handle
    if handle is not None and bytes_to_base64url(handle) != owner.webauthn_handle:
        raise Refused(f"passkey {passkey.id}: another account's user handle")
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp_id(),
            expected_origin=expected_origin(),
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=True,
        )
    except (WebAuthnException, KeyError, TypeError, ValueError) as exc:
        raise Refused(f"passkey {passkey.id}: {type(exc).__name__}: {exc}") from None
    with writing() as s:
        s.execute(
            update(StaffPasskey)
            .where(StaffPasskey.id == passkey.id)
            .values(sign_count=verified.new_sign_count, last_used_at=logins.now())
            .execution_options(synchronize_session=False)
        )
    return owner


def remove(user: StaffUser, passkey_id: int) -> bool:
    """Forget one of the account's passkeys. Call it inside `writing()`."""
    passkey = next((p for p in user.passkeys if p.id == passkey_id), None)
    if passkey is None:
        return False
    user.passkeys.remove(passkey)
    return True
