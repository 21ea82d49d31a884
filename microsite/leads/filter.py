"""Which leads: the filter the staff inbox, its CSV and `flask leads export` share, and the inbox's search."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Select, false, select

from ..clinictime import day_start
from ..models import Lead, LeadStatus, name_key

ANY = "any"


@dataclass(frozen=True)
class LeadFilter:
    """What the inbox, its CSV and `flask leads export` select. No status means all but spam."""

    office: str | None = None
    status: str | None = None
    since: date | None = None
    until: date | None = None  # inclusive
    q: str | None = None
    language: str | None = None  # "en" or "es": the page the request was sent from

    def statement(self) -> Select:
        stmt = select(Lead)
        if self.office:
            stmt = stmt.where(Lead.location == self.office)
        if self.status == ANY:
            pass
        elif self.status:
            stmt = stmt.where(Lead.status == self.status)
        else:
            stmt = stmt.where(Lead.status != LeadStatus.SPAM)
        if self.language:
            stmt = stmt.where(Lead.language == self.language)
        if self.since:
            stmt = stmt.where(Lead.created_at >= day_start(self.since))
        if self.until:
            stmt = stmt.where(Lead.created_at < day_start(self.until + timedelta(days=1)))
        if self.q:
            stmt = stmt.where(search(self.q))
        return stmt.order_by(Lead.created_at.desc(), Lead.id.desc())

    def query_args(self) -> dict[str, str]:
        """The filter as the inbox's query arguments, for its links (pages, the CSV)."""
        values = {"office": self.office, "status": self.status, "since": self.since, "until": self.until,
                  "q": self.q, "language": self.language}  # fmt: skip
        return {name: str(value) for name, value in values.items() if value}

    def describe(self) -> str:
        """The filter for the audit log. The search text may be a name: only whether there was one."""
        parts = [
            f"office={self.office or 'all'}",
            f"status={self.status or 'not-spam'}",
            f"since={self.since or '-'}",
            f"until={self.until or '-'}",
        ]
        if self.language:
            parts.append(f"language={self.language}")
        if self.q:
            parts.append("search=yes")
        return " ".join(parts)


# A search made only of what a typed phone number holds: digits, spaces, "+", "-", "(", ")" and dots.
PHONE_TYPED = re.compile(r"[\d\s+().-]+")


def _starts_with(column, prefix: str):
    """`column` starts with `prefix`, as a range an index reads (LIKE 'x%' uses none on PostgreSQL)."""
    return (column >= prefix) & (column < prefix[:-1] + chr(ord(prefix[-1]) + 1))


def search(q: str):
    """What the inbox's search box finds, each through an index, never by reading every lead:

    - a phone number, typed in any format, or its last digits (at least 3): the digits column holds
      the number last digit first, so what was typed is the start of it;
    - text with "@" or ".": part of an email address ("example.org"). The one search that reads every
      row it passes, as staff seldom search by address and the addresses are already in the lead's
      email to them;
    - other text: the start of the name, in any case ("mar" finds "Maria Lopez"). A prefix rather
      than "contains": a B-tree index finds a prefix on both databases, while "contains" reads every
      row (pg_trgm could index it on PostgreSQL, but SQLite has no counterpart, and staff type a
      name from its start).
    """
    digits = re.sub(r"\D", "", q)
    if PHONE_TYPED.fullmatch(q) and len(digits) >= 3:
        return _starts_with(Lead.phone_digits, digits[::-1])
    text = name_key(q)
    if not text:
        return false()
    if "@" in text or "." in text:
        return Lead.email.icontains(text, autoescape=True)
    return _starts_with(Lead.name_key, text)
