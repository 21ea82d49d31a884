"""POST /questions: a reader's question from the form under the article, stored (303 to its thank-you
page) or shown again with the reader's values (422)."""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, url_for
from flask_wtf.csrf import CSRFError

from .. import notify
from ..content import current_clinic
from ..extensions import limiter
from .forms import QuestionForm
from .service import capture

bp = Blueprint("questions", __name__)
# On the blueprint, so that Flask-Limiter counts a request before the cross-origin and token checks.
limiter.limit(lambda: current_app.config["RATELIMIT_QUESTIONS"])(bp)


def render_form_again(form: QuestionForm, status: int, expired: bool = False):
    """The form alone, with the reader's values and its messages first; a token only where crossorigin.py
    asked for one."""
    return render_template("question.html", form=form, expired=expired, token=g.get("needs_token")), status


@bp.post("/questions")
def ask():
    form = QuestionForm(offices=current_clinic().offices)
    g.language = form.language_code()
    if not form.validate():
        return render_form_again(form, 422)
    asked = capture(form, current_clinic())
    for notification_id in asked.to_send:
        notify.hand_off(notification_id)
    return redirect(url_for("pages.question_thanks", lang=g.language), 303)


@bp.errorhandler(CSRFError)
def token_missing(error: CSRFError):
    """No Fetch Metadata and no valid token: the reader's own values again, with a token to send."""
    form = QuestionForm(offices=current_clinic().offices)
    g.language = form.language_code()
    return render_form_again(form, 400, expired=True)
