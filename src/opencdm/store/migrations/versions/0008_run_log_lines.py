"""per-run logs: the lines a run's server and worker wrote about it

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'


def upgrade() -> None:
    op.create_table(
        'run_log_lines',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('submission_id', sa.Integer(), nullable=False),
        sa.Column('time_ms', sa.BigInteger(), nullable=False),
        sa.Column('level', sa.String(length=8), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_run_log_lines_submission_id', 'run_log_lines', ['submission_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_run_log_lines_submission_id', table_name='run_log_lines')
    op.drop_table('run_log_lines')
