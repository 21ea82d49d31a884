"""Passkeys in the browser (static/staff-passkeys.js asks, these answer in JSON): adding one on the account
page, signing in with one alone, confirming it is you; removing one is a plain form."""

from __future__ import annotations

import logging

from flask import abort, current_app, flash, jsonify, redirect, request, session, url_for
from flask_login import current_user

from ... import audit
from ...database import writing
from ...inputs import SPECIAL_CHARACTERS, readable, reads_json
from .. import logins, passkeys
from ..forms import ActionForm
from . import ID, bp, recent_login, safe_next
from .login import log_in

log = logging.getLogger(__name__)

REFUSED = "That passkey did not work here. Try again, or use your password."


def _options(options_json: str):
    return current_app.response_class(options_json, mimetype="application/json")


def _credential() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("credential"), dict):
        abort(400)
    return body


def _refused(exc: passkeys.Refused, who: str):
    log.warning("passkey refused (%s) for %s: %s", request.endpoint, who, exc)
    return jsonify(error=REFUSED), 400


# -- adding one (account page, enrolment) -----------------------------------------------------


@bp.post("/account/passkeys/options")
@reads_json
@recent_login
def passkey_add_options():
    return _options(passkeys.registration_options(current_user))


@bp.post("/account/passkeys")
@reads_json
@recent_login
def passkey_add():
    body = _credential()
    name = str(body.get("name") or "").strip()[:60] or "Passkey"
    if not readable(name):
        return jsonify(error=str(SPECIAL_CHARACTERS)), 400
    first = not current_user.has_second_factor
    try:
        verified = passkeys.verify_new(current_user, body["credential"])
    except passkeys.Refused as exc:
        return _refused(exc, f"staff {current_user.id}")
    with writing():
        passkey = passkeys.keep(current_user, verified, name)
        # A new factor ends the account's other logins, as the authenticator app's does.
        logins.end_all(current_user, keep=current_user.login_token)
        audit.record("staff.passkey_add", detail=f"passkey {name}")
    log.info("staff %s added passkey %s", current_user.id, passkey.id)
    flash(
        "Passkey added. You can sign in with it alone." + (" Now make your recovery codes." if first else ""),
        "success",
    )
    return jsonify(redirect=url_for("staff.account"))


@bp.post(f"/account/passkeys/<{ID}:passkey_id>/remove")
@recent_login
def passkey_remove(passkey_id: int):
    if not ActionForm().validate():
        abort(400)
    with writing():
        last = len(current_user.passkeys) == 1 and not current_user.totp_secret
        if last and current_app.config["STAFF_SECOND_FACTOR"] == "required":
            flash(
                "A second step is required here: add another passkey or an authenticator app first.", "error"
            )
            return redirect(url_for("staff.account"), 303)
        if passkeys.remove(current_user, passkey_id):
            if not current_user.has_second_factor:
                current_user.recovery_codes = None
            logins.end_all(current_user, keep=current_user.login_token)
            audit.record("staff.passkey_remove", detail=f"passkey {passkey_id}")
            flash("Passkey removed.", "success")
    return redirect(url_for("staff.account"), 303)


# -- signing in with a passkey alone ---------------------------------------------------------


@bp.post("/login/passkey/options")
@reads_json
def passkey_login_options():
    return _options(passkeys.authentication_options(passkeys.LOGIN))


@bp.post("/login/passkey")
@reads_json
def passkey_login():
    body = _credential()
    try:
        user = passkeys.authenticate(body["credential"], passkeys.LOGIN)
    except passkeys.Refused as exc:
        return _refused(exc, "a sign-in")
    pending = session.get("staff_pending")
    log_in(user, pending.get("token") if isinstance(pending, dict) else None, how="passkey")
    return jsonify(redirect=safe_next(str(body.get("next") or "")) or url_for("staff.inbox"))


# -- confirming it is you ----------------------------------------------------------------------


@bp.post("/reauth/passkey/options")
@reads_json
def reauth_passkey_options():
    if not current_user.passkeys:
        abort(400)
    return _options(passkeys.authentication_options(passkeys.REAUTH, current_user))


@bp.post("/reauth/passkey")
@reads_json
def reauth_passkey():
    body = _credential()
    try:
        passkeys.authenticate(body["credential"], passkeys.REAUTH, current_user)
    except passkeys.Refused as exc:
        return _refused(exc, f"staff {current_user.id}")
    with writing():
        logins.mark_reauthenticated(current_user.login_token)
        audit.record("staff.reauth", detail="passkey")
    return jsonify(redirect=safe_next(str(body.get("next") or "")) or url_for("staff.account"))
