"""The public pages' routes: landing, locations, the thank-you pages, privacy, sitemap, robots, health.

Each page is rendered once per process, outside any visitor's request (so no query string, cookie or
header can reach it), and kept (cache.py): later views are answered before Flask is reached.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar

from flask import Blueprint, abort, current_app, g, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..content import current_clinic, phq9
from ..extensions import db
from ..i18n import alternates as alternates_of
from ..i18n import in_language
from ..leads.forms import blank_form
from ..questions.forms import blank_form as blank_question_form
from ..questions.service import published
from ..templating import render_apart
from .cache import PublicPage, held_pages, page_freshness

bp = Blueprint("pages", __name__)
# False while a page is rendered without all it should show (the database was away): it is not kept.
_complete: ContextVar[bool] = ContextVar("page_complete", default=True)
log = logging.getLogger(__name__)
HTML = "text/html; charset=utf-8"


def public_page(render: Callable[[], str], content_type: str = HTML) -> PublicPage:
    """This path's page, rendered by `render` at its first view; later views never reach Flask."""
    pages = held_pages()
    page = pages.get(request.path)
    if page is None:
        freshness = page_freshness()
        generation = freshness.generation
        complete = _complete.set(True)
        try:
            page = PublicPage(render_apart(render), content_type)
            # Kept only if the published questions did not change while it was rendered (it may show the
            # old ones), and were read at all.
            if freshness.generation == generation and _complete.get():
                pages[request.path] = page
        finally:
            _complete.reset(complete)
    return page  # a WSGI app, which Flask answers with


# Each page in English and in Spanish: the `lang` default picks the rule, so `url_for(…, lang=lang)`
# gives the page in that language (i18n.alternates).
EN, ES = {"lang": "en"}, {"lang": "es"}


def _questions(office: str | None, lang: str) -> dict:
    """The "Readers asked" section and the question form: the published questions asked in `lang` (a
    question is answered in the language it was asked in, so it is shown on those pages only).

    With the database away the article is still shown, without the questions, and not kept: the next
    view tries again.
    """
    try:
        questions = published(lang)
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.warning("readers' questions not read (%s): page shown without them, not kept", type(exc).__name__)
        _complete.set(False)
        questions = []
    return {"questions": questions, "question_form": blank_question_form(office, lang)}


@bp.get("/", defaults=EN)
@bp.get("/es/", defaults=ES)
def index(lang: str):
    alternates = alternates_of("pages.index")
    return public_page(in_language(lang, lambda: render_template(
        "index.html", form=blank_form(language=lang), alternates=alternates,
        **_questions(None, lang))))  # fmt: skip


@bp.get("/ketamine-therapy-<slug>", defaults=EN)
@bp.get("/es/terapia-con-ketamina-<slug>", defaults=ES)
def location(slug: str, lang: str):
    office = current_clinic().office(slug)
    if office is None:
        abort(404)
    alternates = alternates_of("pages.location", slug=slug)
    return public_page(in_language(lang, lambda: render_template(
        "location.html", office=office, form=blank_form(slug, lang), alternates=alternates,
        **_questions(slug, lang))))  # fmt: skip


@bp.get("/thanks", defaults=EN)
@bp.get("/es/gracias", defaults=ES)
def thanks(lang: str):
    alternates = alternates_of("pages.thanks")
    return public_page(in_language(lang, lambda: render_template("thanks.html", alternates=alternates)))


@bp.get("/thanks/support", defaults=EN)
@bp.get("/es/gracias/apoyo", defaults=ES)
def thanks_support(lang: str):
    """The thank-you page of a request that suggests a crisis (leads/service.py `urgent`): the crisis lines
    first. Like /thanks, the same bytes for everyone and nothing about the visitor in its address."""
    alternates = alternates_of("pages.thanks_support")
    return public_page(
        in_language(lang, lambda: render_template("thanks_support.html", alternates=alternates))
    )


@bp.get("/questions/thanks", defaults=EN)
@bp.get("/es/preguntas/gracias", defaults=ES)
def question_thanks(lang: str):
    alternates = alternates_of("pages.question_thanks")
    return public_page(
        in_language(lang, lambda: render_template("question_thanks.html", alternates=alternates))
    )


@bp.get("/privacy", defaults=EN)
@bp.get("/es/privacidad", defaults=ES)
def privacy(lang: str):
    alternates = alternates_of("pages.privacy")
    return public_page(in_language(lang, lambda: render_template("privacy.html", alternates=alternates)))


@bp.get("/phq-9", defaults=EN)
@bp.get("/es/phq-9", defaults=ES)
def phq9_page(lang: str):
    """The self-check, public and cached: with JavaScript the score is worked out on the page
    (static/phq9.js) and no answer leaves the browser unless the visitor sends it with a request."""
    alternates = alternates_of("pages.phq9_page")
    return public_page(
        in_language(lang, lambda: render_template("phq9.html", answered={}, alternates=alternates))
    )


@bp.post("/phq-9", defaults=EN)
@bp.post("/es/phq-9", defaults=ES)
def phq9_result(lang: str):
    """The self-check's result without JavaScript: the same result the page's script shows, answered
    `no-store` (security.py's default) and kept nowhere. Nothing here stores, logs or sends the answers.

    All nine answered: the result, and the consultation form carrying the answers for the visitor to
    send if they choose. Some missing: the questions again with the answers kept (422), and the crisis
    notice first if item 9 is answered above 0.
    """
    answered = phq9.answered_in(request.form)
    answers = phq9.complete(answered)
    if answers is None:
        return render_template("phq9.html", answered=answered, missing=True, token=g.get("needs_token")), 422
    form = blank_form(language=lang)
    form.phq9.data = answers.code
    return render_template("phq9_result.html", answers=answers, form=form)


@bp.errorhandler(CSRFError)
def phq9_token_missing(error: CSRFError):
    """The self-check posted by a browser that vouched for nothing (crossorigin.py): its answers again,
    with a token, to press the button once more. A cross-site post never gets here: it is a 403, so no
    other site can show a visitor a "result" it made up."""
    answered = phq9.answered_in(request.form)
    return render_template("phq9.html", answered=answered, expired=True, token=True), 400


@bp.get("/sitemap.xml")
def sitemap():
    return public_page(lambda: render_template("sitemap.xml"), "application/xml; charset=utf-8")


@bp.get("/robots.txt")
def robots():
    # Nothing disallowed: /thanks and /staff/ say noindex themselves, which a crawler must be let in to read.
    site_url = current_app.config["SITE_URL"]
    body = f"User-agent: *\nAllow: /\nSitemap: {site_url}/sitemap.xml\n"
    return public_page(lambda: body, "text/plain; charset=utf-8")


@bp.get("/healthz")
def healthz():
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        log.warning("healthz: database unreachable")
        return {"status": "unavailable"}, 503
    return {"status": "ok"}
