"""The staff pages at /staff/: the blueprint and what every staff page does (a login required, a second
factor set up, the role's reach in place for every query, nothing kept in a cache, nothing run from
another site's link); the routes are in the modules beside this one."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import Forbidden

from ... import access
from ...extensions import limiter, login_manager
from ...inputs import refuse_unreadable_parameters
from ...models import MAX_ID
from .. import logins

bp = Blueprint("staff", __name__, url_prefix="/staff")
# First of the blueprint's hooks: a search term, date or page number the rule refuses is a 400.
bp.before_request(refuse_unreadable_parameters)

# The only staff pages an anonymous visitor may open: logging in, and an invitation's link.
PUBLIC_ENDPOINTS = frozenset(
    {
        "staff.login",
        "staff.login_code",
        "staff.passkey_login_options",
        "staff.passkey_login",
        "staff.invite_link",
    }
)
# What a login without a second factor opens while STAFF_SECOND_FACTOR is "required": setting one up.
ENROLMENT_ENDPOINTS = frozenset(
    {
        "staff.enrol",
        "staff.totp_setup",
        "staff.totp_setup_cancel",
        "staff.passkey_add_options",
        "staff.passkey_add",
        "staff.reauth",
        "staff.reauth_passkey_options",
        "staff.reauth_passkey",
        "staff.logout",
    }
)
# A larger id in a URL is a 404 or a 400, never an overflow (models.MAX_ID).
ID = f"int(max={MAX_ID})"  # the URL converter for a lead's, a notification's or a question's id
MAX_PAGE = 10_000

# The login's rate limit is on the blueprint, not on the views: Flask-Limiter checks a blueprint's
# limits in its own before_request hook, ahead of the cross-origin and token checks (crossorigin.py),
# so a flood of forged or tokenless logins is counted too. One counter per address for these.
RATE_LIMITED = frozenset(
    {
        "staff.login",
        "staff.login_code",
        "staff.logout",
        "staff.passkey_login_options",
        "staff.passkey_login",
        "staff.invite_link",
        "staff.reauth",
    }
)
limiter.limit(
    lambda: current_app.config["RATELIMIT_STAFF_LOGIN"],
    methods=["POST"],
    exempt_when=lambda: request.endpoint not in RATE_LIMITED,
)(bp)


def safe_next(target: str | None) -> str | None:
    """`target` as a path inside the staff pages, or None: never another host."""
    if not target or "\\" in target or any(ord(c) < 32 for c in target):
        return None
    try:
        parts = urlsplit(target)
    except ValueError:  # an unbalanced "[" in the host, say
        return None
    if parts.scheme not in ("", "http", "https"):
        return None
    if parts.netloc and parts.netloc != request.host:
        return None
    path = parts.path
    if not path.startswith("/staff/") or path.startswith("//"):
        return None
    return path + (f"?{parts.query}" if parts.query else "")


def page_number(limit: int = MAX_PAGE) -> int:
    """The `page` query argument: 1 to `limit`; anything else is a 400, not a database error."""
    page = request.args.get("page", "1")
    if not page.isdigit() or len(page) > 10 or not 1 <= int(page) <= limit:
        abort(400)
    return int(page)


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


class NotPermitted(Forbidden):
    """A staff page this account's role does not open."""


def requires(permission: str) -> Callable:
    """The view needs `permission` (access.EXPORT, REPORTS, TEAM); checked before it runs."""

    def mark(view: Callable) -> Callable:
        view.required_permission = permission
        return view

    return mark


def recent_login(view: Callable) -> Callable:
    """The view asks for the password or a passkey again when the last was over five minutes ago."""
    view.needs_recent_login = True
    return view


def needs_enrolment(user) -> bool:
    return current_app.config["STAFF_SECOND_FACTOR"] == "required" and not user.has_second_factor


@bp.before_request
def require_login():
    """Every staff route needs a login (so a new route cannot be left open by mistake) with a second
    factor set up; then the role's reach holds every query of the request (access.py), and a view that
    needs more than reading is checked against the role."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    scope = access.Scope.of(current_user)
    access.enter(scope)
    if needs_enrolment(current_user) and request.endpoint not in ENROLMENT_ENDPOINTS:
        return redirect(url_for("staff.enrol"), 303)
    view = current_app.view_functions.get(request.endpoint)
    if not scope.allows(getattr(view, "required_permission", None)):
        raise NotPermitted
    if getattr(view, "needs_recent_login", False) and not logins.reauthenticated_recently(
        current_user.login_token
    ):
        return ask_again()
    return None


def ask_again():
    """To the page that asks for the password or a passkey again, then back: to this page for a
    GET, to the page the form was on for a POST (whose form is then sent again by hand)."""
    if request.method == "GET":
        target = request.full_path.rstrip("?")
    else:
        target = safe_next(request.referrer) or url_for("staff.account")
        flash("For your safety, please confirm it is you, then do that again.", "info")
    return redirect(url_for("staff.reauth", next=target), 303)


@bp.after_request
def private_headers(response):
    """Lead data must not stay in a shared computer's cache or reach a search engine."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@bp.context_processor
def staff_user() -> dict:
    """`current_user` and the reach of their role (`scope`) for the staff templates only: a public page
    never reads the session."""
    return {"current_user": current_user, "scope": access.current(), "permissions": access}


@bp.errorhandler(NotPermitted)
def not_permitted(error: NotPermitted):
    return render_template("staff/forbidden.html"), 403


@bp.errorhandler(CSRFError)
def form_expired(error: CSRFError):
    """A form left open too long: back to the page it came from, with a fresh form."""
    flash("That form had expired, so nothing was changed. Please try again.", "error")
    back = safe_next(request.referrer) or url_for("staff.inbox")
    return redirect(back, 303)
