"""Readers' questions: POST /questions from the form under the article, and the staff side's service.

The form is part of the public pages' cached bytes, like the consultation form, and defended the same
way: the rate limit on this blueprint, the cross-origin check (crossorigin.py), the honeypot and the
time on the page (suspected spam is kept, answered like everyone), a 422 with the reader's values.
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, g, redirect, render_template, url_for
from flask_wtf.csrf import CSRFError

from .. import notify
from ..extensions import limiter
from .forms import QuestionForm
from .service import capture

bp = Blueprint("questions", __name__)
# On the blueprint, so that Flask-Limiter counts a request before the cross-origin and token checks.
limiter.limit(lambda: current_app.config["RATELIMIT_QUESTIONS"])(bp)


def _offices():
    return current_app.extensions["clinic"].offices


def blank_form(office: str | None = None, language: str = "en") -> QuestionForm:
    """The form under the article: empty, with the page's office and language, the same for everyone."""
    form = QuestionForm(formdata=None, offices=_offices())
    form.office.data = office or ""
    form.language.data = language
    return form


def render_form_again(form: QuestionForm, status: int, expired: bool = False):
    """The form alone, with the reader's values and its messages first; a token only where crossorigin.py
    asked for one."""
    return render_template("question.html", form=form, expired=expired, token=g.get("needs_token")), status


@bp.post("/questions")
def ask():
    form = QuestionForm(offices=_offices())
    g.language = form.language_code()
    if not form.validate():
        return render_form_again(form, 422)
    asked = capture(form, current_app.extensions["clinic"])
    for notification_id in asked.to_send:
        notify.hand_off(notification_id)
    return redirect(url_for("pages.question_thanks", lang=g.language), 303)


@bp.errorhandler(CSRFError)
def token_missing(error: CSRFError):
    """No Fetch Metadata and no valid token: the reader's own values again, with a token to send."""
    form = QuestionForm(offices=_offices())
    g.language = form.language_code()
    return render_form_again(form, 400, expired=True)


def init_app(app: Flask) -> None:
    from .forms import CONSENT

    app.register_blueprint(bp)
    app.jinja_env.globals["question_consent"] = CONSENT
