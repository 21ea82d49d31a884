"""a request's fingerprint replaces the per-page submission key

The public pages no longer carry anything per visit, so a repeated request is recognised by what it
asks (office, phone, email, message) within the hour, not by a key rendered into the form.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 15:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fingerprint', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_lead_fingerprint'), ['fingerprint'], unique=False)
        batch_op.drop_column('submission_key')


def downgrade():
    with op.batch_alter_table('lead', schema=None) as batch_op:
        # Old leads get a key of their own: the column was unique and required.
        batch_op.add_column(sa.Column('submission_key', sa.String(length=64), nullable=True))
    op.execute("UPDATE lead SET submission_key = 'restored-' || id")
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.alter_column('submission_key', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint('lead_submission_key_key', ['submission_key'])
        batch_op.drop_index(batch_op.f('ix_lead_fingerprint'))
        batch_op.drop_column('fingerprint')
