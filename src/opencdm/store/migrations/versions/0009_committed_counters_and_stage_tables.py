"""what a run has committed so far, and the stage table a killed run would leave behind

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'


def upgrade() -> None:
    with op.batch_alter_table('submissions') as batch:
        batch.add_column(sa.Column('committed_rows', sa.BigInteger(), server_default='0', nullable=False))
        batch.add_column(sa.Column('committed_bytes', sa.BigInteger(), server_default='0', nullable=False))
        batch.add_column(sa.Column('committed_updates', sa.BigInteger(), server_default='0', nullable=False))
        batch.add_column(sa.Column('stage_table', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('submissions') as batch:
        batch.drop_column('stage_table')
        batch.drop_column('committed_updates')
        batch.drop_column('committed_bytes')
        batch.drop_column('committed_rows')
