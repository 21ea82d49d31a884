"""Branded error pages: whatever went wrong, the visitor can still call the clinic."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from .extensions import db

log = logging.getLogger(__name__)

TITLES = {
    400: "Something in that request did not work",
    404: "We could not find that page",
    405: "That is not something this page can do",
    413: "That was more than this form accepts",
    429: "Too many requests in a short time",
    500: "Something went wrong on our side",
    503: "We are briefly unavailable",
}


def render_error(status: int, headers: dict | None = None, reason: str | None = None):
    """The branded page for `status`; `reason` picks a more specific explanation where there is one."""
    title = TITLES.get(status, "Something went wrong")
    page = render_template("error.html", status=status, title=title, reason=reason)
    return page, status, headers or {}


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        if request.endpoint == "leads.consultation":
            from .leads import csrf_failed

            return csrf_failed()
        return render_error(400)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        headers = dict(error.get_response().headers) if error.code in (405, 429) else {}
        headers.pop("Content-Type", None)
        headers.pop("Content-Length", None)
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
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(500)
