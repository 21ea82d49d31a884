"""What works: views, leads and their ratio by source, medium, campaign, page and office, for a period.

Views come from the daily counters; leads from the leads' own campaign tags and landing page, by the
same rules (store.source_of, store.tag), suspected spam left out. Both are counted by day in clinic time.
Conversion is leads ÷ views of the pages that carry the form (the article and the office pages): a
view of the privacy notice or of the thank-you page is counted and listed by page, but brings no one
to the form. Per office, views are the office's own page plus the article, whose form offers both
offices: the offices' views therefore add up to more than the total.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select

from ..clinictime import day_start
from ..content import current_clinic
from ..extensions import db
from ..models import Lead, LeadStatus, PageViewCount
from ..spreadsheet import csv_lines as spreadsheet_lines
from .store import own_hosts, pages_with_the_form, source_of, tag

PRESETS = (7, 30, 90)  # "the last N days", today included
DEFAULT_DAYS = 30
# The dates a period may name: anything else is a typo or a forged URL.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
# The tables, in the order they are shown, with their headings.
DIMENSIONS = {
    "source": "Source",
    "medium": "Medium",
    "campaign": "Campaign",
    "page": "Page",
    "office": "Office",
}


@dataclass(frozen=True)
class Period:
    """The days a report covers, both included, at the clinic; `days` when it is a preset."""

    since: date
    until: date
    days: int | None = None

    def query_args(self) -> dict[str, str]:
        if self.days:
            return {"days": str(self.days)}
        return {"since": self.since.isoformat(), "until": self.until.isoformat()}


def _day(value: str) -> date:
    day = date.fromisoformat(value)  # ValueError for anything but YYYY-MM-DD
    if not FIRST_DAY <= day <= LAST_DAY or len(value) != 10:
        raise ValueError(value)
    return day


def period_from(args: Mapping[str, str], today: date) -> Period:
    """`?days=7|30|90` or `?since=YYYY-MM-DD[&until=YYYY-MM-DD]` (until: today); nothing: 30 days.

    Raises ValueError for anything else (another number of days, a date that is not one, both forms
    at once, an end before the start): the view answers 400.
    """
    days, since, until = args.get("days", ""), args.get("since", ""), args.get("until", "")
    if days and (since or until):
        raise ValueError("days and dates")
    if since or until:
        if not since:
            raise ValueError("a range needs its first day")
        first, last = _day(since), (_day(until) if until else today)
        if first > last:
            raise ValueError("the range ends before it starts")
        return Period(first, last)
    if days and (not days.isdigit() or int(days) not in PRESETS):
        raise ValueError(f"days must be one of {PRESETS}")
    n = int(days or DEFAULT_DAYS)
    return Period(today - timedelta(days=n - 1), today, n)


@dataclass(frozen=True)
class Row:
    """One line of a table: what it is about, its views and leads, and the ratio of the two."""

    label: str
    views: int
    leads: int
    has_form: bool = True  # False for a page without the form: its views bring no one to it

    @property
    def conversion(self) -> float | None:
        return self.leads / self.views if self.views and self.has_form else None


@dataclass
class Report:
    period: Period
    total: Row
    tables: dict[str, list[Row]] = field(default_factory=dict)

    def sections(self) -> Iterator[tuple[str, str, list[Row]]]:
        """(name, heading, rows) of each table, in the order they are shown."""
        for name, heading in DIMENSIONS.items():
            yield name, heading, self.tables[name]


def _views(period: Period) -> list[tuple[str, str, str, str, int]]:
    """(path, source, medium, campaign, views) summed over the period's days."""
    C = PageViewCount
    rows = db.session.execute(
        select(C.path, C.source, C.medium, C.campaign, func.sum(C.views))
        .where(C.day >= period.since, C.day <= period.until)
        .group_by(C.path, C.source, C.medium, C.campaign)
    )
    return [(path, source, medium, campaign, int(views)) for path, source, medium, campaign, views in rows]


def _leads(period: Period) -> list[tuple[str, str, str, str, str, int]]:
    """(landing path, source, medium, campaign, office, leads) of the real leads received in the period,
    counted by the database per distinct combination (few: campaigns and pages, not leads)."""
    columns = (Lead.landing_path, Lead.utm_source, Lead.referrer, Lead.utm_medium, Lead.utm_campaign,
               Lead.location)  # fmt: skip
    rows = db.session.execute(
        select(*columns, func.count())
        .where(
            Lead.created_at >= day_start(period.since),
            Lead.created_at < day_start(period.until + timedelta(days=1)),
            Lead.status != LeadStatus.SPAM,
        )
        .group_by(*columns)
    )
    hosts = own_hosts()
    return [
        (path or "", source_of(utm, referrer, hosts), tag(medium), tag(campaign), office, n)
        for path, utm, referrer, medium, campaign, office, n in rows
    ]


# What an empty value means, per table: no tag, no other site, no known landing page.
EMPTY = {
    "source": "direct",
    "medium": "(none)",
    "campaign": "(none)",
    "page": "(unknown)",
    "office": "(unknown)",
}


def label(dimension: str, value: str) -> str:
    """How a value is shown: an office by its city, an empty value by what it means."""
    if dimension == "office":
        office = current_clinic().office(value)
        return office.city if office else value or EMPTY[dimension]
    return value or EMPTY[dimension]


def _table(dimension: str, views: Counter, leads: Counter) -> list[Row]:
    """Rows by leads, then views, then name."""
    form_pages = pages_with_the_form()
    rows = [
        Row(label(dimension, value), views[value], leads[value], dimension != "page" or value in form_pages)
        for value in views.keys() | leads.keys()
    ]
    return sorted(rows, key=lambda r: (-r.leads, -r.views, r.label))


def build(period: Period) -> Report:
    """The report for `period`: a total, and a table per dimension."""
    form_pages = pages_with_the_form()
    view_rows = _views(period)
    lead_rows = _leads(period)
    views = {name: Counter() for name in DIMENSIONS}
    leads = {name: Counter() for name in DIMENSIONS}
    for path, source, medium, campaign, n in view_rows:
        views["page"][path] += n
        if path not in form_pages:
            continue  # listed by page, but not a view that could become a lead
        for name, value in (("source", source), ("medium", medium), ("campaign", campaign)):
            views[name][value] += n
        for office in form_pages[path]:
            views["office"][office] += n
    for path, source, medium, campaign, office, n in lead_rows:
        for name, value in (
            ("page", path),
            ("source", source),
            ("medium", medium),
            ("campaign", campaign),
            ("office", office),
        ):
            leads[name][value] += n
    total_views = sum(n for path, *_, n in view_rows if path in form_pages)
    report = Report(period, Row("All", total_views, sum(row[-1] for row in lead_rows)))
    report.tables = {name: _table(name, views[name], leads[name]) for name in DIMENSIONS}
    return report


# -- CSV ---------------------------------------------------------------------------------


def csv_lines(report: Report) -> Iterator[str]:
    """The report as CSV, a line at a time: one row per table line, conversion as a fraction.

    Campaign tags are whatever a link said, so every cell is neutralised (spreadsheet.py): none can
    start a spreadsheet formula.
    """
    period = report.period
    lines = [("total", report.total)] + [(name, row) for name, rows in report.tables.items() for row in rows]
    rows = (
        [period.since.isoformat(), period.until.isoformat(), name, row.label, row.views, row.leads,
         "" if row.conversion is None else f"{row.conversion:.4f}"]
        for name, row in lines
    )  # fmt: skip
    header = ["from", "to", "dimension", "value", "views", "leads", "conversion"]
    return spreadsheet_lines([header, *rows])
