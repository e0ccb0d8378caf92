"""the id of a resumable run's partition plan, under which the destination records its commits

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'


def upgrade() -> None:
    with op.batch_alter_table('resumable_partitions') as batch:
        batch.add_column(sa.Column('plan_id', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('resumable_partitions') as batch:
        batch.drop_column('plan_id')
