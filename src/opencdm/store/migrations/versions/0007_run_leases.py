"""run leases and fencing tokens (several servers on one store), and one run per scheduled due time

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'


def upgrade() -> None:
    with op.batch_alter_table('submissions') as batch:
        batch.add_column(sa.Column('lease_expires_ms', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('fence', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('scheduled_ms', sa.BigInteger(), nullable=True))
        batch.create_index('ix_submissions_lease_expires_ms', ['lease_expires_ms'], unique=False)
        batch.create_unique_constraint('uq_submissions_job_id_scheduled_ms', ['job_id', 'scheduled_ms'])


def downgrade() -> None:
    with op.batch_alter_table('submissions') as batch:
        batch.drop_constraint('uq_submissions_job_id_scheduled_ms', type_='unique')
        batch.drop_index('ix_submissions_lease_expires_ms')
        batch.drop_column('scheduled_ms')
        batch.drop_column('fence')
        batch.drop_column('lease_expires_ms')
