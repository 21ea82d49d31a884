"""One page view as one added to a daily counter: which pages count, what a view's source is, the upsert.

A view is never stored as such: no row per visit, no address, no browser, no time of day. What is kept
is a number per day (clinic time), page, source, medium and campaign.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from urllib.parse import urlsplit

from flask import Flask, current_app, url_for
from sqlalchemy.dialects import postgresql, sqlite

from ..clinictime import clinic_today
from ..content import current_clinic
from ..database import writing
from ..extensions import db
from ..i18n import LANGUAGES
from ..leads.forms import clean_hidden
from ..models import PageViewCount

# A host name as browsers write it (IDNA, lower case): anything else is not a site's name.
_HOSTNAME = re.compile(r"^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$")
TAG_LIMIT = 100  # the columns' length, and leads' utm_* columns'


def find_counted_paths(app: Flask) -> frozenset[str]:
    """The public pages whose views are counted: the article, each office's page, the self-check (its
    path only: nothing of the answers), privacy, thanks.

    Not sitemap.xml or robots.txt, which no person reads; no staff page, error or made-up path.
    """
    with app.test_request_context():
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
    with app.test_request_context():
        offices = current_clinic().offices
        pages: dict[str, tuple[str, ...]] = {}
        for lang in LANGUAGES:
            pages[url_for("pages.index", lang=lang)] = tuple(office.slug for office in offices)
            for office in offices:
                pages[url_for("pages.location", slug=office.slug, lang=lang)] = (office.slug,)
        return pages


def host_of(value: str | None) -> str:
    """A site's host name, without "www.", from a host or a URL; "" for anything that is not one."""
    text = clean_hidden(value, 300).lower()
    try:
        host = urlsplit(text).hostname if "//" in text else text
    except ValueError:  # "https://[x": not a URL
        return ""
    if not host or not _HOSTNAME.match(host):
        return ""
    return host.removeprefix("www.")


def source_of(utm_source: str | None, referrer: str | None, own_hosts: frozenset[str] = frozenset()) -> str:
    """What brought a view or a lead: its utm_source, else the other site's host, else "" (direct).

    The same for views and leads, so that the dashboard can divide one by the other. Our own pages
    are no source: moving from one page to another is "direct", as it is for a lead.
    """
    tagged = clean_hidden(utm_source, TAG_LIMIT).lower()
    if tagged:
        return tagged
    host = host_of(referrer)
    return "" if host in own_hosts else host[:TAG_LIMIT]


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
        "medium": clean_hidden(fields.get("utm_medium"), TAG_LIMIT),
        "campaign": clean_hidden(fields.get("utm_campaign"), TAG_LIMIT),
    }


def _upsert(day: date, key: dict[str, str]):
    """INSERT … ON CONFLICT DO UPDATE: one statement, so views at the same moment all count."""
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    return (
        insert(PageViewCount)
        .values(day=day, views=1, **key)
        .on_conflict_do_update(
            index_elements=[
                PageViewCount.day,
                PageViewCount.path,
                PageViewCount.source,
                PageViewCount.medium,
                PageViewCount.campaign,
            ],
            set_={"views": PageViewCount.views + 1},
        )
    )


def count_view(key: dict[str, str], day: date | None = None) -> None:
    """Add one to the counter of `day` (today at the clinic) and `key`."""
    with writing() as session:
        session.execute(_upsert(day or clinic_today(), key))
