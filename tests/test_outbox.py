"""Delivery through the outbox: one email per lead, retries on transient faults, nothing lost."""

import asyncio
import os
import re
import socket
import threading
import time
from datetime import timedelta

import pytest
from conftest import browser_headers, free_port, hidden_fields, submit, valid_data
from sqlalchemy import event, func, select, update

from microsite.database import writing
from microsite.extensions import db, mail
from microsite.models import Lead, Notification, NotificationStatus, utcnow
from microsite.notify.outbox import claim, retry_delay, run_once

# On SQLite; on PostgreSQL too where claiming, leases, retries and sending once are the point. What an
# email says is the same whichever database held it.

# The notification's id, its creation time and this installation's own part (notify/email.py).
MESSAGE_ID = r"<lead-notification-{}\.[0-9a-z]+\.[0-9a-f]{{10}}@clinic\.example\.com>"


def outbox_once(runner):
    result = runner.invoke(args=["outbox", "run", "--once"])
    assert result.exit_code == 0, result.output
    return result


def notifications(app) -> list[Notification]:
    with app.app_context():
        rows = db.session.scalars(select(Notification).order_by(Notification.id)).all()
        db.session.expunge_all()
        return rows


def set_mail_port(app, port: int):
    """Flask-Mail reads its settings once, at init_app."""
    app.config["MAIL_PORT"] = port
    mail.init_app(app)


