"""The staff pages: inbox, lead page and its actions, CSV export, dashboard, audit log, account."""

from __future__ import annotations

from datetime import date

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select

from .. import notify
from ..database import writing
from ..extensions import db
from ..models import AuditEvent, Lead, LeadStatus, Notification, NotificationKind, utcnow
from ..reports import speed
from ..templating import clinic_zone
from . import accounts, audit, bp, conversion, dashboard, inbox, logins
from .export import csv_lines
from .forms import (
    ActionForm,
    FilterForm,
    NoteForm,
    PasswordChangeForm,
    StatusForm,
    TotpConfirmForm,
    TotpOffForm,
)


def _clinic():
    return current_app.extensions["clinic"]


# Ids are 64-bit in both databases; a larger number in a URL is a 404 or a 400, never an overflow.
MAX_ID = 2**63 - 1
ID = f"int(max={MAX_ID})"  # the URL converter for a lead's or a notification's id
MAX_PAGE = 10_000
# The dates a filter may name: anything else is a typo or a forged URL, not a period of the clinic's.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


def _page(limit: int = MAX_PAGE) -> int:
    """The `page` query argument: 1 to `limit`; anything else is a 400, not a database error."""
    page = request.args.get("page", "1")
    if not page.isdigit() or len(page) > 10 or not 1 <= int(page) <= limit:
        abort(400)
    return int(page)


def _cursor(name: str):
    """A `before`/`after` query argument (the inbox's links to older and newer pages); nonsense is a 400."""
    value = request.args.get(name)
    if value is None:
        return None
    cursor = inbox.parse_cursor(value)
    if cursor is None:
        abort(400)
    return cursor


def _filter_from_request() -> tuple[FilterForm, inbox.LeadFilter]:
    """The inbox filter from its known query arguments; other arguments are ignored, nonsense is a 400."""
    form = FilterForm(request.args, offices=_clinic().offices)
    days = [day for day in (form.since.data, form.until.data) if day is not None] if form.validate() else None
    if days is None or not all(FIRST_DAY <= day <= LAST_DAY for day in days):
        abort(400)
    lead_filter = inbox.LeadFilter(
        office=form.office.data or None,
        status=form.status.data or None,
        since=form.since.data,
        until=form.until.data,
        q=form.q.data or None,
        language=form.language.data or None,
    )
    return form, lead_filter


# -- the inbox ---------------------------------------------------------------------------


@bp.get("/", endpoint="inbox")
def inbox_page():
    form, lead_filter = _filter_from_request()
    before, after = _cursor("before"), _cursor("after")
    if before and after:
        abort(400)
    # With a cursor the number is only the page's label (a million leads are 40,000 pages); without one
    # it is an OFFSET, which MAX_PAGE bounds.
    number = _page(2**31 - 1 if before or after else MAX_PAGE)
    page = inbox.page_of(lead_filter, current_app.config["STAFF_PAGE_SIZE"], number, before, after)
    # Only the filter's own arguments go into the links: never whatever else the URL carried.
    args = lead_filter.query_args()
    now = utcnow()
    waits = {lead.id: speed.wait_of_lead(lead, now) for lead in page.items}
    # The neighbours by cursor (the first or last lead shown), so a deep page is as quick as the first.
    older = newer = None
    if page.has_next:
        older = url_for("staff.inbox", **{"page": page.page + 1, **args, "before": page.next_cursor})
    if page.has_prev:
        newer = url_for("staff.inbox", **args)
        if page.page > 2 and page.items:  # past the end (the leads were purged): back to the first page
            newer = url_for("staff.inbox", **{"page": page.page - 1, **args, "after": page.prev_cursor})
    return render_template(
        "staff/inbox.html", form=form, page=page, args=args, waits=waits, older=older, newer=newer
    )


