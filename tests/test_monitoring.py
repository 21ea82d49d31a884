"""What the operator sees first: GET /metrics for the bearer of METRICS_TOKEN, parsed as Prometheus
parses it; the manager's alert when the outbox is in trouble; and gunicorn's access log, which a
crafted path cannot forge a line in.

In process on SQLite (the alert's claim order on PostgreSQL too), then one real gunicorn for the module:
its workers' counts summed (prometheus_client's multiprocess mode), the gauges moving as a lead is sent.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from conftest import make_config, submit
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from microsite import create_app
from microsite.database import writing
from microsite.extensions import db
from microsite.models import Notification, NotificationStatus, utcnow
from microsite.notify.outbox import claim, run_once, sweep

TOKEN = "metrics-token-for-the-tests-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
MANAGER = "manager@example.com"  # the shipped clinic file's


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a scrape, by name and labels, as Prometheus's own parser reads it."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def notifications_in(figures: dict, state: str) -> float:
    return figures[("microsite_notifications", (("state", state),))]


@pytest.fixture
def app_config(app_config):
    """conftest's, with /metrics on: this module's `app` counts."""
    return {**app_config, "METRICS_TOKEN": TOKEN}


def scrape(client) -> dict:
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    assert response.headers["Cache-Control"] == "no-store" and "Set-Cookie" not in response.headers
    return samples(response.get_data(as_text=True))


# -- /metrics -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {TOKEN}x"},
     {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN}],
)  # fmt: skip
def test_without_the_token_metrics_is_a_404_like_any_unknown_page(client, headers):
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 404
    assert "We could not find that page" in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"


def test_without_metrics_token_there_is_no_metrics_at_all(tmp_path):
    app = create_app(make_config(f"sqlite:///{tmp_path / 'm.sqlite3'}", tmp_path))
    assert app.config["METRICS_TOKEN"] is None
    assert app.test_client().get("/metrics", headers=BEARER).status_code == 404
    assert app.extensions["metrics"] is None  # and nothing is counted


def test_a_short_token_is_refused_at_start(tmp_path):
    with pytest.raises(RuntimeError, match="METRICS_TOKEN must be at least 32"):
        create_app(make_config(f"sqlite:///{tmp_path / 'm.sqlite3'}", tmp_path, METRICS_TOKEN="short"))


def test_the_notification_gauges_move_as_a_lead_is_sent(app, client, smtp):
    before = scrape(client)
    assert notifications_in(before, "pending") == 0 and notifications_in(before, "sent") == 0
    assert before[("microsite_outbox_oldest_pending_seconds", ())] == 0

    assert submit(client).status_code == 303
    with app.app_context(), writing():  # waiting for a while, as the outbox was not run
        db.session.execute(update(Notification).values(created_at=utcnow() - timedelta(minutes=3)))
    waiting = scrape(client)
    assert notifications_in(waiting, "pending") == 1 and notifications_in(waiting, "sent") == 0
    assert 180 <= waiting[("microsite_outbox_oldest_pending_seconds", ())] < 240
    assert waiting[("microsite_stored_total", (("what", "lead"),))] == 1
    assert waiting[("microsite_requests_total", (("group", "leads"), ("status", "303")))] == 1

    with app.app_context():
        run_once()
    sent = scrape(client)
    assert notifications_in(sent, "pending") == 0 and notifications_in(sent, "sent") == 1
    assert sent[("microsite_outbox_oldest_pending_seconds", ())] == 0
    assert len(smtp.messages) == 1


def test_requests_are_counted_by_route_group_never_by_path(client):
    for path in ["/", "/", "/privacy", "/no-such-page", "/no-such-page/2", "/staff/login"]:
        client.get(path)
    figures = scrape(client)
    groups = {dict(labels)["group"] for name, labels in figures if name == "microsite_requests_total"}
    assert groups == {"pages", "none", "staff"}
    assert figures[("microsite_requests_total", (("group", "pages"), ("status", "200")))] == 3
    assert figures[("microsite_requests_total", (("group", "none"), ("status", "404")))] == 2
    assert figures[("microsite_request_seconds_count", (("group", "pages"),))] == 3
    assert not any("no-such-page" in str(key) for key in figures)


def test_rate_limit_refusals_are_counted(app_config):
    limited = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_BEACON": "2 per minute",
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    config = {**app_config, **limited}
    app = create_app(config)
    with app.app_context():
        db.create_all()
    client = app.test_client()
    beacon = {"Sec-Fetch-Site": "same-origin"}
    assert [client.post("/v", data={"path": "/"}, headers=beacon).status_code for _ in range(4)] == [
        204, 204, 429, 429,
    ]  # fmt: skip
    assert scrape(client)[("microsite_rate_limit_refusals_total", (("group", "counts"),))] == 2


# -- the manager's alert ------------------------------------------------------------------------


def alerts(smtp) -> list:
    return [m for m in smtp.messages if m["Subject"].startswith("Outbox:")]


def test_a_notification_that_fails_for_good_emails_the_manager_once(app, client, smtp):
    smtp.data_replies = ["550 5.1.1 No such mailbox"]
    assert submit(client).status_code == 303
    with app.app_context():
        sweep()  # the lead's email: refused for good
        sweep()  # the alert, made and sent
        sweep()
        [failed] = db.session.scalars(select(Notification).where(Notification.status == "failed")).all()
    [alert] = alerts(smtp)
    assert alert["To"] == MANAGER
    assert alert["Subject"] == f"Outbox: notification {failed.id} could not be delivered"
    body = alert.get_body(("plain",)).get_content()
    assert "550" in body and "No such mailbox" in body and f"/staff/leads/{failed.lead_id}" in body
    assert "Maria" not in body and "maria@example.com" not in body  # no visitor's details


def test_a_backlog_older_than_the_alert_minutes_emails_the_manager_once_per_incident(app, client, smtp):
    for n in range(3):
        assert submit(client, phone=f"941-555-01{n:02d}", email=f"p{n}@example.com").status_code == 303

    def back_off_since(minutes: float):
        """The staff emails waiting out their back-off since `minutes` ago: the mail server is down."""
        with app.app_context(), writing():
            waiting = {"created_at": utcnow() - timedelta(minutes=minutes),
                       "next_attempt_at": utcnow() + timedelta(hours=1)}  # fmt: skip
            db.session.execute(
                update(Notification)
                .where(Notification.kind == "lead", Notification.status == "pending")
                .values(**waiting)
            )

    back_off_since(10)
    with app.app_context():
        sweep()
    assert alerts(smtp) == []  # not yet 15 minutes
    back_off_since(16)
    with app.app_context():
        sweep()
        sweep()
    [alert] = alerts(smtp)  # the alert goes at once, ahead of the backlog, and once
    assert alert["To"] == MANAGER and "over 15 minutes" in alert["Subject"]
    assert "pending 3" in alert.get_body(("plain",)).get_content()


@pytest.mark.both_databases
def test_alerts_are_claimed_before_the_backlog(app, client):
    for n in range(3):
        assert submit(client, phone=f"941-555-01{n:02d}", email=f"p{n}@example.com").status_code == 303
    with app.app_context():
        with writing():
            alert = Notification(kind="alert", once_key="alert:late:1", status=NotificationStatus.PENDING,
                                 next_attempt_at=utcnow())  # fmt: skip
            db.session.add(alert)
        assert claim("test-worker", limit=1) == [alert.id]


# -- one real gunicorn: its workers' counts summed, the access log --------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from processes import Database, FaultySMTPServer, Gunicorn, process_env

    work = tmp_path_factory.mktemp("monitoring")
    database = Database.sqlite(work / "site.sqlite3")
    database.upgrade()
    mail = FaultySMTPServer()  # not started: refused until the test says so
    env = process_env(DATABASE_URL=database.url, MAIL_PORT=mail.port, METRICS_TOKEN=TOKEN,
                      GUNICORN_ACCESS_LOG=str(work / "access.log"))  # fmt: skip
    server = Gunicorn(env, work, workers=2, threads=4)
    server.access_log = work / "access.log"
    try:
        server.wait_ready()
        yield server, mail
    finally:
        server.stop()
        mail.stop()
        database.close()


def scrape_process(server) -> dict:
    from processes import request

    response = request(server.port, "GET", "/metrics", headers=BEARER)
    assert response.status == 200, response.body[:500]
    assert response.headers["cache-control"] == "no-store" and "set-cookie" not in response.headers
    return samples(response.body)


@pytest.mark.slow
def test_under_gunicorn_every_workers_counts_are_summed_and_the_gauges_move(site):
    from processes import Visitor, request, visitor_data, wait_until

    server, mail = site
    assert request(server.port, "GET", "/metrics").status == 404
    healthz = ("microsite_requests_total", (("group", "pages"), ("status", "200")))
    pids = re.compile(r'"GET /healthz HTTP/1.1" 200 .* pid=<(\d+)>')
    # The second worker loads the app after the first answered the readiness probe: both up first.
    wait_until(
        lambda: len(set(pids.findall(server.access_log.read_text()))) == 2
        or request(server.port, "GET", "/healthz").status != 200,
        20, "both workers to answer",
    )  # fmt: skip
    logged = len(pids.findall(server.access_log.read_text()))
    before = scrape_process(server)
    # Eight at a time, each on its own connection: both workers answer some (the access log's pid says
    # which), and whichever answers the scrape sums both.
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: request(server.port, "GET", "/healthz").status, range(40)))
    assert statuses == [200] * 40
    # Each line is written after its answer is sent: wait for all forty, then see who wrote them.
    lines = wait_until(
        lambda: len(found := pids.findall(server.access_log.read_text())) >= logged + 40 and found[logged:],
        10, "forty lines in the access log",
    )  # fmt: skip
    answered_by = set(lines)
    assert len(answered_by) == 2, answered_by
    assert scrape_process(server)[healthz] - before.get(healthz, 0) == 40

    visitor = Visitor(server.port)
    visitor.open()
    assert visitor.send(visitor_data(1)).status == 303

    def scraped_when(state: str, count: int):
        return lambda: (f := scrape_process(server)) and notifications_in(f, state) == count and f

    waiting = wait_until(scraped_when("pending", 1), 10, "a pending one")
    assert notifications_in(waiting, "sent") == 0
    assert waiting[("microsite_stored_total", (("what", "lead"),))] == 1

    mail.start()  # the mail server is back: the retry delivers it
    assert mail.wait_for(1, 30) == 1
    sent = wait_until(scraped_when("sent", 1), 10, "it recorded")
    assert notifications_in(sent, "pending") == 0
    assert sent[("microsite_outbox_oldest_pending_seconds", ())] == 0


@pytest.mark.slow
def test_a_path_with_a_line_break_adds_exactly_one_line_to_the_access_log(site):
    from processes import request, wait_until

    server, _ = site
    wait_until(server.access_log.exists, 10, "the access log")
    lines = server.access_log.read_text().splitlines()
    assert request(server.port, "GET", "/x%0aforged%1b[31m").status == 404
    # One record is one write: a forged second line would arrive with the first. (Another test's health
    # checks on this server may still be logged meanwhile.)
    new = wait_until(
        lambda: [x for x in server.access_log.read_text().splitlines()[len(lines) :] if "/healthz" not in x],
        10, "the log line",
    )  # fmt: skip
    assert len(new) == 1, new
    assert '"GET /x\\nforged\\x1b[31m HTTP/1.1" 404' in new[0]
