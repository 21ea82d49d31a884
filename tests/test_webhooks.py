"""Signed webhooks through the outbox: a real HTTP receiver verifies each one as a clinic's system would."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import SITE_URL, add_staff, hidden_fields, make_config, staff_login, submit
from sqlalchemy import func, select, update
from standardwebhooks import Webhook

from microsite import create_app
from microsite.database import writing
from microsite.extensions import db
from microsite.leads.retention import purge_leads
from microsite.models import (
    AuditEvent,
    DeliveryAttempt,
    Lead,
    Notification,
    NotificationKind,
    NotificationStatus,
    utcnow,
)
from microsite.notify.outbox import run_once

# On SQLite; on PostgreSQL too where the outbox's rows are the point: one webhook per lead, its retries,
# spam held then released, send again, the purge. Signing, settings and the receiver's answers are not SQL.

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
EMAIL, PASSWORD = "staff@example.com", "correct horse battery"
PERSONAL = ("full_name", "phone", "email", "best_time", "message")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def verified(self) -> dict:
        """What a receiver does first: check the signature (and the timestamp) with standardwebhooks."""
        return Webhook(SECRET).verify(self.body, self.headers)


@dataclass
class Receiver:
    """A real HTTP server that records each request and answers from a script (then 200)."""

    answers: list[int] = field(default_factory=list)
    hang: threading.Event | None = None  # set: answer nothing until released
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def answer(self) -> int:
        return self.answers.pop(0) if self.answers else 200


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            if state.hang is not None:
                state.hang.wait(5)
                return
            status = state.answer()
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", f"{state.url}-moved")
            reply = b'{"ok": true}' if status < 300 else b"no"
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/hooks/clinic-token-abc"
    yield state
    if state.hang is not None:
        state.hang.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def app_config(database_url, tmp_path, smtp, receiver):
    return make_config(
        database_url,
        tmp_path,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp.port,
        WEBHOOK_URLS=[receiver.url],
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_TIMEOUT=1.0,
    )


@pytest.fixture
def staff(app):
    with app.app_context():
        add_staff(EMAIL, PASSWORD)
    return EMAIL


def login(client) -> None:
    assert staff_login(client, EMAIL, PASSWORD).status_code == 303


def staff_post(client, path: str):
    token = hidden_fields(client.get("/staff/account").get_data(as_text=True))["csrf_token"]
    return client.post(path, data={"csrf_token": token})


def new_lead(client, **overrides) -> int:
    assert submit(client, **overrides).status_code == 303
    lead_id = db.session.scalar(select(Lead.id).order_by(Lead.id.desc()))
    db.session.rollback()
    return lead_id


def webhooks(app) -> list[Notification]:
    with app.app_context():
        rows = db.session.scalars(
            select(Notification)
            .where(Notification.kind == NotificationKind.WEBHOOK)
            .order_by(Notification.id)
        ).all()
        db.session.expunge_all()
        return rows


def attempts_of(app, notification_id: int) -> list[DeliveryAttempt]:
    with app.app_context():
        rows = db.session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.notification_id == notification_id)
            .order_by(DeliveryAttempt.id)
        ).all()
        db.session.expunge_all()
        return rows


def delivery_row(page: str, notification_id: int) -> str:
    match = re.search(rf'<tr id="delivery-{notification_id}">(.*?)</tr>', page, re.S)
    assert match, page
    return match.group(1)


# -- one verified lead.created per real lead ----------------------------------------------


@pytest.mark.both_databases
def test_each_new_lead_sends_one_verified_webhook(app, client, receiver, smtp):
    with app.app_context():
        first = new_lead(client)
        second = new_lead(client, phone="(941) 555-0188", email="b@example.com", message="", language="es")
        run_once()
        run_once()  # nothing is sent twice
    assert [r.path for r in receiver.received] == ["/hooks/clinic-token-abc"] * 2
    events = [r.verified() for r in receiver.received]
    assert [e["type"] for e in events] == ["lead.created", "lead.created"]
    assert sorted(e["data"]["id"] for e in events) == [first, second]
    data = next(e["data"] for e in events if e["data"]["id"] == first)
    assert data["office"] == "bradenton"
    assert data["contact_method"] == "phone"
    assert data["language"] == "en"
    assert data["staff_url"] == f"{SITE_URL}/staff/leads/{first}"
    assert data["created_at"].endswith("+00:00")
    assert next(e["data"]["language"] for e in events if e["data"]["id"] == second) == "es"
    # Minimal by default: none of the visitor's own words or contact details leave the site.
    assert not set(PERSONAL) & set(data)
    body = receiver.received[0].body  # (its ids and times are digits too: the phone is looked for whole)
    assert b"Maria" not in body and b"555-0123" not in body and b"5550123" not in body
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 2
    assert all(n.status == NotificationStatus.SENT for n in webhooks(app))
    assert len(smtp.messages) == 2  # the staff emails go out beside them
    hook = webhooks(app)[0]
    assert [(a.status_code, a.error) for a in attempts_of(app, hook.id)] == [(200, None)]
    assert [(a.status_code, a.error) for a in attempts_of(app, hook.id - 1)] == [(None, None)]  # its email


def test_a_tampered_body_does_not_verify(app, client, receiver):
    from standardwebhooks.webhooks import WebhookVerificationError

    with app.app_context():
        new_lead(client)
        run_once()
    [got] = receiver.received
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(got.body.replace(b"bradenton", b"sarasota"), got.headers)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_full_detail_adds_the_personal_fields(database_url, tmp_path, smtp, receiver):
    config = make_config(
        database_url, tmp_path, MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, WEBHOOK_URLS=[receiver.url],
        WEBHOOK_SECRET=SECRET, WEBHOOK_DETAIL="full",
    )  # fmt: skip
    app = create_app(config)
    client = app.test_client()
    with app.app_context():
        db.create_all()
        new_lead(client)
        run_once()
    [got] = receiver.received
    data = got.verified()["data"]
    assert data["full_name"] == "Maria Example"
    assert data["phone"] == "+19415550123"
    assert data["email"] == "maria@example.com"
    assert data["best_time"] == "morning"
    assert data["message"] == "I have tried two antidepressants."


# -- retries, failures, the lead page -----------------------------------------------------


@pytest.mark.both_databases
def test_retries_keep_the_webhook_id_and_the_lead_page_shows_them(app, client, receiver, staff):
    receiver.answers = [500, 500]
    with app.app_context():
        lead_id = new_lead(client)
        for _ in range(3):
            run_once(waiting_too=True)  # skip the back-off
    assert len(receiver.received) == 3
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    assert all(r.verified()["data"]["id"] == lead_id for r in receiver.received)
    [hook] = webhooks(app)
    assert hook.status == NotificationStatus.SENT and hook.attempts == 3
    assert [a.status_code for a in attempts_of(app, hook.id)] == [500, 500, 200]
    login(client)
    row = delivery_row(client.get(f"/staff/leads/{lead_id}").get_data(as_text=True), hook.id)
    assert "Webhook to 127.0.0.1:" in row
    assert "clinic-token-abc" not in row  # the path may be the receiver's secret
    assert "sent" in row
    assert row.count('class="attempt"') == 3
    assert row.count("HTTP 500") == 2 and "HTTP 200" in row


def test_429_is_retried(app, client, receiver):
    receiver.answers = [429]
    with app.app_context():
        new_lead(client)
        run_once()
    [hook] = webhooks(app)
    assert hook.status == NotificationStatus.PENDING and "HTTP 429" in hook.last_error


def test_a_400_fails_at_once_and_shows_on_the_lead_page(app, client, receiver, staff):
    receiver.answers = [400]
    with app.app_context():
        lead_id = new_lead(client)
        run_once()
        run_once(waiting_too=True)  # nothing left to try
    assert len(receiver.received) == 1
    [hook] = webhooks(app)
    assert hook.status == NotificationStatus.FAILED and hook.attempts == 1
    assert [a.status_code for a in attempts_of(app, hook.id)] == [400]
    login(client)
    row = delivery_row(client.get(f"/staff/leads/{lead_id}").get_data(as_text=True), hook.id)
    assert "failed" in row and "HTTP 400" in row
    assert "Send again" in row


def test_a_redirect_is_not_followed(app, client, receiver):
    receiver.answers = [302]
    with app.app_context():
        new_lead(client)
        run_once()
    assert [r.path for r in receiver.received] == ["/hooks/clinic-token-abc"]  # not "…-moved"
    [hook] = webhooks(app)
    assert hook.status == NotificationStatus.FAILED
    assert "HTTP 302" in hook.last_error and "not followed" in hook.last_error


def test_a_receiver_that_never_answers_times_out(app, client, receiver):
    receiver.hang = threading.Event()
    with app.app_context():
        new_lead(client)
        run_once()
    receiver.hang.set()
    [hook] = webhooks(app)
    assert hook.status == NotificationStatus.PENDING  # retried later
    [attempt] = attempts_of(app, hook.id)
    assert attempt.status_code is None and "timed out" in attempt.error


def test_connection_refused_is_retried_and_given_up_after_the_window(app, client, receiver):
    app.config["WEBHOOK_URLS"] = ["http://127.0.0.1:9/hook"]  # discard port: nothing listens
    with app.app_context():
        new_lead(client)
        run_once()
        [hook] = webhooks(app)
        assert hook.status == NotificationStatus.PENDING and "no answer" in hook.last_error
        with writing():
            db.session.execute(update(Notification).values(created_at=utcnow() - timedelta(hours=49)))
        run_once(waiting_too=True)
    assert webhooks(app)[0].status == NotificationStatus.FAILED
    assert receiver.received == []


# -- suspected spam, send again, retention ------------------------------------------------


@pytest.mark.both_databases
def test_spam_sends_nothing_until_released_then_one(app, client, receiver, staff):
    with app.app_context():
        lead_id = new_lead(client, website="https://autofill.example.com")
        run_once(waiting_too=True)
    assert receiver.received == []
    login(client)
    assert staff_post(client, f"/staff/leads/{lead_id}/not-spam").status_code == 303
    staff_post(client, f"/staff/leads/{lead_id}/not-spam")  # a second click sends nothing more
    with app.app_context():
        run_once()
        run_once(waiting_too=True)
    [got] = receiver.received
    assert got.verified()["data"]["id"] == lead_id


@pytest.mark.both_databases
def test_a_lead_released_days_later_still_gets_its_retries(app, client, receiver, staff):
    receiver.answers = [503]
    with app.app_context():
        lead_id = new_lead(client, website="x")
        with writing():
            three_days_ago = utcnow() - timedelta(days=3)
            db.session.execute(update(Notification).values(created_at=three_days_ago))
    login(client)
    staff_post(client, f"/staff/leads/{lead_id}/not-spam")
    with app.app_context():
        run_once()
    [hook] = webhooks(app)
    assert hook.status == NotificationStatus.PENDING and "HTTP 503" in hook.last_error


@pytest.mark.both_databases
def test_send_again_sends_a_new_webhook_once(app, client, receiver, staff):
    with app.app_context():
        lead_id = new_lead(client)
        run_once()
    [hook] = webhooks(app)
    login(client)
    url = f"/staff/leads/{lead_id}/notifications/{hook.id}/send-again"
    client.post(url)  # no CSRF token: "that form had expired", nothing queued
    assert len(webhooks(app)) == 1
    assert staff_post(client, url).status_code == 303
    staff_post(client, url)  # a second click queues nothing more
    with app.app_context():
        run_once()
    assert len(receiver.received) == 2
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert ids[0] != ids[1]  # a receiver that drops repeats takes the copy
    with app.app_context():
        resent = select(AuditEvent.detail).where(AuditEvent.action == "lead.send_again")
        details = db.session.scalars(resent).all()
    assert details == [f"webhook notification {hook.id} -> {hook.id + 1}"]


@pytest.mark.both_databases
def test_purge_deletes_the_webhooks_and_their_attempts(app, client, receiver):
    with app.app_context():
        new_lead(client)
        run_once()
        with writing():
            db.session.execute(update(Lead).values(created_at=utcnow() - timedelta(days=400)))
        assert purge_leads(days=365, spam_days=30) == 1
        assert db.session.scalar(select(func.count()).select_from(Notification)) == 0
        assert db.session.scalar(select(func.count()).select_from(DeliveryAttempt)) == 0


def test_logs_name_lead_and_notification_never_the_payload(app, client, receiver, caplog):
    app.config["WEBHOOK_DETAIL"] = "full"
    receiver.answers = [500]
    caplog.set_level(logging.INFO)
    with app.app_context():
        lead_id = new_lead(client)
        run_once()
        run_once(waiting_too=True)
    assert len(receiver.received) == 2
    assert f"lead {lead_id}: notification" in caplog.text
    for secret in ("Maria", "maria@example.com", "5550123", "antidepressants", "clinic-token-abc"):
        assert secret not in caplog.text


# -- the command line and the settings ----------------------------------------------------


def test_cli_ping_is_verified_by_the_receiver(app, runner, receiver):
    result = runner.invoke(args=["webhooks", "test"])
    assert result.exit_code == 0, result.output
    assert "HTTP 200" in result.output and '{"ok": true}' in result.output
    [got] = receiver.received
    assert got.verified()["type"] == "ping"
    receiver.answers = [404]
    result = runner.invoke(args=["webhooks", "test", receiver.url + "-other"])
    assert result.exit_code == 1 and "HTTP 404" in result.output
    assert receiver.received[-1].path.endswith("-other")


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"WEBHOOK_URLS": ["https://crm.example.com/hook"]}, "WEBHOOK_SECRET is not"),
        ({"WEBHOOK_URLS": ["https://crm.example.com/hook"], "WEBHOOK_SECRET": "secret"}, "whsec_"),
        ({"WEBHOOK_SECRET": "whsec_not base64!"}, "base64"),
        ({"WEBHOOK_SECRET": "whsec_" + base64.b64encode(b"short").decode()}, "at least 24"),
        ({"WEBHOOK_URLS": ["http://crm.example.com/hook"], "WEBHOOK_SECRET": SECRET}, "https://"),
        ({"WEBHOOK_DETAIL": "everything"}, "WEBHOOK_DETAIL"),
    ],
)
def test_unsafe_webhook_settings_refuse_to_start(tmp_path, settings, complaint):
    config = make_config(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path, **settings)
    with pytest.raises(RuntimeError, match=re.escape(complaint)):
        create_app(config)


def test_settings_from_the_environment(tmp_path):
    from microsite.config import from_env

    env = {"WEBHOOK_URLS": " https://a.example.com/h , https://b.example.com/h ", "WEBHOOK_SECRET": SECRET}
    config = from_env(tmp_path, env)
    assert config["WEBHOOK_URLS"] == ["https://a.example.com/h", "https://b.example.com/h"]
    assert config["WEBHOOK_DETAIL"] == "minimal"
    assert config["WEBHOOK_TIMEOUT"] == 10.0
    assert json.loads(json.dumps(config["WEBHOOK_URLS"]))  # plain data, no objects
