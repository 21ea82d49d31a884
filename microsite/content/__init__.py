"""The clinic's facts (clinic.py) and the article (article.py): loaded once at start-up from the files
beside them, and read by every other module through `current_clinic()` and `article_in()`."""

from __future__ import annotations

import functools
import os
from pathlib import Path

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


@functools.lru_cache(maxsize=16)
def _parsed(load, path: str, mtime_ns: int, size: int):
    return load(path)


def read_once(load, path: str | Path):
    """`load(path)`, parsed once per process however many apps are made (each `flask` command, each
    test); a file edited since (another mtime or size) is read again. What it returns is immutable."""
    stat = os.stat(path)
    return _parsed(load, str(path), stat.st_mtime_ns, stat.st_size)


def init_app(app: Flask) -> None:
    """Load the content once and make it available to every template."""
    clinic = read_once(load_clinic, app.config["CLINIC_FILE"])
    articles = {"en": read_once(load_article, ARTICLE_FILE), "es": read_once(load_article, ARTICLE_FILE_ES)}
    app.extensions["clinic"] = clinic
    app.extensions["articles"] = articles
    app.extensions["article"] = articles["en"]
    app.jinja_env.globals.update(clinic=clinic, article=articles["en"], articles=articles)
    # The self-check's validated wording, and its severity bands mildest first (phq9.py).
    app.jinja_env.globals.update(phq9_in=questionnaire_in, phq9_bands=BAND_NAMES)
