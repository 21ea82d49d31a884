"""The stored data: leads and their notifications (the outbox), staff, notes, audit log, view counts."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import ClassVar

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .content.phq9 import Answers
from .content.phq9 import parse as parse_phq9
from .extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


# Every id is an INTEGER column, 32-bit in PostgreSQL (SQLite's are 64-bit): a number from outside
# that names a row (a URL, a cursor, a filter) is checked against this before it reaches a query.
MAX_ID = 2**31 - 1


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
    CONTACTED = "contacted"
    SCHEDULED = "scheduled"
    NOT_FIT = "not_fit"
    CLOSED = "closed"
    # What staff see in the inbox, in the order they work a lead.
    LABELS: ClassVar[dict[str, str]] = {
        NEW: "New",
        CONTACTED: "Contacted",
        SCHEDULED: "Scheduled",
        NOT_FIT: "Not a fit",
        CLOSED: "Closed",
        SPAM: "Suspected spam",
    }

    @classmethod
    def label_of(cls, status: str) -> str:
        return cls.LABELS.get(status, status)


def phone_digits(phone: str) -> str:
    """A number's digits, last first: whatever staff type (a full number in any format, or its last
    digits) is then the start of it, which an index finds without reading every row."""
    return re.sub(r"\D", "", phone)[::-1]


def name_key(full_name: str) -> str:
    """The name as the inbox searches it: lower case, single spaces."""
    return " ".join(full_name.lower().split())


def _from_column(column: str, normalise):
    """A column default computed from another column of the same insert (any insert: ORM, Core, bulk)."""

    def default(context):
        value = context.get_current_parameters().get(column)
        return normalise(value) if value is not None else None

    return default


# PostgreSQL compares text by the database's collation, where a range is not a prefix; "C" makes it one.
SEARCH_KEY = String(100).with_variant(String(100, collation="C"), "postgresql")


class Lead(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default=LeadStatus.NEW)
    spam_reason: Mapped[str | None] = mapped_column(String(40))
    # A hash of office, phone, email and message: the same request within the hour is this lead again.
    fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)

    full_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(20), index=True)  # E.164
    email: Mapped[str] = mapped_column(String(254), index=True)
    location: Mapped[str] = mapped_column(String(20))
    contact_method: Mapped[str] = mapped_column(String(10))
    best_time: Mapped[str | None] = mapped_column(String(10))
    message: Mapped[str | None] = mapped_column(Text)

    consent_text: Mapped[str] = mapped_column(Text)
    consent_version: Mapped[str] = mapped_column(String(20))
    consent_at: Mapped[datetime] = mapped_column(UTCDateTime)

    utm_source: Mapped[str | None] = mapped_column(String(100))
    utm_medium: Mapped[str | None] = mapped_column(String(100))
    utm_campaign: Mapped[str | None] = mapped_column(String(100))
    referrer: Mapped[str | None] = mapped_column(String(500))  # the referring site's origin only
    landing_path: Mapped[str | None] = mapped_column(String(500))
    # When staff first reached out: the first status change out of "new" (speed to lead, reminders).
    first_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Minutes of the office's hours from the request to that first contact, kept as it is recorded: the
    # dashboard reads it for thousands of requests instead of working out each one's office hours again.
    first_contact_minutes: Mapped[float | None] = mapped_column(Float)
    # The language of the page the request was sent from ("en", "es"): staff reply in it.
    language: Mapped[str] = mapped_column(String(5), default="en", server_default="en")
    # What the visitor sent suggests they may be in crisis (leads/service.py `urgent`): the staff email
    # says URGENT, and the visitor's thank-you page begins with the crisis lines.
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # What the inbox's search reads (models.phone_digits, models.name_key), kept beside the originals.
    phone_digits: Mapped[str | None] = mapped_column(
        SEARCH_KEY, default=_from_column("phone", phone_digits), index=True
    )
    name_key: Mapped[str | None] = mapped_column(
        SEARCH_KEY, default=_from_column("full_name", name_key), index=True
    )
    # The PHQ-9 self-check, only when the visitor chose to send it with the request (content/phq9.py):
    # the nine answers as digits 0-3, their total (0-27) and severity band, the difficulty answer (0-3).
    phq9_items: Mapped[str | None] = mapped_column(String(9))
    phq9_total: Mapped[int | None] = mapped_column()
    phq9_band: Mapped[str | None] = mapped_column(String(20))
    phq9_difficulty: Mapped[int | None] = mapped_column()

    notifications: Mapped[list[Notification]] = relationship(
        back_populates="lead", cascade="all, delete-orphan", passive_deletes=True
    )

    # The inbox lists newest first, by (created_at, id), filtered by office and/or status: one index per
    # combination, each ending in the sort, so a page is a range read whatever the number of leads.
    __table_args__ = (
        Index("ix_lead_created", "created_at", "id"),
        Index("ix_lead_status_created", "status", "created_at", "id"),
        Index("ix_lead_location_created", "location", "created_at", "id"),
        Index("ix_lead_location_status_created", "location", "status", "created_at", "id"),
        # The dashboard's requests with a self-check by band: a covering range per band, whatever the
        # number of leads without one.
        Index("ix_lead_phq9_band_created", "phq9_band", "created_at", "status"),
    )

    @property
    def first_name(self) -> str:
        return self.full_name.split()[0] if self.full_name.split() else self.full_name

    @property
    def phq9(self) -> Answers | None:
        """The self-check sent with the request, or None."""
        if self.phq9_items is None:
            return None
        difficulty = "" if self.phq9_difficulty is None else str(self.phq9_difficulty)
        return parse_phq9(self.phq9_items + difficulty)


class NotificationStatus:
    PENDING = "pending"  # waiting for its first try or its next retry
    SENDING = "sending"  # claimed by a sender until lease_until
    SENT = "sent"
    FAILED = "failed"  # a permanent error, or retries ran out; the lead stays
    HELD = "held"  # belongs to suspected spam; sent only if staff release the lead


class NotificationKind:
    LEAD = "lead"  # the staff email for a new request
    REMINDER = "reminder"  # the request is still new after REMIND_AFTER_MINUTES of office hours
    ESCALATION = "escalation"  # still new after ESCALATE_AFTER_MINUTES: to the clinic's manager
    WEEKLY = "weekly"  # the Monday summary, counts only; no lead
    WEBHOOK = "webhook"  # a signed POST to `target` (one of WEBHOOK_URLS) about a new real lead
    CRISIS = "crisis"  # an office's first crisis alert in a while, at once ("crisis-alert:<flag id>")
    DIGEST = "digest"  # the crisis flags that came after it, in one email ("crisis-digest:<first flag id>")
    ANSWER = "answer"  # to the reader who left an email, once, when the answer is published ("answer:<id>")
    ALERT = "alert"  # to the clinic's manager: the outbox in trouble ("alert:failed:<id>", "alert:late:<id>")
    INVITE = "staff_invite"  # a new team member's one-time link to set up their account ("invite:<id>")


class Notification(db.Model):
    """An email or a webhook in the outbox: stored in the transaction that makes it due, sent by a claim."""

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("lead.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(12), default=NotificationKind.LEAD)
    # What must happen once, however many instances and workers run ("reminder:12", "weekly:2026-W49").
    once_key: Mapped[str | None] = mapped_column(String(64))
    # Where a webhook goes (kind "webhook"); an email's recipients come from the clinic file.
    target: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(10), default=NotificationStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    lead: Mapped[Lead | None] = relationship(back_populates="notifications")

    __table_args__ = (
        Index("ix_notification_due", "status", "next_attempt_at"),
        Index("ix_notification_sent", "status", "sent_at"),  # the dashboard's "sent in the last 7 days"
        UniqueConstraint("once_key", name="uq_notification_once_key"),
    )


class DeliveryAttempt(db.Model):
    """One try at delivering a notification: when, the answer's status code, the error. Shown on the
    lead's page; never the message itself."""

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notification.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)


