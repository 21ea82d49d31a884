"""Load: 100 visitors send the form at the same moment to gunicorn (16 threads); every one becomes one
lead and one email.

Figures (leads/s, POST latency, duplicates, losses) are printed and appended to reports/load.txt:
    .venv/bin/python -m pytest tests/test_load.py tests/test_scaleout.py -s -m slow
"""

from __future__ import annotations

import pytest
from conftest import require_postgres
from processes import Database, FaultySMTPServer, check_everyone_arrived_once, crowd, process_env

pytestmark = pytest.mark.slow

VISITORS = 100  # six times the threads that serve them: every POST queues behind others


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


def test_a_crowd_pressing_send_at_once_gives_one_lead_and_one_email_each(started, database, mail):
    server = started.gunicorn(
        process_env(DATABASE_URL=database.url, MAIL_PORT=mail.port, MAIL_TIMEOUT=20),
        workers=2,
        threads=8,
    )
    server.wait_ready()
    result = crowd([server.port], VISITORS)
    check_everyone_arrived_once(f"load-{database.kind}", database, mail, result)
    assert "Traceback" not in server.output(), server.output()[-3000:]
