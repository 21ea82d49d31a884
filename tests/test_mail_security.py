"""Mail that cannot be misdirected or jammed.

The SMTP password and the lead go only to a server whose certificate checks out; no notification,
whatever its lead holds, stops the others or stays "sending"; internationalised addresses are refused
plainly or delivered with SMTPUTF8; no address can add a Bcc or a body to a mailto: link.
"""

from __future__ import annotations

import logging
import shutil
import ssl
import subprocess
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from conftest import (
    SMTPRecorder,
    add_staff,
    free_port,
    make_config,
    staff_login,
    submit,
    unavailable,
)
from sqlalchemy import select

from microsite import create_app
from microsite.database import writing
from microsite.extensions import db, mail
from microsite.models import Lead, Notification, NotificationStatus, utcnow
from microsite.notify.outbox import run_once

SMTP_USER, SMTP_PASSWORD = "clinic-mailer", "smtp-secret-password"
INJECTION = "jane%40gmail.com?bcc=spy%40evil.com&x=@example.com"


# -- the real parts: certificates, TLS mail servers, an app ------------------------------------------


def _certificate(folder: Path, name: str, san: str) -> Path:
    """A throwaway self-signed certificate and key, in one PEM file, for `san`."""
    pem = folder / f"{name}.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "2", "-subj", f"/CN={name}", "-addext", f"subjectAltName={san}",
         "-keyout", str(pem), "-out", str(folder / f"{name}.crt")],
        check=True, capture_output=True,
    )  # fmt: skip
    pem.write_text(pem.read_text() + (folder / f"{name}.crt").read_text())
    return pem


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> dict[str, Path]:
    """Self-signed certificates for 127.0.0.1 and localhost ("here") and for another name ("elsewhere")."""
    if shutil.which("openssl") is None:
        unavailable("openssl is not installed")
    folder = tmp_path_factory.mktemp("certificates")
    return {
        "here": _certificate(folder, "here", "IP:127.0.0.1,DNS:localhost"),
        "elsewhere": _certificate(folder, "elsewhere", "DNS:mail.elsewhere.example"),
    }


def ca_file(pem: Path) -> str:
    """The certificate alone (no key), as an operator's MAIL_TLS_CA_FILE would hold it."""
    return str(pem.with_suffix(".crt"))


@contextmanager
def mail_server(certificate: Path | None = None, implicit_tls: bool = False, **smtp_options):
    """aiosmtpd on a free port: STARTTLS (or implicit TLS) with `certificate`; records AUTH attempts."""
    handler = SMTPRecorder()
    handler.logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        handler.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=True)

    context = None
    if certificate is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certificate)
    # aiosmtpd offers AUTH only after its own STARTTLS; with implicit TLS the whole connection is TLS.
    tls = {"ssl_context": context, "auth_require_tls": False} if implicit_tls else {"tls_context": context}
    controller = Controller(
        handler, hostname="127.0.0.1", port=free_port(), authenticator=authenticator, **tls, **smtp_options
    )
    controller.start()
    handler.port = controller.port
    try:
        yield handler
    finally:
        controller.stop()


@contextmanager
def mail_app(tmp_path, port: int, **overrides):
    """The app on a SQLite file, sending to 127.0.0.1:`port` with `overrides` as its mail settings."""
    config = make_config(
        f"sqlite:///{tmp_path / 'mail.sqlite3'}",
        tmp_path,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=port,
        **overrides,
    )
    app = create_app(config)
    with app.app_context():
        db.create_all()
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def notifications(app) -> list[Notification]:
    with app.app_context():
        rows = db.session.scalars(select(Notification).order_by(Notification.id)).all()
        db.session.expunge_all()
        return rows


def stored_emails(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Lead.email).order_by(Lead.id)))


def add_lead(app, email: str, location: str = "bradenton", **values) -> int:
    """A lead and its pending notification written straight to the database, as an older release
    (or a bug) might have left them; returns the lead id."""
    now = utcnow()
    with app.app_context(), writing():
        lead = Lead(
            full_name="Stored Person", phone="+19415550123", email=email, location=location,
            contact_method="phone", consent_text="I agree.", consent_version="1", consent_at=now, **values,
        )  # fmt: skip
        db.session.add(lead)
        db.session.flush()
        db.session.add(Notification(lead_id=lead.id, next_attempt_at=now))
        db.session.flush()
        return lead.id


# -- 1. SMTP over TLS checks the certificate ------------------------------------------------------


TLS_MODES = [
    pytest.param({"MAIL_USE_TLS": True}, False, id="starttls"),
    pytest.param({"MAIL_USE_SSL": True}, True, id="implicit-tls"),
]


