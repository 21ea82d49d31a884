"""Working the leads: the inbox's pages, status changes, notes, sending a notification again."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, literal, select, tuple_, update

from .. import audit
from ..database import writing
from ..extensions import db
from ..leads.filter import LeadFilter
from ..models import (
    MAX_ID,
    DeliveryAttempt,
    Lead,
    LeadNote,
    LeadStatus,
    Notification,
    NotificationKind,
    NotificationStatus,
    UTCDateTime,
    utcnow,
)
from ..reports import speed

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CURSOR = re.compile(r"(\d{1,19})-(\d{1,19})")
# The inbox counts matches up to this many: beyond it, "more than" (a full count reads every match).
COUNT_CAP = 1000


def cursor_of(created_at: datetime, lead_id: int) -> str:
    """A place in the inbox's order, for a link: microseconds since 1970, then the lead's id."""
    return f"{(created_at - EPOCH) // timedelta(microseconds=1)}-{lead_id}"


def parse_cursor(value: str) -> tuple[datetime, int] | None:
    """The (created_at, id) a link's cursor names; None for anything that is not one."""
    match = CURSOR.fullmatch(value)
    if not match or int(match.group(2)) > MAX_ID or int(match.group(1)) > 4_102_444_800_000_000:
        return None
    return EPOCH + timedelta(microseconds=int(match.group(1))), int(match.group(2))


