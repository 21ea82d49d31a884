"""The consultation form: every field the visitor fills in, and the hidden ones that travel with it."""

from __future__ import annotations

import re
import time
import uuid

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_wtf import FlaskForm
from itsdangerous import BadSignature
from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from ..signing import SignedSerializer

# Control characters, DEL and C1 controls, bidirectional overrides and U+FFFD
# (what undecodable bytes become): none belongs in a name, phone or address.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufffd]")
# A message may have line breaks and tabs; it only ever goes into an email body.
_UNSAFE_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufffd]")
_SUBMISSION_KEY = re.compile(r"^[0-9a-f]{32}$")

CONTACT_METHODS = [SelectChoice("phone", "Phone call"), SelectChoice("text", "Text message"),
                   SelectChoice("email", "Email")]  # fmt: skip
BEST_TIMES = [
    SelectChoice("", "No preference"),
    SelectChoice("morning", "Morning"),
    SelectChoice("afternoon", "Afternoon"),
    SelectChoice("evening", "Evening"),
    SelectChoice("any", "Any time"),
]


RELOAD = "Please reload the page and send the form again."


def _strip(value):
    # Spaces only: a line break or tab is not whitespace to tidy but a character to refuse.
    return value.strip(" ") if isinstance(value, str) else value


def _printable(message: str = "Please remove the special or invisible characters from this field."):
    def check(form, field):
        if field.data and _UNSAFE.search(field.data):
            raise ValidationError(message)

    return check


_no_control_characters = _printable()


def clean_hidden(value: str | None, limit: int) -> str:
    """What a page puts into a hidden field: printable and short, whatever the URL said."""
    if not value:
        return ""  # most visits: no campaign tags, no referrer
    return _UNSAFE.sub("", value).strip()[:limit]


def _hidden(limit: int) -> HiddenField:
    # The page rendered these clean; anything else was made by hand, not typed by a visitor.
    return HiddenField(validators=[Length(max=limit, message=RELOAD), _printable(RELOAD)])


def started_serializer(app) -> SignedSerializer:
    """Built once per app, by leads.init_app: constructing one costs more than signing with it."""
    return SignedSerializer(app.config["SECRET_KEY"], salt="form-started")


def _started_serializer() -> SignedSerializer:
    return current_app.extensions["form_started_serializer"]


def sign_start_time() -> str:
    return _started_serializer().dumps(time.time())


class ConsultationForm(FlaskForm):
    class Meta:
        # CSRFProtect checks every POST before the view runs; the template prints a fresh token.
        csrf = False

    full_name = StringField(
        "Full name",
        filters=[_strip],
        validators=[
            InputRequired("Please enter your name."),
            Length(max=100, message="Please shorten your name to 100 characters or fewer."),
            _no_control_characters,
        ],
    )
    phone = StringField(
        "Phone number",
        filters=[_strip],
        validators=[InputRequired("Please enter a phone number we can call you on."), _no_control_characters],
    )
    email = StringField(
        "Email",
        filters=[_strip],
        validators=[InputRequired("Please enter your email address."), _no_control_characters],
    )
    location = RadioField(
        "Which office is nearer to you?",
        validators=[InputRequired("Please choose the Bradenton or the Sarasota office.")],
    )
    contact_method = RadioField(
        "How should we contact you?",
        choices=CONTACT_METHODS,
        default="phone",
        validators=[InputRequired("Please choose how we should contact you.")],
    )
    best_time = SelectField("Best time to reach you", choices=BEST_TIMES, default="")
    message = TextAreaField(
        "Anything you would like us to know",
        validators=[
            Optional(),
            Length(max=2000, message="Please shorten your message to 2,000 characters or fewer."),
        ],
    )
    consent = BooleanField(
        validators=[DataRequired("Please tick this box so that we may contact you.")],
    )
    # The honeypot: hidden from people and assistive technology; only bots fill it in.
    website = StringField("Leave this field empty")

    submission_key = HiddenField()
    started = HiddenField()
    utm_source = _hidden(100)
    utm_medium = _hidden(100)
    utm_campaign = _hidden(100)
    referrer = _hidden(500)
    landing_path = _hidden(500)

    def __init__(self, *args, offices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.location.choices = [SelectChoice(o.slug, o.city) for o in offices]
        self.phone_e164: str | None = None
        self.email_normalized: str | None = None

    def validate_phone(self, field):
        try:
            number = phonenumbers.parse(field.data, "US")
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            raise ValidationError("Please enter a phone number with its area code, for example 941-555-0123.")
        self.phone_e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def validate_email(self, field):
        try:
            # Syntax only: a DNS lookup would make the visitor wait on a third party.
            result = validate_email(field.data, check_deliverability=False)
        except EmailNotValidError:
            raise ValidationError("Please enter an email address like name@example.com.") from None
        if len(result.normalized) > 254:
            raise ValidationError("Please enter a shorter email address.")
        self.email_normalized = result.normalized

    def validate_message(self, field):
        if field.data and _UNSAFE_IN_TEXT.search(field.data):
            raise ValidationError("Please remove the special or invisible characters from your message.")

    # -- what the service stores -------------------------------------------------

    def cleaned_message(self) -> str | None:
        text = (self.message.data or "").replace("\r\n", "\n").replace("\r", "\n").strip()
        return text or None

    def cleaned_submission_key(self) -> str:
        key = self.submission_key.data or ""
        # A missing or odd key (a bot, a hand-made request) just gets no double-click protection.
        return key if _SUBMISSION_KEY.match(key) else uuid.uuid4().hex

    def attribution(self) -> dict[str, str | None]:
        fields = ["utm_source", "utm_medium", "utm_campaign", "referrer", "landing_path"]
        return {name: (self[name].data or "").strip() or None for name in fields}

    def spam_reason(self) -> str | None:
        """Why this looks like a bot, or None. Bots get the same answer as people."""
        if self.website.data:
            return "honeypot"
        try:
            started = float(_started_serializer().loads(self.started.data or ""))
        except (BadSignature, TypeError, ValueError):
            return "no-start-time"
        if time.time() - started < current_app.config["FORM_MIN_SECONDS"]:
            return "too-fast"
        return None