class PageViewCount(db.Model):
    """Page views per day, page and campaign: a counter, never a visit. No address, no agent, no cookie.

    Missing dimensions are "" rather than NULL, so that the unique key counts them together.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    path: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(100), default="")
    medium: Mapped[str] = mapped_column(String(100), default="")
    campaign: Mapped[str] = mapped_column(String(100), default="")
    views: Mapped[int] = mapped_column(default=0)

    __table_args__ = (
        UniqueConstraint("day", "path", "source", "medium", "campaign", name="uq_page_view_count"),
    )


class StaffRole:
    """What a staff account may do (microsite/access.py holds what each one sees)."""

    ADMIN = "admin"  # everything, the team included
    MANAGER = "manager"  # every office's requests and questions, the dashboard, exports, the audit log
    STAFF = "staff"  # the requests and questions of their own offices, nothing else
    LABELS: ClassVar[dict[str, str]] = {
        ADMIN: "Admin",
        MANAGER: "Manager",
        STAFF: "Staff",
    }


class StaffUser(UserMixin, db.Model):
    """A clinic staff member who works the leads at /staff/."""

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    role: Mapped[str] = mapped_column(String(10), default=StaffRole.STAFF)
    # The office slugs a "staff" account works, space-separated; managers and admins see every office.
    offices: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_last_counter: Mapped[int | None] = mapped_column()  # a code is accepted once
    recovery_codes: Mapped[str | None] = mapped_column(Text)  # hashes, one a line; a used one is removed
    # The random user handle every passkey of this account carries (WebAuthn's user.id): never the email.
    webauthn_handle: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)

    passkeys: Mapped[list[StaffPasskey]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True, order_by="StaffPasskey.id"
    )

    # The token of the login this object was loaded for (not a column): what Flask-Login keeps.
    login_token = None

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def office_list(self) -> list[str]:
        return self.offices.split()

    @property
    def has_second_factor(self) -> bool:
        return bool(self.totp_secret) or bool(self.passkeys)

    def get_id(self) -> str:
        """What Flask-Login keeps in the session: the token of one `StaffSession`, nothing else."""
        if not self.login_token:
            raise RuntimeError("a staff user is logged in through a StaffSession's token only")
        return self.login_token


class StaffSession(db.Model):
    """One login, from the password (and code) to logout, expiry or idleness; deleting the row ends it.

    The session cookie carries only the random token; the table keeps its SHA-256, so a copy of the
    database opens no session. Until the second step is passed, `verified` is false and the row
    only lets its holder type a code.
    """

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"), index=True)
    verified: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Its last request: a login unused for STAFF_IDLE_MINUTES opens nothing.
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When its holder last proved who they are (password or passkey): changing a factor, the team or an
    # export asks again after a few minutes.
    reauth_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An authenticator app being set up in this session: the new secret, until its first code.
    totp_setup_secret: Mapped[str | None] = mapped_column(String(64))


class StaffPasskey(db.Model):
    """A passkey (a WebAuthn credential) of a staff account: its id and public key, never a secret."""

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)  # base64url, as browsers send it
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE
    sign_count: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[StaffUser] = relationship(back_populates="passkeys")


class WebAuthnChallenge(db.Model):
    """A passkey ceremony under way: its challenge's hash, used once (deleted as it is checked)."""

    __tablename__ = "webauthn_challenge"

    challenge_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(12))  # "register", "login", "reauth"
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class StaffInvite(db.Model):
    """A one-time link for a new team member, made by an admin: valid for 72 hours, used once.

    Only the token's SHA-256 is kept. The link's token is an HMAC of `nonce` under SECRET_KEY, so the
    outbox can write the email (and write it again on a retry) while a copy of the database alone
    opens nothing.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    role: Mapped[str] = mapped_column(String(10))
    offices: Mapped[str] = mapped_column(String(200), default="")
    nonce: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    invited_by: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))

    @property
    def office_list(self) -> list[str]:
        return self.offices.split()


class LoginThrottle(db.Model):
    """Failed password or code checks from one address: for one typed account, or (account "") all.

    `account` is the SHA-256 of the email as typed (normalised), known account or not: people type
    their password into the email box, and an unknown account must be throttled like a real one.
    """

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column()
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class LeadNote(db.Model):
    """What staff wrote about a lead: calls made, messages left."""

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("lead.id", ondelete="CASCADE"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    author: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    body: Mapped[str] = mapped_column(Text)


class AuditEvent(db.Model):
    """Who did what to which lead, and when; never the lead's content.

    `lead_id` is no foreign key: the record outlives a purged lead.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(40))
    lead_id: Mapped[int | None] = mapped_column(index=True)
    detail: Mapped[str | None] = mapped_column(String(300))
    remote_addr: Mapped[str | None] = mapped_column(String(64))


