"""Inviting a new team member: a one-time link by email (through the outbox), valid for 72 hours, used
once, with which they choose a password and then set up a second step.

Only the link token's SHA-256 is stored. The token itself is an HMAC, under SECRET_KEY, of the
invitation's random nonce: the outbox can write the email again on a retry, while a copy of the
database alone opens nothing. A new SECRET_KEY makes the links already sent useless (invite again).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from flask import current_app
from flask_mail import Message
from sqlalchemy import func, select, update

from .. import audit
from ..content import current_clinic
from ..database import writing
from ..extensions import db
from ..models import NotificationKind, StaffInvite, StaffUser
from ..notify.email import clinic_message
from ..notify.schedule import insert_once
from ..notify.transport import PermanentError
from . import accounts, logins

log = logging.getLogger(__name__)

VALID_FOR = timedelta(hours=72)


def _token(nonce: str) -> str:
    key = current_app.secret_key.encode()
    digest = hmac.new(key, f"staff-invite:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _hashed(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link(invite: StaffInvite) -> str:
    return f"{current_app.config['SITE_URL']}/staff/invite/{_token(invite.nonce)}"


def create(email: str, role: str, offices: list[str], invited_by: StaffUser) -> tuple[int, list[int]]:
    """A new invitation and its email, in one transaction; an earlier one to the same address is
    revoked. Returns its id and the notification to hand to the sender."""
    email = accounts.normalize_email(email)
    now = logins.now()
    nonce = secrets.token_urlsafe(24)
    with writing() as session:
        session.execute(
            update(StaffInvite)
            .where(
                StaffInvite.email == email, StaffInvite.used_at.is_(None), StaffInvite.revoked_at.is_(None)
            )
            .values(revoked_at=now)
        )
        invite = StaffInvite(
            email=email,
            role=role,
            offices=" ".join(sorted(set(offices))) if role == "staff" else "",
            nonce=nonce,
            token_hash=_hashed(_token(nonce)),
            created_at=now,
            expires_at=now + VALID_FOR,
            invited_by=invited_by.id,
        )
        session.add(invite)
        session.flush()
        to_send = [
            i for i, _ in insert_once([{"kind": NotificationKind.INVITE, "once_key": f"invite:{invite.id}"}])
        ]
        where = f" {invite.offices}" if invite.offices else ""
        audit.record("team.invite", detail=f"invitation {invite.id} to {email} as {role}{where}")
    log.info("staff invitation %s made by staff %s", invite.id, invited_by.id)
    return invite.id, to_send


def open_invite(token: str) -> StaffInvite | None:
    """The invitation this link's token is, while it is unused, unrevoked and unexpired."""
    if not 20 <= len(token) <= 100:
        return None
    return db.session.scalar(
        select(StaffInvite).where(
            StaffInvite.token_hash == _hashed(token),
            StaffInvite.used_at.is_(None),
            StaffInvite.revoked_at.is_(None),
            StaffInvite.expires_at > logins.now(),
        )
    )


def accept(token: str, password: str) -> StaffUser | None:
    """The invitation used (once: of two requests at once, one changes the row) to make the account;
    None when the link no longer works or the address has an account already. Call inside `writing()`."""
    now = logins.now()
    invite = open_invite(token)
    if invite is None:
        return None
    taken = db.session.execute(
        update(StaffInvite)
        .where(StaffInvite.id == invite.id, StaffInvite.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    exists = db.session.scalar(
        select(func.count()).select_from(StaffUser).where(StaffUser.email == invite.email)
    )
    if taken.rowcount != 1 or exists:
        return None
    user = accounts.create(invite.email, password, role=invite.role, offices=invite.office_list)
    db.session.flush()
    audit.record(
        "team.joined", detail=f"staff {user.id} {user.email} from invitation {invite.id}", actor=user.email
    )
    return user


def pending() -> list[StaffInvite]:
    """The invitations not yet used, revoked or expired, newest first."""
    return list(
        db.session.scalars(
            select(StaffInvite)
            .where(
                StaffInvite.used_at.is_(None),
                StaffInvite.revoked_at.is_(None),
                StaffInvite.expires_at > logins.now(),
            )
            .order_by(StaffInvite.id.desc())
        )
    )


def revoke(invite_id: int) -> bool:
    """The link stops working. Call it inside `writing()`."""
    done = db.session.execute(
        update(StaffInvite)
        .where(StaffInvite.id == invite_id, StaffInvite.used_at.is_(None), StaffInvite.revoked_at.is_(None))
        .values(revoked_at=logins.now())
    )
    if done.rowcount:
        audit.record("team.revoke", detail=f"invitation {invite_id}")
    return bool(done.rowcount)


def build_message(notification) -> Message:
    """The invitation email ("invite:<id>"), to the invited address: the link, who it is from, until when."""
    invite = db.session.get(StaffInvite, int(notification.once_key.split(":")[1]))
    if invite is None or invite.used_at or invite.revoked_at or invite.expires_at <= logins.now():
        raise PermanentError("the invitation was used, revoked or expired before its email went out")
    clinic = current_clinic()
    context = {
        "clinic_name": clinic.name,
        "link": link(invite),
        "role": invite.role,
        "offices": [clinic.office(o).city if clinic.office(o) else o for o in invite.office_list],
        "hours": int(VALID_FOR.total_seconds() // 3600),
    }
    subject = f"Your staff account at {clinic.name}"
    return clinic_message(notification, subject, [invite.email], "staff_invite", context, {})
