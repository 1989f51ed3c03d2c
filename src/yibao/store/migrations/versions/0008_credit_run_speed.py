"""postings.transaction_id without a foreign key: no per-row check in million-row credit runs

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23

The monthly credit run COPYs up to a million postings in one month, all naming a few
transactions it created moments before in the same database transaction. PostgreSQL
checks a foreign key with a trigger per inserted row (an index lookup and a KEY SHARE
lock on the transaction's row): on 200,000 demo people the run took 2.49 s with it and
1.99 s without (docs/benchmarks.md), the check costing about as much as writing the
postings themselves. The ledger writes a transaction and its postings in one database
transaction, transactions are never deleted, and ``yibao db check`` reports any posting
whose transaction does not exist (as migration 0003 did for ``account_id``). The index on
``transaction_id`` stays: the check and a transaction's legs are looked up by it.
"""
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('postings', schema=None) as batch_op:
        batch_op.drop_constraint('fk_postings_transaction_id_ledger_transactions', type_='foreignkey')


def downgrade() -> None:
    with op.batch_alter_table('postings', schema=None) as batch_op:
        batch_op.create_foreign_key(
            'fk_postings_transaction_id_ledger_transactions', 'ledger_transactions', ['transaction_id'], ['id']
        )
