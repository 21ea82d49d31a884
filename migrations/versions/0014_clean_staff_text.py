"""staff notes and question edits stored before the staff forms refused control characters: cleaned

NUL and the other control characters but tab, line feed and carriage return are taken out of
lead_note.body and question.edited_text, answer and reviewer. SQLite stored them as sent (PostgreSQL
refused NUL, but stored the others); the staff pages showed them as they were. Nothing else changes.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 14:00:00

"""
import re

from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

CONTROL = re.compile('[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')
COLUMNS = {'lead_note': ['body'], 'question': ['edited_text', 'answer', 'reviewer']}


def upgrade():
    conn = op.get_bind()
    for name, columns in COLUMNS.items():
        table = sa.table(name, sa.column('id', sa.Integer), *(sa.column(c, sa.Text) for c in columns))
        for row in conn.execute(sa.select(table)).mappings():
            changed = {
                c: CONTROL.sub('', row[c]) for c in columns if row[c] is not None and CONTROL.search(row[c])
            }
            if changed:
                conn.execute(sa.update(table).where(table.c.id == row['id']).values(**changed))


def downgrade():
    pass  # what was taken out was never meant to be there