@bp.get("/leads.csv")
def export_csv():
    _, lead_filter = _filter_from_request()
    with writing():
        audit.record("leads.export", detail=f"web {lead_filter.describe()}")
    stamp = utcnow().astimezone(clinic_zone()).strftime("%Y%m%d-%H%M")
    return Response(
        stream_with_context(csv_lines(lead_filter)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="leads-{stamp}.csv"'},
    )


# -- one lead ----------------------------------------------------------------------------


def _lead_or_404(lead_id: int) -> Lead:
    lead = db.session.get(Lead, lead_id)
    if lead is None:
        abort(404)
    return lead


@bp.get(f"/leads/<{ID}:lead_id>")
def lead(lead_id: int):
    lead = _lead_or_404(lead_id)
    with writing():
        audit.record("lead.view", lead_id)
    status_form = StatusForm(status=lead.status)
    notifications = db.session.scalars(
        select(Notification).where(Notification.lead_id == lead_id).order_by(Notification.id)
    ).all()
    return render_template(
        "staff/lead.html",
        lead=lead,
        office=_clinic().office(lead.location),
        wait=speed.wait_of_lead(lead, utcnow()),
        notifications=notifications,
        attempts=inbox.deliveries_of(notifications),
        # "Send again" for the latest staff email and the latest webhook to each endpoint, never a reminder.
        resendable=inbox.resendable(notifications),
        webhook=NotificationKind.WEBHOOK,
        notes=inbox.notes_of(lead_id),
        status_form=status_form,
        contacted_form=StatusForm(formdata=None, status=LeadStatus.CONTACTED),
        note_form=NoteForm(formdata=None),
        action_form=ActionForm(),
        spam=LeadStatus.SPAM,
    )


def _back_to(lead_id: int):
    return redirect(url_for("staff.lead", lead_id=lead_id), 303)


@bp.post(f"/leads/<{ID}:lead_id>/status")
def change_status(lead_id: int):
    _lead_or_404(lead_id)
    form = StatusForm()
    if not form.validate():
        flash("Please choose one of the statuses.", "error")
        return _back_to(lead_id)
    for notification_id in inbox.change_status(lead_id, form.status.data):
        notify.hand_off(notification_id)
    flash(f"Status set to “{LeadStatus.LABELS[form.status.data]}”.", "success")
    return _back_to(lead_id)


@bp.post(f"/leads/<{ID}:lead_id>/not-spam")
def not_spam(lead_id: int):
    lead = _lead_or_404(lead_id)
    if not ActionForm().validate():
        abort(400)
    if lead.status != LeadStatus.SPAM:
        flash("This request is not marked as suspected spam.", "info")
        return _back_to(lead_id)
    released = inbox.change_status(lead_id, LeadStatus.NEW)
    for notification_id in released:
        notify.hand_off(notification_id)
    flash("Marked as not spam. Its staff email (and webhooks) are on their way.", "success")
    return _back_to(lead_id)


@bp.post(f"/leads/<{ID}:lead_id>/notes")
def add_note(lead_id: int):
    _lead_or_404(lead_id)
    form = NoteForm()
    if form.validate():
        inbox.add_note(lead_id, form.body.data, current_user.id, current_user.email)
        flash("Note added.", "success")
    else:
        flash(form.body.errors[0], "error")
    return _back_to(lead_id)


@bp.post(f"/leads/<{ID}:lead_id>/notifications/<{ID}:notification_id>/send-again")
def send_again(lead_id: int, notification_id: int):
    _lead_or_404(lead_id)
    if not ActionForm().validate():
        abort(400)
    try:
        queued = inbox.send_again(lead_id, notification_id)
    except LookupError:
        abort(404)
    kind = db.session.get(Notification, notification_id).kind
    what = "webhook" if kind == NotificationKind.WEBHOOK else "staff email"
    if queued is None:
        flash(f"A {what} for this request is already waiting to go out (or is held as spam).", "info")
    else:
        notify.hand_off(queued)
        flash(f"The {what} will be sent again.", "success")
    return _back_to(lead_id)


# -- overview pages ----------------------------------------------------------------------


@bp.get("/dashboard")
def dashboard_page():
    weeks, per_office = dashboard.weekly_by_office()
    return render_template(
        "staff/dashboard.html",
        weeks=weeks,
        per_office=per_office,
        offices=_clinic().offices,
        sources=dashboard.by_source(),
        health=dashboard.delivery_health(),
        speed=speed.by_office_and_week(weeks, utcnow()),  # reports/speed.py, staff/_speed.html
        conversion=conversion.report_from_request(),  # staff/conversion.py; also /staff/conversion.csv
    )


@bp.get("/audit")
def audit_log():
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc())
    lead = request.args.get("lead", "")
    if lead and not (lead.isdigit() and int(lead) <= MAX_ID):
        abort(400)
    lead_id = int(lead) if lead else None
    if lead_id:
        stmt = stmt.where(AuditEvent.lead_id == lead_id)
    page = db.paginate(stmt, page=_page(), per_page=50, error_out=False)
    return render_template("staff/audit.html", page=page, lead_id=lead_id)


# -- the staff member's own account ------------------------------------------------------


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
