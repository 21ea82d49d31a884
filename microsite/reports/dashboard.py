"""The dashboard's numbers: leads per office per week, leads by source, and the outbox's health."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlsplit

from sqlalchemy import func, select

from ..clinictime import clinic_today, day_start, period_bucket
from ..content import current_clinic
from ..content.phq9 import BAND_NAMES
from ..extensions import db
from ..models import Lead, LeadStatus, Notification, NotificationStatus, utcnow

WEEKS = 12


@dataclass(frozen=True)
class Bar:
    label: str
    value: int


def source_of(utm_source: str | None, referrer: str | None) -> str:
    """utm_source, else the referrer's host, else "direct"."""
    if utm_source:
        return utm_source.strip().lower()
    host = urlsplit(referrer or "").hostname
    if host:
        return host.removeprefix("www.")
    return "direct"


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def weekly_by_office(today: date | None = None) -> tuple[list[date], dict[str, list[int]]]:
    """The last WEEKS weeks (Monday first, clinic time) and each office's count of real leads per week."""
    today = today or clinic_today()
    weeks = [_week_start(today) - timedelta(weeks=n) for n in range(WEEKS - 1, -1, -1)]
    offices = current_clinic().offices
    counts = {o.slug: [0] * WEEKS for o in offices}
    bucket = period_bucket(Lead.created_at, [day_start(week) for week in weeks]).label("week")
    rows = db.session.execute(
        select(Lead.location, bucket, func.count())
        .where(Lead.created_at >= day_start(weeks[0]), Lead.status != LeadStatus.SPAM)
        .group_by(Lead.location, bucket)
    )
    for location, week, n in rows:
        if location in counts:
            counts[location][week] += n
    return weeks, counts


def by_source(since_weeks: int = WEEKS, top: int = 10) -> list[Bar]:
    since = utcnow() - timedelta(weeks=since_weeks)
    rows = db.session.execute(
        select(Lead.utm_source, Lead.referrer, func.count())
        .where(Lead.created_at >= since, Lead.status != LeadStatus.SPAM)
        .group_by(Lead.utm_source, Lead.referrer)
    )
    counter = Counter()
    for utm, ref, n in rows:
        counter[source_of(utm, ref)] += n
    return [Bar(label, value) for label, value in counter.most_common(top)]


def by_phq9_band(since_weeks: int = WEEKS) -> list[Bar]:
    """Real requests sent with a PHQ-9 self-check, per severity band, mildest first: counts only."""
    since = utcnow() - timedelta(weeks=since_weeks)
    counts = dict(
        db.session.execute(
            select(Lead.phq9_band, func.count())
            .where(Lead.created_at >= since, Lead.status != LeadStatus.SPAM, Lead.phq9_band.is_not(None))
            .group_by(Lead.phq9_band)
        ).all()
    )
    return [Bar(band, counts.get(band, 0)) for band in BAND_NAMES]


def delivery_health() -> list[Bar]:
    """Waiting for a first try, retrying after a failure, given up, and held with suspected spam."""
    N = Notification
    retrying = (N.status == NotificationStatus.SENDING) | (
        (N.status == NotificationStatus.PENDING) & (N.attempts > 0)
    )
    waiting = (N.status == NotificationStatus.PENDING) & (N.attempts == 0)

    def count(condition) -> int:
        return db.session.scalar(select(func.count()).select_from(N).where(condition)) or 0

    sent_week = (N.status == NotificationStatus.SENT) & (N.sent_at >= utcnow() - timedelta(days=7))
    return [
        Bar("Pending", count(waiting)),
        Bar("Retrying", count(retrying)),
        Bar("Failed", count(N.status == NotificationStatus.FAILED)),
        Bar("Held (suspected spam)", count(N.status == NotificationStatus.HELD)),
        Bar("Sent in the last 7 days", count(sent_week)),
    ]