def make_due(app):
    """Skip the back-off wait."""
    with app.app_context(), writing():
        db.session.execute(
            update(Notification)
            .where(Notification.status == NotificationStatus.PENDING)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


@pytest.mark.parametrize(
    "office,address",
    [("bradenton", "bradenton-staff@example.com"), ("sarasota", "sarasota-staff@example.com")],
)
@pytest.mark.both_databases
def test_each_office_gets_exactly_one_email(client, app, runner, smtp, office, address):
    assert submit(client, location=office, full_name="Dana Example").status_code == 303
    assert smtp.messages == []  # the request never waits on SMTP
    outbox_once(runner)
    outbox_once(runner)  # a second pass finds nothing to send
    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert smtp.envelopes[0].rcpt_tos == [address]
    assert message["To"] == address
    assert message["From"] == "Anti Aging and Ketamine Center <no-reply@example.com>"
    assert message["Reply-To"] == "maria@example.com"
    city = office.capitalize()
    [lead] = [n.lead_id for n in notifications(app)]
    assert message["Subject"] == f"Consultation request #{lead} – {city} office"
    [notification] = notifications(app)
    assert re.fullmatch(MESSAGE_ID.format(notification.id), message["Message-ID"])
    assert notification.status == NotificationStatus.SENT and notification.sent_at is not None
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for part in (text, html):
        assert "Dana Example" in part
        assert "(941) 555-0123" in part
        assert "I have tried two antidepressants." in part


def test_staff_addresses_can_come_from_the_environment(app, client, runner, smtp):
    app.config["LEAD_NOTIFY_SARASOTA"] = "one@example.com, two@example.com"
    submit(client, location="sarasota")
    outbox_once(runner)
    assert sorted(smtp.envelopes[0].rcpt_tos) == ["one@example.com", "two@example.com"]


def test_unicode_names_reach_the_email(client, runner, smtp):
    submit(client, full_name="José Ñúñez 李小龙 O'Brien")
    outbox_once(runner)
    assert "José Ñúñez 李小龙 O'Brien" in smtp.messages[0].get_body(("plain",)).get_content()


def test_script_in_the_message_is_escaped_in_the_html_email(client, runner, smtp):
    submit(client, message="<script>alert(1)</script>")
    outbox_once(runner)
    html = smtp.messages[0].get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<script>alert(1)</script>" in smtp.messages[0].get_body(("plain",)).get_content()


def test_visitor_text_never_reaches_the_subject_or_from(client, runner, smtp):
    submit(client, full_name="Subject Injection", message="Bcc: victim@example.com")
    outbox_once(runner)
    message = smtp.messages[0]
    assert "Injection" not in message["Subject"] and "Injection" not in message["From"]
    assert message["Bcc"] is None


@pytest.mark.both_databases
def test_smtp_down_keeps_the_lead_and_delivers_once_later(app, client, runner, smtp):
    set_mail_port(app, free_port())  # nothing listens there
    assert submit(client).status_code == 303
    with app.app_context():
        run_once()  # the background sender's try fails
    [n] = notifications(app)
    assert n.status == NotificationStatus.PENDING
    assert n.attempts == 1
    assert "ConnectionRefusedError" in n.last_error
    assert n.next_attempt_at > utcnow()  # backed off
    with app.app_context():
        assert run_once() == 0  # a scheduled pass respects the back-off
    # An operator's pass while the server is still down tries each notification once, and returns.
    assert "1 notification(s) tried" in outbox_once(runner).output
    assert notifications(app)[0].attempts == 2

    set_mail_port(app, smtp.port)  # the server is back
    outbox_once(runner)
    outbox_once(runner)
    assert len(smtp.messages) == 1
    [n] = notifications(app)
    assert n.status == NotificationStatus.SENT and n.attempts == 3


@pytest.mark.both_databases
def test_smtp_451_then_success_delivers_once(app, client, runner, smtp):
    smtp.data_replies = ["451 4.3.0 Try again later"]
    submit(client)
    outbox_once(runner)
    [n] = notifications(app)
    assert n.status == NotificationStatus.PENDING and "451" in n.last_error
    make_due(app)
    outbox_once(runner)
    assert len(smtp.messages) == 1
    assert notifications(app)[0].status == NotificationStatus.SENT


@pytest.mark.both_databases
def test_smtp_550_marks_failed_and_keeps_the_lead(app, client, runner, smtp, caplog):
    smtp.data_replies = ["550 5.7.1 Rejected"]
    submit(client)
    outbox_once(runner)
    [n] = notifications(app)
    assert n.status == NotificationStatus.FAILED and "550" in n.last_error
    make_due(app)
    outbox_once(runner)
    # Not tried again; the one email that goes is the manager's alert about it (notify/health.py).
    assert [m["To"] for m in smtp.messages] == ["manager@example.com"]
    assert [n.attempts for n in notifications(app) if n.lead_id] == [1]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Lead)) == 1
    failed = [r for r in caplog.records if r.levelname == "ERROR" and "FAILED" in r.getMessage()]
    assert failed and f"lead {n.lead_id}:" in failed[0].getMessage()
    assert "Maria" not in caplog.text and "maria@example.com" not in caplog.text


@pytest.mark.both_databases
def test_transient_failures_give_up_only_after_the_retry_window(app, client, runner):
    set_mail_port(app, free_port())
    submit(client)
    outbox_once(runner)
    assert notifications(app)[0].status == NotificationStatus.PENDING
    with app.app_context(), writing():  # pretend the request is two days old
        db.session.execute(update(Notification).values(created_at=utcnow() - timedelta(hours=49)))
    make_due(app)
    outbox_once(runner)
    assert notifications(app)[0].status == NotificationStatus.FAILED


def test_retry_delay_backs_off_with_jitter_and_a_cap(app):
    with app.app_context():
        delays = [[retry_delay(n) for _ in range(50)] for n in range(1, 12)]
    base, cap = app.config["OUTBOX_RETRY_BASE_SECONDS"], app.config["OUTBOX_RETRY_MAX_SECONDS"]
    for n, samples in enumerate(delays, start=1):
        expected = min(cap, base * 2 ** (n - 1))
        assert all(expected * 0.5 <= d <= expected for d in samples)
        assert len(set(samples)) > 1  # jittered
    # Retries keep going for more than a day before the give-up window closes.
    assert app.config["OUTBOX_GIVE_UP_HOURS"] >= 24


