"""The consultation form: POST /consultation, and the form every page shows."""

from __future__ import annotations

import secrets

from flask import Blueprint, Flask, current_app, redirect, render_template, request, url_for

from .. import notify
from ..errors import render_error
from ..extensions import limiter
from .forms import ConsultationForm, clean_hidden, sign_start_time, started_serializer
from .service import TooManyForContact, capture

bp = Blueprint("leads", __name__)


def _clinic():
    return current_app.extensions["clinic"]


def hidden_values() -> dict[str, str]:
    """What a page view puts into the form's hidden fields: a fresh key, a signed time, the attribution."""
    # A plain dict: werkzeug's MultiDict.get builds a BadRequestKeyError for each missing key,
    # about 4 µs apiece, and most visits have none of the three.
    args = request.args.to_dict()
    return {
        "submission_key": secrets.token_hex(16),
        "started": sign_start_time(),
        "utm_source": clean_hidden(args.get("utm_source"), 100),
        "utm_medium": clean_hidden(args.get("utm_medium"), 100),
        "utm_campaign": clean_hidden(args.get("utm_campaign"), 100),
        "referrer": clean_hidden(request.referrer, 500),
        "landing_path": clean_hidden(request.path, 500),
    }


def new_form(location: str | None = None, values: dict[str, str] | None = None) -> ConsultationForm:
    """A blank form for a page view, carrying the visit's attribution in hidden fields."""
    form = ConsultationForm(formdata=None, offices=_clinic().offices)
    form.location.data = location
    for name, value in (hidden_values() if values is None else values).items():
        form[name].data = value
    return form


def render_form_again(form: ConsultationForm, status: int, expired: bool = False):
    """The form alone, with its error summary at the top of the page (it must be seen first)."""
    return render_template("consultation.html", form=form, expired=expired), status


@bp.post("/consultation")
@limiter.limit(lambda: current_app.config["RATELIMIT_CONSULTATION"])
def consultation():
    form = ConsultationForm(offices=_clinic().offices)
    if not form.validate():
        return render_form_again(form, 422)
    try:
        captured = capture(form, _clinic())
    except TooManyForContact:
        return render_error(429, {"Retry-After": "3600"}, reason="contact")
    if captured.notification_id is not None:
        notify.hand_off(captured.notification_id)
    return redirect(url_for("pages.thanks"), 303)


def csrf_failed():
    """A missing or expired token: show the visitor's own values again, with a fresh token."""
    form = ConsultationForm(offices=_clinic().offices)
    return render_form_again(form, 400, expired=True)


def init_app(app: Flask) -> None:
    from .cli import leads_cli

    app.extensions["form_started_serializer"] = started_serializer(app)
    app.register_blueprint(bp)
    app.cli.add_command(leads_cli)
