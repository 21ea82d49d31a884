"""Getting a built message out: SMTP through Flask-Mail, or an .eml file when no server is set."""

from __future__ import annotations

import functools
import os
import smtplib
import ssl
import tempfile
from pathlib import Path

import flask_mail
from flask import current_app
from flask_mail import BadHeaderError, Message


class DeliveryError(Exception):
    """A try that failed; `status_code` is the HTTP answer's, when a webhook's receiver gave one."""

    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class TransientError(DeliveryError):
    """Worth another try later: the server was down, slow, or said 4xx."""


class PermanentError(DeliveryError):
    """Another try would fail the same way: a 5xx answer, or a message that cannot be built."""


@functools.cache
def _tls_context(cafile: str | None) -> ssl.SSLContext:
    """A client context that checks the certificate and the name: the system's CAs, or `cafile`'s."""
    # Loading the CA store takes tens of milliseconds: once per process, not once per email.
    return ssl.create_default_context(cafile=cafile)


def tls_context() -> ssl.SSLContext:
    """The context for STARTTLS and SMTP_SSL; a MAIL_TLS_CA_FILE that cannot be read is a delivery error."""
    cafile = current_app.config.get("MAIL_TLS_CA_FILE") or None
    try:
        return _tls_context(cafile)
    except (OSError, ssl.SSLError) as exc:
        raise TransientError(f"MAIL_TLS_CA_FILE cannot be used: {type(exc).__name__}: {exc}") from exc


class _Connection(flask_mail.Connection):
    """Flask-Mail's connection, with a verified certificate, a timeout, and a QUIT that cannot undo a send.

    Only its two hooks are replaced; sending the message is Flask-Mail's own `send`.
    """

    def configure_host(self) -> smtplib.SMTP:
        # Flask-Mail's opens SMTP without a timeout, and calls starttls() and SMTP_SSL without a context,
        # with which Python accepts any certificate: the lead and the password would go to whoever answered.
        timeout = current_app.config["MAIL_TIMEOUT"]
        context = tls_context() if self.mail.use_ssl or self.mail.use_tls else None
        if self.mail.use_ssl:
            host = smtplib.SMTP_SSL(self.mail.server, self.mail.port, timeout=timeout, context=context)
        else:
            host = smtplib.SMTP(self.mail.server, self.mail.port, timeout=timeout)
        try:
            if self.mail.use_tls:
                host.starttls(context=context)
            if self.mail.username and self.mail.password:
                host.login(self.mail.username, self.mail.password)
        except BaseException:
            host.close()  # a refused certificate or login leaves no half-open connection behind
            raise
        return host

    def __exit__(self, exc_type, exc_value, tb) -> None:
        # Flask-Mail's lets a failed QUIT raise: after an accepted message that would be a retry that sends
        # it twice, and after a failed one it would hide why.
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
        # The state Flask-Mail's init_app keeps for this app, which its own Mail.connect() reads too.
        with _Connection(current_app.extensions["mail"]) as connection:
            if "SMTPUTF8" in message.mail_options:
                _require_smtputf8(connection.host)
            connection.send(message)
    except BadHeaderError as exc:
        raise PermanentError("message has a header with a line break") from exc
    except ssl.SSLCertVerificationError as exc:
        # Not the server MAIL_SERVER names, or one no trusted CA vouches for: nothing was sent to it,
        # not even the password. Retried: the operator may fix the certificate or MAIL_TLS_CA_FILE.
        raise TransientError(
            f"the mail server's TLS certificate was refused ({exc.verify_message}); nothing was sent. "
            "A private CA is set with MAIL_TLS_CA_FILE"
        ) from exc
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


def _require_smtputf8(host: smtplib.SMTP) -> None:
    """Refuse before MAIL FROM when the server cannot carry the visitor's internationalised address."""
    host.ehlo_or_helo_if_needed()
    if not host.has_extn("smtputf8"):
        raise PermanentError(
            "the mail server does not offer SMTPUTF8, which the visitor's address needs "
            "(non-ASCII letters before the @)"
        )


def _write_eml(message: Message, name: str) -> None:
    """The message as `name`.eml in MAIL_FILE_DIR: a folder (0700) and a file (0600) only the app reads."""
    folder = Path(current_app.config["MAIL_FILE_DIR"])
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if message.has_bad_headers():
        raise PermanentError("message has a header with a line break")
    data = message.as_bytes()
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")  # 0600, whatever the umask
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, folder / f"{name}.eml")
