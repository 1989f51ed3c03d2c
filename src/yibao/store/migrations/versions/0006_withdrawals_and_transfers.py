"""withdrawal, inheritance and transfer between pooling regions

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23

Withdrawal cases with their documents (stored in the database with a SHA-256, see
``models.Document``), heirs and death records; transfers between pooling regions and
emergency refunds with their dated steps and due dates. Staff get the role 'supervisor',
who gives the second approval of a withdrawal above the threshold.
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

ROLES_BEFORE = "role IN ('agent', 'auditor')"
ROLES_AFTER = "role IN ('agent', 'auditor', 'supervisor')"


def upgrade() -> None:
    op.create_table('emergency_refunds',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('incurred_on', sa.Date(), nullable=False),
    sa.Column('receipt_number', sa.String(length=40), nullable=False),
    sa.Column('approved_on', sa.Date(), nullable=False),
    sa.Column('approved_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('refunded_on', sa.Date(), nullable=True),
    sa.Column('transaction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_emergency_refunds_amount_positive')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_emergency_refunds_account_id_accounts')),
    sa.ForeignKeyConstraint(['approved_by'], ['staff_users.id'], name=op.f('fk_emergency_refunds_approved_by_staff_users')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_emergency_refunds_person_id_persons')),
    sa.ForeignKeyConstraint(['transaction_id'], ['ledger_transactions.id'], name=op.f('fk_emergency_refunds_transaction_id_ledger_transactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_emergency_refunds')),
    sa.UniqueConstraint('person_id', 'receipt_number', name=op.f('uq_emergency_refunds_person_id_receipt_number'))
    )
    with op.batch_alter_table('emergency_refunds', schema=None) as batch_op:
        batch_op.create_index('ix_emergency_refunds_open', ['refunded_on', 'due_on'], unique=False)

    op.create_table('region_transfers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('from_account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('from_region', sa.String(length=6), nullable=False),
    sa.Column('to_region', sa.String(length=6), nullable=False),
    sa.Column('to_account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=True),
    sa.Column('balance_accepted', sa.Boolean(), nullable=True),
    sa.Column('requested_on', sa.Date(), nullable=False),
    sa.Column('out_due', sa.Date(), nullable=False),
    sa.Column('reviewed_on', sa.Date(), nullable=True),
    sa.Column('reviewed_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('out_on', sa.Date(), nullable=True),
    sa.Column('out_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('in_due', sa.Date(), nullable=True),
    sa.Column('in_on', sa.Date(), nullable=True),
    sa.Column('in_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("status IN ('requested', 'approved', 'transferred_out', 'completed', 'rejected')", name=op.f('ck_region_transfers_status')),
    sa.CheckConstraint('from_region != to_region', name=op.f('ck_region_transfers_regions_differ')),
    sa.ForeignKeyConstraint(['from_account_id'], ['accounts.id'], name=op.f('fk_region_transfers_from_account_id_accounts')),
    sa.ForeignKeyConstraint(['in_by'], ['staff_users.id'], name=op.f('fk_region_transfers_in_by_staff_users')),
    sa.ForeignKeyConstraint(['out_by'], ['staff_users.id'], name=op.f('fk_region_transfers_out_by_staff_users')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_region_transfers_person_id_persons')),
    sa.ForeignKeyConstraint(['reviewed_by'], ['staff_users.id'], name=op.f('fk_region_transfers_reviewed_by_staff_users')),
    sa.ForeignKeyConstraint(['to_account_id'], ['accounts.id'], name=op.f('fk_region_transfers_to_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_region_transfers'))
    )
    with op.batch_alter_table('region_transfers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_region_transfers_person_id'), ['person_id'], unique=False)
        batch_op.create_index('ix_region_transfers_status', ['status'], unique=False)
        batch_op.create_index('uq_region_transfers_open_person', ['person_id'], unique=True, sqlite_where=sa.text("status IN ('requested', 'approved', 'transferred_out')"), postgresql_where=sa.text("status IN ('requested', 'approved', 'transferred_out')"))

    op.create_table('withdrawal_cases',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('applicant', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('policy_allowed', sa.Boolean(), nullable=True),
    sa.Column('policy_confidence', sa.String(length=16), nullable=False),
    sa.Column('required_documents', sa.JSON(), nullable=False),
    sa.Column('rule_ids', sa.JSON(), nullable=False),
    sa.Column('transfer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('fixed_amount_fen', sa.BigInteger(), nullable=True),
    sa.Column('applied_on', sa.Date(), nullable=False),
    sa.Column('submitted_on', sa.Date(), nullable=True),
    sa.Column('first_approver_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('first_approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('second_approver_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('second_approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rejected_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('decision_note', sa.String(length=200), nullable=True),
    sa.Column('paid_fen', sa.BigInteger(), nullable=True),
    sa.Column('paid_on', sa.Date(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("applicant IN ('person', 'heir')", name=op.f('ck_withdrawal_cases_applicant')),
    sa.CheckConstraint("status IN ('collecting', 'submitted', 'approved_once', 'paid', 'rejected')", name=op.f('ck_withdrawal_cases_status')),
    sa.CheckConstraint('paid_fen IS NULL OR paid_fen >= 0', name=op.f('ck_withdrawal_cases_paid_not_negative')),
    sa.CheckConstraint('second_approver_id IS NULL OR second_approver_id != first_approver_id', name=op.f('ck_withdrawal_cases_two_approvers')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_withdrawal_cases_account_id_accounts')),
    sa.ForeignKeyConstraint(['first_approver_id'], ['staff_users.id'], name=op.f('fk_withdrawal_cases_first_approver_id_staff_users')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_withdrawal_cases_person_id_persons')),
    sa.ForeignKeyConstraint(['rejected_by'], ['staff_users.id'], name=op.f('fk_withdrawal_cases_rejected_by_staff_users')),
    sa.ForeignKeyConstraint(['second_approver_id'], ['staff_users.id'], name=op.f('fk_withdrawal_cases_second_approver_id_staff_users')),
    sa.ForeignKeyConstraint(['transfer_id'], ['region_transfers.id'], name=op.f('fk_withdrawal_cases_transfer_id_region_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_withdrawal_cases'))
    )
    with op.batch_alter_table('withdrawal_cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_withdrawal_cases_person_id'), ['person_id'], unique=False)
        batch_op.create_index('uq_withdrawal_cases_open_person', ['person_id'], unique=True, sqlite_where=sa.text("status IN ('collecting', 'submitted', 'approved_once')"), postgresql_where=sa.text("status IN ('collecting', 'submitted', 'approved_once')"))

    op.create_table('documents',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('withdrawal_case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('doc_type', sa.String(length=40), nullable=False),
    sa.Column('file_name', sa.String(length=100), nullable=False),
    sa.Column('media_type', sa.String(length=32), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('uploaded_by', sa.String(length=64), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint('size_bytes > 0', name=op.f('ck_documents_size_positive')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_documents_person_id_persons')),
    sa.ForeignKeyConstraint(['withdrawal_case_id'], ['withdrawal_cases.id'], name=op.f('fk_documents_withdrawal_case_id_withdrawal_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_documents'))
    )
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_documents_withdrawal_case_id'), ['withdrawal_case_id'], unique=False)

    op.create_table('heirs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('id_number', sa.String(length=18), nullable=False),
    sa.Column('share_numerator', sa.Integer(), nullable=False),
    sa.Column('share_denominator', sa.Integer(), nullable=False),
    sa.Column('paid_fen', sa.BigInteger(), nullable=True),
    sa.Column('transaction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.CheckConstraint('share_numerator > 0 AND share_numerator <= share_denominator', name=op.f('ck_heirs_share')),
    sa.ForeignKeyConstraint(['case_id'], ['withdrawal_cases.id'], name=op.f('fk_heirs_case_id_withdrawal_cases')),
    sa.ForeignKeyConstraint(['transaction_id'], ['ledger_transactions.id'], name=op.f('fk_heirs_transaction_id_ledger_transactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_heirs')),
    sa.UniqueConstraint('case_id', 'id_number', name=op.f('uq_heirs_case_id_id_number'))
    )
    with op.batch_alter_table('heirs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_heirs_case_id'), ['case_id'], unique=False)

    op.create_table('death_records',
    sa.Column('person_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('died_on', sa.Date(), nullable=False),
    sa.Column('certificate_number', sa.String(length=40), nullable=False),
    sa.Column('document_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('recorded_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_death_records_document_id_documents')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_death_records_person_id_persons')),
    sa.ForeignKeyConstraint(['recorded_by'], ['staff_users.id'], name=op.f('fk_death_records_recorded_by_staff_users')),
    sa.PrimaryKeyConstraint('person_id', name=op.f('pk_death_records'))
    )

    _staff_roles(ROLES_AFTER)


def _staff_roles(condition: str) -> None:
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_staff_users_role'), type_='check')
        batch_op.create_check_constraint(op.f('ck_staff_users_role'), condition)


def downgrade() -> None:
    op.drop_table('death_records')
    with op.batch_alter_table('heirs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_heirs_case_id'))

    op.drop_table('heirs')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_documents_withdrawal_case_id'))

    op.drop_table('documents')
    with op.batch_alter_table('withdrawal_cases', schema=None) as batch_op:
        batch_op.drop_index('uq_withdrawal_cases_open_person', sqlite_where=sa.text("status IN ('collecting', 'submitted', 'approved_once')"), postgresql_where=sa.text("status IN ('collecting', 'submitted', 'approved_once')"))
        batch_op.drop_index(batch_op.f('ix_withdrawal_cases_person_id'))

    op.drop_table('withdrawal_cases')
    with op.batch_alter_table('region_transfers', schema=None) as batch_op:
        batch_op.drop_index('uq_region_transfers_open_person', sqlite_where=sa.text("status IN ('requested', 'approved', 'transferred_out')"), postgresql_where=sa.text("status IN ('requested', 'approved', 'transferred_out')"))
        batch_op.drop_index('ix_region_transfers_status')
        batch_op.drop_index(batch_op.f('ix_region_transfers_person_id'))

    op.drop_table('region_transfers')
    with op.batch_alter_table('emergency_refunds', schema=None) as batch_op:
        batch_op.drop_index('ix_emergency_refunds_open')

    op.drop_table('emergency_refunds')
    # Supervisors cannot stay under the old constraint; their sessions end with them.
    op.execute("DELETE FROM staff_users WHERE role = 'supervisor'")
    _staff_roles(ROLES_BEFORE)
