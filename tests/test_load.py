"""Load: 200 visitors send the form at the same moment to gunicorn; every one becomes one lead and one email.

Figures (leads/s, POST latency, duplicates, losses) are printed and appended to reports/load.txt:
    .venv/bin/python -m pytest tests/test_load.py tests/test_scaleout.py -s -m slow
"""

from __future__ import annotations

import threading
import time

import pytest
from conftest import require_postgres
from processes import (
    Database,
    FaultySMTPServer,
    Visitor,
    latency_figures,
    process_env,
    report,
    visitor_data,
)

pytestmark = pytest.mark.slow

VISITORS = 200


def crowd(ports: list[int], count: int, post_port=None) -> tuple[list, float, float]:
    """`count` visitors load the page, wait for each other, then all press Send at once.

    Visitor n loads the page from ports[n % len(ports)] and posts to post_port(n) (the same
    instance by default). Returns the POST answers (or exceptions), the POSTs' wall time and start.
    """
    answers: list = [None] * count
    ready = threading.Barrier(count + 1, timeout=120)
    finished = threading.Barrier(count + 1, timeout=300)

    def visit(n: int) -> None:
        try:
            visitor = Visitor(ports[n % len(ports)])
            visitor.open()
        except Exception as exc:
            answers[n] = exc
        ready.wait()
        try:
            if answers[n] is None:
                port = post_port(n) if post_port else None
                answers[n] = visitor.send(visitor_data(n), port=port)
        except Exception as exc:
            answers[n] = exc
        finished.wait()

    threads = [threading.Thread(target=visit, args=(n,), daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    finished.wait()
    elapsed = time.perf_counter() - started
    for thread in threads:
        thread.join(10)
    return answers, elapsed, started


def check_everyone_arrived_once(name: str, database: Database, mail: FaultySMTPServer, crowd_result):
    """Exactly one lead and one email per visitor; report the figures either way."""
    answers, elapsed, started = crowd_result
    errors = [a for a in answers if isinstance(a, Exception)]
    statuses = [a.status for a in answers if not isinstance(a, Exception)]
    seconds = [a.seconds for a in answers if not isinstance(a, Exception)]
    accepted = statuses.count(303)
    mail.wait_for(accepted, timeout=120)
    all_mailed_s = time.perf_counter() - started
    time.sleep(2)  # later sweeps must not send anything again
    ids = mail.handler.message_ids()
    leads = database.count("lead")
    emailed = {int(m["X-Lead-Id"]) for m in mail.handler.messages}
    stored = {row.id for row in database.rows("SELECT id FROM lead")}
    figures = {
        "visitors": len(answers),
        "accepted_303": accepted,
        "http_5xx": sum(1 for s in statuses if s >= 500),
        "client_errors": len(errors),
        "leads": leads,
        "emails": len(ids),
        "duplicates": len(ids) - len(set(ids)),
        "losses": (accepted - leads) + len(stored - emailed),
        "leads_per_s": leads / elapsed,
        "post_wall_s": elapsed,
        "all_mailed_s": all_mailed_s,
        **latency_figures(seconds),
    }
    report(name, figures)
    assert errors == [], errors[:3]
    assert statuses == [303] * len(answers), sorted(set(statuses))
    assert leads == len(answers)
    assert len(ids) == len(answers) and len(set(ids)) == len(ids)
    assert emailed == stored
    assert {row.status for row in database.rows("SELECT status FROM notification")} == {"sent"}
    return figures


@pytest.fixture
def mail():
    server = FaultySMTPServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request, tmp_path):
    if request.param == "sqlite":
        database = Database.sqlite(tmp_path / "load.sqlite3")
    else:
        database = Database.postgres(require_postgres(), "load")
    database.kind = request.param
    try:
        database.upgrade()
        yield database
    finally:
        database.close()


def test_200_concurrent_visitors_give_200_leads_and_200_emails(started, database, mail):
    server = started.gunicorn(
        process_env(DATABASE_URL=database.url, MAIL_PORT=mail.port, MAIL_TIMEOUT=20),
        workers=2,
        threads=8,
    )
    server.wait_ready()
    result = crowd([server.port], VISITORS)
    check_everyone_arrived_once(f"load-{database.kind}", database, mail, result)
    assert "Traceback" not in server.output(), server.output()[-3000:]
