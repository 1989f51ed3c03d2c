"""Freezes of personal accounts made at the counter

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05

``account_freezes``: who froze a personal account at the counter, when and why, and who lifted
the freeze, when and why. The counter lifts only freezes it made (an open row here): an account
frozen by a recorded death or a transfer stays frozen.
"""

from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('account_freezes',
    sa.Column('id', BigId, nullable=False),
    sa.Column('account_id', BigId, nullable=False),
    sa.Column('person_id', BigId, nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('frozen_by', BigId, nullable=False),
    sa.Column('frozen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('unfreeze_reason', sa.String(length=200), nullable=True),
    sa.Column('unfrozen_by', BigId, nullable=True),
    sa.Column('unfrozen_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_account_freezes_account_id_accounts')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_account_freezes_person_id_persons')),
    sa.ForeignKeyConstraint(['frozen_by'], ['staff_users.id'], name=op.f('fk_account_freezes_frozen_by_staff_users')),
    sa.ForeignKeyConstraint(['unfrozen_by'], ['staff_users.id'], name=op.f('fk_account_freezes_unfrozen_by_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_freezes'))
    )
    with op.batch_alter_table('account_freezes', schema=None) as batch_op:
        batch_op.create_index('ix_account_freezes_person', ['person_id', 'id'], unique=False)
        batch_op.create_index(
            'uq_account_freezes_open', ['account_id'], unique=True,
            sqlite_where=sa.text('unfrozen_at IS NULL'), postgresql_where=sa.text('unfrozen_at IS NULL'),
        )


def downgrade() -> None:
    with op.batch_alter_table('account_freezes', schema=None) as batch_op:
        batch_op.drop_index('uq_account_freezes_open')
        batch_op.drop_index('ix_account_freezes_person')
    op.drop_table('account_freezes')
