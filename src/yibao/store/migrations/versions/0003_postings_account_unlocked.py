"""postings.account_id without a foreign key: no shared row lock on hot system accounts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

A foreign key check takes a KEY SHARE lock on the referenced row. Nearly every posting
references one of a few system accounts (the pool, a pharmacy's settlement account), so
every concurrent transaction shares a lock on the same row, which PostgreSQL records as a
MultiXact: in bench/ledger.py that cost about 40 % of the throughput. The ledger checks
that both accounts exist in the statement that posts, accounts are never deleted (closing
is a status), and ``yibao db check`` reports any posting whose account is missing.
"""
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('postings', schema=None) as batch_op:
        batch_op.drop_constraint('fk_postings_account_id_accounts', type_='foreignkey')


def downgrade() -> None:
    with op.batch_alter_table('postings', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_postings_account_id_accounts', 'accounts', ['account_id'], ['id'])
