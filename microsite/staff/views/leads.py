"""The lead inbox (filters, pages, CSV) and a lead's page with its actions: status, notes, spam released,
a notification sent again."""

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

from ... import access, audit, notify
from ...clinictime import clinic_zone
from ...content import current_clinic
from ...database import writing
from ...extensions import db
from ...leads.export import csv_lines
from ...leads.filter import LeadFilter
from ...models import Lead, LeadStatus, Notification, NotificationKind, utcnow
from ...reports import speed
from .. import inbox
from ..forms import ActionForm, FilterForm, NoteForm, StatusForm
from . import ID, MAX_PAGE, bp, page_number, recent_login, requires, safe_next

# The dates a filter may name: anything else is a typo or a forged URL, not a period of the clinic's.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


def _cursor(name: str):
    """A `before`/`after` query argument (the inbox's links to older and newer pages); nonsense is a 400."""
    value = request.args.get(name)
    if value is None:
        return None
    cursor = inbox.parse_cursor(value)
    if cursor is None:
        abort(400)
    return cursor


def _filter_from_request() -> tuple[FilterForm, LeadFilter]:
    """The inbox filter from its known query arguments; other arguments are ignored, nonsense is a 400."""
    form = FilterForm(request.args, offices=current_clinic().offices)
    days = [day for day in (form.since.data, form.until.data) if day is not None] if form.validate() else None
    if days is None or not all(FIRST_DAY <= day <= LAST_DAY for day in days):
        abort(400)
    lead_filter = LeadFilter(
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
    number = page_number(2**31 - 1 if before or after else MAX_PAGE)
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
@requires(access.EXPORT)
@recent_login
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
    """The lead, if this staff member's offices include it: always read from the database (never from
    the session's identity map), so the request's reach (access.py) decides."""
    lead = db.session.scalar(select(Lead).where(Lead.id == lead_id))
    if lead is None:
        abort(404)
    return lead


@bp.get(f"/leads/<{ID}:lead_id>")
def lead(lead_id: int):
    lead = _lead_or_404(lead_id)
    with writing():
        audit.record("lead.view", lead_id)
    return _lead_page(lead, NoteForm(formdata=None))


def _lead_page(lead: Lead, note_form: NoteForm):
    status_form = StatusForm(status=lead.status)
    notifications = db.session.scalars(
        select(Notification).where(Notification.lead_id == lead.id).order_by(Notification.id)
    ).all()
    return render_template(
        "staff/lead.html",
        lead=lead,
        office=current_clinic().office(lead.location),
        wait=speed.wait_of_lead(lead, utcnow()),
        notifications=notifications,
        attempts=inbox.deliveries_of(notifications),
        # "Send again" for the latest staff email and the latest webhook to each endpoint, never a reminder.
        resendable=inbox.resendable(notifications),
        webhook=NotificationKind.WEBHOOK,
        notes=inbox.notes_of(lead.id),
        status_form=status_form,
        contacted_form=StatusForm(formdata=None, status=LeadStatus.CONTACTED),
        note_form=note_form,
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
    # The inbox's one-tap "record first contact" goes back to the inbox it was pressed in.
    back = safe_next(request.form.get("next"))
    return redirect(back, 303) if back else _back_to(lead_id)


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
    lead = _lead_or_404(lead_id)
    form = NoteForm()
    if not form.validate():
        # The page again with the note as typed and what to change (the view was audited when it opened).
        return _lead_page(lead, form), 422
    inbox.add_note(lead_id, form.body.data, current_user.id, current_user.email)
    flash("Note added.", "success")
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
