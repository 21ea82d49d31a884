"""staff roles and offices, passkeys, idle sessions, re-authentication, invitations

Every account that exists becomes a `manager` (every office, no team): what it could see before,
less the team, which needs an admin. docs/staff.md says how to narrow each one.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 09:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sa.String(length=10), server_default='manager', nullable=False))
        batch_op.add_column(sa.Column('offices', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('webauthn_handle', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_staff_user_webauthn_handle'), ['webauthn_handle'], unique=True)
    # The default served the accounts already there; a new one says its role.
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.alter_column('role', existing_type=sa.String(length=10), server_default=None)
        batch_op.alter_column('offices', existing_type=sa.String(length=200), server_default=None)

    with op.batch_alter_table('staff_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reauth_at', sa.DateTime(timezone=True), nullable=True))

    op.create_table('staff_passkey',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('credential_id', sa.String(length=1400), nullable=False),
    sa.Column('public_key', sa.LargeBinary(), nullable=False),
    sa.Column('sign_count', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('credential_id')
    )
    with op.batch_alter_table('staff_passkey', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_passkey_staff_id'), ['staff_id'], unique=False)

    op.create_table('webauthn_challenge',
    sa.Column('challenge_hash', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=12), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('challenge_hash')
    )
    with op.batch_alter_table('webauthn_challenge', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webauthn_challenge_expires_at'), ['expires_at'], unique=False)

    op.create_table('staff_invite',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('offices', sa.String(length=200), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('invited_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['invited_by'], ['staff_user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('staff_invite', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_invite_email'), ['email'], unique=False)


def downgrade():
    with op.batch_alter_table('staff_invite', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_invite_email'))
    op.drop_table('staff_invite')
    with op.batch_alter_table('webauthn_challenge', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webauthn_challenge_expires_at'))
    op.drop_table('webauthn_challenge')
    with op.batch_alter_table('staff_passkey', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_passkey_staff_id'))
    op.drop_table('staff_passkey')
    with op.batch_alter_table('staff_session', schema=None) as batch_op:
        batch_op.drop_column('reauth_at')
        batch_op.drop_column('last_seen_at')
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_user_webauthn_handle'))
        batch_op.drop_column('webauthn_handle')
        batch_op.drop_column('offices')
        batch_op.drop_column('role')
