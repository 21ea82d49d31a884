"""The readers' questions queue at /staff/questions: crisis first; edit, answer, publish, unpublish, reject.

Every step is in the audit log (questions/service.py records it in the step's own transaction).
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from ... import audit, notify
from ...database import writing
from ...extensions import db
from ...models import Notification, Question, QuestionStatus
from ...pages.cache import page_freshness
from ...questions import service
from ..forms import ActionForm, QuestionFilterForm, QuestionForm
from . import ID, bp


def _question_or_404(question_id: int) -> Question:
    question = db.session.get(Question, question_id)
    if question is None:
        abort(404)
    return question


def _back_to(question_id: int):
    return redirect(url_for("staff.question", question_id=question_id), 303)


@bp.get("/questions")
def questions():
    form = QuestionFilterForm(request.args)
    if not form.validate():
        abort(400)
    return render_template(
        "staff/questions.html", form=form, questions=service.queue(form.status.data or None),
        labels=QuestionStatus.LABELS,
    )  # fmt: skip


def _question_page(question: Question, form: QuestionForm | None = None, status: int = 200):
    notifications = db.session.scalars(
        db.select(Notification)
        .where(Notification.once_key.in_([f"crisis:{question.id}", f"answer:{question.id}"]))
        .order_by(Notification.id)
    ).all()
    form = form or QuestionForm(
        formdata=None, edited_text=question.edited_text or question.text, answer=question.answer,
        reviewer=question.reviewer, greeting_name=question.name,
    )  # fmt: skip
    page = render_template(
        "staff/question.html", question=question, form=form, action_form=ActionForm(),
        notifications=notifications, statuses=QuestionStatus,
    )  # fmt: skip
    return page, status


@bp.get(f"/questions/<{ID}:question_id>")
def question(question_id: int):
    question = _question_or_404(question_id)
    with writing():
        audit.record("question.view", detail=f"question {question_id}")
    return _question_page(question)


@bp.post(f"/questions/<{ID}:question_id>")
def save_question(question_id: int):
    question = _question_or_404(question_id)
    form = QuestionForm()
    if not form.validate():
        return _question_page(question, form, 422)
    # The greeting's name is asked for only while an answer email is still to go (the reader left an
    # address, not yet forgotten); otherwise the name stays as it is.
    name = (form.greeting_name.data or None) if question.email else question.name
    service.save(
        question_id, form.edited_text.data or None, form.answer.data or None, form.reviewer.data or None,
        name,
    )  # fmt: skip
    flash("Saved.", "success")
    return _back_to(question_id)


@bp.post(f"/questions/<{ID}:question_id>/publish")
def publish_question(question_id: int):
    question = _question_or_404(question_id)
    if not ActionForm().validate():
        abort(400)
    if question.status == QuestionStatus.REJECTED:
        flash("A rejected question cannot be published.", "error")
        return _back_to(question_id)
    try:
        to_send = service.publish(question_id)
    except ValueError:
        flash("Write the answer and name its reviewer, and save, before publishing.", "error")
        return _back_to(question_id)
    _pages_changed()
    for notification_id in to_send:
        notify.hand_off(notification_id)
    emailed = " The reader will be emailed once." if to_send else ""
    flash(f"Published under the article.{emailed}", "success")
    return _back_to(question_id)


@bp.post(f"/questions/<{ID}:question_id>/unpublish")
def unpublish_question(question_id: int):
    _question_or_404(question_id)
    if not ActionForm().validate():
        abort(400)
    service.unpublish(question_id)
    _pages_changed()
    flash("Taken off the public pages.", "success")
    return _back_to(question_id)


@bp.post(f"/questions/<{ID}:question_id>/reject")
def reject_question(question_id: int):
    _question_or_404(question_id)
    if not ActionForm().validate():
        abort(400)
    service.reject(question_id)
    _pages_changed()
    flash("Rejected. The reader's name and email are deleted.", "success")
    return _back_to(question_id)


def _pages_changed() -> None:
    """This process's public pages catch up at the next view; the others within PAGE_VERSION_SECONDS."""
    page_freshness().expire()
