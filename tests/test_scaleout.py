"""Scale-out: two gunicorn instances and two `flask outbox run` workers on one PostgreSQL and one Redis.

The proof that the app scales out: any instance takes any visitor (one secret, no local
state: a token one instance signs is good on the other), every lead is stored and mailed
exactly once whoever sends it, and the rate limit is one count shared by all instances.
Figures go to stdout and reports/load.txt:
    .venv/bin/python -m pytest tests/test_scaleout.py -s
"""

from __future__ import annotations

import urllib.parse
from collections import Counter

import pytest
from conftest import SITE_URL, hidden_fields, require_postgres
from processes import (
    FORM_POST,
    OFFICE_PHONES,
    Database,
    FaultySMTPServer,
    Visitor,
    check_everyone_arrived_once,
    crowd,
    process_env,
    report,
    request,
    visitor_data,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

VISITORS = 120  # 60 per instance, half of them posting to the other one


@pytest.fixture
def mail():
    server = FaultySMTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def shared(redis_counters):
    """A PostgreSQL schema and Redis counters of this test's own, as every instance sees them."""
    database = Database.postgres(require_postgres(), "scaleout")
    try:
        database.upgrade()
        yield database, redis_counters
    finally:
        database.close()


def settings(database, counters, mail_port, **extra):
    url, prefix, _ = counters
    return process_env(
        DATABASE_URL=database.url,
        MAIL_PORT=mail_port,
        MAIL_TIMEOUT=20,
        RATELIMIT_ENABLED="true",
        RATELIMIT_STORAGE_URI=url,
        RATELIMIT_KEY_PREFIX=prefix,
        **extra,
    )


def test_two_instances_and_two_workers_store_and_mail_every_lead_exactly_once(started, shared, mail):
    database, counters = shared
    # Every visitor here comes from 127.0.0.1: a limit high enough to let the crowd through,
    # but the counting still goes through Redis on every POST.
    env = settings(database, counters, mail.port, RATELIMIT_CONSULTATION="100000 per minute",
                   OUTBOX_POLL_SECONDS=0.2)  # fmt: skip
    instances = [started.gunicorn(env, workers=2, threads=4, name=name) for name in ("a", "b")]
    workers = [started.outbox(env, name=name) for name in ("worker1", "worker2")]
    for process in instances:
        process.wait_ready()
    for process in workers:
        process.wait_running()

    ports = [p.port for p in instances]
    # Visitor n loads the page from one instance and, for half of them, posts to the other: the
    # page sets no cookie and the form carries no token, so nothing ties a visitor to an instance.
    result = crowd(ports, VISITORS, post_port=lambda n: ports[(n // 2) % 2])
    check_everyone_arrived_once("scaleout-postgresql-redis", database, mail, result)

    worker_pids = {str(w.pid): w.name.split("-")[0] for w in workers}
    by_sender = Counter()
    for row in database.rows("SELECT claimed_by FROM notification"):
        pid = row.claimed_by.split(":")[1]
        by_sender[worker_pids.get(pid, f"inline-{pid}")] += 1
    report("scaleout-senders", dict(sorted(by_sender.items())))
    assert sum(by_sender.values()) == VISITORS
    _, prefix, redis_client = counters
    # The limiter counted in Redis, not in each process.
    assert any(redis_client.scan_iter(match=f"*{prefix}*"))
    for process in (*instances, *workers):
        assert "Traceback" not in process.output(), process.output()[-3000:]


def test_the_rate_limit_counts_across_both_instances(started, shared):
    database, counters = shared
    env = settings(database, counters, 9, RATELIMIT_CONSULTATION="3 per minute", OUTBOX_INLINE="false")
    instances = [started.gunicorn(env, workers=1, threads=2, name=name) for name in ("a", "b")]
    for process in instances:
        process.wait_ready()

    visitor = Visitor(instances[0].port)
    answers = []
    for n in range(5):  # one visitor's address, alternating between the instances
        visitor.port = instances[n % 2].port
        visitor.open()
        answers.append(visitor.send(visitor_data(n)))
    # Counted per process, the 4th would be only the 2nd on its instance and pass.
    assert [a.status for a in answers] == [303, 303, 303, 429, 429]
    limited = answers[3]
    assert int(limited.headers["retry-after"]) > 0
    for phone in OFFICE_PHONES:
        assert phone in limited.body
    assert database.count("lead") == 3


def test_a_form_shown_again_with_a_token_by_one_instance_is_sent_through_the_other(started, shared):
    """A browser without Fetch Metadata gets the form again with a token and its session cookie
    (crossorigin.py); pressing Send may reach the other instance, which must accept what the first signed."""
    database, counters = shared
    env = settings(database, counters, 9, OUTBOX_INLINE="false")
    instances = [started.gunicorn(env, workers=1, threads=2, name=name) for name in ("a", "b")]
    for process in instances:
        process.wait_ready()

    data = urllib.parse.urlencode(visitor_data(0))
    old_browser = {**FORM_POST, "Referer": f"{SITE_URL}/?utm_source=radio"}  # no Sec-Fetch-Site, no Origin
    shown_again = request(instances[0].port, "POST", "/consultation", data, old_browser)
    assert shown_again.status == 400 and database.count("lead") == 0, shown_again.body[:500]
    fields = hidden_fields(shown_again.body)
    assert fields.get("csrf_token") and fields.get("landing") == "/?utm_source=radio", fields
    cookie = "; ".join(line.split(";", 1)[0] for line in shown_again.headers["set-cookie"].split("\n"))

    body = urllib.parse.urlencode({**visitor_data(0), **fields})
    again = {**FORM_POST, "Referer": f"{SITE_URL}/consultation", "Cookie": cookie}
    sent = request(instances[1].port, "POST", "/consultation", body, again)
    assert sent.status == 303, sent.body[:2000]
    [lead] = database.rows("SELECT email, utm_source, landing_path FROM lead")
    assert tuple(lead) == ("visitor0@example.com", "radio", "/")