class QuestionStatus:
    NEW = "new"
    ANSWERED = "answered"  # staff wrote an answer; not shown until published
    PUBLISHED = "published"  # the only status a public page ever shows
    REJECTED = "rejected"
    # The staff queue's order of work.
    LABELS: ClassVar[dict[str, str]] = {
        NEW: "New",
        ANSWERED: "Answered",
        PUBLISHED: "Published",
        REJECTED: "Rejected",
    }


class Question(db.Model):
    """A reader's question from under the article: read by staff, answered, and published or rejected.

    `name` and `email` are personal data: they are deleted when the answer email is sent, when the
    question is rejected, or after the clinic's retention period (leads/retention.py).
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(10), default=QuestionStatus.NEW)
    language: Mapped[str] = mapped_column(String(5), default="en")
    # The office page it was asked on (its slug), or None for the main article.
    office: Mapped[str | None] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)  # as the reader wrote it, at most 500 characters
    name: Mapped[str | None] = mapped_column(String(60))
    email: Mapped[str | None] = mapped_column(String(254))
    consent_text: Mapped[str] = mapped_column(Text)
    crisis: Mapped[bool] = mapped_column(Boolean, default=False)
    spam_reason: Mapped[str | None] = mapped_column(String(40))  # suspected spam: why
    # What staff publish: the question without personal details, the answer, who reviewed it.
    edited_text: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    reviewer: Mapped[str | None] = mapped_column(String(120))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        # The queue (crisis first, newest first, by status) and the public list (by language, newest).
        Index("ix_question_status_created", "status", "created_at"),
        Index("ix_question_published", "status", "language", "published_at"),
    )

    @property
    def public_text(self) -> str:
        return self.edited_text or self.text


class ContentVersion(db.Model):
    """A counter per kind of content the public pages show from the database ("questions"): bumped in
    the transaction that changes what is shown, read by each process's page cache (pages/cache.py)."""

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    version: Mapped[int] = mapped_column(default=0)


