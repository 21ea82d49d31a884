"""The outbox's emails, rendered from templates/email/: the staff email for a lead, the reminder and the
escalation about a request still new, the weekly summary, and for readers' questions the crisis email to
the office and the reader's one email when the answer is published."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC
from email import message_from_bytes, policy
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from flask import current_app, render_template
from flask_babel import force_locale
from flask_mail import Message

from ..leads.forms import CONTACT_METHODS, best_times
from ..models import Notification, NotificationKind
from ..officehours import format_minutes
from .transport import PermanentError


def _label(choices, value: str) -> str:
    """The words the visitor saw for the option they picked."""
    return next((c.label for c in choices if c.value == value), value)


def staff_recipients(slug: str) -> list[str]:
    """LEAD_NOTIFY_<OFFICE> when set, else the clinic data file's addresses."""
    configured = current_app.config.get(f"LEAD_NOTIFY_{slug.upper()}")
    if configured:
        return [a.strip() for a in configured.split(",") if a.strip()]
    return list(current_app.extensions["clinic"].office(slug).notify)


def message_id(notification: Notification) -> str:
    """Stable across retries, so a mail client folds a rare duplicate into one; never reused.

    The id alone would come round again in a database re-created from scratch (and ids start at 1),
    so the notification's creation time and a part of this installation's own (derived from its
    SECRET_KEY, which it does not reveal) go with it.
    """
    host = urlsplit(current_app.config["SITE_URL"]).hostname or "localhost"
    install = hmac.new(current_app.secret_key.encode(), b"message-id", hashlib.sha256).hexdigest()[:10]
    # Microseconds since the epoch, in base 36: short enough that the header is never folded.
    created = base36(int(notification.created_at.astimezone(UTC).timestamp() * 1_000_000))
    return f"<{notification.kind}-notification-{notification.id}.{created}.{install}@{host}>"


def base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return out or "0"


class StaffMessage(Message):
    """Flask-Mail's message, able to carry a Reply-To with non-ASCII letters before the @ (SMTPUTF8)."""

    def as_bytes(self) -> bytes:
        # Flask-Mail's sanitize_address() cannot write such an address (formataddr() raises), so the
        # message is written without it, read back by the email package and given the header there, in a
        # message written as UTF-8. Only Flask-Mail's public as_bytes(); rare, so the second pass is cheap.
        if not self.reply_to or self.reply_to.isascii():
            return super().as_bytes()
        reply_to, self.reply_to = self.reply_to, None
        try:
            written = super().as_bytes()
        finally:
            self.reply_to = reply_to
        msg = message_from_bytes(written, policy=policy.SMTPUTF8)
        msg["Reply-To"] = reply_to
        return msg.as_bytes()


def reply_to_address(address: str) -> str | None:
    """The visitor's address as a Reply-To, its domain in ASCII (IDNA); None when it cannot be one.

    Without a Reply-To the staff email still goes out: the address is in its body, and a lead
    that got a thank-you page must reach the office whatever its address looks like.
    """
    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return None
    if result.ascii_email:
        return result.ascii_email
    # Non-ASCII letters before the @ need MAIL_SMTPUTF8=true and a mail server that offers SMTPUTF8.
    return result.normalized if current_app.config["MAIL_SMTPUTF8"] else None


def build_staff_message(notification: Notification) -> Message:
    """Subject and From never carry visitor text; the visitor is only the Reply-To (when usable)."""
    clinic = current_app.extensions["clinic"]
    lead = notification.lead
    office = clinic.office(lead.location)
    site_url = current_app.config["SITE_URL"]
    context = {
        "lead": lead,
        "office": office,
        "contact_method": _label(CONTACT_METHODS, lead.contact_method),
        "best_time": _label(best_times(clinic.offices), lead.best_time or "") or "No preference",
        "site_url": site_url,
        "lead_url": f"{site_url}/staff/leads/{lead.id}",
        "prefers_spanish": lead.language == "es",
    }
    # "minimal" keeps health information out of mailboxes: staff read the request at /staff/.
    template = (
        "lead_staff_minimal" if current_app.config.get("LEAD_EMAIL_DETAIL") == "minimal" else "lead_staff"
    )
    reply_to = reply_to_address(lead.email)
    message = StaffMessage(
        # Staff read English; a visitor who wrote from the Spanish pages is to be answered in Spanish.
        subject=("Prefers Spanish: " if lead.language == "es" else "")
        + f"Consultation request #{lead.id} – {office.city} office",
        recipients=staff_recipients(lead.location),
        sender=current_app.config["MAIL_DEFAULT_SENDER"] or clinic.sender,
        reply_to=reply_to,
        mail_options=[] if reply_to is None or reply_to.isascii() else ["SMTPUTF8"],
        body=render_template(f"email/{template}.txt", **context),
        html=render_template(f"email/{template}.html", **context),
        extra_headers={"X-Lead-Id": str(lead.id), "Auto-Submitted": "auto-generated"},
    )
    message.msgId = message_id(notification)
    return message


def _message(notification: Notification, subject: str, recipients: list[str], template: str, context: dict,
             headers: dict[str, str]) -> Message:  # fmt: skip
    """A message from the clinic, with no Reply-To: nothing in it is the visitor's to answer."""
    if not recipients:
        raise PermanentError(f"no address to send the {notification.kind} to: see the clinic file")
    context = {**context, "subject": subject}
    message = Message(
        subject=subject,
        recipients=recipients,
        sender=current_app.config["MAIL_DEFAULT_SENDER"] or current_app.extensions["clinic"].sender,
        body=render_template(f"email/{template}.txt", **context),
        html=render_template(f"email/{template}.html", **context),
        extra_headers={**headers, "Auto-Submitted": "auto-generated"},
    )
    message.msgId = message_id(notification)
    return message


