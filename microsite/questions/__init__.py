"""Readers' questions: POST /questions from the form under the article (views.py), the service that
stores, publishes and rejects them (service.py), and the reader's email (notifications.py); a question
with crisis words is a flag for the office's staff (crisis/alerts.py).

The form is part of the public pages' cached bytes, like the consultation form, and defended the same
way: the rate limit on this blueprint, the cross-origin check (crossorigin.py), the honeypot and the
time on the page (suspected spam is kept, answered like everyone), a 422 with the reader's values.
"""

from __future__ import annotations

from flask import Flask

from .. import notify
from ..models import NotificationKind
from . import notifications
from .forms import CONSENT
from .views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["question_consent"] = CONSENT
    notify.register(
        app,
        NotificationKind.ANSWER,
        notifications.build_answer_message,
        after_sent=notifications.forget_reader_once_answered,
    )
