"""The audit log: who did what to which lead, and when. Never the lead's content."""

from __future__ import annotations

from flask import has_request_context, request
from flask_login import current_user

from .extensions import db
from .models import AuditEvent


def record(
    action: str, lead_id: int | None = None, detail: str | None = None, actor: str | None = None
) -> None:
    """Add an event to the session; it is committed with the change it describes."""
    staff_id = None
    remote_addr = None
    if has_request_context():
        remote_addr = request.remote_addr
        if current_user and current_user.is_authenticated:
            staff_id = current_user.id
            actor = actor or current_user.email
    db.session.add(
        AuditEvent(
            staff_id=staff_id,
            actor=(actor or "unknown")[:254],
            action=action,
            lead_id=lead_id,
            detail=detail[:300] if detail else None,
            remote_addr=remote_addr,
        )
    )
