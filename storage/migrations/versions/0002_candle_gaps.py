"""candle_gaps: periods an exchange has no candles for

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    
    op.create_table('candle_gaps',
    sa.Column('exchange', sa.String(length=32), nullable=False),
    sa.Column('symbol', sa.String(length=32), nullable=False),
    sa.Column('timeframe', sa.String(length=4), nullable=False),
    sa.Column('start_time', sa.BigInteger(), nullable=False),
    sa.Column('end_time', sa.BigInteger(), nullable=False),
    sa.Column('found_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('exchange', 'symbol', 'timeframe', 'start_time', name=op.f('pk_candle_gaps'))
    )
    


def downgrade() -> None:
    
    op.drop_table('candle_gaps')
    
