"""Rotated refresh tokens; the e-voucher a payment spent

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05

``oauth_tokens.rotated_at``: when a refresh token was exchanged for a new pair. A rotated
token presented again was copied: every token of its grant is revoked. A token revoked for
another reason (the app's or the person's revocation) is not a sign of theft.

``institution_payments.evoucher_id``: the voucher a payment spent, so that a payment refused
after its reservation, or dropped by ``yibao payments resume``, gives it back.
"""

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('oauth_tokens', sa.Column('rotated_at', sa.DateTime(timezone=True), nullable=True))
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite adds a column with its reference in place (Alembic would copy the whole table).
        op.execute(
            'ALTER TABLE institution_payments ADD COLUMN evoucher_id INTEGER '
            'CONSTRAINT fk_institution_payments_evoucher_id_evouchers REFERENCES evouchers (id)'
        )
    else:
        op.add_column('institution_payments', sa.Column('evoucher_id', sa.BigInteger(), nullable=True))
        op.create_foreign_key(
            op.f('fk_institution_payments_evoucher_id_evouchers'), 'institution_payments', 'evouchers', ['evoucher_id'], ['id'],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite does not report a column's own named reference: the table copy leaves the
        # column out, and its reference with it (refunds point at payments: checked at commit).
        op.execute('PRAGMA defer_foreign_keys = ON')
        with op.batch_alter_table('institution_payments') as batch_op:
            batch_op.drop_column('evoucher_id')
    else:
        op.drop_constraint(op.f('fk_institution_payments_evoucher_id_evouchers'), 'institution_payments', type_='foreignkey')
        op.drop_column('institution_payments', 'evoucher_id')
    op.drop_column('oauth_tokens', 'rotated_at')
