"""Logging in and out: password, then the TOTP code when the account has one; a login of a working day,
kept as a row on the server (logins.py) that logout, a new password or `staff disable` deletes."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from ..database import writing
from ..extensions import limiter, login_manager
from ..models import StaffUser
from . import accounts, audit, bp, logins
from .forms import CodeForm, LoginForm

login_manager.login_view = "staff.login"
login_manager.login_message = "Please log in to see the staff pages."
login_manager.login_message_category = "info"
# For a permanent session Flask-Login's check only marks it not fresh when the address or browser
# changes; what ends a login, whoever holds a copy of the cookie, is deleting its row (logins.py).
login_manager.session_protection = "strong"

# The login's rate limit is on the blueprint, not on the views: Flask-Limiter checks a blueprint's
# limits in its own before_request hook, ahead of the cross-origin and token checks (crossorigin.py),
# so a flood of forged or tokenless logins is counted too. One counter per address for these three.
RATE_LIMITED = frozenset({"staff.login", "staff.login_code", "staff.logout"})
limiter.limit(
    lambda: current_app.config["RATELIMIT_STAFF_LOGIN"],
    methods=["POST"],
    exempt_when=lambda: request.endpoint not in RATE_LIMITED,
)(bp)

NO_MATCH = "That email and password do not match an active staff account."
WRONG_CODE = "That code is not right, or was used already. Try the newest code."


@login_manager.user_loader
def load_user(token: str) -> StaffUser | None:
    """The staff member whose login this is, while its row lasts (logins.py)."""
    return logins.user_of(token)


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


def _start_session(user: StaffUser, next_url: str | None, pending: str | None = None):
    """Log `user` in with a new login row (a new token: nothing from before the login carries over)."""
    with writing():
        logins.end(pending)
        logins.start(user)
        accounts.register_success(user)
        audit.record("staff.login", actor=user.email)
    session.clear()
    login_user(user)
    session.permanent = True
    return redirect(safe_next(next_url) or url_for("staff.inbox"), 303)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for("staff.inbox"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
    if form.validate_on_submit():
        user = accounts.check_password(form.email.data, form.password.data)
        if user is not None and user.totp_secret:
            with writing():
                token = logins.start(user, verified=False)
            session["staff_pending"] = {"token": token, "next": safe_next(form.next.data)}
            return redirect(url_for("staff.login_code"), 303)
        if user is not None:
            return _start_session(user, form.next.data)
        form.password.errors.append(NO_MATCH)
    form.password.data = ""
    return render_template("staff/login.html", form=form)


@bp.route("/login/code", methods=["GET", "POST"])
def login_code():
    pending = session.get("staff_pending")
    token = pending.get("token") if isinstance(pending, dict) else None
    user = logins.user_of(token, verified=False)
    if user is None or not user.totp_secret:
        session.pop("staff_pending", None)
        flash("Please log in again.", "info")
        return redirect(url_for("staff.login"), 303)
    form = CodeForm()
    if form.validate_on_submit():
        if accounts.check_second_factor(user, form.code.data):
            return _start_session(user, pending.get("next"), pending=token)
        form.code.errors.append(WRONG_CODE)
    form.code.data = ""
    return render_template("staff/login_code.html", form=form)


@bp.post("/logout")
def logout():
    """End this login on the server: a copy of the cookie opens nothing afterwards."""
    with writing():
        audit.record("staff.logout")
        logins.end(current_user.login_token)
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("staff.login"), 303)
