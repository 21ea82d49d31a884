"""What every email the outbox sends shares: its recipients at an office, its stable Message-ID, a
Reply-To that may carry non-ASCII letters, and a message from the clinic rendered from templates/email/.
The emails themselves are built by the packages that own them (kinds.py)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC
from email import message_from_bytes, policy
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from flask import current_app, render_template
from flask_mail import Message

from ..content import current_clinic
from ..models import Notification
from .transport import PermanentError


def staff_recipients(slug: str) -> list[str]:
    """LEAD_NOTIFY_<OFFICE> when set, else the clinic data file's addresses."""
    configured = current_app.config.get(f"LEAD_NOTIFY_{slug.upper()}")
    if configured:
        return [a.strip() for a in configured.split(",") if a.strip()]
    return list(current_clinic().office(slug).notify)


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


def sender() -> str:
    """The From of every email: MAIL_DEFAULT_SENDER, else the clinic file's `sender`."""
    return current_app.config["MAIL_DEFAULT_SENDER"] or current_clinic().sender


def clinic_message(notification: Notification, subject: str, recipients: list[str], template: str,
                   context: dict, headers: dict[str, str]) -> Message:  # fmt: skip
    """A message from the clinic, with no Reply-To: nothing in it is the visitor's to answer."""
    if not recipients:
        raise PermanentError(f"no address to send the {notification.kind} to: see the clinic file")
    context = {**context, "subject": subject}
    message = Message(
        subject=subject,
        recipients=recipients,
        sender=sender(),
        body=render_template(f"email/{template}.txt", **context),
        html=render_template(f"email/{template}.html", **context),
        extra_headers={**headers, "Auto-Submitted": "auto-generated"},
    )
    message.msgId = message_id(notification)
    return message
