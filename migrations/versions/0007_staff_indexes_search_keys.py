"""the inbox's indexes (filters ending in its sort) and search keys (a phone's digits, a name's lower case)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 19:00:00

The two new columns are filled here for the leads already stored, in batches of short transactions,
by the same rules as the capture (microsite/models.py: phone_digits, name_key, copied here so this
migration stays what it was), so a search finds old and new leads alike.
"""
import re

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

BATCH = 1000
def phone_digits(phone):
    return re.sub(r"\D", "", phone)[::-1]


def name_key(full_name):
    return " ".join(full_name.lower().split())


SEARCH_KEY = sa.String(length=100).with_variant(sa.String(length=100, collation="C"), "postgresql")


def _backfill():
    conn = op.get_bind()
    lead = sa.table("lead", sa.column("id", sa.Integer), sa.column("phone", sa.String),
                    sa.column("full_name", sa.String), sa.column("phone_digits", sa.String),
                    sa.column("name_key", sa.String))  # fmt: skip
    last = 0
    while True:
        rows = conn.execute(
            sa.select(lead.c.id, lead.c.phone, lead.c.full_name)
            .where(lead.c.id > last)
            .order_by(lead.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        conn.execute(
            lead.update().where(lead.c.id == sa.bindparam("lead_id")),
            [{"lead_id": id_, "phone_digits": phone_digits(phone or ""), "name_key": name_key(name or "")}
             for id_, phone, name in rows],
        )  # fmt: skip
        last = rows[-1][0]


def upgrade():
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_digits', SEARCH_KEY, nullable=True))
        batch_op.add_column(sa.Column('name_key', SEARCH_KEY, nullable=True))
        batch_op.drop_index('ix_lead_created_at')
        batch_op.drop_index('ix_lead_status')
        batch_op.drop_index('ix_lead_location')
    _backfill()
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.create_index('ix_lead_created', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_lead_status_created', ['status', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_lead_location_created', ['location', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_lead_location_status_created', ['location', 'status', 'created_at', 'id'],
                              unique=False)  # fmt: skip
        batch_op.create_index(batch_op.f('ix_lead_phone_digits'), ['phone_digits'], unique=False)
        batch_op.create_index(batch_op.f('ix_lead_name_key'), ['name_key'], unique=False)
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index('ix_notification_sent', ['status', 'sent_at'], unique=False)


def downgrade():
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_sent')
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lead_name_key'))
        batch_op.drop_index(batch_op.f('ix_lead_phone_digits'))
        batch_op.drop_index('ix_lead_location_status_created')
        batch_op.drop_index('ix_lead_location_created')
        batch_op.drop_index('ix_lead_status_created')
        batch_op.drop_index('ix_lead_created')
        batch_op.create_index('ix_lead_location', ['location'], unique=False)
        batch_op.create_index('ix_lead_status', ['status'], unique=False)
        batch_op.create_index('ix_lead_created_at', ['created_at'], unique=False)
        batch_op.drop_column('name_key')
        batch_op.drop_column('phone_digits')
