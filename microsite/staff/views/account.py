"""The staff member's own account: a new password, the second steps (an authenticator app, passkeys, in
views/passkeys.py, recovery codes), and the enrolment page a login without a second step is held to."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ... import audit
from ...database import writing
from .. import accounts, logins
from ..forms import ActionForm, PasskeyNameForm, PasswordChangeForm, TotpConfirmForm, TotpOffForm
from . import bp, recent_login


def _account_page(**forms):
    forms.setdefault("password_form", PasswordChangeForm(formdata=None))
    forms.setdefault("totp_off_form", TotpOffForm(formdata=None))
    forms.setdefault("action_form", ActionForm())
    forms.setdefault("passkey_form", PasskeyNameForm(formdata=None))
    return render_template(
        "staff/account.html", codes_left=accounts.recovery_codes_left(current_user), **forms
    )


@bp.get("/account")
def account():
    return _account_page()


@bp.get("/enrol")
def enrol():
    """What a login without a second step opens while one is required: setting one up."""
    if current_user.has_second_factor:
        return redirect(url_for("staff.account"))
    return render_template(
        "staff/enrol.html", passkey_form=PasskeyNameForm(formdata=None), action_form=ActionForm(),
        required=current_app.config["STAFF_SECOND_FACTOR"] == "required",
    )  # fmt: skip


@bp.post("/account/password")
def change_password():
    """A new password (the current one first, throttled like a login); other logins end, this one goes on."""
    form = PasswordChangeForm()
    form.account_email = current_user.email
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
@recent_login
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
    """Turning the app off takes the password and a current code (or a recovery code); where a second
    step is required, another (a passkey) must stay."""
    form = TotpOffForm()
    if form.validate():
        last = not current_user.passkeys and current_app.config["STAFF_SECOND_FACTOR"] == "required"
        if last:
            form.code.errors.append(
                "A second step is required here: add a passkey before turning the app off."
            )
        elif not accounts.confirm_password(current_user, form.password.data):
            form.password.errors.append("That is not your password.")
        elif not accounts.check_second_factor(current_user, form.code.data):
            form.code.errors.append("That code is not right, or was used already. Try the next code.")
        else:
            with writing():
                accounts.disable_totp(current_user)
                logins.end_all(current_user, keep=current_user.login_token)
                audit.record("staff.totp_off")
            flash("The authenticator app is off. Other sessions of this account have ended.", "success")
            return redirect(url_for("staff.account"), 303)
    return _account_page(totp_off_form=form), 422


@bp.post("/account/recovery-codes")
@recent_login
def new_recovery_codes():
    if not ActionForm().validate() or not current_user.has_second_factor:
        abort(400)
    with writing():
        codes = accounts.new_recovery_codes(current_user)
        audit.record("staff.recovery_codes")
    return render_template("staff/recovery_codes.html", codes=codes)
