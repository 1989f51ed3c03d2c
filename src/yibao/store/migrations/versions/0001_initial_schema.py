"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ledger_transactions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('memo', sa.String(length=200), server_default=sa.text("('')"), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=True),
    sa.Column('corrects_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['corrects_id'], ['ledger_transactions.id'], name=op.f('fk_ledger_transactions_corrects_id_ledger_transactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_transactions'))
    )
    with op.batch_alter_table('ledger_transactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_transactions_reference'), ['reference'], unique=False)

    op.create_table('persons',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('id_number', sa.String(length=18), nullable=False),
    sa.Column('card_number', sa.String(length=9), nullable=True),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('sex', sa.String(length=1), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('insurance_type', sa.String(length=16), nullable=False),
    sa.Column('employment', sa.String(length=16), nullable=False),
    sa.Column('enrolled_on', sa.Date(), nullable=False),
    sa.Column('retired_on', sa.Date(), nullable=True),
    sa.Column('died_on', sa.Date(), nullable=True),
    sa.Column('deemed_months', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("employment IN ('in_service', 'flexible', 'retired', 'none')", name=op.f('ck_persons_employment')),
    sa.CheckConstraint("insurance_type IN ('employee', 'resident')", name=op.f('ck_persons_insurance_type')),
    sa.CheckConstraint("sex IN ('M', 'F')", name=op.f('ck_persons_sex')),
    sa.CheckConstraint('deemed_months >= 0', name=op.f('ck_persons_deemed_months')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_persons')),
    sa.UniqueConstraint('card_number', name=op.f('uq_persons_card_number')),
    sa.UniqueConstraint('id_number', name=op.f('uq_persons_id_number'))
    )
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_persons_region_code'), ['region_code'], unique=False)

    op.create_table('accounts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('code', sa.String(length=64), nullable=True),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('status', sa.String(length=8), server_default=sa.text("'active'"), nullable=False),
    sa.Column('balance_fen', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('opened_on', sa.Date(), nullable=False),
    sa.Column('closed_on', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("(kind = 'personal') = (person_id IS NOT NULL)", name=op.f('ck_accounts_personal_has_person')),
    sa.CheckConstraint("kind IN ('personal', 'pool', 'institution', 'payout', 'clearing')", name=op.f('ck_accounts_kind')),
    sa.CheckConstraint("status IN ('active', 'frozen', 'closed')", name=op.f('ck_accounts_status')),
    sa.CheckConstraint('balance_fen >= 0', name=op.f('ck_accounts_balance_not_negative')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_accounts_person_id_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('code', name=op.f('uq_accounts_code'))
    )
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_accounts_person_id'), ['person_id'], unique=False)
        batch_op.create_index('uq_accounts_open_personal', ['person_id'], unique=True, sqlite_where=sa.text("status != 'closed'"), postgresql_where=sa.text("status != 'closed'"))

    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('actor_kind', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('subject_person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('client', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['subject_person_id'], ['persons.id'], name=op.f('fk_audit_log_subject_person_id_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_at', ['at'], unique=False)
        batch_op.create_index('ix_audit_log_subject_at', ['subject_person_id', 'at'], unique=False)

    op.create_table('contributions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('insurance_type', sa.String(length=16), nullable=False),
    sa.Column('base_fen', sa.BigInteger(), nullable=False),
    sa.Column('employer_rate_bp', sa.Integer(), nullable=False),
    sa.Column('individual_rate_bp', sa.Integer(), nullable=False),
    sa.Column('employer_fen', sa.BigInteger(), nullable=False),
    sa.Column('individual_fen', sa.BigInteger(), nullable=False),
    sa.Column('account_fen', sa.BigInteger(), nullable=False),
    sa.Column('employer_name', sa.String(length=100), nullable=True),
    sa.Column('flexible', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=False),
    sa.Column('is_makeup', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint('base_fen >= 0 AND employer_fen >= 0 AND individual_fen >= 0 AND account_fen >= 0', name=op.f('ck_contributions_amounts_not_negative')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_contributions_person_id_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contributions')),
    sa.UniqueConstraint('person_id', 'month', name=op.f('uq_contributions_person_id_month'))
    )
    op.create_table('credentials',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('secret_hash', sa.String(length=256), nullable=False),
    sa.Column('must_change', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('failed_attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_credentials_person_id_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credentials')),
    sa.UniqueConstraint('person_id', 'kind', name=op.f('uq_credentials_person_id_kind'))
    )
    op.create_table('idempotency_keys',
    sa.Column('scope', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('transaction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['transaction_id'], ['ledger_transactions.id'], name=op.f('fk_idempotency_keys_transaction_id_ledger_transactions')),
    sa.PrimaryKeyConstraint('scope', 'key', name=op.f('pk_idempotency_keys'))
    )
    op.create_table('postings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('transaction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.CheckConstraint('amount_fen != 0', name=op.f('ck_postings_amount_not_zero')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_postings_account_id_accounts')),
    sa.ForeignKeyConstraint(['transaction_id'], ['ledger_transactions.id'], name=op.f('fk_postings_transaction_id_ledger_transactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_postings'))
    )
    with op.batch_alter_table('postings', schema=None) as batch_op:
        batch_op.create_index('ix_postings_account_date', ['account_id', 'business_date', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_postings_transaction_id'), ['transaction_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('postings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_postings_transaction_id'))
        batch_op.drop_index('ix_postings_account_date')

    op.drop_table('postings')
    op.drop_table('idempotency_keys')
    op.drop_table('credentials')
    op.drop_table('contributions')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_subject_at')
        batch_op.drop_index('ix_audit_log_at')

    op.drop_table('audit_log')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_index('uq_accounts_open_personal', sqlite_where=sa.text("status != 'closed'"), postgresql_where=sa.text("status != 'closed'"))
        batch_op.drop_index(batch_op.f('ix_accounts_person_id'))

    op.drop_table('accounts')
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_persons_region_code'))

    op.drop_table('persons')
    with op.batch_alter_table('ledger_transactions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_transactions_reference'))

    op.drop_table('ledger_transactions')
