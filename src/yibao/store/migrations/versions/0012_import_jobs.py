"""import jobs: contribution files uploaded through the API, imported by a worker process

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05

An upload answers at once with a job; a worker process of its own, under a memory limit,
imports the file and writes its progress and row-by-row report here (see ``models.ImportJob``).
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('import_jobs',
    sa.Column('id', BigId, nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('file_name', sa.String(length=120), nullable=False),
    sa.Column('stored_as', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_by', BigId, nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=True),
    sa.Column('create_people_in', sa.String(length=6), nullable=True),
    sa.Column('import_today', sa.Date(), nullable=False),
    sa.Column('rows_done', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('rows_total', sa.Integer(), nullable=True),
    sa.Column('worker_pid', sa.Integer(), nullable=True),
    sa.Column('report', sa.JSON(), nullable=True),
    sa.Column('error', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('queued', 'running', 'applied', 'rejected', 'failed')", name=op.f('ck_import_jobs_status')),
    sa.ForeignKeyConstraint(['uploaded_by'], ['staff_users.id'], name=op.f('fk_import_jobs_uploaded_by_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_jobs'))
    )
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_import_jobs_status', ['status', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_import_jobs_status')
    op.drop_table('import_jobs')
