"""Indexes for reading a month's credit run: the month's contributions in person order, closed accounts

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23

The credit run reads each chunk's accounts with their person and that month's contribution.
With only the ``(person_id, month)`` key the contribution was one index probe per account:
on 1,000,000 demo people the largest part of reading a chunk (docs/benchmarks.md). An index on
``(month, person_id)`` gives a chunk's contributions as one range of the index, in person
order; on PostgreSQL it also holds ``account_fen``, so the range is read from the index alone.

A month is credited once per person: the run checks whether another of the person's accounts
was already credited for it. That other account can only be a closed one (a person has at
most one open account), so a partial index of closed accounts by person answers the check
from a small index instead of visiting every account's row.
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        'ix_contributions_month_person', 'contributions', ['month', 'person_id'],
        postgresql_include=['account_fen'],
    )
    op.create_index(
        'ix_accounts_closed_person', 'accounts', ['person_id'],
        postgresql_where=sa.text("status = 'closed'"), sqlite_where=sa.text("status = 'closed'"),
    )


def downgrade() -> None:
    op.drop_index('ix_accounts_closed_person', table_name='accounts')
    op.drop_index('ix_contributions_month_person', table_name='contributions')
