"""The staff forms. Each POST form carries Flask-WTF's token, checked with Fetch Metadata (crossorigin.py);
every field follows the one rule for text from outside (inputs.py)."""

from __future__ import annotations

from wtforms import (
    DateField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, EqualTo, InputRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from ..inputs import Form
from ..models import LeadStatus, QuestionStatus, StaffRole
from .accounts import password_problem, valid_role


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class LoginForm(Form):
    email = EmailField(
        "Email", filters=[_strip], validators=[InputRequired("Please enter your email."), Length(max=254)]
    )
    password = PasswordField("Password", validators=[InputRequired("Please enter your password.")])
    next = HiddenField()


class CodeForm(Form):
    code = StringField(
        "Code from your authenticator app, or a recovery code",
        filters=[_strip],
        validators=[InputRequired("Please enter the code."), Length(max=40)],
    )


class ActionForm(Form):
    """A button that changes something: only its CSRF token."""


class StatusForm(Form):
    status = SelectField("Status", choices=[SelectChoice(v, label) for v, label in LeadStatus.LABELS.items()])


class NoteForm(Form):
    body = TextAreaField(
        "Add a note",
        filters=[_strip],
        validators=[
            InputRequired("Please write the note first."),
            Length(max=5000, message="Please keep a note under 5,000 characters."),
        ],
    )


STATUS_FILTER = [
    SelectChoice("", "All but suspected spam"),
    *(SelectChoice(value, label) for value, label in LeadStatus.LABELS.items()),
    SelectChoice("any", "All, spam included"),
]


LANGUAGE_FILTER = [
    SelectChoice("", "Any language"),
    SelectChoice("en", "English"),
    SelectChoice("es", "Spanish"),
]


class FilterForm(Form):
    """The inbox filter, read from the query string (a GET form needs no token)."""

    class Meta:
        csrf = False

    office = SelectField("Office", validators=[Optional()])
    status = SelectField("Status", choices=STATUS_FILTER, validators=[Optional()])
    # The language of the page the request came from: Spanish speakers are called back in Spanish.
    language = SelectField("Language", choices=LANGUAGE_FILTER, validators=[Optional()])
    since = DateField("From", validators=[Optional()])
    until = DateField("To", validators=[Optional()])
    q = StringField("Name, phone or email", filters=[_strip], validators=[Optional(), Length(max=100)])

    def __init__(self, *args, offices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.office.choices = [
            SelectChoice("", "Both offices"),
            *(SelectChoice(o.slug, o.city) for o in offices),
        ]


def _new_password_ok(form, field):
    problem = password_problem(field.data or "", getattr(form, "account_email", ""))
    if problem:
        raise ValidationError(problem)


class PasswordChangeForm(Form):
    account_email = ""  # the account's address, which a new password must not be built from
    current = PasswordField("Current password", validators=[InputRequired("Please enter your password.")])
    new = PasswordField(
        "New password", validators=[InputRequired("Please choose a password."), _new_password_ok]
    )
    repeat = PasswordField(
        "New password again", validators=[DataRequired(), EqualTo("new", "The two passwords differ.")]
    )


class TotpConfirmForm(Form):
    code = StringField(
        "The 6-digit code your app shows",
        filters=[_strip],
        validators=[InputRequired("Please enter the code.")],
    )


class TotpOffForm(Form):
    """Both factors again: a password alone, from a session left open, must not remove the second."""

    password = PasswordField("Your password", validators=[InputRequired("Please enter your password.")])
    code = StringField(
        "A code from your authenticator app, or a recovery code",
        filters=[_strip],
        validators=[InputRequired("Please enter the code."), Length(max=40)],
    )


QUESTION_FILTER = [
    SelectChoice("", "All but rejected"),
    *(SelectChoice(value, label) for value, label in QuestionStatus.LABELS.items()),
]


class QuestionFilterForm(Form):
    class Meta:
        csrf = False

    status = SelectField("Status", choices=QUESTION_FILTER, validators=[Optional()])


class QuestionForm(Form):
    """What staff publish: the question without personal details, the answer, who reviewed it."""

    edited_text = TextAreaField(
        "Question as published (remove names, places, anything personal)",
        filters=[_strip],
        validators=[
            Optional(),
            Length(max=500, message="Please keep the published question to 500 characters or fewer."),
        ],
    )
    answer = TextAreaField(
        "Answer",
        filters=[_strip],
        validators=[Optional(), Length(max=5000, message="Please keep the answer under 5,000 characters.")],
    )
    reviewer = StringField(
        "Reviewed by (name and credential, shown with the answer)",
        filters=[_strip],
        validators=[Optional(), Length(max=120, message="Please keep the name to 120 characters.")],
    )
    # Whatever the reader typed as a name greets them in our email, where it reads as the clinic's words
    # ("Claim your refund at …"): staff read it first, and may correct or clear it.
    greeting_name = StringField(
        "Name that greets the reader in the answer email (leave empty for a plain “Hello,”)",
        filters=[_strip],
        validators=[Optional(), Length(max=60, message="Please keep the name to 60 characters.")],
    )


class ReauthForm(Form):
    """The password again, before a change that matters (a factor, the team, an export)."""

    password = PasswordField("Your password", validators=[InputRequired("Please enter your password.")])
    next = HiddenField()


class PasskeyNameForm(Form):
    """What the account page calls a new passkey: the device it lives on, as its owner names it."""

    name = StringField(
        "Name this passkey (the device or password manager it is on)",
        filters=[_strip],
        validators=[Optional(), Length(max=60, message="Please keep the name to 60 characters.")],
    )


ROLE_CHOICES = [SelectChoice(value, label) for value, label in StaffRole.LABELS.items()]


class OfficesField(SelectMultipleField):
    """The offices a staff account works, as checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class RoleForm(Form):
    """A team member's role and offices (admins only)."""

    role = SelectField("Role", choices=ROLE_CHOICES)
    offices = OfficesField("Offices (for the Staff role)", validators=[Optional()])

    def __init__(self, *args, office_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.offices.choices = [SelectChoice(o.slug, o.city) for o in office_choices]

    def validate_offices(self, field):
        problem = valid_role(self.role.data, field.data or [])
        if problem:
            raise ValidationError(problem)


class InviteForm(RoleForm):
    email = EmailField(
        "Their email address",
        filters=[_strip],
        validators=[
            InputRequired("Please enter their email address."),
            Email("Please enter an email address like name@example.com."),
            Length(max=254),
        ],
    )


class SetPasswordForm(Form):
    """An invited person's first password."""

    account_email = ""
    new = PasswordField(
        "Choose a password", validators=[InputRequired("Please choose a password."), _new_password_ok]
    )
    repeat = PasswordField(
        "The same password again", validators=[DataRequired(), EqualTo("new", "The two passwords differ.")]
    )
