"""Crisis alerts that stay credible: what the office's staff are told when a reader's question or a
consultation request has crisis words, and how often.

Each such question or request is a flag for an office (a question from the main article: for every
office), recorded by `flag` in the transaction that stores it. The office's first flag in a while is
emailed at once ("crisis-alert:<flag id>") and opens a window of CRISIS_DIGEST_MINUTES; the flags within
it wait for the window to end and go in one digest ("K more flagged", "crisis-digest:<first flag id>"),
which the outbox's sweeps make when it is due (`due`). At most CRISIS_ALERTS_PER_DAY such emails reach
an office in a clinic day; later flags are in the staff queues only, as the day's last email says. So a
script posting crisis words cannot turn the life-safety channel into noise staff learn to ignore.

The emails carry numbers and links, never what anyone wrote: it may be health information about a
person in crisis, and a mailbox keeps it longer and more widely than the staff pages.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_mail import Message
from sqlalchemy import Connection, distinct, exists, func, insert, select, update

from ..clinictime import clinic_zone, day_start
from ..content import current_clinic
from ..extensions import db
from ..models import (
    CrisisFlag,
    CrisisFlagRole,
    Lead,
    Notification,
    NotificationKind,
    Question,
)
from ..notify.email import clinic_message, staff_recipients
from ..notify.schedule import insert_once
from ..notify.transport import PermanentError

log = logging.getLogger(__name__)
FLAG = CrisisFlag.__table__
ALERT_KEY = "crisis-alert:"
DIGEST_KEY = "crisis-digest:"
# A digest the sweeps have not made this long after it was due (every process was down) is still made;
# older ones are left to the staff queues. It also keeps each sweep's look a small read.
DIGEST_LOOKBACK = timedelta(days=2)


def flag(connection: Connection, offices: list[str], now: datetime, *, question_id: int | None = None,
         lead_id: int | None = None) -> list[int]:  # fmt: skip
    """Record a question or request with crisis words for each of `offices`, inside the caller's write
    transaction; returns the alerts to hand to this process's sender after the commit."""
    to_send: list[int] = []
    for office in sorted(set(offices)):  # in one order everywhere: two captures must not deadlock
        to_send += _flag_for(connection, office, now, {"question_id": question_id, "lead_id": lead_id})
    return to_send


def _flag_for(connection: Connection, office: str, now: datetime, about: dict) -> list[int]:
    _one_office_at_a_time(connection, office)
    window = timedelta(minutes=current_app.config["CRISIS_DIGEST_MINUTES"])
    opener = connection.execute(
        select(FLAG.c.id, FLAG.c.created_at)
        .where(FLAG.c.office == office, FLAG.c.role == CrisisFlagRole.ALERT, FLAG.c.created_at > now - window)
        .order_by(FLAG.c.created_at.desc(), FLAG.c.id.desc())
        .limit(1)
    ).first()
    values = {"created_at": now, "office": office, **about}
    # A new email (an alert, or the window's digest when this is its first flag) only within the day's cap.
    key = None if opener is None else f"{DIGEST_KEY}{opener.id}"
    new_email = key is None or not connection.scalar(select(exists().where(FLAG.c.alert_key == key)))
    if new_email and _emails_today(connection, office, now) >= current_app.config["CRISIS_ALERTS_PER_DAY"]:
        flag_id = _insert(connection, values, CrisisFlagRole.CAPPED)
        log.warning("crisis flag %s: the %s office had its crisis emails today: queue only", flag_id, office)
        return []
    if opener is not None:
        due_at = opener.created_at + window
        flag_id = _insert(connection, values, CrisisFlagRole.DIGEST, alert_key=key, digest_due_at=due_at)
        log.info("crisis flag %s: for the %s office's digest (%s)", flag_id, office, key)
        return []
    flag_id = _insert(connection, values, CrisisFlagRole.ALERT)
    key = f"{ALERT_KEY}{flag_id}"
    connection.execute(update(FLAG).where(FLAG.c.id == flag_id).values(alert_key=key))
    made = insert_once([{"kind": NotificationKind.CRISIS, "once_key": key, "lead_id": None}], connection)
    log.info("crisis flag %s: alert to the %s office at once", flag_id, office)
    return [notification_id for notification_id, _ in made]


def _insert(connection: Connection, values: dict, role: str, **more) -> int:
    statement = insert(FLAG).values(role=role, **values, **more).returning(FLAG.c.id)
    return connection.execute(statement).scalar_one()


def _one_office_at_a_time(connection: Connection, office: str) -> None:
    """Serialise the flags of one office, so two at once cannot both open a window.

    SQLite's BEGIN IMMEDIATE already lets one writer in at a time; on PostgreSQL a transaction-scoped
    advisory lock on the office does it, without holding up anything else.
    """
    if connection.dialect.name == "postgresql":
        digest = hashlib.sha256(f"crisis-flag:{office}".encode()).digest()
        connection.execute(select(func.pg_advisory_xact_lock(int.from_bytes(digest[:8], "big", signed=True))))


