"""button payloads and wizard states

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('button_payloads',
    sa.Column('namespace', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=16), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('namespace', 'key', name=op.f('pk_button_payloads'))
    )
    with op.batch_alter_table('button_payloads', schema=None) as batch_op:
        batch_op.create_index('ix_button_payloads_expires_at', ['expires_at'], unique=False)

    op.create_table('wizard_states',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('state', sa.String(length=100), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_wizard_states'))
    )
    with op.batch_alter_table('wizard_states', schema=None) as batch_op:
        batch_op.create_index('ix_wizard_states_updated_at', ['updated_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('wizard_states', schema=None) as batch_op:
        batch_op.drop_index('ix_wizard_states_updated_at')
    op.drop_table('wizard_states')
    with op.batch_alter_table('button_payloads', schema=None) as batch_op:
        batch_op.drop_index('ix_button_payloads_expires_at')
    op.drop_table('button_payloads')
