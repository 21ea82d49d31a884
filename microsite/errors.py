"""Branded error pages: whatever went wrong, the visitor can still call the clinic."""

from __future__ import annotations

import logging

from flask import Flask, current_app, render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from .extensions import db
from .i18n import in_language, request_language
from .logs import printable
from .templating import render_apart

log = logging.getLogger(__name__)

TITLES = {
    400: _l("Something in that request did not work"),
    403: _l("That request came from another website"),
    404: _l("We could not find that page"),
    405: _l("That is not something this page can do"),
    413: _l("That was more than this form accepts"),
    415: _l("That request was not in a form this page reads"),
    429: _l("Too many requests in a short time"),
    500: _l("Something went wrong on our side"),
    503: _l("We are briefly unavailable"),
}


def render_error(status: int, headers: dict | None = None, reason: str | None = None):
    """The branded page for `status`; `reason` picks a more specific explanation where there is one.

    The same for everyone in a language, so rendered once per process and language: a flood of
    rate-limited requests costs a dictionary lookup each. In the request's language (a Spanish page's
    form, a path under /es/). Sent `no-store` (security.SecurityHeaders), as an answer to one request.
    """
    pages = current_app.extensions.setdefault("error_pages", {})
    lang = request_language()
    page = pages.get((status, reason, lang))
    if page is None:
        title = TITLES.get(status, _l("Something went wrong"))
        page = pages[status, reason, lang] = render_apart(
            in_language(
                lang, lambda: render_template("error.html", status=status, title=title, reason=reason)
            )
        )
    return page, status, {"Content-Type": "text/html; charset=utf-8", **(headers or {})}


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        # 405's Allow; a 429's Retry-After comes from Flask-Limiter's own after_request hook.
        headers = {k: v for k, v in error.get_headers() if k != "Content-Type"} if error.code == 405 else {}
        return render_error(error.code or 500, headers)

    @app.errorhandler(OperationalError)
    def database_unavailable(error: OperationalError):
        # Locked past the busy timeout, or the server is down: nothing was committed.
        db.session.rollback()
        log.error("database unavailable: %s", type(error.orig).__name__)
        return render_error(503, {"Retry-After": "30"})

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, printable(request.path))
        return render_error(500)
