"""entire-database jobs (BATCH_JOB): the sub-jobs of a job, and the runs of a run

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'


def upgrade() -> None:
    # SQLite takes the foreign key inside ADD COLUMN; a separate constraint would make it copy the
    # jobs table, and dropping the old one would delete every submission with it (ON DELETE CASCADE).
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE jobs ADD COLUMN parent_job_id INTEGER CONSTRAINT fk_jobs_parent_job_id '
                   'REFERENCES jobs (id) ON DELETE CASCADE')
    else:
        op.add_column('jobs', sa.Column('parent_job_id', sa.Integer(), nullable=True))
        op.create_foreign_key('fk_jobs_parent_job_id', 'jobs', 'jobs', ['parent_job_id'], ['id'], ondelete='CASCADE')
    op.add_column('jobs', sa.Column('source_table', sa.Text(), nullable=True))
    op.add_column('jobs', sa.Column('keys_pending', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index('ix_jobs_parent_job_id', 'jobs', ['parent_job_id'])
    op.add_column('submissions', sa.Column('parent_submission_id', sa.Integer(), nullable=True))
    op.create_index('ix_submissions_parent_submission_id', 'submissions', ['parent_submission_id'])


def downgrade() -> None:
    with op.batch_alter_table('submissions') as batch:
        batch.drop_index('ix_submissions_parent_submission_id')
        batch.drop_column('parent_submission_id')
    with op.batch_alter_table('jobs') as batch:
        batch.drop_index('ix_jobs_parent_job_id')
        batch.drop_column('keys_pending')
        batch.drop_column('source_table')
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint('fk_jobs_parent_job_id', 'jobs', type_='foreignkey')
    # SQLite (3.35+) drops the column with its inline constraint.
    op.drop_column('jobs', 'parent_job_id')
