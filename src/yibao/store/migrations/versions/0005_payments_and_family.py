"""institution payments, refunds and family sharing (家庭共济)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

Institutions get a ``designated`` flag (false for those registered before: an agency marks
its designated pharmacies and hospitals explicitly). Payments and refunds keep the receipt
number and idempotency key an institution quotes; family bindings and the family-payment
link record whom a holder's money paid for.
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
OPEN_BINDING = "status != 'ended'"


def upgrade() -> None:
    with op.batch_alter_table('institutions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('designated', sa.Boolean(), server_default=sa.text('false'), nullable=False))

    op.create_table('family_bindings',
    sa.Column('id', BigId, nullable=False),
    sa.Column('holder_person_id', BigId, nullable=False),
    sa.Column('member_person_id', BigId, nullable=False),
    sa.Column('relation', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('consented_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('consented_by', sa.String(length=8), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_by', BigId, nullable=True),
    sa.CheckConstraint("status IN ('pending', 'active', 'ended')", name=op.f('ck_family_bindings_status')),
    sa.CheckConstraint("consented_by IS NULL OR consented_by IN ('member', 'guardian')", name=op.f('ck_family_bindings_consented_by')),
    sa.CheckConstraint('holder_person_id != member_person_id', name=op.f('ck_family_bindings_two_people')),
    sa.ForeignKeyConstraint(['holder_person_id'], ['persons.id'], name=op.f('fk_family_bindings_holder_person_id_persons')),
    sa.ForeignKeyConstraint(['member_person_id'], ['persons.id'], name=op.f('fk_family_bindings_member_person_id_persons')),
    sa.ForeignKeyConstraint(['ended_by'], ['persons.id'], name=op.f('fk_family_bindings_ended_by_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_family_bindings'))
    )
    with op.batch_alter_table('family_bindings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_family_bindings_holder_person_id'), ['holder_person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_family_bindings_member_person_id'), ['member_person_id'], unique=False)
        batch_op.create_index(
            'uq_family_bindings_open_pair', ['holder_person_id', 'member_person_id'], unique=True,
            sqlite_where=sa.text(OPEN_BINDING), postgresql_where=sa.text(OPEN_BINDING),
        )

    op.create_table('institution_payments',
    sa.Column('id', BigId, nullable=False),
    sa.Column('institution_id', BigId, nullable=False),
    sa.Column('receipt_no', sa.String(length=64), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('person_id', BigId, nullable=False),
    sa.Column('payer_person_id', BigId, nullable=False),
    sa.Column('account_id', BigId, nullable=False),
    sa.Column('binding_id', BigId, nullable=True),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('paid_fen', sa.BigInteger(), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('transaction_id', BigId, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint('paid_fen > 0 AND paid_fen <= amount_fen', name=op.f('ck_institution_payments_paid_within_amount')),
    sa.CheckConstraint("status IN ('pending', 'posted')", name=op.f('ck_institution_payments_status')),
    sa.CheckConstraint("(status = 'posted') = (transaction_id IS NOT NULL)", name=op.f('ck_institution_payments_posted_has_transaction')),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_institution_payments_institution_id_institutions')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_institution_payments_person_id_persons')),
    sa.ForeignKeyConstraint(['payer_person_id'], ['persons.id'], name=op.f('fk_institution_payments_payer_person_id_persons')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_institution_payments_account_id_accounts')),
    sa.ForeignKeyConstraint(['binding_id'], ['family_bindings.id'], name=op.f('fk_institution_payments_binding_id_family_bindings')),
    sa.ForeignKeyConstraint(['transaction_id'], ['ledger_transactions.id'], name=op.f('fk_institution_payments_transaction_id_ledger_transactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_institution_payments')),
    sa.UniqueConstraint('institution_id', 'receipt_no', name=op.f('uq_institution_payments_institution_id_receipt_no')),
    sa.UniqueConstraint('institution_id', 'idempotency_key', name=op.f('uq_institution_payments_institution_id_idempotency_key'))
    )
    with op.batch_alter_table('institution_payments', schema=None) as batch_op:
        batch_op.create_index('ix_institution_payments_institution_date', ['institution_id', 'business_date'], unique=False)

    op.create_table('institution_refunds',
    sa.Column('id', BigId, nullable=False),
    sa.Column('payment_id', BigId, nullable=False),
    sa.Column('institution_id', BigId, nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('transaction_id', BigId, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_institution_refunds_amount_positive')),
    sa.CheckConstraint("status IN ('pending', 'posted')", name=op.f('ck_institution_refunds_status')),
    sa.CheckConstraint("(status = 'posted') = (transaction_id IS NOT NULL)", name=op.f('ck_institution_refunds_posted_has_transaction')),
    sa.ForeignKeyConstraint(['payment_id'], ['institution_payments.id'], name=op.f('fk_institution_refunds_payment_id_institution_payments')),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_institution_refunds_institution_id_institutions')),
    sa.ForeignKeyConstraint(['transaction_id'], ['ledger_transactions.id'], name=op.f('fk_institution_refunds_transaction_id_ledger_transactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_institution_refunds')),
    sa.UniqueConstraint('institution_id', 'idempotency_key', name=op.f('uq_institution_refunds_institution_id_idempotency_key'))
    )
    with op.batch_alter_table('institution_refunds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_institution_refunds_payment_id'), ['payment_id'], unique=False)
        batch_op.create_index('ix_institution_refunds_institution_date', ['institution_id', 'business_date'], unique=False)

    op.create_table('family_payments',
    sa.Column('transaction_id', BigId, nullable=False),
    sa.Column('binding_id', BigId, nullable=False),
    sa.Column('holder_person_id', BigId, nullable=False),
    sa.Column('member_person_id', BigId, nullable=False),
    sa.Column('account_id', BigId, nullable=False),
    sa.Column('purpose', sa.String(length=8), nullable=False),
    sa.Column('premium_year', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("purpose IN ('medical', 'refund', 'premium')", name=op.f('ck_family_payments_purpose')),
    sa.CheckConstraint("(purpose = 'premium') = (premium_year IS NOT NULL)", name=op.f('ck_family_payments_premium_has_year')),
    sa.ForeignKeyConstraint(['transaction_id'], ['ledger_transactions.id'], name=op.f('fk_family_payments_transaction_id_ledger_transactions')),
    sa.ForeignKeyConstraint(['binding_id'], ['family_bindings.id'], name=op.f('fk_family_payments_binding_id_family_bindings')),
    sa.ForeignKeyConstraint(['holder_person_id'], ['persons.id'], name=op.f('fk_family_payments_holder_person_id_persons')),
    sa.ForeignKeyConstraint(['member_person_id'], ['persons.id'], name=op.f('fk_family_payments_member_person_id_persons')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_family_payments_account_id_accounts')),
    sa.PrimaryKeyConstraint('transaction_id', name=op.f('pk_family_payments')),
    sa.UniqueConstraint('member_person_id', 'premium_year', name=op.f('uq_family_payments_member_person_id_premium_year'))
    )
    with op.batch_alter_table('family_payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_family_payments_holder_person_id'), ['holder_person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_family_payments_member_person_id'), ['member_person_id'], unique=False)


def downgrade() -> None:
    op.drop_table('family_payments')
    op.drop_table('institution_refunds')
    op.drop_table('institution_payments')
    op.drop_table('family_bindings')
    with op.batch_alter_table('institutions', schema=None) as batch_op:
        batch_op.drop_column('designated')