@dataclass(frozen=True)
class Page:
    """One page of the inbox: its leads, its number, how many match (up to COUNT_CAP), its neighbours."""

    items: list[Lead]
    page: int
    per_page: int
    total: int  # COUNT_CAP + 1 stands for "more than COUNT_CAP"
    has_next: bool
    has_prev: bool

    @property
    def total_known(self) -> bool:
        return self.total <= COUNT_CAP

    @property
    def pages(self) -> int | None:
        return -(-self.total // self.per_page) if self.total_known else None

    @property
    def next_cursor(self) -> str:
        last = self.items[-1]
        return cursor_of(last.created_at, last.id)

    @property
    def prev_cursor(self) -> str:
        first = self.items[0]
        return cursor_of(first.created_at, first.id)


def page_of(
    lead_filter: LeadFilter,
    per_page: int,
    number: int = 1,
    before: tuple[datetime, int] | None = None,
    after: tuple[datetime, int] | None = None,
) -> Page:
    """A page of the inbox, newest first.

    The links between pages carry a cursor, the (created_at, id) of the last lead shown ("older") or the
    first ("newer"): the next page is an index range from there, as quick at page 4,000 as at page 1.
    A page number without a cursor (an old link) still works, by OFFSET.
    """
    stmt = lead_filter.statement()
    key = tuple_(Lead.created_at, Lead.id)
    if before is not None:
        stmt = stmt.where(key < tuple_(literal(before[0], UTCDateTime), literal(before[1])))
    elif after is not None:
        stmt = stmt.where(key > tuple_(literal(after[0], UTCDateTime), literal(after[1])))
        stmt = stmt.order_by(None).order_by(Lead.created_at, Lead.id)
    elif number > 1:
        stmt = stmt.offset((number - 1) * per_page)
    leads = list(db.session.scalars(stmt.limit(per_page + 1)))
    more = len(leads) > per_page
    leads = leads[:per_page]
    if after is not None:
        leads.reverse()
        has_next, has_prev = True, more
    else:
        has_next, has_prev = more, number > 1
    matching = lead_filter.statement().order_by(None).with_only_columns(Lead.id).limit(COUNT_CAP + 1)
    total = db.session.scalar(select(func.count()).select_from(matching.subquery())) or 0
    return Page(leads, number, per_page, total, has_next and bool(leads), has_prev)


def notes_of(lead_id: int) -> list[LeadNote]:
    return list(db.session.scalars(select(LeadNote).where(LeadNote.lead_id == lead_id).order_by(LeadNote.id)))


def _lock(lead_id: int) -> Lead | None:
    """The lead, locked until the commit, so two clicks at once are taken one after the other."""
    return db.session.get(Lead, lead_id, with_for_update=True)


def _release_held(lead_id: int) -> list[int]:
    """A released spam lead's held notifications become due now.

    Their creation time becomes now too: the give-up window (OUTBOX_GIVE_UP_HOURS) counts from the
    release, so a lead released days later still has its retries.
    """
    now = utcnow()
    return list(
        db.session.scalars(
            update(Notification)
            .where(Notification.lead_id == lead_id, Notification.status == NotificationStatus.HELD)
            .values(status=NotificationStatus.PENDING, next_attempt_at=now, created_at=now)
            .returning(Notification.id)
        )
    )


def change_status(lead_id: int, status: str, now: datetime | None = None) -> list[int]:
    """Set the status and commit; returns the notifications to hand to the sender (spam released).

    The first status other than new or suspected spam is the first contact (once, at `now`): speed to
    lead is measured to it, and it ends the reminders.
    """
    if status not in LeadStatus.LABELS:
        raise ValueError(f"unknown status {status!r}")
    with writing():
        lead = _lock(lead_id)
        if lead is None:
            raise LookupError(lead_id)
        old = lead.status
        if old == status:
            return []
        lead.status = status
        if lead.first_contact_at is None and status not in (LeadStatus.NEW, LeadStatus.SPAM):
            lead.first_contact_at = now or utcnow()
            lead.first_contact_minutes = speed.minutes_to_first_contact(lead)
        released = _release_held(lead_id) if old == LeadStatus.SPAM else []
        audit.record("lead.status", lead_id, f"{old} -> {status}")
        if released:
            audit.record("lead.released", lead_id, f"notification(s) {', '.join(map(str, released))} queued")
    return released


def add_note(lead_id: int, body: str, staff_id: int, author: str) -> None:
    with writing() as session:
        session.add(
            LeadNote(lead_id=lead_id, body=body, staff_id=staff_id, author=author, created_at=utcnow())
        )
        audit.record("lead.note", lead_id)


RESENDABLE = (NotificationKind.LEAD, NotificationKind.WEBHOOK)  # a reminder is never sent again


def send_again(lead_id: int, notification_id: int) -> int | None:
    """Queue a new copy of the lead's staff email, or of one of its webhooks, once: nothing while one
    to the same place is still waiting or held.

    A new notification (a new Message-ID, a new webhook-id) rather than the old one again, so that a
    mail client does not fold the copy into the first message nor a receiver drop it as a repeat, and
    the first one's record stays.
    """
    with writing() as session:
        lead = _lock(lead_id)
        original = session.get(Notification, notification_id)
        if lead is None or original is None or original.lead_id != lead_id or original.kind not in RESENDABLE:
            raise LookupError(notification_id)
        target = Notification.target
        same_place = target.is_(None) if original.target is None else target == original.target
        waiting = session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.lead_id == lead_id,
                Notification.kind == original.kind,
                same_place,
                Notification.status.in_(
                    [NotificationStatus.PENDING, NotificationStatus.SENDING, NotificationStatus.HELD]
                ),
            )
        )
        if waiting:
            return None
        now = utcnow()
        copy = Notification(
            lead_id=lead_id,
            kind=original.kind,
            target=original.target,
            status=NotificationStatus.PENDING,
            next_attempt_at=now,
            created_at=now,
        )
        session.add(copy)
        session.flush()
        detail = f"{original.kind} notification {notification_id} -> {copy.id}"
        audit.record("lead.send_again", lead_id, detail)
    return copy.id


def deliveries_of(notifications: list[Notification]) -> dict[int, list[DeliveryAttempt]]:
    """Each notification's tries, oldest first, for the lead's page."""
    ids = [n.id for n in notifications]
    attempts: dict[int, list[DeliveryAttempt]] = {i: [] for i in ids}
    if ids:
        rows = db.session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.notification_id.in_(ids))
            .order_by(DeliveryAttempt.id)
        )
        for row in rows:
            attempts[row.notification_id].append(row)
    return attempts


def resendable(notifications: list[Notification]) -> set[int]:
    """The latest staff email, and the latest webhook to each endpoint: what "send again" is offered for."""
    latest = {(n.kind, n.target): n.id for n in notifications if n.kind in RESENDABLE}
    return set(latest.values())
