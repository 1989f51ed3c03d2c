"""Contribution history from before the platform

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05

``persons.prior_paid_months``: employee-insurance months the person paid before the
platform's own records began, as migrated from the previous system. They count in actual
and cumulative years beside the months on record; deemed months (``deemed_months``) stay
where they were.
"""

from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite adds a column with its check in place (Alembic would copy the whole table).
        op.execute(
            "ALTER TABLE persons ADD COLUMN prior_paid_months INTEGER DEFAULT '0' NOT NULL "
            'CONSTRAINT ck_persons_prior_paid_months CHECK (prior_paid_months >= 0)'
        )
    else:
        op.add_column('persons', sa.Column('prior_paid_months', sa.Integer(), server_default=sa.text('0'), nullable=False))
        op.create_check_constraint(op.f('ck_persons_prior_paid_months'), 'persons', 'prior_paid_months >= 0')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint(op.f('ck_persons_prior_paid_months'), 'persons', type_='check')
    op.drop_column('persons', 'prior_paid_months')
