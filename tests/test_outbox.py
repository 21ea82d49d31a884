"""Delivery through the outbox: one email per lead, retries on transient faults, nothing lost."""

import asyncio
import threading
import time
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from conftest import SMTPRecorder, free_port, hidden_fields, submit, valid_data
from sqlalchemy import func, select, update

from microsite.extensions import db, mail
from microsite.models import Lead, Notification, NotificationStatus, utcnow
from microsite.notify.outbox import claim, retry_delay, run_once


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
    with app.app_context():
        db.session.execute(
            update(Notification)
            .where(Notification.status == NotificationStatus.PENDING)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()


@pytest.mark.parametrize(
    "office,address",
    [("bradenton", "bradenton-staff@example.com"), ("sarasota", "sarasota-staff@example.com")],
)
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
    assert message["Message-ID"] == f"<lead-notification-{notification.id}@clinic.example.com>"
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


def test_smtp_550_marks_failed_and_keeps_the_lead(app, client, runner, smtp, caplog):
    smtp.data_replies = ["550 5.7.1 Rejected"]
    submit(client)
    outbox_once(runner)
    [n] = notifications(app)
    assert n.status == NotificationStatus.FAILED and "550" in n.last_error
    make_due(app)
    outbox_once(runner)
    assert smtp.messages == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Lead)) == 1
    failed = [r for r in caplog.records if r.levelname == "ERROR" and "FAILED" in r.getMessage()]
    assert failed and f"lead {n.lead_id}:" in failed[0].getMessage()
    assert "Maria" not in caplog.text and "maria@example.com" not in caplog.text


def test_transient_failures_give_up_only_after_the_retry_window(app, client, runner):
    set_mail_port(app, free_port())
    submit(client)
    outbox_once(runner)
    assert notifications(app)[0].status == NotificationStatus.PENDING
    with app.app_context():  # pretend the request is two days old
        db.session.execute(update(Notification).values(created_at=utcnow() - timedelta(hours=49)))
        db.session.commit()
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


def test_a_claim_whose_lease_ran_out_is_taken_back_and_sent_once(app, client, runner, smtp):
    submit(client)
    with app.app_context():
        assert claim("dead-worker") != []  # claimed, then the worker "died"
    outbox_once(runner)
    assert smtp.messages == []  # the lease still holds
    with app.app_context():
        db.session.execute(update(Notification).values(lease_until=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    outbox_once(runner)
    outbox_once(runner)
    assert len(smtp.messages) == 1
    [n] = notifications(app)
    assert n.status == NotificationStatus.SENT and n.claimed_by != "dead-worker" and n.attempts == 2


def test_double_click_sends_one_email(app, client, runner, smtp):
    fields = hidden_fields(client.get("/").get_data(as_text=True))
    client.post("/consultation", data={**fields, **valid_data()})
    client.post("/consultation", data={**fields, **valid_data()})
    outbox_once(runner)
    assert len(smtp.messages) == 1


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
    with app.app_context():
        db.session.execute(update(Notification).values(status=NotificationStatus.PENDING))
        db.session.commit()
    outbox_once(runner)
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 1


@pytest.fixture
def inline_app(app):
    app.config["OUTBOX_INLINE"] = True
    app.config["OUTBOX_POLL_SECONDS"] = 0.2
    yield app
    app.extensions["outbox"].stop()


def test_inline_sender_delivers_after_the_commit(inline_app, smtp):
    client = inline_app.test_client()
    started = time.monotonic()
    assert submit(client).status_code == 303
    deadline = time.monotonic() + 10
    while not smtp.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(smtp.messages) == 1
    assert time.monotonic() - started < 10
    time.sleep(0.5)  # a sweep in the meantime must not send it again
    assert len(smtp.messages) == 1


def test_while_visitors_keep_the_process_busy_the_sender_takes_turns(app):
    dispatcher = app.extensions["outbox"]
    dispatcher.busy_share = 0.2  # sending may use a fifth of the time: wait 4x what it took

    # Idle (no request for a while): no wait at all.
    dispatcher.last_request_at = time.monotonic() - 1
    started = time.monotonic()
    dispatcher.wait_for_turn(0.05)
    assert time.monotonic() - started < 0.04

    # Busy: requests keep starting, so the sender waits out its share (4 x 0.05 s).
    busy = threading.Event()

    def visitors():
        while not busy.is_set():
            dispatcher.note_request()
            time.sleep(0.005)

    thread = threading.Thread(target=visitors)
    thread.start()
    try:
        started = time.monotonic()
        dispatcher.wait_for_turn(0.05)
        waited = time.monotonic() - started
    finally:
        busy.set()
        thread.join()
    assert 0.18 <= waited < 1.0

    # The requests stop: the sender goes on as soon as the process is idle, not at the end of its wait.
    dispatcher.note_request()
    started = time.monotonic()
    dispatcher.wait_for_turn(5.0)
    assert time.monotonic() - started < 1.0


def test_what_visitors_queued_during_a_send_is_claimed_in_one_batch(app, client, runner, smtp):
    app.config["OUTBOX_INLINE"] = False  # the test hands over by itself
    for i in range(4):
        assert submit(client, phone=f"941-555-01{i:02d}", email=f"p{i}@example.com").status_code == 303
    ids = [n.id for n in notifications(app)]
    dispatcher = app.extensions["outbox"]
    for notification_id in ids[1:]:
        dispatcher.queue.put(notification_id)
    assert dispatcher._take_queued(ids[0]) == ids
    with app.app_context():
        assert sorted(claim("test-worker", ids=ids, limit=dispatcher.batch)) == ids


def test_waiting_on_a_slow_mail_server_does_not_count_against_the_senders_turn(app, client, smtp):
    """The share is of CPU time: a mail server taking its time takes nothing from visitors."""
    slow = SMTPRecorder()

    async def handle_slowly(server, session, envelope, _accept=slow.handle_DATA):
        await asyncio.sleep(0.4)
        return await _accept(server, session, envelope)

    slow.handle_DATA = handle_slowly
    controller = Controller(slow, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        set_mail_port(app, controller.port)
        for i in range(2):
            assert submit(client, phone=f"941-555-01{i:02d}", email=f"s{i}@example.com").status_code == 303
        turns: list[float] = []
        started = time.monotonic()
        with app.app_context():
            assert run_once(pace=turns.append) == 2
        elapsed = time.monotonic() - started
    finally:
        controller.stop()
    assert len(slow.messages) == 2
    assert elapsed >= 0.8  # the server really took its time
    assert turns[0] == 0.0 and 0 < turns[-1] < 0.4  # yet the sending counted as far less than that
