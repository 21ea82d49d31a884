"""The team page (admins only): who has an account, their role, offices, second step and last login;
invitations; changing a role, disabling, resetting a second factor. And the invitation's own link, where
the invited person chooses a password."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, session, url_for
from flask_login import current_user, login_user, logout_user

from ... import access, audit, notify
from ...content import current_clinic
from ...database import writing
from ...extensions import db
from ...models import StaffUser
from .. import accounts, invites, logins, team
from ..forms import ActionForm, InviteForm, RoleForm, SetPasswordForm
from . import ID, bp, recent_login, requires


def _member_or_404(staff_id: int) -> StaffUser:
    user = db.session.get(StaffUser, staff_id)
    if user is None:
        abort(404)
    return user


def _team_page(invite_form: InviteForm | None = None, status: int = 200):
    offices = current_clinic().offices
    page = render_template(
        "staff/team.html",
        members=team.members(),
        invitations=invites.pending(),
        invite_form=invite_form or InviteForm(formdata=None, office_choices=offices),
        action_form=ActionForm(),
        cities={o.slug: o.city for o in offices},
    )
    return page, status


@bp.get("/team")
@requires(access.TEAM)
def team_page():
    return _team_page()


@bp.post("/team/invite")
@requires(access.TEAM)
@recent_login
def invite():
    form = InviteForm(office_choices=current_clinic().offices)
    if form.validate():
        email = accounts.normalize_email(form.email.data)
        if accounts.find(email) is not None:
            form.email.errors.append("That address has an account already.")
        else:
            _, to_send = invites.create(email, form.role.data, form.offices.data or [], current_user)
            for notification_id in to_send:
                notify.hand_off(notification_id)
            flash(f"Invitation sent to {email}. The link works once, for 72 hours.", "success")
            return redirect(url_for("staff.team_page"), 303)
    return _team_page(form, 422)


@bp.post(f"/team/invitations/<{ID}:invite_id>/revoke")
@requires(access.TEAM)
@recent_login
def revoke_invite(invite_id: int):
    if not ActionForm().validate():
        abort(400)
    with writing():
        revoked = invites.revoke(invite_id)
    flash(
        "Invitation withdrawn: its link no longer works." if revoked else "That invitation was not open.",
        "info",
    )
    return redirect(url_for("staff.team_page"), 303)


def _member_page(user: StaffUser, form: RoleForm | None = None, status: int = 200):
    offices = current_clinic().offices
    form = form or RoleForm(formdata=None, office_choices=offices, role=user.role, offices=user.office_list)
    return render_template("staff/member.html", member=user, form=form, action_form=ActionForm()), status


@bp.get(f"/team/<{ID}:staff_id>")
@requires(access.TEAM)
def member(staff_id: int):
    return _member_page(_member_or_404(staff_id))


@bp.post(f"/team/<{ID}:staff_id>/role")
@requires(access.TEAM)
@recent_login
def change_role(staff_id: int):
    user = _member_or_404(staff_id)
    form = RoleForm(office_choices=current_clinic().offices)
    if form.validate():
        with writing():
            user = _member_or_404(staff_id)
            problem = team.change_role(user, form.role.data, form.offices.data or [])
        if problem is None:
            flash(f"{user.email} is now {user.role}.", "success")
            return redirect(url_for("staff.member", staff_id=staff_id), 303)
        form.role.errors.append(problem)
    return _member_page(user, form, 422)


def _member_action(staff_id: int, change, done: str):
    if not ActionForm().validate():
        abort(400)
    with writing():
        user = _member_or_404(staff_id)
        problem = change(user)
    flash(problem or done.format(email=user.email), "error" if problem else "success")
    return redirect(url_for("staff.member", staff_id=staff_id), 303)


@bp.post(f"/team/<{ID}:staff_id>/disable")
@requires(access.TEAM)
@recent_login
def disable(staff_id: int):
    return _member_action(
        staff_id, lambda user: team.set_active(user, False), "{email} is disabled; their sessions have ended."
    )


@bp.post(f"/team/<{ID}:staff_id>/enable")
@requires(access.TEAM)
@recent_login
def enable(staff_id: int):
    return _member_action(staff_id, lambda user: team.set_active(user, True), "{email} can log in again.")


@bp.post(f"/team/<{ID}:staff_id>/reset-second-factor")
@requires(access.TEAM)
@recent_login
def reset_second_factor(staff_id: int):
    return _member_action(
        staff_id,
        team.reset_second_factor,
        "{email}'s second steps are removed and their sessions ended: "
        "they set up a new one at their next login.",
    )


# -- the invitation's link (no login: the person has no account yet) ------------------------


@bp.route("/invite/<token>", methods=["GET", "POST"])
def invite_link(token: str):
    """Choose a password; the account is made, logged in, and sent to set up its second step."""
    invite = invites.open_invite(token)
    if invite is None:
        return render_template("staff/invite_gone.html"), 410
    form = SetPasswordForm()
    form.account_email = invite.email
    if form.validate_on_submit():
        with writing():
            if current_user.is_authenticated:  # someone else's login in this browser ends here
                logins.end(current_user.login_token)
            user = invites.accept(token, form.new.data)
            if user is not None:
                logins.start(user)
                accounts.register_success(user)
                audit.record("staff.login", actor=user.email)
        if user is None:
            return render_template("staff/invite_gone.html"), 410
        logout_user()
        session.clear()
        login_user(user)
        session.permanent = True
        flash("Welcome. One more step: set up a second way to prove it is you.", "success")
        return redirect(url_for("staff.enrol"), 303)
    return render_template("staff/invite.html", form=form, invite=invite), 422 if form.errors else 200
