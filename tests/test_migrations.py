"""`flask db upgrade` builds the schema the models describe, on SQLite and on PostgreSQL."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import migrated_to
from flask_migrate import upgrade
from sqlalchemy import inspect, text

from microsite.database import write_connection
from microsite.extensions import db

pytestmark = pytest.mark.both_databases


def test_upgrade_creates_the_schema_of_the_models(database_url, tmp_path):
    with migrated_to(database_url, tmp_path, "head"):
        assert {"lead", "notification", "alembic_version"} <= set(inspect(db.engine).get_table_names())
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        assert diff == []


LEAD = (
    "INSERT INTO lead (id, created_at, status, fingerprint, full_name, phone, email, location,"
    " contact_method, best_time, consent_text, consent_version, consent_at, language, urgent)"
    " VALUES (1, '2026-01-01', 'new', 'f', 'n', 'p', 'e', 'bradenton', 'phone', '', 'c', 'v', '2026-01-01',"
    " 'en', false)"
)
NOTE = "INSERT INTO lead_note (lead_id, author, created_at, body) VALUES (1, 'a', '2026-01-01', :body)"
QUESTION = (
    "INSERT INTO question (created_at, status, language, text, consent_text, crisis, answer, reviewer)"
    " VALUES ('2026-01-01', 'new', 'en', :text, 'c', false, :answer, :reviewer)"
)


def test_control_characters_stored_in_staff_notes_and_question_edits_are_taken_out(database_url, tmp_path):
    """SQLite stored a NUL as sent (PostgreSQL the other control characters); 0014 takes them out of what
    staff wrote, and leaves the reader's own question as it came."""
    nul = "\x00" if database_url.startswith("sqlite") else ""
    with migrated_to(database_url, tmp_path, "0013"):
        with write_connection() as conn:
            conn.execute(text(LEAD))
            conn.execute(text(NOTE), {"body": f"Called{nul}\x01 back\r\nLeft\ta message"})
            conn.execute(text(QUESTION), {"text": "q\x02", "answer": f"It{nul} may.", "reviewer": "Dr\x1b X"})
        upgrade()
        with db.engine.connect() as conn:
            assert conn.scalar(text("SELECT body FROM lead_note")) == "Called back\r\nLeft\ta message"
            question = conn.execute(text("SELECT answer, reviewer, text FROM question")).one()
            assert tuple(question) == ("It may.", "Dr X", "q\x02")
