"""schedules, retries and what follows a run

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_run_ms', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('skipped_runs', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_index(batch_op.f('ix_jobs_next_run_ms'), ['next_run_ms'], unique=False)

    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempt', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('settled_ms', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('retry_due_ms', sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f('ix_submissions_settled_ms'), ['settled_ms'], unique=False)
        batch_op.create_index(batch_op.f('ix_submissions_retry_due_ms'), ['retry_due_ms'], unique=False)

    # Runs that ended before this version are history: no retry or job deletion follows them now.
    op.execute(
        "UPDATE submissions SET settled_ms = last_update_ms WHERE status NOT IN ('BOOTING', 'RUNNING')"
    )


def downgrade() -> None:
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_submissions_retry_due_ms'))
        batch_op.drop_index(batch_op.f('ix_submissions_settled_ms'))
        batch_op.drop_column('retry_due_ms')
        batch_op.drop_column('settled_ms')
        batch_op.drop_column('attempt')

    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobs_next_run_ms'))
        batch_op.drop_column('skipped_runs')
        batch_op.drop_column('next_run_ms')