@pytest.mark.parametrize("tls,implicit", TLS_MODES)
def test_an_untrusted_certificate_gets_neither_the_lead_nor_the_password(
    tmp_path, certificates, tls, implicit, caplog
):
    """The reproduction: a self-signed certificate the system does not trust. Nothing is sent, not even
    AUTH; the notification waits for a retry, with the reason on it, and the log names the lead."""
    with (
        mail_server(certificates["here"], implicit_tls=implicit) as server,
        mail_app(tmp_path, server.port, MAIL_USERNAME=SMTP_USER, MAIL_PASSWORD=SMTP_PASSWORD, **tls) as app,
    ):
        assert submit(app.test_client()).status_code == 303
        with app.app_context():
            assert run_once() == 1
        assert server.messages == [] and server.logins == []
        [n] = notifications(app)
        assert n.status == NotificationStatus.PENDING and n.next_attempt_at > utcnow()  # retried later
        assert "TLS certificate was refused" in n.last_error and "self-signed" in n.last_error
        assert SMTP_PASSWORD not in n.last_error
        warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any(f"lead {n.lead_id}: notification {n.id}" in m and "certificate" in m for m in warned)


@pytest.mark.parametrize("tls,implicit", TLS_MODES)
def test_a_private_ca_file_lets_the_email_through(tmp_path, certificates, tls, implicit):
    with mail_server(certificates["here"], implicit_tls=implicit) as server, mail_app(
        tmp_path, server.port, MAIL_USERNAME=SMTP_USER, MAIL_PASSWORD=SMTP_PASSWORD,
        MAIL_TLS_CA_FILE=ca_file(certificates["here"]), **tls,
    ) as app:  # fmt: skip
        assert submit(app.test_client()).status_code == 303
        with app.app_context():
            run_once()
        assert len(server.messages) == 1
        assert server.logins == [(SMTP_USER.encode(), SMTP_PASSWORD.encode())]
        assert [n.status for n in notifications(app)] == [NotificationStatus.SENT]


def test_a_trusted_certificate_for_another_name_is_refused(tmp_path, certificates):
    """Trusting a CA is not trusting every name it signs: the certificate must name MAIL_SERVER."""
    with mail_server(certificates["elsewhere"]) as server, mail_app(
        tmp_path, server.port, MAIL_USE_TLS=True, MAIL_USERNAME=SMTP_USER, MAIL_PASSWORD=SMTP_PASSWORD,
        MAIL_TLS_CA_FILE=ca_file(certificates["elsewhere"]),
    ) as app:  # fmt: skip
        assert submit(app.test_client()).status_code == 303
        with app.app_context():
            run_once()
        assert server.messages == [] and server.logins == []
        [n] = notifications(app)
        assert n.status == NotificationStatus.PENDING and "mismatch" in n.last_error


# -- 2. no submission can jam the staff emails --------------------------------------------------------


def set_mail_port(app, port: int) -> None:
    """Flask-Mail reads its settings once, at init_app."""
    app.config["MAIL_PORT"] = port
    mail.init_app(app)


@pytest.mark.parametrize(
    "poison,expected",
    [
        # A surprise nobody foresaw (here an office that is not in the clinic file): retried.
        ({"email": "gone@example.com", "location": "tampa"}, NotificationStatus.PENDING),
    ],
    ids=["unexpected-error"],
)
def test_a_poisoned_notification_leaves_the_other_nine_delivered(app, smtp, poison, expected, caplog):
    for i in range(10):
        if i == 3:
            poisoned = add_lead(app, **poison)
        else:
            add_lead(app, email=f"person{i}@example.com")
    with app.app_context():
        assert run_once(batch=10) == 10  # one claim for all ten
    assert len(smtp.messages) == 9
    assert "zoë" not in str([m["Reply-To"] for m in smtp.messages])
    rows = notifications(app)
    assert NotificationStatus.SENDING not in {n.status for n in rows}
    [bad] = [n for n in rows if n.lead_id == poisoned]
    assert bad.status == expected and bad.last_error and bad.lease_until is None
    assert [n.status for n in rows if n is not bad] == [NotificationStatus.SENT] * 9
    assert f"lead {poisoned}: notification {bad.id}" in caplog.text
    assert "zoë" not in caplog.text and "gone@example.com" not in caplog.text  # no personal data logged


def test_an_address_that_cannot_be_a_reply_to_still_reaches_the_office(app, smtp, caplog):
    """What the form let through before (Flask-Mail then failed writing the Reply-To, the exception
    escaped, the notification stayed "sending" and the rest of the batch was never sent): now the staff
    email goes out without a Reply-To, with the address in its body, and the batch goes on."""
    odd = add_lead(app, email="zoë@example.com")
    add_lead(app, email="person@example.com")
    with app.app_context():
        assert run_once(batch=10) == 2
    assert {n.status for n in notifications(app)} == {NotificationStatus.SENT}
    [first, second] = sorted(smtp.messages, key=lambda m: int(m["X-Lead-Id"]))
    assert int(first["X-Lead-Id"]) == odd and first["Reply-To"] is None
    assert "zoë@example.com" in first.get_body(("plain",)).get_content()
    assert second["Reply-To"] == "person@example.com"
    assert "zoë" not in caplog.text