class CrisisFlagRole:
    ALERT = "alert"  # told of at once, in its own alert; it opens the office's digest window
    DIGEST = "digest"  # came within the window: told of in the window's digest, when the window ends
    CAPPED = "capped"  # the office had its day's crisis emails: only the staff queue shows it


class CrisisFlag(db.Model):
    """A reader's question or a consultation request with crisis words, for one office's staff to hear of.

    What keeps the crisis alerts credible (crisis/alerts.py): the first for an office goes at once, the
    next ones within CRISIS_DIGEST_MINUTES in one digest, at most CRISIS_ALERTS_PER_DAY emails a day.
    Ids only, no foreign key: a flag is about the alert, and outlives nothing it points at for long
    (`flask leads purge` deletes flags after a week).
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    office: Mapped[str] = mapped_column(String(20))
    question_id: Mapped[int | None] = mapped_column()
    lead_id: Mapped[int | None] = mapped_column()
    role: Mapped[str] = mapped_column(String(10))
    # The once-only key of the email that tells of it: "crisis-alert:<id>" or "crisis-digest:<id of the
    # window's first flag>"; None when capped.
    alert_key: Mapped[str | None] = mapped_column(String(64), index=True)
    # For a flag in a digest: when its window ends and the digest is due.
    digest_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    __table_args__ = (
        # The office's latest alert (is a window open?) and its emails since the clinic's midnight.
        Index("ix_crisis_flag_office_created", "office", "created_at"),
    )
