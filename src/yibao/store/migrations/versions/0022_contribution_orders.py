"""Paying online: contribution orders and the gateway's notices

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05

``contribution_orders`` (a residents' premium for a funding year, or a flexible employee's
months, paid through a payment gateway) and ``gateway_notices`` (every trade a gateway
reported, once).
"""

from alembic import op
import sqlalchemy as sa


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('contribution_orders',
    sa.Column('id', BigId, nullable=False),
    sa.Column('order_no', sa.String(length=32), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('person_id', BigId, nullable=False),
    sa.Column('payer_person_id', BigId, nullable=False),
    sa.Column('payer_role', sa.String(length=16), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('live_key', sa.String(length=32), nullable=True),
    sa.Column('funding_year', sa.Integer(), nullable=True),
    sa.Column('months', sa.JSON(), nullable=True),
    sa.Column('tier_key', sa.String(length=16), nullable=True),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('rule_ids', sa.JSON(), nullable=False),
    sa.Column('gateway', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('trade_no', sa.String(length=64), nullable=True),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('transaction_id', BigId, nullable=True),
    sa.Column('benefit_starts_on', sa.Date(), nullable=True),
    sa.Column('waiting_months', sa.Integer(), nullable=True),
    sa.Column('refund_no', sa.String(length=32), nullable=True),
    sa.Column('refund_reason', sa.String(length=200), nullable=True),
    sa.Column('refunded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refund_transaction_id', BigId, nullable=True),
    sa.CheckConstraint("purpose IN ('resident_premium', 'flexible')", name=op.f('ck_contribution_orders_purpose')),
    sa.CheckConstraint("payer_role IN ('self', 'guardian', 'relative')", name=op.f('ck_contribution_orders_payer_role')),
    sa.CheckConstraint("status IN ('open', 'paid', 'posted', 'expired', 'refunded')", name=op.f('ck_contribution_orders_status')),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_contribution_orders_amount_positive')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_contribution_orders_person_id_persons')),
    sa.ForeignKeyConstraint(['payer_person_id'], ['persons.id'], name=op.f('fk_contribution_orders_payer_person_id_persons')),
    sa.ForeignKeyConstraint(['transaction_id'], ['ledger_transactions.id'], name=op.f('fk_contribution_orders_transaction_id_ledger_transactions')),
    sa.ForeignKeyConstraint(['refund_transaction_id'], ['ledger_transactions.id'], name=op.f('fk_contribution_orders_refund_transaction_id_ledger_transactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contribution_orders')),
    sa.UniqueConstraint('order_no', name=op.f('uq_contribution_orders_order_no')),
    sa.UniqueConstraint('person_id', 'live_key', name=op.f('uq_contribution_orders_person_id_live_key'))
    )
    op.create_index(op.f('ix_contribution_orders_person_id'), 'contribution_orders', ['person_id'], unique=False)
    op.create_index('ix_contribution_orders_status_expires', 'contribution_orders', ['status', 'expires_at'], unique=False)
    op.create_table('gateway_notices',
    sa.Column('id', BigId, nullable=False),
    sa.Column('gateway', sa.String(length=32), nullable=False),
    sa.Column('trade_no', sa.String(length=64), nullable=False),
    sa.Column('order_no', sa.String(length=32), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=12), nullable=False),
    sa.Column('refund_no', sa.String(length=32), nullable=True),
    sa.CheckConstraint("outcome IN ('accepted', 'refunding', 'refunded')", name=op.f('ck_gateway_notices_outcome')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gateway_notices')),
    sa.UniqueConstraint('gateway', 'trade_no', name=op.f('uq_gateway_notices_gateway_trade_no'))
    )
    op.create_index(op.f('ix_gateway_notices_order_no'), 'gateway_notices', ['order_no'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_gateway_notices_order_no'), table_name='gateway_notices')
    op.drop_table('gateway_notices')
    op.drop_index('ix_contribution_orders_status_expires', table_name='contribution_orders')
    op.drop_index(op.f('ix_contribution_orders_person_id'), table_name='contribution_orders')
    op.drop_table('contribution_orders')
