"""a lead's wait until its first contact, in minutes of its office's hours, kept when it is recorded

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 19:30:00

Not backfilled: office-hours arithmetic belongs to the app (microsite/officehours.py), and a lead
contacted before this revision has its wait worked out when it is read, as before.
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_contact_minutes', sa.Float(), nullable=True))


def downgrade():
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.drop_column('first_contact_minutes')
