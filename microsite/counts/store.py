"""One page view as one added to a daily counter: which pages count, what a view's source is, the upsert.

A view is never stored as such: no row per visit, no address, no browser, no time of day. What is kept
is a number per day (clinic time), page, source, medium and campaign.

Any script can send a beacon, so what it says is bounded: a tag is `[a-z0-9._-]`, at most 40
characters, or "(other)"; and a day holds at most COUNTS_MAX_KEYS_PER_DAY rows, after which new
combinations of tags are counted on their page's "(other)" row. A flood of made-up tags costs a few
hundred rows a day, not millions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from urllib.parse import urlsplit

from flask import Flask, current_app, url_for
from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from ..clinictime import clinic_today
from ..content import current_clinic
from ..database import writing
from ..extensions import db
from ..i18n import LANGUAGES
from ..inputs import cleaned
from ..models import PageViewCount

# A host name as browsers write it (IDNA, lower case): anything else is not a site's name.
_HOSTNAME = re.compile(r"^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$")
# What a counted tag (source, medium, campaign) may be; anything else is counted as OTHER.
_TAG = re.compile(r"^[a-z0-9._-]{1,40}$")
OTHER = "(other)"
# An advisory lock on PostgreSQL, held to the end of the transaction: its first key says "page view
# counters", the second is the day.
_HOLD_THE_DAY = text("SELECT pg_advisory_xact_lock(:kind, :day)")
_DAY_LOCK = 0x70766331


def find_counted_paths(app: Flask) -> frozenset[str]:
    """The public pages whose views are counted: the article, each office's page, the self-check (its
    path only: nothing of the answers), privacy, thanks.

    Not sitemap.xml or robots.txt, which no person reads; no staff page, error or made-up path.
    """
    with app.test_request_context(base_url=app.config["SITE_URL"]):
        offices = current_clinic().offices
        return frozenset(
            url_for(endpoint, lang=lang, **values)
            for lang in LANGUAGES
            for endpoint, values in [
                ("pages.index", {}),
                *(("pages.location", {"slug": office.slug}) for office in offices),
                ("pages.phq9_page", {}),
                ("pages.privacy", {}),
                ("pages.thanks", {}),
            ]
        )


def find_pages_with_the_form(app: Flask) -> dict[str, tuple[str, ...]]:
    """The pages that carry the consultation form, each with the offices its form offers: the article
    both, an office's page its own (preselected)."""
    with app.test_request_context(base_url=app.config["SITE_URL"]):
        offices = current_clinic().offices
        pages: dict[str, tuple[str, ...]] = {}
        for lang in LANGUAGES:
            pages[url_for("pages.index", lang=lang)] = tuple(office.slug for office in offices)
            for office in offices:
                pages[url_for("pages.location", slug=office.slug, lang=lang)] = (office.slug,)
        return pages


def host_of(value: str | None) -> str:
    """A site's host name, without "www.", from a host or a URL; "" for anything that is not one."""
    text = cleaned(value, 300).lower()
    try:
        host = urlsplit(text).hostname if "//" in text else text
    except ValueError:  # "https://[x": not a URL
        return ""
    if not host or not _HOSTNAME.match(host):
        return ""
    return host.removeprefix("www.")


def tag(value: str | None) -> str:
    """A campaign tag as it is counted: lower case `[a-z0-9._-]`, at most 40 characters; "" when there
    is none, OTHER for anything else (spaces, symbols, another script, a long made-up string)."""
    text = cleaned(value, 100).lower()
    if not text:
        return ""
    return text if _TAG.match(text) else OTHER


def source_of(utm_source: str | None, referrer: str | None, own_hosts: frozenset[str] = frozenset()) -> str:
    """What brought a view or a lead: its utm_source, else the other site's host, else "" (direct).

    The same for views and leads, so that the dashboard can divide one by the other. Our own pages
    are no source: moving from one page to another is "direct", as it is for a lead.
    """
    tagged = tag(utm_source)
    if tagged:
        return tagged
    host = host_of(referrer)
    return "" if host in own_hosts else tag(host)


