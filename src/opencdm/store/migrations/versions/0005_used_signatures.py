"""signatures of accepted state-changing signed requests (replay refusal)

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'


def upgrade() -> None:
    op.create_table(
        'used_signatures',
        sa.Column('signature', sa.String(length=64), nullable=False),
        sa.Column('expires_ms', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('signature'),
    )
    op.create_index('ix_used_signatures_expires_ms', 'used_signatures', ['expires_ms'])


def downgrade() -> None:
    op.drop_index('ix_used_signatures_expires_ms', table_name='used_signatures')
    op.drop_table('used_signatures')
