"""Outpatient visits of the national interface (2201–2205)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05

``national_visits`` (2201 registration: the ``mdtrt_id``; 2203 visit information) and
``national_fee_lines`` (2204 fee lines, withdrawn by 2205, settled by 2207).
"""

from alembic import op
import sqlalchemy as sa


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('national_visits',
    sa.Column('id', BigId, nullable=False),
    sa.Column('institution_id', BigId, nullable=False),
    sa.Column('person_id', BigId, nullable=False),
    sa.Column('identification_id', BigId, nullable=False),
    sa.Column('msgid', sa.String(length=64), nullable=False),
    sa.Column('ipt_otp_no', sa.String(length=30), nullable=False),
    sa.Column('insutype', sa.String(length=6), nullable=False),
    sa.Column('med_type', sa.String(length=6), server_default=sa.text("''"), nullable=False),
    sa.Column('dise_codg', sa.String(length=30), server_default=sa.text("''"), nullable=False),
    sa.Column('dise_name', sa.String(length=300), server_default=sa.text("''"), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('open', 'cancelled')", name=op.f('ck_national_visits_status')),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_national_visits_institution_id_institutions')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_national_visits_person_id_persons')),
    sa.ForeignKeyConstraint(['identification_id'], ['national_identifications.id'], name=op.f('fk_national_visits_identification_id_national_identifications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_national_visits')),
    sa.UniqueConstraint('institution_id', 'msgid', name=op.f('uq_national_visits_institution_id_msgid'))
    )
    op.create_table('national_fee_lines',
    sa.Column('id', BigId, nullable=False),
    sa.Column('visit_id', BigId, nullable=False),
    sa.Column('feedetl_sn', sa.String(length=30), nullable=False),
    sa.Column('chrg_bchno', sa.String(length=30), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('settlement_id', BigId, nullable=True),
    sa.CheckConstraint('amount_fen >= 0', name=op.f('ck_national_fee_lines_amount_not_negative')),
    sa.ForeignKeyConstraint(['visit_id'], ['national_visits.id'], name=op.f('fk_national_fee_lines_visit_id_national_visits')),
    sa.ForeignKeyConstraint(['settlement_id'], ['national_settlements.id'], name=op.f('fk_national_fee_lines_settlement_id_national_settlements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_national_fee_lines')),
    sa.UniqueConstraint('visit_id', 'feedetl_sn', name=op.f('uq_national_fee_lines_visit_id_feedetl_sn'))
    )


def downgrade() -> None:
    op.drop_table('national_fee_lines')
    op.drop_table('national_visits')
