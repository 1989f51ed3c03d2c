"""Four eyes on every staff action that moves money

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

``case_participants`` records each staff member's side in a money case (prepare or approve),
one side per person and case by a unique key. Emergency refunds become a case: entered (with
their documents), approved by another person, above a threshold approved again, then paid;
CHECK constraints refuse an approver who entered the refund and a second approver who took
either earlier part. A death record waits for a second person (confirm or reject; the
recorder can do neither, by CHECK). Heirs carry whether they are insured here and the bank
account their part is paid to.

Rows already there: a refund entered and approved by one person and not yet paid goes back to
"entered" (its approver becomes its enterer) and needs an approval by someone else; paid ones
keep their one approver (``entered_by`` NULL). Death records already there are confirmed.
Staff who prepared open withdrawal cases (created them, uploaded documents, refused the
balance at transfer-in) or gave their first approval are recorded as such.
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
OPEN_CASE = "('collecting', 'submitted', 'approved_once')"


def upgrade() -> None:
    op.create_table('case_participants',
    sa.Column('id', BigId, nullable=False),
    sa.Column('case_kind', sa.String(length=16), nullable=False),
    sa.Column('case_id', sa.BigInteger(), nullable=False),
    sa.Column('staff_id', BigId, nullable=False),
    sa.Column('side', sa.String(length=8), nullable=False),
    sa.Column('parts', sa.JSON(), nullable=False),
    sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("case_kind IN ('withdrawal', 'refund', 'death')", name=op.f('ck_case_participants_case_kind')),
    sa.CheckConstraint("side IN ('prepare', 'approve')", name=op.f('ck_case_participants_side')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_case_participants_staff_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_participants')),
    sa.UniqueConstraint('case_kind', 'case_id', 'staff_id', name=op.f('uq_case_participants_case_kind_case_id_staff_id'))
    )

    with op.batch_alter_table('emergency_refunds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('entered_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('entered_by', BigId, nullable=True))
        batch_op.add_column(sa.Column('second_approved_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('second_approved_by', BigId, nullable=True))
        batch_op.add_column(sa.Column('rejected_by', BigId, nullable=True))
        batch_op.add_column(sa.Column('decision_note', sa.String(length=200), nullable=True))
        batch_op.alter_column('approved_on', existing_type=sa.Date(), nullable=True)
        batch_op.alter_column('approved_by', existing_type=BigId, nullable=True)
    op.execute("UPDATE emergency_refunds SET entered_on = approved_on, status = 'paid' WHERE refunded_on IS NOT NULL")
    op.execute(
        "UPDATE emergency_refunds SET entered_on = approved_on, entered_by = approved_by, approved_on = NULL,"
        " approved_by = NULL, status = 'entered' WHERE refunded_on IS NULL"
    )
    with op.batch_alter_table('emergency_refunds', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=sa.String(length=16), nullable=False)
        batch_op.alter_column('entered_on', existing_type=sa.Date(), nullable=False)
        batch_op.create_foreign_key(batch_op.f('fk_emergency_refunds_entered_by_staff_users'), 'staff_users', ['entered_by'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_emergency_refunds_second_approved_by_staff_users'), 'staff_users', ['second_approved_by'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_emergency_refunds_rejected_by_staff_users'), 'staff_users', ['rejected_by'], ['id'])
        batch_op.create_check_constraint(
            batch_op.f('ck_emergency_refunds_status'), "status IN ('entered', 'approved_once', 'approved', 'paid', 'rejected')")
        batch_op.create_check_constraint(
            batch_op.f('ck_emergency_refunds_approver_not_enterer'), 'approved_by IS NULL OR approved_by != entered_by')
        batch_op.create_check_constraint(
            batch_op.f('ck_emergency_refunds_second_approver_differs'),
            'second_approved_by IS NULL OR (second_approved_by != approved_by AND second_approved_by != entered_by)')
        batch_op.create_check_constraint(
            batch_op.f('ck_emergency_refunds_approved_before_paid'), "status IN ('entered', 'rejected') OR approved_by IS NOT NULL")
        batch_op.create_index('ix_emergency_refunds_person_incurred', ['person_id', 'incurred_on'], unique=False)

    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('emergency_refund_id', BigId, nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_documents_emergency_refund_id_emergency_refunds'), 'emergency_refunds', ['emergency_refund_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_documents_emergency_refund_id'), ['emergency_refund_id'], unique=False)

    with op.batch_alter_table('death_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('frozen_account_id', BigId, nullable=True))
        batch_op.add_column(sa.Column('confirmed_by', BigId, nullable=True))
        batch_op.add_column(sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('rejected_by', BigId, nullable=True))
        batch_op.add_column(sa.Column('rejected_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('decision_note', sa.String(length=200), nullable=True))
    op.execute("UPDATE death_records SET status = 'confirmed'")
    with op.batch_alter_table('death_records', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=sa.String(length=16), nullable=False)
        batch_op.create_foreign_key(batch_op.f('fk_death_records_frozen_account_id_accounts'), 'accounts', ['frozen_account_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_death_records_confirmed_by_staff_users'), 'staff_users', ['confirmed_by'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_death_records_rejected_by_staff_users'), 'staff_users', ['rejected_by'], ['id'])
        batch_op.create_check_constraint(batch_op.f('ck_death_records_status'), "status IN ('pending', 'confirmed', 'rejected')")
        batch_op.create_check_constraint(
            batch_op.f('ck_death_records_confirmer_not_recorder'), 'confirmed_by IS NULL OR confirmed_by != recorded_by')
        batch_op.create_check_constraint(
            batch_op.f('ck_death_records_rejecter_not_recorder'), 'rejected_by IS NULL OR rejected_by != recorded_by')

    with op.batch_alter_table('heirs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('insured_here', sa.Boolean(), server_default=sa.text('false'), nullable=False))
        batch_op.add_column(sa.Column('bank_name', sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column('bank_account', sa.String(length=30), nullable=True))
    op.execute(
        "UPDATE heirs SET insured_here = EXISTS (SELECT 1 FROM persons WHERE persons.id_number = heirs.id_number)"
    )

    _record_participants_of_open_cases()


def _record_participants_of_open_cases() -> None:
    """Who prepared or first-approved the cases still open, so the rule covers them too."""
    conn = op.get_bind()
    prepared: dict[tuple[str, int, int], list[str]] = {}

    def staff_id(label: str | None) -> int | None:
        return int(label.split(":", 1)[1]) if label and label.startswith("staff:") else None

    open_cases = conn.execute(sa.text(
        f"SELECT id, created_by, transfer_id FROM withdrawal_cases WHERE status IN {OPEN_CASE}"
    )).all()
    for case_id, created_by, transfer_id in open_cases:
        if staff_id(created_by) is not None:
            prepared.setdefault(('withdrawal', case_id, staff_id(created_by)), []).append('recorded_death')
        if transfer_id is not None:
            in_by = conn.execute(sa.text("SELECT in_by FROM region_transfers WHERE id = :id"), {"id": transfer_id}).scalar()
            if in_by is not None:
                prepared.setdefault(('withdrawal', case_id, in_by), []).append('refused_balance')
        uploaders = conn.execute(sa.text(
            "SELECT DISTINCT uploaded_by FROM documents WHERE withdrawal_case_id = :id"), {"id": case_id}).scalars()
        for label in uploaders:
            if staff_id(label) is not None:
                prepared.setdefault(('withdrawal', case_id, staff_id(label)), []).append('uploaded_document')
    refunds = conn.execute(sa.text("SELECT id, entered_by FROM emergency_refunds WHERE status = 'entered'")).all()
    for refund_id, entered_by in refunds:
        prepared.setdefault(('refund', refund_id, entered_by), []).append('entered')
    table = sa.table(
        'case_participants', sa.column('case_kind'), sa.column('case_id'), sa.column('staff_id'), sa.column('side'),
        sa.column('parts', sa.JSON()), sa.column('first_at'), sa.column('last_at'),
    )
    now = sa.func.now()
    for (kind, case_id, staff), parts in prepared.items():
        conn.execute(table.insert().values(case_kind=kind, case_id=case_id, staff_id=staff, side='prepare',
                                           parts=sorted(set(parts)), first_at=now, last_at=now))
    approvers = conn.execute(sa.text(
        "SELECT id, first_approver_id FROM withdrawal_cases WHERE status = 'approved_once'")).all()
    for case_id, approver in approvers:
        if ('withdrawal', case_id, approver) not in prepared:
            conn.execute(table.insert().values(case_kind='withdrawal', case_id=case_id, staff_id=approver, side='approve',
                                               parts=['first_approval'], first_at=now, last_at=now))


def downgrade() -> None:
    with op.batch_alter_table('heirs', schema=None) as batch_op:
        batch_op.drop_column('bank_account')
        batch_op.drop_column('bank_name')
        batch_op.drop_column('insured_here')

    # Deaths never confirmed go; the accounts they froze provisionally are active again.
    op.execute(
        "UPDATE accounts SET status = 'active' WHERE status = 'frozen' AND id IN"
        " (SELECT frozen_account_id FROM death_records WHERE status = 'pending')"
    )
    op.execute("DELETE FROM death_records WHERE status != 'confirmed'")
    with op.batch_alter_table('death_records', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_death_records_rejecter_not_recorder'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_death_records_confirmer_not_recorder'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_death_records_status'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_death_records_rejected_by_staff_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_death_records_confirmed_by_staff_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_death_records_frozen_account_id_accounts'), type_='foreignkey')
        for column in ('decision_note', 'rejected_at', 'rejected_by', 'confirmed_at', 'confirmed_by', 'frozen_account_id', 'status'):
            batch_op.drop_column(column)

    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_documents_emergency_refund_id'))
        batch_op.drop_constraint(batch_op.f('fk_documents_emergency_refund_id_emergency_refunds'), type_='foreignkey')
        batch_op.drop_column('emergency_refund_id')

    with op.batch_alter_table('emergency_refunds', schema=None) as batch_op:
        batch_op.drop_index('ix_emergency_refunds_person_incurred')
        for name in ('approved_before_paid', 'second_approver_differs', 'approver_not_enterer', 'status'):
            batch_op.drop_constraint(batch_op.f(f'ck_emergency_refunds_{name}'), type_='check')
        for name in ('rejected_by', 'second_approved_by', 'entered_by'):
            batch_op.drop_constraint(batch_op.f(f'fk_emergency_refunds_{name}_staff_users'), type_='foreignkey')
    # Refunds not yet approved by anyone come back as approved by whoever entered them, as before 0011.
    op.execute("DELETE FROM emergency_refunds WHERE status = 'rejected'")
    op.execute(
        "UPDATE emergency_refunds SET approved_by = entered_by, approved_on = entered_on WHERE approved_by IS NULL"
    )
    with op.batch_alter_table('emergency_refunds', schema=None) as batch_op:
        batch_op.alter_column('approved_by', existing_type=BigId, nullable=False)
        batch_op.alter_column('approved_on', existing_type=sa.Date(), nullable=False)
        for column in ('decision_note', 'rejected_by', 'second_approved_by', 'second_approved_on', 'entered_by', 'entered_on', 'status'):
            batch_op.drop_column(column)

    op.drop_table('case_participants')
