"""received alerts (the TradingView webhook's inbox)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('received_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('alert', sa.JSON(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_received_alerts')),
    sa.UniqueConstraint('key', name=op.f('uq_received_alerts_key'))
    )
    with op.batch_alter_table('received_alerts', schema=None) as batch_op:
        batch_op.create_index('ix_received_alerts_pending', ['id'], unique=False, sqlite_where=sa.text('processed_at IS NULL'), postgresql_where=sa.text('processed_at IS NULL'))
        batch_op.create_index('ix_received_alerts_processed_at', ['processed_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('received_alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_received_alerts_processed_at')
        batch_op.drop_index('ix_received_alerts_pending')
    op.drop_table('received_alerts')