def build_reminder_message(notification: Notification) -> Message:
    """A request still new: to its office's staff (reminder) or the clinic's manager (escalation).

    Only the request's number, its office and a link, in both LEAD_EMAIL_DETAIL modes: less than even
    the minimal staff email (no first name), as a reminder adds nothing staff need to act on.
    """
    clinic = current_app.extensions["clinic"]
    lead = notification.lead
    office = clinic.office(lead.location)
    city = office.city if office else lead.location
    escalation = notification.kind == NotificationKind.ESCALATION
    remind = current_app.config["REMIND_AFTER_MINUTES"]
    after = current_app.config["ESCALATE_AFTER_MINUTES"] if escalation else remind
    if escalation:
        subject = f"Not contacted yet: request #{lead.id} – {city} office"
        recipients = list(clinic.manager)
    else:
        subject = f"Reminder: request #{lead.id} – {city} office is still new"
        recipients = staff_recipients(lead.location)
    context = {
        "escalation": escalation,
        "lead_id": lead.id,
        "city": city,
        "after": format_minutes(after),
        "reminded_after": format_minutes(remind) if remind > 0 else None,
        "lead_url": f"{current_app.config['SITE_URL']}/staff/leads/{lead.id}",
    }
    return _message(notification, subject, recipients, "reminder", context, {"X-Lead-Id": str(lead.id)})


def build_weekly_message(notification: Notification) -> Message:
    """The weekly summary named by the notification's key ("weekly:2026-W48"), counted now."""
    from ..reports import weekly

    summary = weekly.summarize(notification.once_key.split(":")[1])
    recipients = list(current_app.extensions["clinic"].report_to)
    return _message(notification, summary.subject, recipients, "weekly_report", weekly.context(summary), {})


def _question(notification: Notification):
    """The question a "crisis:<id>" or "answer:<id>" notification is about."""
    from ..extensions import db
    from ..models import Question

    question = db.session.get(Question, int(notification.once_key.split(":")[1]))
    if question is None:
        raise PermanentError("the question was deleted before its email went out")
    return question


def build_crisis_message(notification: Notification) -> Message:
    """A reader's question with crisis words: to the staff of the office page it came from (every office's
    for the main article), at once.

    Without the question's words: they may be health information about a person in crisis, and a
    mailbox is kept longer and more widely than the staff pages. Staff need to act fast, so the email
    says why it came and links straight to the question; one click and a login away.
    """
    clinic = current_app.extensions["clinic"]
    question = _question(notification)
    office = clinic.office(question.office) if question.office else None
    recipients = (
        staff_recipients(office.slug)
        if office
        else list(dict.fromkeys(a for o in clinic.offices for a in staff_recipients(o.slug)))
    )
    where = f"the {office.city} office page" if office else "the main article"
    context = {
        "question_id": question.id,
        "where": where + (" in Spanish" if question.language == "es" else ""),
        "language": "Spanish" if question.language == "es" else "English",
        "spam": question.spam_reason,
        "has_email": bool(question.email),
        "question_url": f"{current_app.config['SITE_URL']}/staff/questions/{question.id}",
    }
    subject = f"URGENT: crisis words in reader's question #{question.id}"
    headers = {"X-Question-Id": str(question.id)}
    return _message(notification, subject, recipients, "question_crisis", context, headers)


def answer_url(question) -> str:
    """Where the reader finds the answer: the page they asked on, in their language, at the question."""
    from flask import url_for

    with current_app.test_request_context(base_url=current_app.config["SITE_URL"]):
        if question.office and current_app.extensions["clinic"].office(question.office):
            path = url_for("pages.location", slug=question.office, lang=question.language)
        else:
            path = url_for("pages.index", lang=question.language)
    return f"{current_app.config['SITE_URL']}{path}#question-{question.id}"


def build_answer_message(notification: Notification) -> Message:
    """The one email to a reader who left an address: their question is answered, with a link to it."""
    from flask_babel import gettext

    question = _question(notification)
    if not question.email:
        raise PermanentError("the reader's address is no longer kept")
    clinic = current_app.extensions["clinic"]
    with force_locale(question.language):
        context = {
            "lang": question.language,
            "name": question.name,
            "clinic_name": clinic.name,
            "answer_url": answer_url(question),
            "question_text": question.public_text,
            "answer": question.answer,
            "reviewer": question.reviewer,
        }
        subject = gettext("Your question was answered")
        return _message(notification, subject, [question.email], "question_answered", context, {})


BUILDERS = {
    NotificationKind.LEAD: build_staff_message,
    NotificationKind.REMINDER: build_reminder_message,
    NotificationKind.ESCALATION: build_reminder_message,
    NotificationKind.WEEKLY: build_weekly_message,
    NotificationKind.CRISIS: build_crisis_message,
    NotificationKind.ANSWER: build_answer_message,
}


def build_message(notification: Notification) -> Message:
    """The notification's email, by its kind."""
    try:
        builder = BUILDERS[notification.kind]
    except KeyError:
        raise PermanentError(f"unknown kind of notification {notification.kind!r}") from None
    # Staff read English (the form's labels in it included); the email to a reader is built under
    # force_locale(question.language) by its builder, from the same translated templates.
    with force_locale("en"):
        return builder(notification)