def _today_began(now: datetime) -> datetime:
    return day_start(now.astimezone(clinic_zone()).date())


def _emails_today(connection, office: str, now: datetime) -> int:
    """The crisis emails (alerts and digests) the office's flags of this clinic day have made."""
    return connection.scalar(
        select(func.count(distinct(FLAG.c.alert_key))).where(
            FLAG.c.office == office, FLAG.c.created_at >= _today_began(now), FLAG.c.alert_key.is_not(None)
        )
    )


def due(now: datetime) -> list[dict]:
    """The digests whose window has ended by `now` and that are not in the outbox yet."""
    made = exists().where(Notification.once_key == FLAG.c.alert_key)
    keys = db.session.scalars(
        select(FLAG.c.alert_key)
        .distinct()
        .where(
            FLAG.c.role == CrisisFlagRole.DIGEST,
            FLAG.c.digest_due_at <= now,
            FLAG.c.digest_due_at > now - DIGEST_LOOKBACK,
            ~made,
        )
    ).all()
    return [{"kind": NotificationKind.DIGEST, "once_key": key, "lead_id": None} for key in keys]


# -- the emails ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Flagged:
    """One flagged question or request as an email names it: what, its number, why it may be missed."""

    what: str  # "reader's question" or "consultation request"
    number: int
    url: str
    spam: str | None  # why it was kept aside as suspected spam, if it was
    language: str
    has_email: bool  # a question's reader left an address

    @property
    def label(self) -> str:
        return f"{self.what[0].upper()}{self.what[1:]} #{self.number}"


def _flagged(row: CrisisFlag) -> Flagged:
    site_url = current_app.config["SITE_URL"]
    if row.question_id is not None:
        question = db.session.get(Question, row.question_id)
        return Flagged(
            "reader's question", row.question_id, f"{site_url}/staff/questions/{row.question_id}",
            question.spam_reason if question else None,
            question.language if question else "en",
            bool(question and question.email),
        )  # fmt: skip
    lead = db.session.get(Lead, row.lead_id)
    return Flagged(
        "consultation request", row.lead_id, f"{site_url}/staff/leads/{row.lead_id}",
        lead.spam_reason if lead else None, lead.language if lead else "en", False,
    )  # fmt: skip


def _flags_of(notification: Notification) -> list[CrisisFlag]:
    flags = list(
        db.session.scalars(
            select(CrisisFlag).where(CrisisFlag.alert_key == notification.once_key).order_by(CrisisFlag.id)
        )
    )
    if not flags:
        raise PermanentError("its crisis flags were deleted before the email went out")
    return flags


def _pace(office: str, last: datetime) -> dict:
    """What every crisis email says about the ones to come, so staff know nothing is being held back."""
    minutes = current_app.config["CRISIS_DIGEST_MINUTES"]
    cap = current_app.config["CRISIS_ALERTS_PER_DAY"]
    emailed = _emails_today(db.session, office, last)
    return {"minutes": minutes, "cap": cap, "cap_reached": emailed >= cap}


def build_alert(notification: Notification) -> Message:
    """The office's first crisis flag in a while: at once, to its staff."""
    [row] = _flags_of(notification)
    flagged = _flagged(row)
    office = current_clinic().office(row.office)
    city = office.city if office else row.office
    context = {"flagged": flagged, "city": city, **_pace(row.office, row.created_at)}
    if row.question_id is not None:
        question = db.session.get(Question, row.question_id)
        page_office = current_clinic().office(question.office) if question and question.office else None
        context["where"] = f"the {page_office.city} office page" if page_office else "the main article"
    subject = f"URGENT: crisis words in {flagged.what} #{flagged.number}"
    headers = {"X-Crisis-Flag": str(row.id)}
    recipients = staff_recipients(row.office)
    return clinic_message(notification, subject, recipients, "crisis_alert", context, headers)


def build_digest(notification: Notification) -> Message:
    """The flags that came within an office's window, in one email when it ends."""
    rows = _flags_of(notification)
    office = current_clinic().office(rows[0].office)
    city = office.city if office else rows[0].office
    opened = db.session.get(CrisisFlag, int(notification.once_key.removeprefix(DIGEST_KEY)))
    context = {
        "flagged": [_flagged(row) for row in rows],
        "count": len(rows),
        "city": city,
        "since": opened.created_at.astimezone(clinic_zone()) if opened else None,
        **_pace(rows[0].office, rows[-1].created_at),
    }
    subject = f"URGENT: {len(rows)} more flagged for crisis words – {city} office"
    recipients = staff_recipients(rows[0].office)
    return clinic_message(notification, subject, recipients, "crisis_digest", context, {})
