"""The staff member's own account: a new password, the authenticator app (on, off), recovery codes."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ... import audit
from ...database import writing
from .. import accounts, logins
from ..forms import ActionForm, PasswordChangeForm, TotpConfirmForm, TotpOffForm
from . import bp


def _account_page(**forms):
    forms.setdefault("password_form", PasswordChangeForm(formdata=None))
    forms.setdefault("totp_off_form", TotpOffForm(formdata=None))
    forms.setdefault("action_form", ActionForm())
    return render_template(
        "staff/account.html", codes_left=accounts.recovery_codes_left(current_user), **forms
    )


@bp.get("/account")
def account():
    return _account_page()


@bp.post("/account/password")
def change_password():
    """A new password (the current one first, throttled like a login); other logins end, this one goes on."""
    form = PasswordChangeForm()
    if form.validate():
        if accounts.confirm_password(current_user, form.current.data):
            with writing():
                accounts.set_password(current_user, form.new.data, keep_login=current_user.login_token)
                audit.record("staff.password")
            flash("Your password is changed. Other sessions of this account have ended.", "success")
            return redirect(url_for("staff.account"), 303)
        form.current.errors.append("That is not your current password.")
    return _account_page(password_form=form), 422


@bp.route("/account/totp", methods=["GET", "POST"])
def totp_setup():
    """Step one shows a new secret; step two (POST) checks a code from the app and turns it on.

    The secret waits on this login's row on the server, never in the cookie, until it is confirmed,
    cancelled or the login ends; showing the page again shows the same one.
    """
    if current_user.totp_secret:
        return redirect(url_for("staff.account"))
    token = current_user.login_token
    secret = logins.totp_setup_secret(token)
    form = TotpConfirmForm()
    if request.method == "GET" or not secret:
        if not secret:
            secret = accounts.new_totp_secret()
            with writing():
                logins.keep_totp_setup_secret(token, secret)
        form = TotpConfirmForm(formdata=None)
    elif form.validate():
        counter = accounts.totp_counter(secret, form.code.data)
        if counter is not None:
            with writing():
                codes = accounts.enable_totp(current_user, secret, counter)
                logins.keep_totp_setup_secret(token, None)
                logins.end_all(current_user, keep=token)
                audit.record("staff.totp_on")
            return render_template("staff/recovery_codes.html", codes=codes)
        form.code.errors.append("That code does not match. Check the phone's clock and try the newest code.")
    uri = accounts.provisioning_uri(secret, current_user.email)
    return render_template("staff/totp_setup.html", form=form, secret=secret, uri=uri)


@bp.post("/account/totp/cancel")
def totp_setup_cancel():
    """Forget the secret being set up."""
    if not ActionForm().validate():
        abort(400)
    with writing():
        logins.keep_totp_setup_secret(current_user.login_token, None)
    return redirect(url_for("staff.account"), 303)


@bp.post("/account/totp/off")
def totp_off():
    """Turning the second step off takes the password and a current code (or a recovery code)."""
    form = TotpOffForm()
    if form.validate():
        if not accounts.confirm_password(current_user, form.password.data):
            form.password.errors.append("That is not your password.")
        elif not accounts.check_second_factor(current_user, form.code.data):
            form.code.errors.append("That code is not right, or was used already. Try the next code.")
        else:
            with writing():
                accounts.disable_totp(current_user)
                logins.end_all(current_user, keep=current_user.login_token)
                audit.record("staff.totp_off")
            flash("The second step at login is off. Other sessions of this account have ended.", "success")
            return redirect(url_for("staff.account"), 303)
    return _account_page(totp_off_form=form), 422


@bp.post("/account/recovery-codes")
def new_recovery_codes():
    if not ActionForm().validate() or not current_user.totp_secret:
        abort(400)
    with writing():
        codes = accounts.new_recovery_codes(current_user)
        audit.record("staff.recovery_codes")
    return render_template("staff/recovery_codes.html", codes=codes)
