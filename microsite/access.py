"""Who sees what on the staff side: a role, its offices, and the ONE filter every query of a staff
request goes through.

`admin` does everything, the team included; `manager` sees every office's requests and questions, the
dashboard, the exports and the audit log; `staff` sees only the requests and questions of their own
offices, with no export. What a role may do is checked per view (`Scope.allows`); what it may *see* is
not left to each view: the staff blueprint puts the request's Scope in place (`enter`) before any view
runs, and an ORM event adds its criteria to every SELECT, UPDATE and DELETE the request makes, wherever
the query is written (SQLAlchemy's `with_loader_criteria`, the documented way to add a global WHERE).
A view written tomorrow cannot forget it: another office's lead is simply not there, in a list, a
count, a CSV or a chart, and by its URL it is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from flask import Flask, has_request_context, request
from sqlalchemy import event, false, or_, select
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from .models import (
    AuditEvent,
    DeliveryAttempt,
    Lead,
    LeadNote,
    Notification,
    NotificationKind,
    Question,
    StaffInvite,
    StaffRole,
    StaffUser,
)

# What a role may do beyond reading its own offices' requests and questions.
EXPORT = "export"  # the leads CSV and the conversion CSV
REPORTS = "reports"  # the dashboard and the audit log
TEAM = "team"  # accounts, invitations, roles, offices
PERMISSIONS: dict[str, frozenset[str]] = {
    StaffRole.ADMIN: frozenset({EXPORT, REPORTS, TEAM}),
    StaffRole.MANAGER: frozenset({EXPORT, REPORTS}),
    StaffRole.STAFF: frozenset(),
}
_ENVIRON_KEY = "microsite.access_scope"


@dataclass(frozen=True)
class Scope:
    """A staff member's reach: their role, and the offices they see (None: every office)."""

    role: str
    offices: frozenset[str] | None

    @classmethod
    def of(cls, user: StaffUser) -> Scope:
        if user.role in (StaffRole.ADMIN, StaffRole.MANAGER):
            return cls(user.role, None)
        if user.role not in PERMISSIONS:
            return cls(StaffRole.STAFF, frozenset())  # an unknown role sees nothing
        return cls(user.role, frozenset(user.office_list))

    def allows(self, permission: str | None) -> bool:
        return permission is None or permission in PERMISSIONS.get(self.role, frozenset())

    def sees_office(self, slug: str | None) -> bool:
        return self.offices is None or slug in self.offices

    @cached_property
    def criteria(self) -> list:
        """The WHERE each table gets in this scope's queries; none for every office."""
        if self.offices is None:
            return []
        offices = sorted(self.offices)
        leads = select(Lead.id).where(Lead.location.in_(offices)).scalar_subquery()
        notifications = (
            select(Notification.id)
            .where(or_(Notification.lead_id.in_(leads), Notification.kind.in_(QUESTION_KINDS)))
            .scalar_subquery()
        )
        return [
            with_loader_criteria(Lead, Lead.location.in_(offices)),
            # A question asked under the main article belongs to every office (its crisis email goes to all).
            with_loader_criteria(Question, or_(Question.office.in_(offices), Question.office.is_(None))),
            with_loader_criteria(LeadNote, LeadNote.lead_id.in_(leads)),
            with_loader_criteria(Notification, Notification.id.in_(notifications)),
            with_loader_criteria(DeliveryAttempt, DeliveryAttempt.notification_id.in_(notifications)),
            with_loader_criteria(AuditEvent, AuditEvent.lead_id.in_(leads)),
            with_loader_criteria(StaffInvite, false()),
        ]


QUESTION_KINDS = (NotificationKind.CRISIS, NotificationKind.ANSWER)


def enter(scope: Scope) -> None:
    """Every query for the rest of this request is held to `scope`."""
    request.environ[_ENVIRON_KEY] = scope


def current() -> Scope | None:
    """The scope of this request, if a staff page set one."""
    return request.environ.get(_ENVIRON_KEY) if has_request_context() else None


def _add_criteria(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    scope = current()
    if scope is not None and (criteria := scope.criteria):
        state.statement = state.statement.options(*criteria)


def init_app(app: Flask) -> None:
    """Listen once per process: every session of every app, filtered only inside a scoped request."""
    if not event.contains(Session, "do_orm_execute", _add_criteria):
        event.listen(Session, "do_orm_execute", _add_criteria)