def test_an_unexpected_error_is_retried_and_then_given_up(app, smtp):
    poisoned = add_lead(app, email="gone@example.com", location="tampa")
    with app.app_context():
        run_once()
    [n] = notifications(app)
    assert n.status == NotificationStatus.PENDING and "could not be built" in n.last_error
    with app.app_context(), writing():  # two days later, still broken
        row = db.session.get(Notification, n.id)
        row.created_at = utcnow() - timedelta(hours=49)
        row.next_attempt_at = utcnow()
    with app.app_context():
        run_once()
    [n] = notifications(app)
    assert n.lead_id == poisoned and n.status == NotificationStatus.FAILED and n.attempts == 2


def test_a_failing_mail_folder_is_recorded_on_every_notification(app, tmp_path):
    """Without a mail server the email is a file; a folder that cannot be written is retried later."""
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    app.config.update(MAIL_SERVER=None, MAIL_FILE_DIR=str(blocked / "mail"))
    for i in range(3):
        add_lead(app, email=f"person{i}@example.com")
    with app.app_context():
        assert run_once() == 3
    rows = notifications(app)
    assert {n.status for n in rows} == {NotificationStatus.PENDING}
    assert all(n.last_error and n.lease_until is None for n in rows)


def test_an_accented_address_is_refused_plainly_without_smtputf8(client, app):
    """The reproduction, at the form: without MAIL_SMTPUTF8 the visitor is told what to do instead."""
    response = submit(client, email="zoë@example.com")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "accents or non-Latin letters before the @" in page and "call us" in page
    assert stored_emails(app) == []


def test_an_internationalised_domain_is_stored_and_used_in_its_ascii_form(client, app, smtp):
    assert submit(client, email="Zoe@Bücher.example").status_code == 303
    assert stored_emails(app) == ["Zoe@xn--bcher-kva.example"]
    with app.app_context():
        run_once()
    [message] = smtp.messages
    assert message["Reply-To"] == "Zoe@xn--bcher-kva.example"
    assert "SMTPUTF8" not in smtp.envelopes[0].mail_options  # plain SMTP will do


def test_with_smtputf8_an_accented_address_is_delivered(app, client):
    app.config["MAIL_SMTPUTF8"] = True
    assert submit(client, email="zoë@example.com").status_code == 303
    assert stored_emails(app) == ["zoë@example.com"]
    with mail_server(enable_SMTPUTF8=True) as server:
        set_mail_port(app, server.port)
        with app.app_context():
            run_once()
    [message] = server.messages
    assert message["Reply-To"] == "zoë@example.com"
    assert "SMTPUTF8" in server.envelopes[0].mail_options
    assert [n.status for n in notifications(app)] == [NotificationStatus.SENT]


def test_with_smtputf8_but_a_server_without_it_the_failure_is_recorded(app, client):
    app.config["MAIL_SMTPUTF8"] = True
    assert submit(client, email="zoë@example.com").status_code == 303
    assert submit(client, email="maria@example.com", phone="941-555-0100").status_code == 303
    with mail_server(enable_SMTPUTF8=False) as server:
        set_mail_port(app, server.port)
        with app.app_context():
            run_once()
    first, second = notifications(app)
    assert first.status == NotificationStatus.FAILED and "does not offer SMTPUTF8" in first.last_error
    assert second.status == NotificationStatus.SENT
    assert [m["Reply-To"] for m in server.messages] == ["maria@example.com"]


# -- 10. mailto: parameter injection ------------------------------------------------------------------


@pytest.mark.parametrize(
    "email", [INJECTION, "jane?bcc=spy@example.com", "a&b@example.com", "user%evil.com@example.com",
              "jane#x@example.com", "relay!jane@example.com"],
)  # fmt: skip
def test_url_and_routing_syntax_in_an_address_is_refused(client, app, email):
    response = submit(client, email=email)
    assert response.status_code == 422
    assert "Please enter an email address like name@example.com." in response.get_data(as_text=True)
    assert stored_emails(app) == []


@pytest.mark.parametrize("email", ["o'brien+clinic@example.com", "first.last-name_x@example.com"])
def test_ordinary_special_characters_are_still_accepted(client, app, email):
    assert submit(client, email=email).status_code == 303
    assert stored_emails(app) == [email]


QUOTED = "mailto:jane%2540gmail.com%3Fbcc%3Dspy%2540evil.com%26x%3D@example.com"


def test_a_stored_address_is_quoted_in_the_staff_email_link(app, smtp):
    """A row stored before the form refused such addresses: the link still goes to one address."""
    add_lead(app, email=INJECTION)
    with app.app_context():
        run_once()
    [message] = smtp.messages
    html = message.get_body(("html",)).get_content()
    assert f'href="{QUOTED}"' in html
    assert "mailto:jane%40" not in html


def test_a_stored_address_is_quoted_in_the_lead_page_link(app, client):
    lead_id = add_lead(app, email=INJECTION)
    with app.app_context():
        add_staff("staff@example.com")
    assert staff_login(client, "staff@example.com").status_code == 303
    page = client.get(f"/staff/leads/{lead_id}").get_data(as_text=True)
    assert f'href="{QUOTED}"' in page
    assert 'href="mailto:jane%40' not in page
