"""The clinic's facts (clinic.py) and the article (article.py): loaded once at start-up from the files
beside them, and read by every other module through `current_clinic()` and `article_in()`."""

from __future__ import annotations

from flask import Flask, current_app

from .article import ARTICLE_FILE, ARTICLE_FILE_ES, Article, load_article
from .clinic import Clinic, load_clinic
from .phq9 import BAND_NAMES, questionnaire_in


def current_clinic() -> Clinic:
    """The clinic's facts this app was started with (CLINIC_FILE)."""
    return current_app.extensions["clinic"]


def article_in(language: str) -> Article:
    """The article in `language` ("en" or "es")."""
    return current_app.extensions["articles"][language]


def init_app(app: Flask) -> None:
    """Load the content once and make it available to every template."""
    clinic = load_clinic(app.config["CLINIC_FILE"])
    articles = {"en": load_article(ARTICLE_FILE), "es": load_article(ARTICLE_FILE_ES)}
    app.extensions["clinic"] = clinic
    app.extensions["articles"] = articles
    app.extensions["article"] = articles["en"]
    app.jinja_env.globals.update(clinic=clinic, article=articles["en"], articles=articles)
    # The self-check's validated wording, and its severity bands mildest first (phq9.py).
    app.jinja_env.globals.update(phq9_in=questionnaire_in, phq9_bands=BAND_NAMES)
