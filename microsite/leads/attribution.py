"""Where a lead came from, with nothing per visit in the page.

- The page the form was sent from: a same-origin POST's `Referer` carries its full URL (our
  `Referrer-Policy` is `strict-origin-when-cross-origin`). A form shown again (400/422) carries it
  on in its hidden `landing` field, since the next POST's Referer is /consultation.
- That page's campaign tags (`utm_source`, `utm_medium`, `utm_campaign`), from its query string.
- The site that sent the visitor to us: static/site.js copies `document.referrer`'s origin into the
  hidden `referrer` field. Without JavaScript it stays empty.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, parse_qs, urlsplit

from flask import current_app, request

from ..inputs import cleaned
from .forms import ConsultationForm

CAMPAIGN_TAGS = ("utm_source", "utm_medium", "utm_campaign")
_HOSTNAME = re.compile(r"^[a-z0-9.-]+$")  # an origin's host as browsers send it (IDNA, lower case)


def _split(url: str) -> SplitResult | None:
    """`url`'s parts, or None for text that is not a URL (an unbalanced "[", a bad port)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        return None
    return parts


def landing_of(form: ConsultationForm) -> str | None:
    """The path and query string of the page the form was sent from, or None when unknown."""
    carried = cleaned(form.landing.data, 500)
    if carried:
        return carried if carried.startswith("/") and not carried.startswith("//") else None
    referer = _split(cleaned(request.referrer, 2000))
    ours = {request.host, urlsplit(current_app.config["SITE_URL"]).netloc}
    if referer is None or referer.netloc not in ours or not referer.path.startswith("/"):
        return None  # no Referer, or another site's page (an old browser's cross-site POST)
    if referer.path == request.path:
        return None  # the form shown again, without its hidden field
    return cleaned(referer.path + (f"?{referer.query}" if referer.query else ""), 500)


def _origin(url: str) -> str | None:
    """Only the site (scheme, host, port) of the page that sent the visitor here: never a path or
    a user name."""
    parts = _split(cleaned(url, 500))
    if parts is None or parts.scheme not in ("http", "https") or not _HOSTNAME.match(parts.hostname or ""):
        return None
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def attribution(form: ConsultationForm, landing: str | None) -> dict[str, str | None]:
    """The lead's `utm_*`, `referrer` and `landing_path` columns."""
    parts = _split(landing or "") or urlsplit("")
    tags = parse_qs(parts.query, keep_blank_values=False)
    values: dict[str, str | None] = {
        name: cleaned(tags.get(name, [""])[0], 100) or None for name in CAMPAIGN_TAGS
    }
    values["referrer"] = _origin(form.referrer.data or "")
    values["landing_path"] = parts.path or None
    return values
