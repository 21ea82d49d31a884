"""The consultation form: every field the visitor fills in, and the hidden ones that travel with it."""

from __future__ import annotations

import hashlib
import math
import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import lazy_gettext as _l
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

from ..content import current_clinic
from ..content.phq9 import parse as parse_phq9
from ..inputs import Form

LANGUAGES = ("en", "es")  # the languages the public pages are in (the URL says which)

CONTACT_METHODS = [SelectChoice("phone", _l("Phone call")), SelectChoice("text", _l("Text message")),
                   SelectChoice("email", _l("Email"))]  # fmt: skip


def best_times(offices) -> list[SelectChoice]:
    """The parts of the day some office is open, from the clinic file's hours: no "evening" choice
    when every office closes at 5. "any" means no preference (the contract); "" is not choosing."""
    spans = [(h.opens, h.closes) for office in offices for h in office.hours]
    parts = [
        ("morning", _l("Morning"), any(opens < "12:00" for opens, _ in spans)),
        ("afternoon", _l("Afternoon"), any(closes > "12:00" and opens < "17:00" for opens, closes in spans)),
        ("evening", _l("Evening"), any(closes > "17:00" for _, closes in spans)),
    ]
    return [
        SelectChoice("", _l("No preference")),
        *(SelectChoice(value, label) for value, label, open_then in parts if open_then),
        SelectChoice("any", _l("Any time")),
    ]


def _strip(value):
    # Spaces only: a line break or tab is not whitespace to tidy but a character to refuse.
    return value.strip(" ") if isinstance(value, str) else value


_EMAIL_EXAMPLE = _l("Please enter an email address like name@example.com.")
# Valid in an address, but syntax in a URL (? & % #) or to a mail router (% !): in a mailto: link they
# could add a Bcc or a body, and "user%host@relay" may be relayed elsewhere. The big mail providers hand
# out no such addresses.
_URL_OR_ROUTING = re.compile("[?&%#!]")
# Without MAIL_SMTPUTF8 the staff email could not carry such an address as its Reply-To.
_EMAIL_NOT_ASCII = _l(
    "Sorry, we can't send email to addresses with accents or non-Latin letters before the @ yet. "
    "Please enter another email address, or call us and we'll take your request by phone."
)


def checked_email(value: str) -> str:
    """The address as it is stored and mailed to, or a ValidationError with the visitor's message."""
    try:
        # Syntax only: a DNS lookup would make the visitor wait on a third party.
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise ValidationError(_EMAIL_EXAMPLE) from None
    if _URL_OR_ROUTING.search(result.local_part):
        raise ValidationError(_EMAIL_EXAMPLE)
    if result.ascii_email is None and not current_app.config["MAIL_SMTPUTF8"]:
        raise ValidationError(_EMAIL_NOT_ASCII)
    # An internationalised domain is kept in its ASCII (IDNA) form, which every mail server takes.
    address = result.ascii_email or result.normalized
    if len(address) > 254:
        raise ValidationError(_l("Please enter a shorter email address."))
    return address


class PublicForm(Form):
    """What every public form has besides its own fields: the checks against bots, and the page's language.
    Every field the visitor fills in follows the one rule for text from outside (inputs.py).

    The fields themselves (`website`, `elapsed`, `language`) are declared by each form, with ids of its own:
    two forms share a page.
    """

    class Meta:
        # crossorigin.py checks every POST before the view runs, and a token only where it must.
        csrf = False

    not_refused = ("website",)  # the honeypot

    def language_code(self) -> str:
        """The page's language, one of LANGUAGES; anything else (a hand-made request) is English."""
        return self.language.data if self.language.data in LANGUAGES else "en"

    def seconds_on_page(self) -> float | None:
        """How long the page was open before Send, as site.js measured it; None when unknown."""
        try:
            seconds = float(self.elapsed.data or "")
        except ValueError:
            return None
        return seconds if math.isfinite(seconds) and seconds >= 0 else None

    def spam_reason(self) -> str | None:
        """Why this looks like a bot, or None. Bots get the same answer as people, and are kept."""
        if self.website.data:
            return "honeypot"
        seconds = self.seconds_on_page()
        if seconds is not None and seconds < current_app.config["FORM_MIN_SECONDS"]:
            return "too-fast"
        return None


