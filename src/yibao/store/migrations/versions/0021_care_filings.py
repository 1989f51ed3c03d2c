"""Out-of-area care filings (异地就医备案)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05

``care_filings``: a person's filing to be treated in another region (long-term or temporary),
its place, reason, dates and the staff decision. A change closes the old row (``changed``) and
starts a new one naming it in ``replaces_id``.
"""

from alembic import op
import sqlalchemy as sa


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('care_filings',
    sa.Column('id', BigId, nullable=False),
    sa.Column('person_id', BigId, nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('place_code', sa.String(length=6), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('required_documents', sa.JSON(), nullable=False),
    sa.Column('rule_ids', sa.JSON(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('replaces_id', BigId, nullable=True),
    sa.Column('decided_by', BigId, nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.String(length=200), nullable=True),
    sa.Column('closed_on', sa.Date(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'active', 'changed', 'cancelled', 'rejected')", name=op.f('ck_care_filings_status')),
    sa.CheckConstraint("kind IN ('long_term', 'temporary')", name=op.f('ck_care_filings_kind')),
    sa.CheckConstraint('place_code != region_code', name=op.f('ck_care_filings_place_elsewhere')),
    sa.CheckConstraint('ends_on IS NULL OR ends_on >= starts_on', name=op.f('ck_care_filings_dates_ordered')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_care_filings_person_id_persons')),
    sa.ForeignKeyConstraint(['replaces_id'], ['care_filings.id'], name=op.f('fk_care_filings_replaces_id_care_filings')),
    sa.ForeignKeyConstraint(['decided_by'], ['staff_users.id'], name=op.f('fk_care_filings_decided_by_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_care_filings'))
    )
    with op.batch_alter_table('care_filings', schema=None) as batch_op:
        batch_op.create_index('ix_care_filings_person', ['person_id', 'id'], unique=False)
        batch_op.create_index('ix_care_filings_status_region', ['status', 'region_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('care_filings', schema=None) as batch_op:
        batch_op.drop_index('ix_care_filings_status_region')
        batch_op.drop_index('ix_care_filings_person')
    op.drop_table('care_filings')
