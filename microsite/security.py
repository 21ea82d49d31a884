"""Response headers for every answer, errors included, and which client address to trust.

One small WSGI middleware rather than a library: the policy is strict and
fixed (no inline script, nothing from other origins), and a dozen lines with
tests are easier to audit than a general tool's options.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import parse_qsl

import flask
from flask import Flask, has_request_context, request
from werkzeug.exceptions import SecurityError
from werkzeug.formparser import FormDataParser
from werkzeug.wsgi import get_host

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
    # Not no-referrer: a same-origin POST's Referer names the page a lead came from (leads/attribution.py),
    # and Flask-WTF's token check on HTTPS needs it.
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Permissions-Policy", PERMISSIONS_POLICY),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
)


_STATIC_NAMES = [(name.lower(), (name, value)) for name, value in STATIC_HEADERS]


class SecurityHeaders:
    """Adds the fixed headers to every answer Flask makes, errors included, unless a view set its own.

    `Cache-Control: no-store` is the default: an answer may be kept by a browser or a proxy only when
    its view says so (the public pages, sitemap.xml, robots.txt). A re-shown form, an error page or a
    staff page then never lands in a shared cache by an oversight.
    """

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        # ProxyFix, when on, wraps this middleware: the scheme is the visitor's by now.
        secure = environ.get("wsgi.url_scheme") in {"https", "wss"}

        def start(status, headers, exc_info=None):
            present = {name.lower() for name, _ in headers}
            headers.extend(header for name, header in _STATIC_NAMES if name not in present)
            if "cache-control" not in present:
                headers.append(("Cache-Control", "no-store"))
            if secure and "strict-transport-security" not in present:
                headers.append(("Strict-Transport-Security", HSTS))
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


class OnlyOurHosts:
    """A request for a host the app does not serve (its Host, or X-Forwarded-Host behind a trusted
    proxy) goes straight to `refuse`: Flask, which answers it with the branded 400 (TRUSTED_HOSTS).

    The layers that answer before Flask (static files, the page cache) never see it, so another
    name gets the same 400 for every path.
    """

    def __init__(self, wsgi_app, refuse, trusted: list[str]):
        self.wsgi_app = wsgi_app
        self.refuse = refuse
        self.trusted = trusted
        # (scheme, Host) pairs already found trusted: a set lookup per request instead of Werkzeug's
        # parsing. Only trusted ones are kept, and few exist (the name, with or without a port).
        self._trusted_seen: set[tuple] = set()

    def __call__(self, environ, start_response):
        key = (environ.get("wsgi.url_scheme"), environ.get("HTTP_HOST"))
        if key not in self._trusted_seen:
            try:
                get_host(environ, self.trusted)
            except SecurityError:
                return self.refuse(environ, start_response)
            if len(self._trusted_seen) < 64:
                self._trusted_seen.add(key)
        return self.wsgi_app(environ, start_response)


def client_address() -> str:
    """The client as every limit counts it (Flask-Limiter's key, the staff login throttle): its address,
    or for IPv6 its /64, which one household or server is given whole; "cli" outside a request.

    Counting each IPv6 address apart would make one connection 2^64 clients.
    """
    if not has_request_context():
        return "cli"
    address = request.remote_addr or "?"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(((int(ip) >> 64) << 64, 64)))
    return str(ip)


class _StrictFormDataParser(FormDataParser):
    """A urlencoded form's undecodable bytes become U+FFFD, which validation refuses.

    Werkzeug keeps an undecodable %-escape as the text "%FF", which would be stored as if the visitor
    had typed it, and drops a whole body of raw undecodable bytes. So urlencoded bodies are parsed
    here, through `parse`, the parser's public method (Request.form_data_parser_class is how Flask
    chooses it); multipart goes to Werkzeug's own.
    """

    def parse(self, stream, mimetype, content_length, options=None):
        if mimetype != "application/x-www-form-urlencoded":
            return super().parse(stream, mimetype, content_length, options)
        text = stream.read().decode("utf-8", "replace")
        return stream, self.cls(parse_qsl(text, keep_blank_values=True, errors="replace")), self.cls()


class Request(flask.Request):
    form_data_parser_class = _StrictFormDataParser


def init_app(app: Flask) -> None:
    app.request_class = Request
