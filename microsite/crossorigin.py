"""Cross-site request forgery refused with Fetch Metadata, without a token in any public page.

The check Go 1.25's `http.CrossOriginProtection`, ASP.NET Core and Echo v5 make, for every
request that can change something (anything but GET, HEAD, OPTIONS):

1. `Sec-Fetch-Site: same-origin` (our own page) or `none` (typed by the user) passes;
   `same-site` or `cross-site` is refused with 403. Every browser since 2023 sends it.
2. Without it, an `Origin` header must be SITE_URL's origin, or the request is refused.
3. With neither (a very old browser, or a script), the request proves itself with Flask-WTF's
   token instead: the public form is shown again with a token (leads/), and Send goes through.

Staff forms carry a Flask-WTF token as well, checked after this.

Not flask-sec-fetch-csrf (0.2.0, read with its tests): it lets a request with neither header
through, where we need the token fallback, and it compares `Origin` with the `Host` or
`X-Forwarded-Host` the request names, where the one origin a form may come from is SITE_URL's.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, g, request
from werkzeug.exceptions import Forbidden

from .extensions import csrf

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CrossOriginRefused(Forbidden):
    """A request another site's page made the browser send."""

    description = "This form can only be sent from our own pages."


def origin_of(url: str) -> str:
    """`https://clinic.example.com/x` → `https://clinic.example.com`, as a browser's Origin says it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def sent_from_our_pages(site_origin: str) -> bool:
    """True when the browser says this request came from our own origin; False when it sent no
    signal at all; raises CrossOriginRefused when the request came from anywhere else."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        if fetch_site.strip().lower() in ("same-origin", "none"):
            return True
        raise CrossOriginRefused
    origin = request.headers.get("Origin")
    if origin is not None:
        if origin.strip().lower() == site_origin:
            return True
        raise CrossOriginRefused
    return False


def protect() -> None:
    """Refuse a cross-origin request; ask for a token where the browser vouched for nothing."""
    if request.method in SAFE_METHODS or request.endpoint is None:
        return  # a read, or a request that will be answered 404 or 405 anyway
    verified = sent_from_our_pages(current_app.extensions["site_origin"])
    # Read by leads/ to put a token into a form it shows again.
    g.needs_token = not verified
    if (not verified or request.blueprint == "staff") and current_app.config["WTF_CSRF_ENABLED"]:
        csrf.protect()


def init_app(app: Flask) -> None:
    """After the rate limiter's hook, so that a flood of forged requests is counted before it is judged."""
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.extensions["site_origin"] = origin_of(app.config["SITE_URL"])
    csrf.init_app(app)
    app.before_request(protect)