@pytest.mark.both_databases
def test_a_claim_whose_lease_ran_out_is_taken_back_and_sent_once(app, client, runner, smtp):
    submit(client)
    with app.app_context():
        assert claim("dead-worker") != []  # claimed, then the worker "died"
    outbox_once(runner)
    assert smtp.messages == []  # the lease still holds
    with app.app_context(), writing():
        db.session.execute(update(Notification).values(lease_until=utcnow() - timedelta(seconds=1)))
    outbox_once(runner)
    outbox_once(runner)
    assert len(smtp.messages) == 1
    [n] = notifications(app)
    assert n.status == NotificationStatus.SENT and n.claimed_by != "dead-worker" and n.attempts == 2


def lead_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Lead))


@pytest.mark.both_databases
def test_double_click_sends_one_email(app, client, runner, smtp):
    """The same request twice is one lead and one email, even when the form's hidden fields differ."""
    fields = hidden_fields(client.get("/").get_data(as_text=True))
    for hidden in ({"elapsed": "8.1"}, {"elapsed": "9.4", "referrer": "https://www.google.com"}):
        response = client.post(
            "/consultation", data={**fields, **valid_data(), **hidden}, headers=browser_headers()
        )
        assert response.status_code == 303
    outbox_once(runner)
    outbox_once(runner)
    assert len(smtp.messages) == 1
    assert lead_count(app) == 1
    # A different request from the same person is a lead and an email of its own.
    assert submit(client, message="One more question.").status_code == 303
    outbox_once(runner)
    assert len(smtp.messages) == 2
    assert lead_count(app) == 2


@pytest.mark.both_databases
def test_concurrent_senders_send_each_notification_once(app, client, smtp):
    for i in range(12):
        response = submit(
            client, full_name=f"Person {i}", phone=f"941-555-01{i:02d}", email=f"p{i}@example.com"
        )
        assert response.status_code == 303
    errors = []

    def work(name):
        try:
            with app.app_context():
                run_once(name, batch=2)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    subjects = sorted(m["Subject"] for m in smtp.messages)
    assert len(subjects) == 12 and len(set(subjects)) == 12
    assert {n.status for n in notifications(app)} == {NotificationStatus.SENT}


