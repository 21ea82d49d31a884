"""Text from outside: one rule for every form field, query parameter and command argument.

Refused, never stored and never sent to the database (PostgreSQL refuses NUL with an error; SQLite
stores it): the control characters (a multi-line field keeps tab, line feed and carriage return), DEL
and the C1 controls; lone surrogates, which only JSON can carry and no database or page can hold;
U+FFFD, what Werkzeug makes of bytes that are not UTF-8; and the invisible characters that change how
text reads or where it breaks without showing (the zero-width space, the direction marks, overrides
and isolates, the word joiner, the byte-order mark, the line and paragraph separators, the tag
characters). The zero-width (non-)joiners stay: Persian and Indic names need them.

- A form field (every form derives from `Form`) answers with its own message: the page again, 422.
- A query parameter, or one longer than any link of ours makes, is a 400 before any view that reads
  one runs (`refuse_unreadable_parameters`, on the staff pages: the public pages read none).
- A body in JSON goes only to the views that say they read it (`reads_json`); elsewhere it is a 415.
  Flask-WTF would otherwise read it into any form, where numbers and lists are not text.
Hidden fields are the browser's, not the visitor's: the form that reads one cleans it (`cleaned`).
"""

from __future__ import annotations

import re

from flask import Flask, abort, current_app, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, TextAreaField
from wtforms.validators import ValidationError

INVISIBLE = (
    "\u200b\u200e\u200f\u061c\u202a-\u202e\u2028\u2029\u2060\u2066-\u2069\ufeff\ufffd\U000e0000-\U000e007f"
)
_UNSAFE_IN_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f\ud800-\udfff{INVISIBLE}]")
_UNSAFE_IN_TEXT = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff{INVISIBLE}]")

# The longest a field may be, whatever its own limit (most have a shorter one): a message, an answer.
MAX_FIELD = 10_000
# The longest query parameter a link of ours makes is a search term of 100 characters.
MAX_PARAMETER = 500

SPECIAL_CHARACTERS = _l("Please remove the special or invisible characters from this field.")
TOO_LONG = _l("Please shorten this to 10,000 characters or fewer.")


def readable(value: str, multiline: bool = False) -> bool:
    """True when `value` holds none of the characters the rule refuses."""
    return not (_UNSAFE_IN_TEXT if multiline else _UNSAFE_IN_LINE).search(value)


def cleaned(value: str | None, limit: int) -> str:
    """What a hidden field or a header may give us: printable and short, whatever was sent."""
    if not value:
        return ""  # most requests: no campaign tags, no referrer
    return _UNSAFE_IN_LINE.sub("", value).strip()[:limit]


def readable_field(form, field) -> None:
    """The rule as a WTForms validator, on what was sent (a number field's text too)."""
    multiline = isinstance(field, TextAreaField)
    for value in field.raw_data or ():
        if len(value) > MAX_FIELD:
            raise ValidationError(TOO_LONG)
        if not readable(value, multiline):
            raise ValidationError(SPECIAL_CHARACTERS)


class Form(FlaskForm):
    """The base of every form: each field the visitor fills in follows the rule, after its own checks."""

    # Fields the rule leaves to the form: a honeypot's text is only ever judged, and a bot that
    # filled it in gets the answer a person would.
    not_refused: tuple[str, ...] = ()

    def validate(self, extra_validators=None):
        extra = {name: list(validators) for name, validators in (extra_validators or {}).items()}
        for field in self:
            if not isinstance(field, HiddenField) and field.short_name not in self.not_refused:
                extra.setdefault(field.short_name, []).append(readable_field)
        return super().validate(extra_validators=extra)


def reads_json(view):
    """Marks a view that takes a JSON body (the passkey ceremonies); every other view refuses one."""
    view.reads_json = True
    return view


def refuse_unreadable_parameters() -> None:
    """A blueprint's `before_request` where views read the query string (the staff pages): every name
    and value follows the rule. The public pages read none: the page cache answers whatever follows
    the `?`, as an ad's or a newsletter's tags may be anything."""
    for name, values in request.args.lists():
        for text in (name, *values):
            if len(text) > MAX_PARAMETER or not readable(text):
                abort(400)


def refuse_json_unless_read() -> None:
    if request.is_json and request.endpoint is not None:
        view = current_app.view_functions[request.endpoint]
        if not getattr(view, "reads_json", False):
            abort(415)


def init_app(app: Flask) -> None:
    app.before_request(refuse_json_unless_read)
