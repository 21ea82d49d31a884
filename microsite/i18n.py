"""The public pages in English and Spanish. The language is in the URL (/es/…), never guessed from a
header or kept in a cookie, so each URL stays one set of bytes for every visitor (pages/cache.py).

A public page is rendered once, under `force_locale(lang)`; a per-request page (a form shown again, an
error) takes the language of its request: the form's hidden `language` field, or an /es/ path.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, time
from urllib.parse import urlsplit

from babel.dates import format_date, format_time, get_day_names
from flask import Flask, current_app, g, has_request_context, request, url_for
from flask_babel import force_locale, get_locale

from .content import article_in
from .extensions import babel

LANGUAGES = ("en", "es")  # English first: the x-default
SPANISH_PREFIX = "/es/"
# What the JSON-LD's inLanguage and Open Graph's og:locale say for each language.
REGIONAL = {"en": "en-US", "es": "es-US"}
OG_LOCALE = {"en": "en_US", "es": "es_US"}
_DAY_INDEX = {"Mo": 0, "Tu": 1, "We": 2, "Th": 3, "Fr": 4, "Sa": 5, "Su": 6}


def current_language() -> str:
    """The language being rendered: "en" or "es"."""
    locale = get_locale()
    return locale.language if locale and locale.language in LANGUAGES else "en"


def request_language() -> str:
    """Flask-Babel's locale selector: the language this request's URL (or its form) is in.

    A POST to /consultation carries its page's language in the hidden field; a body too large to read
    (413) falls back to the page it was sent from, which a same-origin Referer names.
    """
    if language := g.get("language"):
        return language
    if not has_request_context():
        return "en"  # the outbox and the command line: staff read English
    if is_spanish_path(request.path):
        return "es"
    if request.method == "POST":
        try:
            value = request.form.get("language")
        except Exception:
            value = None
        if value in LANGUAGES:
            return value
        referrer = urlsplit(request.referrer or "")
        if referrer.netloc == urlsplit(current_app.config["SITE_URL"]).netloc and is_spanish_path(
            referrer.path
        ):
            return "es"
    return "en"


def is_spanish_path(path: str) -> bool:
    return path == "/es" or path.startswith(SPANISH_PREFIX)


def alternates(endpoint: str, **values) -> dict[str, str]:
    """This page's path in each language, English first (hreflang links, the language switch)."""
    return {lang: url_for(endpoint, lang=lang, **values) for lang in LANGUAGES}


def in_language(lang: str, render: Callable[[], str]) -> Callable[[], str]:
    """`render`, to be run with `lang`'s catalogue, dates and numbers."""

    def rendered() -> str:
        with force_locale(lang):
            return render()

    return rendered


def long_date(value: date) -> str:
    """ "November 30, 2026" / "30 de noviembre de 2026"."""
    return format_date(value, "long", locale=current_language())


def clock(hhmm: str) -> str:
    """An office's opening time as its readers write it: "9 am" in English, "9:00" in Spanish."""
    hour, minute = (int(part) for part in hhmm.split(":"))
    if current_language() == "en":
        suffix = "am" if hour < 12 else "pm"
        hour12 = hour % 12 or 12
        return f"{hour12} {suffix}" if minute == 0 else f"{hour12}:{minute:02d} {suffix}"
    return format_time(time(hour, minute), "H:mm", locale=current_language())


def hours_label(hours) -> str:
    """ "Monday–Friday 9 am–5 pm" / "lunes a viernes, 9:00–17:00", from Babel's day names."""
    lang = current_language()
    names = get_day_names("wide", locale=lang)
    days = [names[_DAY_INDEX[d]] for d in hours.days]
    if lang == "en":
        span = days[0] if len(days) == 1 else f"{days[0]}–{days[-1]}"
        return f"{span} {clock(hours.opens)}–{clock(hours.closes)}"
    span = days[0] if len(days) == 1 else f"{days[0]} a {days[-1]}"
    return f"{span}, {clock(hours.opens)}–{clock(hours.closes)}"


def init_app(app: Flask) -> None:
    babel.init_app(app, default_locale="en", locale_selector=request_language)
    # {% trans %} blocks are written over several lines; their messages are read with spaces collapsed.
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.jinja_env.globals.update(
        current_language=current_language, alternates_of=alternates, LANGUAGES=LANGUAGES, OG_LOCALE=OG_LOCALE
    )
    app.jinja_env.filters.update(long_date=long_date, hours_label=hours_label)

    @app.context_processor
    def language():
        """The page's language, and the article in it (content/article.md or article.es.md)."""
        lang = current_language()
        return {"lang": lang, "article": article_in(lang)}
