"""entire-database jobs (BATCH_JOB): the sub-jobs of a job, and the runs of a run

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'


def upgrade() -> None:
    with op.batch_alter_table('jobs') as batch:
        batch.add_column(sa.Column('parent_job_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('source_table', sa.Text(), nullable=True))
        batch.create_foreign_key('fk_jobs_parent_job_id', 'jobs', ['parent_job_id'], ['id'], ondelete='CASCADE')
        batch.create_index('ix_jobs_parent_job_id', ['parent_job_id'])
    with op.batch_alter_table('submissions') as batch:
        batch.add_column(sa.Column('parent_submission_id', sa.Integer(), nullable=True))
        batch.create_index('ix_submissions_parent_submission_id', ['parent_submission_id'])


def downgrade() -> None:
    with op.batch_alter_table('submissions') as batch:
        batch.drop_index('ix_submissions_parent_submission_id')
        batch.drop_column('parent_submission_id')
    with op.batch_alter_table('jobs') as batch:
        batch.drop_index('ix_jobs_parent_job_id')
        batch.drop_constraint('fk_jobs_parent_job_id', type_='foreignkey')
        batch.drop_column('source_table')
        batch.drop_column('parent_job_id')
