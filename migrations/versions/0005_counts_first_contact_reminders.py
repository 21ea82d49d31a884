"""page-view counts, a lead's first contact, and notifications that are not a lead's staff email

`page_view_count` holds daily counters (no visit, no address); `lead.first_contact_at` measures speed
to lead; a notification now has a `kind` (lead, reminder, escalation, weekly), an optional
`once_key` that makes a reminder or a weekly report happen once however many workers run, and no
lead for the weekly report.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 17:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('page_view_count',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('path', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('medium', sa.String(length=100), nullable=False),
    sa.Column('campaign', sa.String(length=100), nullable=False),
    sa.Column('views', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('day', 'path', 'source', 'medium', 'campaign', name='uq_page_view_count')
    )
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_contact_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=12), nullable=False, server_default='lead'))
        batch_op.add_column(sa.Column('once_key', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint('uq_notification_once_key', ['once_key'])
        batch_op.alter_column('lead_id', existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.alter_column('kind', server_default=None)


def downgrade():
    op.execute("DELETE FROM notification WHERE lead_id IS NULL")
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.alter_column('lead_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_constraint('uq_notification_once_key', type_='unique')
        batch_op.drop_column('once_key')
        batch_op.drop_column('kind')
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.drop_column('first_contact_at')
    op.drop_table('page_view_count')
