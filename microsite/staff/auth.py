"""Logging in and out: password, then the TOTP code when the account has one; a session of a working day."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from ..database import writing
from ..extensions import db, limiter, login_manager
from ..models import StaffUser
from . import accounts, audit, bp
from .forms import CodeForm, LoginForm

login_manager.login_view = "staff.login"
login_manager.login_message = "Please log in to see the staff pages."
login_manager.login_message_category = "info"
# A session cookie replayed from another address or browser is dropped.
login_manager.session_protection = "strong"

PENDING_SECONDS = 300  # time to type the code after the password


@login_manager.user_loader
def load_user(user_id: str) -> StaffUser | None:
    """The session's staff member, if the account is active, unchanged and logged in today."""
    ident, _, token = user_id.partition(":")
    started = session.get("staff_since")
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    if not ident.isdigit() or not isinstance(started, int | float) or time.time() - started > lifetime:
        return None
    user = db.session.get(StaffUser, int(ident))
    if user is None or not user.active or not token or token != user.session_token:
        return None
    return user


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


def _start_session(user: StaffUser, next_url: str | None):
    with writing():
        accounts.register_success(user)
        audit.record("staff.login", actor=user.email)
    session.clear()  # nothing from before the login carries over
    login_user(user)
    session.permanent = True
    session["staff_since"] = time.time()
    return redirect(safe_next(next_url) or url_for("staff.inbox"), 303)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_STAFF_LOGIN"], methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for("staff.inbox"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
    if form.validate_on_submit():
        attempt = accounts.check_password(form.email.data, form.password.data)
        user = attempt.user
        if user is not None and user.totp_secret:
            session["staff_pending"] = {
                "id": user.id,
                "token": user.session_token,
                "at": time.time(),
                "next": safe_next(form.next.data),
            }
            return redirect(url_for("staff.login_code"), 303)
        if user is not None:
            return _start_session(user, form.next.data)
        form.password.errors.append(
            "This account is locked for a while after too many failed attempts. Try again later."
            if attempt.problem == "locked"
            else "That email and password do not match an active staff account."
        )
    form.password.data = ""
    return render_template("staff/login.html", form=form)


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_STAFF_LOGIN"], methods=["POST"])
def login_code():
    pending = session.get("staff_pending")
    user = None
    if isinstance(pending, dict) and time.time() - pending.get("at", 0) < PENDING_SECONDS:
        user = db.session.get(StaffUser, pending.get("id"))
    if user is None or not user.active or user.session_token != pending.get("token") or not user.totp_secret:
        session.pop("staff_pending", None)
        flash("Please log in again.", "info")
        return redirect(url_for("staff.login"), 303)
    form = CodeForm()
    if form.validate_on_submit():
        with writing():
            if accounts.is_locked(user):
                problem = "locked"
            elif accounts.check_second_factor(user, form.code.data):
                problem = None
            else:
                problem = accounts.register_failure(user, "wrong code")
        if problem is None:
            return _start_session(user, pending.get("next"))
        if problem == "locked":
            session.pop("staff_pending", None)
            flash("This account is locked for a while after too many failed attempts.", "error")
            return redirect(url_for("staff.login"), 303)
        form.code.errors.append("That code is not right, or was used already. Try the newest code.")
    form.code.data = ""
    return render_template("staff/login_code.html", form=form)


@bp.post("/logout")
def logout():
    with writing():
        audit.record("staff.logout")
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("staff.login"), 303)
