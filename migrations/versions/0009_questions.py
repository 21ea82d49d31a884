"""readers' questions and the version counter the public pages' cache reads

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 20:00:00
"""
from alembic import op
import sqlalchemy as sa



revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('question',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('language', sa.String(length=5), nullable=False),
    sa.Column('office', sa.String(length=20), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('consent_text', sa.Text(), nullable=False),
    sa.Column('crisis', sa.Boolean(), nullable=False),
    sa.Column('spam_reason', sa.String(length=40), nullable=True),
    sa.Column('edited_text', sa.Text(), nullable=True),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('reviewer', sa.String(length=120), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('question', schema=None) as batch_op:
        batch_op.create_index('ix_question_status_created', ['status', 'created_at'], unique=False)
        batch_op.create_index('ix_question_published', ['status', 'language', 'published_at'], unique=False)

    content_version = op.create_table('content_version',
    sa.Column('name', sa.String(length=20), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.bulk_insert(content_version, [{'name': 'questions', 'version': 0}])


def downgrade():
    op.drop_table('content_version')
    with op.batch_alter_table('question', schema=None) as batch_op:
        batch_op.drop_index('ix_question_published')
        batch_op.drop_index('ix_question_status_created')
    op.drop_table('question')
