"""POST /consultation: a valid form becomes a lead (303 to /thanks, or to the thank-you page that begins with
the crisis lines when it is urgent), an invalid one is shown again (422)."""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, url_for
from flask_wtf.csrf import CSRFError

from .. import notify
from ..content import current_clinic
from ..errors import render_error
from ..extensions import limiter
from .attribution import attribution, landing_of
from .forms import ConsultationForm
from .service import TooManyForContact, capture

bp = Blueprint("leads", __name__)
# A limit on the blueprint (its one route), not on the view: Flask-Limiter checks it in its own
# before_request hook, ahead of the cross-origin and token checks, so refused requests count too.
limiter.limit(lambda: current_app.config["RATELIMIT_CONSULTATION"])(bp)


def _posted_form() -> ConsultationForm:
    """The visitor's form as sent, carrying the page it came from for a form shown again."""
    form = ConsultationForm(offices=current_clinic().offices)
    form.landing.data = landing_of(form)
    return form


def render_form_again(form: ConsultationForm, status: int, expired: bool = False):
    """The form alone, with the visitor's values and its messages at the top (they must be seen first).

    A token only for a browser that vouched for nothing (crossorigin.py): every other visitor gets
    no cookie even here.
    """
    page = render_template("consultation.html", form=form, expired=expired, token=g.get("needs_token"))
    return page, status


@bp.post("/consultation")
def consultation():
    form = _posted_form()
    # The page's language, for its messages, the page shown again and the thank-you page.
    g.language = form.language_code()
    if not form.validate():
        if form.phq9.errors:
            form.phq9.data = ""  # unreadable answers are left out: Send again sends the request without them
        return render_form_again(form, 422)
    try:
        captured = capture(form, current_clinic(), attribution(form, form.landing.data))
    except TooManyForContact:
        return render_error(429, {"Retry-After": "3600"}, reason="contact")
    for notification_id in captured.to_send:
        notify.hand_off(notification_id)
    # Both the same bytes for everyone, cached: the URL says nothing of what the visitor wrote.
    thanks = "pages.thanks_support" if captured.urgent else "pages.thanks"
    return redirect(url_for(thanks, lang=g.language), 303)


@bp.errorhandler(CSRFError)
def token_missing(error: CSRFError):
    """No Fetch Metadata and no valid token: the visitor's own values again, with a token to send."""
    form = _posted_form()
    g.language = form.language_code()
    return render_form_again(form, 400, expired=True)
