"""POST /v: one view of a public page, one added to its daily counter, or nothing; 204 either way."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, g, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import limiter
from . import store

bp = Blueprint("counts", __name__)
# On the blueprint, as leads/ does: Flask-Limiter checks it before the cross-origin check, per address.
limiter.limit(lambda: current_app.config["RATELIMIT_BEACON"])(bp)
log = logging.getLogger(__name__)


# No content, so nothing it may load or run: stricter than the pages' policy, and a few hundred bytes
# shorter on an answer every page view gets.
NOTHING = "default-src 'none'; frame-ancestors 'none'"


def no_content(status: int = 204) -> Response:
    """An empty answer: the page that sent the beacon has already moved on and reads nothing."""
    response = Response(
        status=status, headers={"Cache-Control": "no-store", "Content-Security-Policy": NOTHING}
    )
    del response.headers["Content-Type"]  # there is no content
    return response


def counting_refused() -> bool:
    """Global Privacy Control asks not to be tracked; and a request no browser vouched for (no
    Sec-Fetch-Site, no Origin: crossorigin.py) may be anyone's script, so it counts for nothing."""
    return request.headers.get("Sec-GPC", "").strip() == "1" or bool(g.get("needs_token"))


@bp.post("/v")
def view():
    """One view of a public page: one added to its counter, or nothing; 204 either way."""
    if counting_refused():
        return no_content()
    key = store.dimensions(request.form, request.host)
    if key is None:
        return no_content()  # not a page that is counted: a staff page, an error, a made-up path
    try:
        store.count_view(key)
    except SQLAlchemyError as exc:
        # A count is not worth an error page; the visitor never sees this answer anyway.
        log.warning("page view not counted: %s", type(exc).__name__)
    return no_content()


@bp.errorhandler(CSRFError)
def no_token(error: CSRFError):
    """Neither Sec-Fetch-Site nor Origin: crossorigin.py asks for a token, which a beacon never has.
    Not counted, and not a form to show again: just the usual empty answer."""
    return no_content()


@bp.errorhandler(429)
def too_many(error):
    """Over the limit: an empty 429 (with Flask-Limiter's Retry-After), not the branded page."""
    return no_content(429)
