"""The public pages in English and Spanish. The language is in the URL (/es/…), never guessed from a
header or kept in a cookie, so each URL stays one set of bytes for every visitor (pages/cache.py).

A public page is rendered once, under `force_locale(lang)`; a per-request page (a form shown again, an
error) takes the language of its request: the form's hidden `language` field, or an /es/ path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import date, time
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from babel.dates import format_date, format_time, get_day_names
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, g, has_request_context, request, url_for
from flask_babel import force_locale, get_locale

from .content import article_in
from .extensions import babel

log = logging.getLogger(__name__)
LANGUAGES = ("en", "es")  # English first: the x-default
# The catalogues as translators edit them (messages.po, under version control) and as gettext reads them
# (messages.mo, compiled from them here at start-up when missing or older).
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
CATALOGUE = Path("LC_MESSAGES") / "messages"
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


class CatalogueMissing(RuntimeError):
    """A translated language has no usable catalogue: its pages would be English under lang="es"."""


def compiled_catalogues(instance: Path) -> Path:
    """The folder of compiled catalogues Flask-Babel is to read, each as fresh as its .po.

    However the site is installed (`make`, or `pip install -r requirements.txt` and `gunicorn wsgi:app`),
    a .mo missing or older than its .po is compiled now with Babel, beside the .po; where the package is
    read-only (an image, a root-owned install), every catalogue is compiled into instance/translations.
    Several workers starting at once each write a whole file under their own name, then rename it.
    """
    try:
        for language in LANGUAGES[1:]:
            _compile_if_stale(TRANSLATIONS / language / CATALOGUE, TRANSLATIONS / language / CATALOGUE)
        folder = TRANSLATIONS
    except OSError:  # not ours to write
        folder = instance / "translations"
        for language in LANGUAGES[1:]:
            _compile_if_stale(TRANSLATIONS / language / CATALOGUE, folder / language / CATALOGUE)
    for language in LANGUAGES[1:]:
        _check_compiled(folder / language / CATALOGUE)
    return folder


def _compile_if_stale(source: Path, target: Path) -> None:
    po, mo = source.with_suffix(".po"), target.with_suffix(".mo")
    if not po.exists():
        if mo.exists():
            return  # a compiled catalogue shipped without its source
        raise CatalogueMissing(
            f"The Spanish pages' catalogue is missing ({po}): they would show English text. Restore it "
            "from the repository (git checkout microsite/translations)."
        )
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        return
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=po.parent.parent.name)
    untranslated = sum(1 for message in catalog if message.id and (not message.string or message.fuzzy))
    mo.parent.mkdir(parents=True, exist_ok=True)
    partial = mo.with_name(f".{mo.name}.{os.getpid()}")
    with partial.open("wb") as fh:
        write_mo(fh, catalog)
    partial.replace(mo)
    log.info("translations: compiled %s (%s message(s) untranslated, shown in English)", mo, untranslated)


def _check_compiled(path: Path) -> None:
    """Stop start-up on a compiled catalogue that translates nothing (read once per file version)."""
    mo = path.with_suffix(".mo")
    if _translated_messages(mo, mo.stat().st_mtime_ns) == 0:
        raise CatalogueMissing(
            f"The Spanish pages' catalogue {mo} translates nothing: they would show English."
        )


@cache
def _translated_messages(mo: Path, version: int) -> int:
    with mo.open("rb") as fh:
        return sum(1 for message in read_mo(fh) if message.id and message.string)


def init_app(app: Flask) -> None:
    # Before Flask-Babel reads where the catalogues are.
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compiled_catalogues(Path(app.instance_path)))
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