def test_without_a_mail_server_emails_are_written_as_files(app, client, runner, tmp_path):
    app.config["MAIL_SERVER"] = None
    submit(client, location="sarasota")
    outbox_once(runner)
    files = list((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 1
    content = files[0].read_text()
    assert "To: sarasota-staff@example.com" in content
    assert "Reply-To: maria@example.com" in content
    # Sending the same notification again overwrites its file instead of adding one.
    with app.app_context(), writing():
        db.session.execute(update(Notification).values(status=NotificationStatus.PENDING))
    outbox_once(runner)
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 1


# -- the web process's background sender (OUTBOX_INLINE): a queue, a thread, a periodic sweep ---------


@pytest.fixture
def dispatcher(app):
    """The app's Dispatcher, sweeping every 0.2 s once started; stopped after the test."""
    app.config["OUTBOX_POLL_SECONDS"] = 0.2
    dispatcher = app.extensions["outbox"]
    yield dispatcher
    dispatcher.stop()


def wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def all_sent(app, count: int):
    """A condition: `count` notifications, each recorded as sent (which follows the mail server's 250)."""
    return lambda: [n.status for n in notifications(app)] == [NotificationStatus.SENT] * count


def sent_by(dispatcher) -> set[str]:
    """The worker names (host:pid:thread) of the dispatcher's threads."""
    return {f"{socket.gethostname()}:{os.getpid()}:{thread.ident}" for thread in dispatcher._threads}


@pytest.mark.both_databases
def test_a_handed_off_notification_is_delivered_by_the_background_thread(app, dispatcher, smtp):
    app.config["OUTBOX_INLINE"] = True
    client = app.test_client()
    assert submit(client).status_code == 303  # the view hands it off after the commit
    assert wait_for(all_sent(app, 1))
    assert len(smtp.messages) == 1
    [n] = notifications(app)
    assert n.attempts == 1
    assert n.claimed_by in sent_by(dispatcher)  # the background thread sent it, not the request
    time.sleep(0.6)  # sweeps in the meantime must not send it again
    assert len(smtp.messages) == 1


@pytest.mark.both_databases
def test_what_is_queued_while_sending_is_claimed_at_once_and_sent_once_each(app, dispatcher, smtp):
    """Four handed off while the sender waits on the mail server: one claim for the three queued."""
    app.config["OUTBOX_INLINE"] = True
    entered, release = threading.Event(), threading.Event()
    accept = smtp.handle_DATA

    async def hold_the_first(server, session, envelope):
        if not entered.is_set():
            entered.set()
            await asyncio.to_thread(release.wait, 10)
        return await accept(server, session, envelope)

    smtp.handle_DATA = hold_the_first
    claims: list[str] = []

    def note_claims(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("UPDATE notification SET") and "notification.attempts +" in statement:
            claims.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note_claims)
    try:
        client = app.test_client()
        assert submit(client, phone="941-555-0100", email="p0@example.com").status_code == 303
        assert entered.wait(10)  # the thread is now waiting on the mail server
        for i in range(1, 4):
            started = time.monotonic()
            response = submit(client, phone=f"941-555-01{i:02d}", email=f"p{i}@example.com")
            assert response.status_code == 303
            assert time.monotonic() - started < 2  # a visitor never waits for the sender
        assert smtp.messages == []
        release.set()
        assert wait_for(all_sent(app, 4))
        time.sleep(0.6)  # sweeps in the meantime must not send any again
    finally:
        release.set()
        event.remove(engine, "before_cursor_execute", note_claims)
    assert len(claims) == 2  # the first alone, then the three that were queued, together
    subjects = sorted(m["Subject"] for m in smtp.messages)
    assert len(subjects) == 4 and len(set(subjects)) == 4
    rows = notifications(app)
    assert {n.status for n in rows} == {NotificationStatus.SENT}
    assert [n.attempts for n in rows] == [1, 1, 1, 1]


@pytest.mark.both_databases
def test_take_queued_gathers_what_is_waiting_up_to_a_batch(app, client):
    """The hand-off path claims the id it woke for and everything else queued, in one claim."""
    for i in range(4):
        assert submit(client, phone=f"941-555-01{i:02d}", email=f"p{i}@example.com").status_code == 303
    ids = [n.id for n in notifications(app)]
    dispatcher = app.extensions["outbox"]  # not started: OUTBOX_INLINE is off here
    for notification_id in ids[1:]:
        dispatcher.queue.put(notification_id)
    assert dispatcher._take_queued(ids[0]) == ids
    assert dispatcher.queue.empty()
    with app.app_context():
        assert sorted(claim("test-worker", ids=ids, limit=dispatcher.batch)) == ids
    dispatcher.batch = 2
    for notification_id in ids[1:]:
        dispatcher.queue.put(notification_id)
    assert dispatcher._take_queued(ids[0]) == ids[:2]  # the rest waits for the next turn
    assert dispatcher.queue.qsize() == 2


@pytest.mark.both_databases
def test_the_periodic_sweep_delivers_what_nobody_handed_off(app, client, dispatcher, smtp):
    # Left pending before the dispatcher started (a restart, a crash): nobody hands it off.
    assert submit(client, phone="941-555-0100", email="early@example.com").status_code == 303
    assert smtp.messages == []
    dispatcher.ensure_started()
    assert wait_for(all_sent(app, 1))
    # Stored while the thread runs, without a hand-off (OUTBOX_INLINE is off): a later sweep sends it.
    assert submit(client, phone="941-555-0101", email="later@example.com").status_code == 303
    assert wait_for(all_sent(app, 2))
    time.sleep(0.6)
    assert sorted(m["Reply-To"] for m in smtp.messages) == ["early@example.com", "later@example.com"]
    rows = notifications(app)
    assert {n.status for n in rows} == {NotificationStatus.SENT}
    assert all(n.attempts == 1 and n.claimed_by in sent_by(dispatcher) for n in rows)


@pytest.mark.both_databases
def test_the_sweep_sends_a_retry_once_its_back_off_is_over(app, client, dispatcher, smtp):
    smtp.data_replies = ["451 4.3.0 Try again later"]
    app.config["OUTBOX_INLINE"] = True
    assert submit(client).status_code == 303
    assert wait_for(lambda: notifications(app)[0].last_error is not None)  # tried once, backed off
    [n] = notifications(app)
    assert n.status == NotificationStatus.PENDING and n.attempts == 1 and "451" in n.last_error
    time.sleep(0.6)  # backed off: the sweeps leave it alone
    assert smtp.messages == [] and notifications(app)[0].attempts == 1
    make_due(app)
    assert wait_for(all_sent(app, 1))
    assert len(smtp.messages) == 1
    [n] = notifications(app)
    assert n.status == NotificationStatus.SENT and n.attempts == 2


@pytest.mark.both_databases
def test_a_steady_stream_of_new_leads_does_not_starve_the_sweep(app, client, dispatcher, smtp):
    """Hand-offs every 0.1 s, a sweep due every second: the one nobody handed off still goes out."""
    app.config["OUTBOX_POLL_SECONDS"] = 1.0
    dispatcher.ensure_started()
    time.sleep(0.3)  # past the sweep at start-up, which would find nothing yet
    assert submit(client, phone="941-555-0100", email="waiting@example.com").status_code == 303
    app.config["OUTBOX_INLINE"] = True
    deadline = time.monotonic() + 2.5
    n = 0
    while time.monotonic() < deadline:
        n += 1
        assert submit(client, phone=f"941-555-01{n:02d}", email=f"stream{n}@example.com").status_code == 303
        time.sleep(0.1)
    assert "waiting@example.com" in {m["Reply-To"] for m in smtp.messages}
    assert wait_for(all_sent(app, n + 1))


def test_the_staff_email_carries_the_minimum_necessary(client, app, runner, smtp):
    """Who, how and when to reach them, the office, the message, the number and the link; the
    campaign, referrer, landing page and consent record stay in the inbox."""
    path = "/ketamine-therapy-bradenton?utm_source=google&utm_campaign=spring"
    assert submit(client, path, referrer="https://www.google.com").status_code == 303
    outbox_once(runner)
    [message] = smtp.messages
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for part in (text, html):
        for needed in ["Maria Example", "(941) 555-0123", "maria@example.com", "Phone call", "Morning",
                       "Bradenton", "I have tried two antidepressants.", "/staff/leads/1"]:  # fmt: skip
            assert needed in part, needed
        for kept_in_the_inbox in ["google", "spring", "ketamine-therapy-bradenton", "Consent", "version"]:
            assert kept_in_the_inbox not in part, kept_in_the_inbox
        assert "do not forward this email" in part and "Reply to this email" not in part
    assert "<title>Consultation request #1 – Bradenton office</title>" in html


@pytest.mark.both_databases
def test_a_message_id_is_never_reused_by_a_database_made_anew(tmp_path, smtp):
    """Ids start at 1 again in a new database: the Message-ID must not, or mail clients would fold a
    new request into an old thread."""
    from conftest import make_config
    from conftest import submit as send

    from microsite import create_app
    from microsite.extensions import db

    seen = []
    for n in range(2):
        app = create_app(make_config(f"sqlite:///{tmp_path / f'db{n}.sqlite3'}", tmp_path,
                                     MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port))  # fmt: skip
        with app.app_context():
            db.create_all()
        assert send(app.test_client()).status_code == 303
        with app.app_context():
            run_once()
        seen.append(smtp.messages[-1]["Message-ID"])
    assert len(seen) == 2 and seen[0] != seen[1]
    assert all(mid.startswith("<lead-notification-1.") for mid in seen)
