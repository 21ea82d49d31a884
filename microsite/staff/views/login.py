"""Logging in and out: the password, then the second step the account has (a code from the authenticator
app, a recovery code, or a passkey); or a passkey alone (views/passkeys.py). A login lasts a working day
at most and ends sooner when left unused, kept as a row on the server (logins.py) that logout, a new
password, idleness or disabling the account deletes. And confirming it is you again (re-authentication)
before a change that matters."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from ... import audit
from ...database import writing
from ...models import StaffUser
from .. import accounts, logins
from ..forms import CodeForm, LoginForm, ReauthForm
from . import bp, safe_next

NO_MATCH = "That email and password do not match an active staff account."
WRONG_CODE = "That code is not right, or was used already. Try the newest code."


def log_in(user: StaffUser, pending: str | None = None, how: str | None = None) -> None:
    """Log `user` in with a new login row (a new token: nothing from before the login carries over)."""
    with writing():
        logins.end(pending)
        logins.start(user)
        accounts.register_success(user)
        audit.record("staff.login", detail=how, actor=user.email)
    session.clear()
    login_user(user)
    session.permanent = True


def _start_session(user: StaffUser, next_url: str | None, pending: str | None = None):
    log_in(user, pending)
    return redirect(safe_next(next_url) or url_for("staff.inbox"), 303)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for("staff.inbox"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
    status = 200
    if form.validate_on_submit():
        user = accounts.check_password(form.email.data, form.password.data)
        if user is not None and user.has_second_factor:
            with writing():
                token = logins.start(user, verified=False)
            session["staff_pending"] = {"token": token, "next": safe_next(form.next.data)}
            return redirect(url_for("staff.login_code"), 303)
        if user is not None:
            return _start_session(user, form.next.data)
        form.password.errors.append(NO_MATCH)  # the page again, as for any refused login
    elif form.errors:
        status = 422  # a field left empty, or text the rule refuses (inputs.py): nothing was looked up
    form.password.data = ""
    return render_template("staff/login.html", form=form), status


@bp.route("/login/code", methods=["GET", "POST"])
def login_code():
    pending = session.get("staff_pending")
    token = pending.get("token") if isinstance(pending, dict) else None
    user = logins.user_of(token, verified=False)
    if user is None or not user.has_second_factor:
        session.pop("staff_pending", None)
        flash("Please log in again.", "info")
        return redirect(url_for("staff.login"), 303)
    form = CodeForm()
    status = 200
    if form.validate_on_submit():
        if accounts.check_second_factor(user, form.code.data):
            return _start_session(user, pending.get("next"), pending=token)
        form.code.errors.append(WRONG_CODE)
    elif form.errors:
        status = 422
    form.code.data = ""
    return render_template(
        "staff/login_code.html", form=form, user=user, codes_left=accounts.recovery_codes_left(user),
        next_url=pending.get("next") or "",
    ), status  # fmt: skip


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


@bp.route("/reauth", methods=["GET", "POST"])
def reauth():
    """The password (or a passkey, from the page's script) again, then back to where it was asked for."""
    form = ReauthForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
    if form.validate_on_submit():
        if accounts.confirm_password(current_user, form.password.data):
            with writing():
                logins.mark_reauthenticated(current_user.login_token)
                audit.record("staff.reauth", detail="password")
            return redirect(safe_next(form.next.data) or url_for("staff.account"), 303)
        form.password.errors.append("That is not your password.")
    form.password.data = ""
    return render_template("staff/reauth.html", form=form), 422 if form.errors else 200
