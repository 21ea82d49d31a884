"""Response headers for every answer, errors included, and which client address to trust.

One small after_request hook rather than a library: the policy is strict and
fixed (no inline script, nothing from other origins), and a dozen lines with
tests are easier to audit than a general tool's options.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import flask
from flask import Flask, Response, request
from werkzeug.formparser import FormDataParser
from werkzeug.middleware.proxy_fix import ProxyFix

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=(), browsing-topics=()"
)
HSTS = "max-age=31536000; includeSubDomains"


# The same on every answer, so built once; static files (assets.py) get them too.
STATIC_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    # Not no-referrer: Flask-WTF's strict check on HTTPS needs our own Referer.
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Permissions-Policy", PERMISSIONS_POLICY),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
)


def set_security_headers(response: Response) -> Response:
    headers = response.headers
    # One pass over what the view set (a missing-key lookup in Werkzeug's Headers raises and catches).
    present = {name.lower() for name, _ in headers.to_wsgi_list()}
    headers.extend([header for header in STATIC_HEADERS if header[0].lower() not in present])
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", HSTS)
    # `no-store` for pages that used the session is set where the session is saved (sessions.py):
    # reading flask.session here would itself mark every page as having used it.
    return response


class _StrictFormDataParser(FormDataParser):
    """Undecodable bytes become U+FFFD, which validation refuses.

    Werkzeug turns them into "%FF"-style text instead, which would be stored as if
    the visitor had typed it.
    """

    def _parse_urlencoded(self, stream, mimetype, content_length, options):
        items = parse_qsl(stream.read().decode("utf-8", "replace"), keep_blank_values=True, errors="replace")
        return stream, self.cls(items), self.cls()


class Request(flask.Request):
    form_data_parser_class = _StrictFormDataParser


def init_app(app: Flask) -> None:
    app.request_class = Request
    proxies = app.config["TRUSTED_PROXY_COUNT"]
    if proxies > 0:
        # Only then is X-Forwarded-For believed; otherwise a client could pick its own address.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    app.after_request(set_security_headers)
