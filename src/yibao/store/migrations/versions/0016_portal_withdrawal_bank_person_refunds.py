"""The person's own withdrawal names a bank account; the person may apply for an emergency refund

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05

``withdrawal_cases.bank_name`` / ``bank_account``: the verified account, in the person's own
name, that the person's own withdrawal is paid to (heirs name one each in ``heirs``).
``emergency_refunds.applied_by_person``: the person applied on the portal with the receipt
(no staff member entered it; staff approve it).
"""

from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('withdrawal_cases', sa.Column('bank_name', sa.String(length=60), nullable=True))
    op.add_column('withdrawal_cases', sa.Column('bank_account', sa.String(length=30), nullable=True))
    op.add_column('emergency_refunds',
                  sa.Column('applied_by_person', sa.Boolean(), server_default=sa.text('false'), nullable=False))


def downgrade() -> None:
    # Plain columns without constraints: SQLite (3.35+) drops them in place, no table copy
    # (a copy of withdrawal_cases would break the references documents and heirs hold).
    op.drop_column('emergency_refunds', 'applied_by_person')
    op.drop_column('withdrawal_cases', 'bank_account')
    op.drop_column('withdrawal_cases', 'bank_name')
