"""Getting a built message out: SMTP through Flask-Mail, or an .eml file when no server is set."""

from __future__ import annotations

import os
import smtplib
import tempfile
from pathlib import Path

import flask_mail
from flask import current_app
from flask_mail import BadHeaderError, Message


class TransientError(Exception):
    """Worth another try later: the server was down, slow, or said 4xx."""


class PermanentError(Exception):
    """Another try would fail the same way: a 5xx answer, or a message that cannot be built."""


class _Connection(flask_mail.Connection):
    """Flask-Mail's connection with a socket timeout and a QUIT that cannot undo a delivery."""

    def configure_host(self):
        timeout = current_app.config["MAIL_TIMEOUT"]
        cls = smtplib.SMTP_SSL if self.mail.use_ssl else smtplib.SMTP
        host = cls(self.mail.server, self.mail.port, timeout=timeout)
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host

    def __exit__(self, exc_type, exc_value, tb):
        # Once the server has accepted the message, a dropped QUIT must not turn into a
        # retry that sends it twice.
        if self.host is not None:
            try:
                self.host.quit()
            except (smtplib.SMTPException, OSError):
                self.host.close()


def deliver(message: Message, name: str) -> None:
    """Send `message`; `name` names its .eml file, so a retry overwrites rather than duplicates."""
    if current_app.config["MAIL_SERVER"]:
        _send_smtp(message)
    else:
        _write_eml(message, name)


def _send_smtp(message: Message) -> None:
    try:
        with _Connection(current_app.extensions["mail"]) as connection:
            connection.send(message)
    except BadHeaderError as exc:
        raise PermanentError("message has a header with a line break") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(f"{code} {text!r}" for code, text in exc.recipients.values())
        if all(500 <= code < 600 for code in codes):
            raise PermanentError(f"recipients refused: {detail}") from exc
        raise TransientError(f"recipients refused: {detail}") from exc
    except smtplib.SMTPAuthenticationError as exc:
        # Wrong credentials are the operator's to fix; the message itself is fine.
        raise TransientError(f"SMTP authentication failed: {exc.smtp_code}") from exc
    except smtplib.SMTPResponseException as exc:
        text = f"SMTP {exc.smtp_code} {exc.smtp_error!r}"
        if 500 <= exc.smtp_code < 600:
            raise PermanentError(text) from exc
        raise TransientError(text) from exc
    except (smtplib.SMTPException, OSError) as exc:
        # Refused, reset, timed out, disconnected: the server, not the message.
        raise TransientError(f"{type(exc).__name__}: {exc}") from exc


def _write_eml(message: Message, name: str) -> None:
    folder = Path(current_app.config["MAIL_FILE_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    if message.has_bad_headers():
        raise PermanentError("message has a header with a line break")
    data = message.as_bytes()
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, folder / f"{name}.eml")