def own_hosts(request_host: str | None = None) -> frozenset[str]:
    """This site's host names (SITE_URL's, and the one the request named), as `host_of` writes them."""
    hosts = {host_of(current_app.config["SITE_URL"]), host_of(f"//{request_host}" if request_host else "")}
    return frozenset(hosts - {""})


def counted_paths() -> frozenset[str]:
    """The paths whose views are counted (found at start-up)."""
    return current_app.extensions["counted_paths"]


def pages_with_the_form() -> dict[str, tuple[str, ...]]:
    """The paths that carry the consultation form, each with its offices (found at start-up)."""
    return current_app.extensions["form_paths"]


def dimensions(fields: Mapping[str, str], request_host: str | None = None) -> dict[str, str] | None:
    """The counter's key for a beacon's fields, or None when its page is not one that is counted."""
    path = fields.get("path", "")
    if path not in counted_paths():
        return None
    return {
        "path": path,
        "source": source_of(fields.get("utm_source"), fields.get("from"), own_hosts(request_host)),
        "medium": tag(fields.get("utm_medium")),
        "campaign": tag(fields.get("utm_campaign")),
    }


# The statements, built once: a beacon comes with every page view, and building SQLAlchemy expressions
# anew each time cost more than running them. Parameters (`_params`): the day, and the key's path,
# source, medium and campaign.
C = PageViewCount
KEY = ("path", "source", "medium", "campaign")
_ADD_ONE = (
    update(C)
    .where(C.day == bindparam("the_day"), *(getattr(C, name) == bindparam(f"the_{name}") for name in KEY))
    .values(views=C.views + 1)
)
_ROWS_OF_THE_DAY = (
    select(func.count())
    .select_from(C)
    .where(
        C.day == bindparam("the_day"), ~((C.source == OTHER) & (C.medium == OTHER) & (C.campaign == OTHER))
    )
)
# INSERT … ON CONFLICT DO UPDATE: one statement, so two views of a new key at the same moment both count.
_UPSERT = {
    dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(C)
    .values(day=bindparam("the_day"), views=1, **{name: bindparam(f"the_{name}") for name in KEY})
    .on_conflict_do_update(
        index_elements=[C.day, *(getattr(C, name) for name in KEY)], set_={"views": C.views + 1}
    )
    for dialect in (postgresql, sqlite)
}


def _params(day: date, key: dict[str, str]) -> dict:
    return {"the_day": day, **{f"the_{name}": key[name] for name in KEY}}


def folded(key: dict[str, str]) -> dict[str, str]:
    """The row a view is counted on once its day is full: its page's "(other)"."""
    return {"path": key["path"], "source": OTHER, "medium": OTHER, "campaign": OTHER}


def _room_for_a_new_key(session, day: date) -> bool:
    """Whether `day` may have one more row besides the pages' "(other)" rows, which stay possible: one
    for each counted page is held back, so the day never holds more than COUNTS_MAX_KEYS_PER_DAY."""
    rows = session.scalar(_ROWS_OF_THE_DAY, {"the_day": day})
    return rows < current_app.config["COUNTS_MAX_KEYS_PER_DAY"] - len(counted_paths())


def count_view(key: dict[str, str], day: date | None = None) -> None:
    """Add one to the counter of `day` (today at the clinic) and `key`, or of its page's "(other)" when
    the day holds all the rows it may.

    Most views add to a row that exists: one UPDATE. A new row is counted and added while holding the
    day: SQLite's write lock (BEGIN IMMEDIATE) on SQLite, an advisory lock on the day on PostgreSQL,
    so parallel views never make more rows than the day may hold. Rows are only ever added to a day,
    so once it is full, views fold into "(other)" without waiting for the lock.
    """
    day = day or clinic_today()
    dialect = db.engine.dialect.name
    with writing() as session:
        if session.execute(_ADD_ONE, _params(day, key)).rowcount == 1:
            return
        room = _room_for_a_new_key(session, day)  # a full day stays full: folding needs no lock
        if room and dialect == "postgresql":
            # Another view may be taking the last place meanwhile: ask again, holding the day.
            session.execute(_HOLD_THE_DAY, {"kind": _DAY_LOCK, "day": day.toordinal()})
            room = _room_for_a_new_key(session, day)
        session.execute(_UPSERT[dialect], _params(day, key if room else folded(key)))
