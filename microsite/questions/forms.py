"""The question form under the article: the question, an optional name and email, the consent line.

The same defences as the consultation form (leads/forms.py): the honeypot, the time on the page, the
rule for text from outside (inputs.py), the same email check. Its ids are its own, as both forms share a page.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from ..content import current_clinic
from ..leads.forms import PublicForm, _strip, checked_email

MAX_LENGTH = 500
# The line next to the checkbox, stored with the question in the reader's language.
CONSENT = _l(
    "I agree that the clinic may publish my question, edited to leave out personal details, and its "
    "answer under this article, without my name or email."
)


def _one_kind_of_line_break(value):
    # A browser sends a line break as CR LF, but counts it as one character against `maxlength`.
    return value.replace("\r\n", "\n").replace("\r", "\n").strip() if isinstance(value, str) else value


class QuestionForm(PublicForm):
    question = TextAreaField(
        _l("Your question"),
        id="question-text",
        filters=[_one_kind_of_line_break],
        validators=[
            DataRequired(_l("Please write your question.")),
            Length(max=MAX_LENGTH, message=_l("Please shorten your question to 500 characters or fewer.")),
        ],
    )
    asker = StringField(
        _l("First name or initials"),
        id="question-name",
        filters=[_strip],
        validators=[
            Optional(),
            Length(max=60, message=_l("Please shorten your name to 60 characters or fewer.")),
        ],
    )
    email = StringField(
        _l("Email, to be told when it is answered"),
        id="question-email",
        filters=[_strip],
        validators=[Optional()],
    )
    consent = BooleanField(
        id="question-consent",
        validators=[DataRequired(_l("Please tick this box so that we may publish an answer."))],
    )
    website = StringField(_l("Leave this field empty"), id="question-website")  # the honeypot
    elapsed = HiddenField(id="question-elapsed")  # filled in by static/site.js
    language = HiddenField(id="question-language", default="en")
    # The office page the question was asked on (its slug), or empty for the main article.
    office = HiddenField(id="question-office")

    def __init__(self, *args, offices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.office_slugs = {o.slug for o in offices}
        self.email_normalized: str | None = None

    def validate_email(self, field):
        if field.data:
            self.email_normalized = checked_email(field.data)

    def validate_office(self, field):
        if field.data and field.data not in self.office_slugs:
            raise ValidationError("unknown office")  # only a forged request gets here


def blank_form(office: str | None = None, language: str = "en") -> QuestionForm:
    """The form under the article: empty, with the page's office and language, the same for everyone."""
    form = QuestionForm(formdata=None, offices=current_clinic().offices)
    form.office.data = office or ""
    form.language.data = language
    return form
