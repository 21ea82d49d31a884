"""The team, as an admin manages it in the browser: roles and offices, disabling and enabling an account,
resetting its second factor. Each change is in the audit log with the admin who made it; none may leave
the clinic without an active admin."""

from __future__ import annotations

from sqlalchemy import func, select

from .. import audit
from ..extensions import db
from ..models import StaffRole, StaffUser
from . import accounts, logins


def members() -> list[StaffUser]:
    return list(db.session.scalars(select(StaffUser).order_by(StaffUser.active.desc(), StaffUser.email)))


def _other_active_admins(user: StaffUser) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(StaffUser)
        .where(StaffUser.role == StaffRole.ADMIN, StaffUser.active.is_(True), StaffUser.id != user.id)
    )


def _keeps_an_admin(user: StaffUser) -> bool:
    return user.role != StaffRole.ADMIN or not user.active or _other_active_admins(user) > 0


def change_role(user: StaffUser, role: str, offices: list[str]) -> str | None:
    """Set the role and offices (call inside `writing()`); returns why not, or None. The member's open
    logins go on, held to the new reach from their next request."""
    if problem := accounts.valid_role(role, offices):
        return problem
    if role != StaffRole.ADMIN and not _keeps_an_admin(user):
        return "The clinic needs at least one active admin: make someone else an admin first."
    before = f"{user.role} {user.offices}".strip()
    user.role = role
    user.offices = " ".join(sorted(set(offices))) if role == StaffRole.STAFF else ""
    after = f"{user.role} {user.offices}".strip()
    if before != after:
        audit.record("team.role", detail=f"staff {user.id} {user.email}: {before} -> {after}")
    return None


def set_active(user: StaffUser, active: bool) -> str | None:
    """Disable (every login of theirs ends at once) or enable an account. Call inside `writing()`."""
    if not active and not _keeps_an_admin(user):
        return "The clinic needs at least one active admin: make someone else an admin first."
    if user.active == active:
        return None
    user.active = active
    if not active:
        logins.end_all(user)
    audit.record("team.enable" if active else "team.disable", detail=f"staff {user.id} {user.email}")
    return None


def reset_second_factor(user: StaffUser) -> None:
    """A lost phone or passkey: every factor and recovery code removed, every login ended; they set up a
    new second step at their next login. Call inside `writing()`."""
    accounts.clear_second_factor(user)
    logins.end_all(user)
    audit.record("team.reset_factor", detail=f"staff {user.id} {user.email}")
