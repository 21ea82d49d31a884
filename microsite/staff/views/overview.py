"""The overview pages: the dashboard (leads per office and week, sources, speed to lead, what works, the
outbox's health), its conversion CSV, and the audit log."""

from __future__ import annotations

from flask import Response, abort, render_template, request
from sqlalchemy import select

from ... import access
from ...clinictime import clinic_today
from ...content import current_clinic
from ...counts import report
from ...extensions import db
from ...models import MAX_ID, AuditEvent, utcnow
from ...reports import dashboard, speed
from . import bp, page_number, recent_login, requires


def report_from_request() -> report.Report:
    """The report for the period the query string names (the last 30 days when it names none)."""
    try:
        period = report.period_from(request.args, clinic_today())
    except ValueError:
        abort(400)
    return report.build(period)


@bp.get("/conversion.csv")
@requires(access.EXPORT)
@recent_login
def conversion_csv():
    """The dashboard's views, leads and conversion as CSV: counts only, no lead's data, so no audit entry."""
    built = report_from_request()
    period = built.period
    name = f"conversion-{period.since.isoformat()}-{period.until.isoformat()}.csv"
    return Response(
        report.csv_lines(built),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/dashboard")
@requires(access.REPORTS)
def dashboard_page():
    weeks, per_office = dashboard.weekly_by_office()
    return render_template(
        "staff/dashboard.html",
        weeks=weeks,
        per_office=per_office,
        offices=current_clinic().offices,
        sources=dashboard.by_source(),
        phq9_bands=dashboard.by_phq9_band(),
        health=dashboard.delivery_health(),
        speed=speed.by_office_and_week(weeks, utcnow()),  # reports/speed.py, staff/_speed.html
        conversion=report_from_request(),  # also /staff/conversion.csv
    )


@bp.get("/audit")
@requires(access.REPORTS)
def audit_log():
    """Every event, newest first; one lead's (`?lead=`) or one staff member's (`?staff=`)."""
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc())
    ids = {}
    for name, column in (("lead", AuditEvent.lead_id), ("staff", AuditEvent.staff_id)):
        value = request.args.get(name, "")
        if value and not (value.isdigit() and 0 < int(value) <= MAX_ID):
            abort(400)
        if value:
            ids[name] = int(value)
            stmt = stmt.where(column == ids[name])
    page = db.paginate(stmt, page=page_number(), per_page=50, error_out=False)
    return render_template("staff/audit.html", page=page, lead_id=ids.get("lead"), staff_id=ids.get("staff"))