# Only a hand-made or damaged request gets here: the self-check's own code writes nine digits, maybe ten.
PHQ9_UNREADABLE = _l(
    "We could not read the self-check answers sent with this request, so we left them out. Press Send my "
    "request to send it without them, or take the self-check again."
)


class ConsultationForm(PublicForm):
    full_name = StringField(
        _l("Full name"),
        filters=[_strip],
        validators=[
            InputRequired(_l("Please enter your name.")),
            Length(max=100, message=_l("Please shorten your name to 100 characters or fewer.")),
        ],
    )
    phone = StringField(
        _l("Phone number"),
        filters=[_strip],
        validators=[
            InputRequired(_l("Please enter a phone number we can call you on.")),
        ],
    )
    email = StringField(
        _l("Email"),
        filters=[_strip],
        validators=[InputRequired(_l("Please enter your email address."))],
    )
    location = RadioField(
        _l("Which office is nearer to you?"),
        validators=[InputRequired(_l("Please choose the Bradenton or the Sarasota office."))],
    )
    contact_method = RadioField(
        _l("How should we contact you?"),
        choices=CONTACT_METHODS,
        default="phone",
        validators=[InputRequired(_l("Please choose how we should contact you."))],
    )
    best_time = SelectField(_l("Best time to reach you"), default="")  # choices: best_times(offices)
    message = TextAreaField(
        _l("Anything you would like us to know"),
        validators=[
            Optional(),
            Length(max=2000, message=_l("Please shorten your message to 2,000 characters or fewer.")),
        ],
    )
    consent = BooleanField(
        validators=[DataRequired(_l("Please tick this box so that we may contact you."))],
    )
    # The honeypot: hidden from people and assistive technology; only bots fill it in.
    website = StringField(_l("Leave this field empty"))

    # Filled in by static/site.js; without JavaScript they stay empty, and nothing is judged by them.
    referrer = HiddenField()  # the site the visitor came from (document.referrer's origin)
    elapsed = HiddenField()  # seconds from the page being shown to Send
    # Only in a form shown again: the page the visitor first sent it from (leads/attribution.py).
    landing = HiddenField()
    # The language of the page the form is on: part of that page's cached bytes, the same for everyone.
    language = HiddenField(default="en")
    # The PHQ-9 self-check's answers, only when the visitor chose to send them (content/phq9.py): filled
    # by static/site.js from this tab's sessionStorage, or by the self-check's result page without it.
    phq9 = HiddenField()

    def __init__(self, *args, offices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.location.choices = [SelectChoice(o.slug, o.city) for o in offices]
        self.best_time.choices = best_times(offices)
        self.phone_e164: str | None = None
        self.email_normalized: str | None = None

    def validate_phone(self, field):
        try:
            number = phonenumbers.parse(field.data, "US")
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            raise ValidationError(
                _l("Please enter a phone number with its area code, for example 941-555-0123.")
            )
        self.phone_e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def validate_email(self, field):
        self.email_normalized = checked_email(field.data)

    def validate_phq9(self, field):
        if field.data and parse_phq9(field.data) is None:
            raise ValidationError(PHQ9_UNREADABLE)

    def phq9_answers(self):
        """The self-check sent with the form (content.phq9.Answers), or None."""
        return parse_phq9(self.phq9.data)

    # -- what the service stores -------------------------------------------------

    def cleaned_message(self) -> str | None:
        text = (self.message.data or "").replace("\r\n", "\n").replace("\r", "\n").strip()
        return text or None

    def fingerprint(self) -> str:
        """The same request (office, phone, email, message) gives the same value: a double click or
        a "back, send again" is recognised whatever else the form carried."""
        parts = [self.location.data or "", self.phone_e164 or "", self.email_normalized or "",
                 self.cleaned_message() or ""]  # fmt: skip
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def blank_form(location: str | None = None, language: str = "en") -> ConsultationForm:
    """The form every public page shows: empty, with `location`'s office chosen, in the page's language."""
    form = ConsultationForm(formdata=None, offices=current_clinic().offices)
    form.location.data = location
    form.language.data = language
    return form
