"""a consultation request's urgent flag, and the crisis flags that pace the crisis alerts

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 12:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.add_column(sa.Column('urgent', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table('crisis_flag',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('office', sa.String(length=20), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=True),
    sa.Column('lead_id', sa.Integer(), nullable=True),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('alert_key', sa.String(length=64), nullable=True),
    sa.Column('digest_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('crisis_flag', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crisis_flag_alert_key'), ['alert_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_crisis_flag_digest_due_at'), ['digest_due_at'], unique=False)
        batch_op.create_index('ix_crisis_flag_office_created', ['office', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('crisis_flag', schema=None) as batch_op:
        batch_op.drop_index('ix_crisis_flag_office_created')
        batch_op.drop_index(batch_op.f('ix_crisis_flag_digest_due_at'))
        batch_op.drop_index(batch_op.f('ix_crisis_flag_alert_key'))
    op.drop_table('crisis_flag')
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.drop_column('urgent')
