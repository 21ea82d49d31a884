"""The stored data: a `Lead` (one consultation request) and its `Notification` (the outbox)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, Text, TypeDecorator
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """An aware UTC datetime on every database (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime; use an aware UTC value")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class LeadStatus:
    NEW = "new"
    SPAM = "spam"  # looked like a bot; kept for staff to review, never mailed unless released


class Lead(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    status: Mapped[str] = mapped_column(String(20), default=LeadStatus.NEW, index=True)
    spam_reason: Mapped[str | None] = mapped_column(String(40))
    # A key rendered into each form: a double click or a resend stores one lead.
    submission_key: Mapped[str] = mapped_column(String(64), unique=True)

    full_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(20), index=True)  # E.164
    email: Mapped[str] = mapped_column(String(254), index=True)
    location: Mapped[str] = mapped_column(String(20), index=True)
    contact_method: Mapped[str] = mapped_column(String(10))
    best_time: Mapped[str | None] = mapped_column(String(10))
    message: Mapped[str | None] = mapped_column(Text)

    consent_text: Mapped[str] = mapped_column(Text)
    consent_version: Mapped[str] = mapped_column(String(20))
    consent_at: Mapped[datetime] = mapped_column(UTCDateTime)

    utm_source: Mapped[str | None] = mapped_column(String(100))
    utm_medium: Mapped[str | None] = mapped_column(String(100))
    utm_campaign: Mapped[str | None] = mapped_column(String(100))
    referrer: Mapped[str | None] = mapped_column(String(500))
    landing_path: Mapped[str | None] = mapped_column(String(500))

    notifications: Mapped[list[Notification]] = relationship(
        back_populates="lead", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def first_name(self) -> str:
        return self.full_name.split()[0] if self.full_name.split() else self.full_name


class NotificationStatus:
    PENDING = "pending"  # waiting for its first try or its next retry
    SENDING = "sending"  # claimed by a sender until lease_until
    SENT = "sent"
    FAILED = "failed"  # a permanent error, or retries ran out; the lead stays
    HELD = "held"  # belongs to suspected spam; sent only if staff release the lead


class Notification(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("lead.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(10), default=NotificationStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    lead: Mapped[Lead] = relationship(back_populates="notifications")

    __table_args__ = (Index("ix_notification_due", "status", "next_attempt_at"),)
