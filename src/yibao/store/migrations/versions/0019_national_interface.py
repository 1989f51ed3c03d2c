"""The national platform's interface for designated institutions

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05

``institutions.tif_generation`` (the TIF signature secret, derived from the server key),
``national_sign_ins`` (9001/9002), ``national_nonces`` (TIF nonces seen), ``national_messages``
(every message by msgid with its answer: the idempotency key), ``national_identifications``
(1101) and ``national_settlements`` (2102/2207 with their lines and reversals).
"""

from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _id():
    return sa.Column('id', BigId, nullable=False)


def _institution(table: str):
    return (
        sa.Column('institution_id', BigId, nullable=False),
        sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=f'fk_{table}_institution_id_institutions'),
    )


def upgrade() -> None:
    with op.batch_alter_table('institutions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tif_generation', sa.Integer(), nullable=True))

    op.create_table('national_sign_ins',
    _id(), *_institution('national_sign_ins'),
    sa.Column('sign_no', sa.String(length=30), nullable=False),
    sa.Column('opter_no', sa.String(length=30), nullable=False),
    sa.Column('mac', sa.String(length=64), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('signed_in_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('signed_out_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_national_sign_ins')),
    sa.UniqueConstraint('sign_no', name=op.f('uq_national_sign_ins_sign_no'))
    )
    op.create_table('national_nonces',
    _id(), *_institution('national_nonces'),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_national_nonces')),
    sa.UniqueConstraint('institution_id', 'nonce', name=op.f('uq_national_nonces_institution_id_nonce'))
    )
    op.create_index(op.f('ix_national_nonces_seen_at'), 'national_nonces', ['seen_at'], unique=False)
    op.create_table('national_messages',
    _id(), *_institution('national_messages'),
    sa.Column('msgid', sa.String(length=64), nullable=False),
    sa.Column('infno', sa.String(length=10), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('person_id', BigId, nullable=True),
    sa.Column('infcode', sa.Integer(), nullable=True),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('tombstone', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_national_messages_person_id_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_national_messages')),
    sa.UniqueConstraint('institution_id', 'msgid', name=op.f('uq_national_messages_institution_id_msgid'))
    )
    op.create_table('national_identifications',
    _id(), *_institution('national_identifications'),
    sa.Column('person_id', BigId, nullable=False),
    sa.Column('msgid', sa.String(length=64), nullable=False),
    sa.Column('cert_type', sa.String(length=3), nullable=False),
    sa.Column('cert_hash', sa.String(length=64), nullable=False),
    sa.Column('account_use', sa.Boolean(), nullable=False),
    sa.Column('identified_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_national_identifications_person_id_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_national_identifications')),
    sa.UniqueConstraint('institution_id', 'msgid', name=op.f('uq_national_identifications_institution_id_msgid'))
    )
    op.create_index(
        'ix_national_identifications_person', 'national_identifications',
        ['institution_id', 'person_id', 'cert_hash'], unique=False,
    )
    op.create_table('national_settlements',
    _id(), *_institution('national_settlements'),
    sa.Column('msgid', sa.String(length=64), nullable=False),
    sa.Column('infno', sa.String(length=4), nullable=False),
    sa.Column('person_id', BigId, nullable=False),
    sa.Column('identification_id', BigId, nullable=False),
    sa.Column('mdtrt_id', sa.String(length=30), nullable=False),
    sa.Column('insutype', sa.String(length=6), nullable=False),
    sa.Column('med_type', sa.String(length=6), nullable=False),
    sa.Column('clr_type', sa.String(length=6), nullable=False),
    sa.Column('invono', sa.String(length=30), nullable=False),
    sa.Column('medfee_fen', sa.BigInteger(), nullable=False),
    sa.Column('acct_pay_fen', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('mulaid_fen', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('cash_fen', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('self_payment_id', BigId, nullable=True),
    sa.Column('family_payment_id', BigId, nullable=True),
    sa.Column('lines', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reversal_msgid', sa.String(length=64), nullable=True),
    sa.Column('reversal_infno', sa.String(length=4), nullable=True),
    sa.Column('reversed_on', sa.Date(), nullable=True),
    sa.Column('reversed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'settled', 'reversed')", name=op.f('ck_national_settlements_status')),
    sa.CheckConstraint('medfee_fen > 0 AND acct_pay_fen >= 0 AND cash_fen >= 0', name=op.f('ck_national_settlements_amounts_not_negative')),
    sa.CheckConstraint('acct_pay_fen + cash_fen = medfee_fen', name=op.f('ck_national_settlements_paid_adds_up')),
    sa.CheckConstraint('mulaid_fen >= 0 AND mulaid_fen <= acct_pay_fen', name=op.f('ck_national_settlements_mulaid_within_account')),
    sa.CheckConstraint("(status = 'reversed') = (reversed_on IS NOT NULL)", name=op.f('ck_national_settlements_reversed_has_date')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_national_settlements_person_id_persons')),
    sa.ForeignKeyConstraint(['identification_id'], ['national_identifications.id'], name=op.f('fk_national_settlements_identification_id_national_identifications')),
    sa.ForeignKeyConstraint(['self_payment_id'], ['institution_payments.id'], name=op.f('fk_national_settlements_self_payment_id_institution_payments')),
    sa.ForeignKeyConstraint(['family_payment_id'], ['institution_payments.id'], name=op.f('fk_national_settlements_family_payment_id_institution_payments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_national_settlements')),
    sa.UniqueConstraint('institution_id', 'msgid', name=op.f('uq_national_settlements_institution_id_msgid'))
    )
    op.create_index('ix_national_settlements_day', 'national_settlements', ['institution_id', 'business_date'], unique=False)
    op.create_index('ix_national_settlements_reversed', 'national_settlements', ['institution_id', 'reversed_on'], unique=False)
    op.create_index('ix_national_settlements_person', 'national_settlements', ['person_id', 'business_date'], unique=False)


def downgrade() -> None:
    op.drop_table('national_settlements')
    op.drop_table('national_identifications')
    op.drop_table('national_messages')
    op.drop_index(op.f('ix_national_nonces_seen_at'), table_name='national_nonces')
    op.drop_table('national_nonces')
    op.drop_table('national_sign_ins')
    with op.batch_alter_table('institutions', schema=None) as batch_op:
        batch_op.drop_column('tif_generation')
