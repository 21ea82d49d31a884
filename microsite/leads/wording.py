"""A lead in staff's words: the contact they chose as the form put it ("Phone call"), their best time,
and where they came from ("Google, paid ad, campaign 'winter'") instead of utm_source and utm_medium."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..content import current_clinic
from ..models import Lead
from .forms import CONTACT_METHODS, best_times

# Campaign sources as people say them; anything else is shown as it was tagged.
SOURCES = {
    "google": "Google",
    "bing": "Bing",
    "yahoo": "Yahoo",
    "duckduckgo": "DuckDuckGo",
    "facebook": "Facebook",
    "fb": "Facebook",
    "instagram": "Instagram",
    "ig": "Instagram",
    "tiktok": "TikTok",
    "youtube": "YouTube",
    "linkedin": "LinkedIn",
    "twitter": "X (Twitter)",
    "x": "X (Twitter)",
    "yelp": "Yelp",
    "nextdoor": "Nextdoor",
    "gbp": "Google Business Profile",
    "gmb": "Google Business Profile",
    "newsletter": "the newsletter",
    "email": "an email",
}
MEDIUMS = {
    "cpc": "paid ad",
    "ppc": "paid ad",
    "paid": "paid ad",
    "paidsearch": "paid ad",
    "paid_search": "paid ad",
    "paid-search": "paid ad",
    "paid_social": "paid social media ad",
    "paid-social": "paid social media ad",
    "paidsocial": "paid social media ad",
    "display": "display ad",
    "banner": "display ad",
    "organic": "unpaid search result",
    "social": "social media post",
    "email": "email",
    "newsletter": "email",
    "referral": "link on another site",
    "affiliate": "affiliate link",
    "sms": "text message",
    "qr": "QR code",
    "print": "printed material",
}
# A referring site with no campaign tags, by the name in its host.
SITES = {
    "google": "Google",
    "bing": "Bing",
    "yahoo": "Yahoo",
    "duckduckgo": "DuckDuckGo",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "youtube": "YouTube",
    "linkedin": "LinkedIn",
    "yelp": "Yelp",
}


def contact_label(method: str | None) -> str:
    """ "Phone call", "Text message" or "Email": the words the visitor chose."""
    return next((str(c.label) for c in CONTACT_METHODS if c.value == method), method or "–")


def best_time_label(value: str | None) -> str:
    if not value or value == "any":
        return "No preference"
    return next((str(c.label) for c in best_times(current_clinic().offices) if c.value == value), value)


def _site_of(referrer: str | None) -> str | None:
    host = (urlsplit(referrer or "").hostname or "").removeprefix("www.")
    if not host:
        return None
    name = next((label for key, label in SITES.items() if key in host.split(".")), None)
    return f"{name} ({host})" if name else f"a link on {host}"


def came_from(lead: Lead) -> str:
    """Where the request came from, in words: "Google, paid ad, campaign 'winter'"; "a link on
    example.org"; or that nothing says."""
    source = (lead.utm_source or "").strip()
    parts = []
    if source:
        parts.append(SOURCES.get(source.lower(), source))
    elif site := _site_of(lead.referrer):
        parts.append(site)
    if medium := (lead.utm_medium or "").strip():
        parts.append(MEDIUMS.get(medium.lower(), medium))
    if campaign := (lead.utm_campaign or "").strip():
        parts.append(f"campaign '{campaign}'")
    return ", ".join(parts) or "No source recorded: a typed address, a bookmark, or an app that hides it"


def landing_label(path: str | None) -> str:
    """The page the form was sent from: the article or an office's page, by its name."""
    if not path:
        return "Not known"
    spanish = path.startswith("/es/") or path == "/es"
    bare = path.removeprefix("/es").rstrip("/") or "/"
    office = next((o for o in current_clinic().offices if bare.endswith(o.slug)), None)
    page = f"the {office.city} office page" if office else "the article" if bare == "/" else path
    return f"{page} in Spanish" if spanish and page != path else page
