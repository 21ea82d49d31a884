"""Office-hours arithmetic: when N minutes of an office's open time have passed, and how many lie between.

Pure functions of a `Schedule` (weekly hours, holidays, a time zone), so they are tested without an
app. Times go in and come out as aware datetimes; the arithmetic is done in UTC, because Python
subtracts two times of one `ZoneInfo` on the wall clock and would be an hour off across a change
to or from daylight saving time. Each day's opening hours are read on that day's wall clock: 9 am
is 9 am before and after the change.

Written here rather than taken from a library: `businesstimedelta` (last release 2019, pytz) is
the nearest, and the clinic's needs are a page of code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

WEEKDAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
# A schedule open on no day within this many days is never open: no lead waits longer than this.
SEARCH_DAYS = 400
ONE_DAY = timedelta(days=1)

Span = tuple[datetime, datetime]


class HoursLike(Protocol):
    """One line of an office's hours in the clinic file: days ("Mo"…"Su"), opens and closes ("09:00")."""

    days: tuple[str, ...]
    opens: str
    closes: str


@dataclass(frozen=True)
class Schedule:
    """An office's open hours: per weekday (Monday first) its spans of wall-clock time; holidays closed."""

    zone: ZoneInfo
    week: tuple[tuple[tuple[time, time], ...], ...]
    holidays: frozenset[date] = frozenset()
    # Each day's spans as POSIX seconds, worked out once: the dashboard asks for the same days thousands
    # of times (one wait per request over twelve weeks).
    _seconds: dict[date, tuple[tuple[float, float], ...]] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )
    # Open seconds from the first day asked about to each day since (negative before it): a wait of weeks
    # is then two subtractions, not a walk over its days. `_bounds` is the range filled in so far.
    _cumulative: dict[date, float] = field(default_factory=dict, compare=False, hash=False, repr=False)
    _bounds: list[date] = field(default_factory=list, compare=False, hash=False, repr=False)

    @classmethod
    def from_hours(cls, hours: Iterable[HoursLike], zone: ZoneInfo | str, holidays: Iterable[date] = ()):
        """From the clinic file's hours; a bad day or time, or closing before opening, is a ValueError."""
        week: list[list[tuple[time, time]]] = [[] for _ in WEEKDAYS]
        for line in hours:
            opens, closes = time.fromisoformat(line.opens), time.fromisoformat(line.closes)
            if closes <= opens:
                raise ValueError(f"office hours {line.opens}–{line.closes}: closing must come after opening")
            for day in line.days:
                if day not in WEEKDAYS:
                    raise ValueError(f"office hours: unknown day {day!r} (use {', '.join(WEEKDAYS)})")
                week[WEEKDAYS.index(day)].append((opens, closes))
        zone = ZoneInfo(zone) if isinstance(zone, str) else zone
        return cls(zone, tuple(_merged(spans) for spans in week), frozenset(holidays))

    def spans(self, day: date) -> list[Span]:
        """The office's open spans on `day` (its own wall clock), in UTC; none on a holiday."""
        if day in self.holidays:
            return []
        return [
            (
                datetime.combine(day, opens, tzinfo=self.zone).astimezone(UTC),
                datetime.combine(day, closes, tzinfo=self.zone).astimezone(UTC),
            )
            for opens, closes in self.week[day.weekday()]
        ]

    def add(self, start: datetime, minutes: float) -> datetime:
        """The moment `minutes` of open time after `start` have passed (a Friday evening's 30 minutes end
        on Monday morning); 0 minutes is the first open moment at or after `start`."""
        remaining = timedelta(minutes=minutes)
        at = start.astimezone(UTC)
        day = start.astimezone(self.zone).date()
        for _ in range(SEARCH_DAYS):
            for opens, closes in self.spans(day):
                if closes <= at:
                    continue
                begin = max(opens, at)
                if remaining <= closes - begin:
                    return begin + remaining
                remaining -= closes - begin
            day += timedelta(days=1)
        raise ValueError(f"no {minutes:g} minutes of office hours within {SEARCH_DAYS} days")

    def _spans_in_seconds(self, day: date) -> tuple[tuple[float, float], ...]:
        found = self._seconds.get(day)
        if found is None:
            found = self._seconds[day] = tuple((o.timestamp(), c.timestamp()) for o, c in self.spans(day))
        return found

    def _open_seconds(self, day: date) -> float:
        return sum(closes - opens for opens, closes in self._spans_in_seconds(day))

    def _open_before(self, day: date) -> float:
        """Open seconds from the first day this schedule was asked about up to `day`, excluded."""
        cumulative = self._cumulative
        if not self._bounds:
            cumulative[day] = 0.0
            self._bounds[:] = [day, day]
        low, high = self._bounds
        while day > high:
            cumulative[high + ONE_DAY] = cumulative[high] + self._open_seconds(high)
            high += ONE_DAY
        while day < low:
            low -= ONE_DAY
            cumulative[low] = cumulative[low + ONE_DAY] - self._open_seconds(low)
        self._bounds[:] = [low, high]
        return cumulative[day]

    def _open_within(self, day: date, begin: float, finish: float) -> float:
        """Open seconds on `day` between the POSIX times `begin` and `finish`."""
        total = 0.0
        for opens, closes in self._spans_in_seconds(day):
            overlap = min(closes, finish) - max(opens, begin)
            if overlap > 0:
                total += overlap
        return total

    def minutes_between(self, start: datetime, end: datetime) -> float:
        """How many minutes of open time lie between `start` and `end` (0 when `end` is not later)."""
        begin, finish = start.timestamp(), end.timestamp()
        if finish <= begin:
            return 0.0
        first, last = start.astimezone(self.zone).date(), end.astimezone(self.zone).date()
        total = self._open_within(first, begin, finish)
        if last > first:
            # The days in between, whole, from the running totals; then the last day up to `end`.
            total += self._open_before(last) - self._open_before(first + ONE_DAY)
            total += self._open_within(last, begin, finish)
        # Seconds to the microsecond, as the datetimes hold them: no float dust in a minute count.
        return round(total, 6) / 60


def _merged(spans: list[tuple[time, time]]) -> tuple[tuple[time, time], ...]:
    """A day's spans sorted, with overlapping or touching ones joined (two lines may name one day)."""
    out: list[tuple[time, time]] = []
    for opens, closes in sorted(spans):
        if out and opens <= out[-1][1]:
            out[-1] = (out[-1][0], max(closes, out[-1][1]))
        else:
            out.append((opens, closes))
    return tuple(out)


def format_minutes(minutes: float) -> str:
    """ "25 min", "1 h 05 min": a wait in office hours, as staff read it."""
    whole = int(minutes)
    if whole < 60:
        return f"{whole} min"
    hours, rest = divmod(whole, 60)
    return f"{hours} h {rest:02d} min"
