"""The dashboard's "what works" section and its CSV: views, leads and conversion for a chosen period.

The numbers are counts/report.py's; here they meet the request: the period from the query string (a
400 for nonsense, as every staff filter answers) and the CSV download.
"""

from __future__ import annotations

from flask import Response, abort, request

from ..counts import report
from ..models import utcnow
from ..templating import clinic_zone
from . import bp


def report_from_request() -> report.Report:
    """The report for the period the query string names (the last 30 days when it names none)."""
    today = utcnow().astimezone(clinic_zone()).date()
    try:
        period = report.period_from(request.args, today)
    except ValueError:
        abort(400)
    return report.build(period)


@bp.get("/conversion.csv")
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
