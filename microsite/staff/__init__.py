"""The clinic staff's side at /staff/: login, the lead inbox, lead pages, export, dashboard, audit log."""

from __future__ import annotations

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError

bp = Blueprint("staff", __name__, url_prefix="/staff")

# The only staff pages an anonymous visitor may open.
PUBLIC_ENDPOINTS = frozenset({"staff.login", "staff.login_code"})


@bp.before_request
def refuse_cross_site_navigation():
    """A staff page opened from another site (a link in a webmail, or a forged one) runs nothing.

    Viewing a lead or downloading the CSV writes to the audit log, and the session cookie
    (SameSite=Lax) travels with a top-level navigation from anywhere. Such a visit gets a page with
    a link to the same address instead; followed from here, the browser says `same-origin`.
    """
    site = request.headers.get("Sec-Fetch-Site", "").lower()
    if request.method in ("GET", "HEAD") and site in ("cross-site", "same-site"):
        target = request.path + (f"?{request.query_string.decode('latin-1')}" if request.query_string else "")
        return render_template("staff/continue.html", target=target)
    return None


@bp.before_request
def require_login():
    """Every staff route needs a login, so a new route cannot be left open by mistake."""
    from ..extensions import login_manager

    if request.endpoint not in PUBLIC_ENDPOINTS and not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


@bp.after_request
def private_headers(response):
    """Lead data must not stay in a shared computer's cache or reach a search engine."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@bp.context_processor
def staff_user() -> dict:
    """`current_user` for the staff templates only: a public page never reads the session."""
    return {"current_user": current_user}


@bp.errorhandler(CSRFError)
def form_expired(error: CSRFError):
    """A form left open too long: back to the page it came from, with a fresh form."""
    from .auth import safe_next

    flash("That form had expired, so nothing was changed. Please try again.", "error")
    back = safe_next(request.referrer) or url_for("staff.inbox")
    return redirect(back, 303)


def init_app(app: Flask) -> None:
    from . import auth, questions, views  # noqa: F401 -- the routes attach themselves to `bp`
    from .cli import staff_cli
    from .templating import init_templating

    app.config.setdefault("RATELIMIT_STAFF_LOGIN", "10 per minute; 100 per hour")
    app.config.setdefault("STAFF_PAGE_SIZE", 25)
    app.register_blueprint(bp)
    app.cli.add_command(staff_cli)
    init_templating(app)
