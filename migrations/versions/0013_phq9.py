"""the PHQ-9 self-check a visitor chose to send with a request: its answers, total, band, difficulty

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-07 12:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phq9_items', sa.String(length=9), nullable=True))
        batch_op.add_column(sa.Column('phq9_total', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('phq9_band', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('phq9_difficulty', sa.Integer(), nullable=True))
        batch_op.create_index('ix_lead_phq9_band_created', ['phq9_band', 'created_at', 'status'], unique=False)


def downgrade():
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.drop_index('ix_lead_phq9_band_created')
        batch_op.drop_column('phq9_difficulty')
        batch_op.drop_column('phq9_band')
        batch_op.drop_column('phq9_total')
        batch_op.drop_column('phq9_items')
