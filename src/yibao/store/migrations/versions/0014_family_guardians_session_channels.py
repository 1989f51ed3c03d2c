"""Guardianships of minors, notifications, requests to relatives who may not be insured, session channels

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05

``guardianships``: a minor's guardians as agency staff confirmed them at the counter; only
they may bind the minor for family sharing and consent for them. ``notifications``: what a
person is told (a minor's other guardians when one binds or pays for the minor).

``family_bindings`` keeps the ID number the holder gave (``member_id_number``, filled from
``persons`` for the existing rows) and allows a request to a number that belongs to no
insured person (``member_person_id`` NULL, pending for ever): the answer to the holder is the
same either way. One open request per holder and ID number replaces one per holder and member.
On SQLite the column change rebuilds the table; its foreign keys are checked at commit.

``auth_sessions.channel``: where a session was opened and the only place it works. Existing
kiosk sign-ins (method ``kiosk_pin``) become 'kiosk'; every other session 'web' (a counter
page signed in before this revision signs in again).
"""

from alembic import op
import sqlalchemy as sa



revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

OPEN_BINDING = "status != 'ended'"
MEMBER_INSURED = "status != 'active' OR member_person_id IS NOT NULL"


def upgrade() -> None:
    _session_channels()
    _family_bindings()
    op.create_table('guardianships',
    sa.Column('id', BigId, nullable=False),
    sa.Column('minor_person_id', BigId, nullable=False),
    sa.Column('guardian_person_id', BigId, nullable=False),
    sa.Column('relation', sa.String(length=16), nullable=False),
    sa.Column('evidence', sa.String(length=200), nullable=False),
    sa.Column('confirmed_by', BigId, nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_by', BigId, nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("relation IN ('parent', 'grandparent', 'sibling', 'other')", name=op.f('ck_guardianships_relation')),
    sa.CheckConstraint('minor_person_id != guardian_person_id', name=op.f('ck_guardianships_two_people')),
    sa.ForeignKeyConstraint(['minor_person_id'], ['persons.id'], name=op.f('fk_guardianships_minor_person_id_persons')),
    sa.ForeignKeyConstraint(['guardian_person_id'], ['persons.id'], name=op.f('fk_guardianships_guardian_person_id_persons')),
    sa.ForeignKeyConstraint(['confirmed_by'], ['staff_users.id'], name=op.f('fk_guardianships_confirmed_by_staff_users')),
    sa.ForeignKeyConstraint(['ended_by'], ['staff_users.id'], name=op.f('fk_guardianships_ended_by_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guardianships'))
    )
    with op.batch_alter_table('guardianships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guardianships_minor_person_id'), ['minor_person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_guardianships_guardian_person_id'), ['guardian_person_id'], unique=False)
        batch_op.create_index(
            'uq_guardianships_current', ['minor_person_id', 'guardian_person_id'], unique=True,
            sqlite_where=sa.text('ended_at IS NULL'), postgresql_where=sa.text('ended_at IS NULL'),
        )

    op.create_table('notifications',
    sa.Column('id', BigId, nullable=False),
    sa.Column('person_id', BigId, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_notifications_person_id_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notifications_person_id'), ['person_id'], unique=False)


def _session_channels() -> None:
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=8), server_default='web', nullable=False))
    op.execute("UPDATE auth_sessions SET channel = 'kiosk' WHERE method = 'kiosk_pin'")
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.alter_column('channel', server_default=None)
        batch_op.create_check_constraint(op.f('ck_auth_sessions_channel'), "channel IN ('web', 'kiosk', 'counter')")


def _family_bindings() -> None:
    op.add_column('family_bindings', sa.Column('member_id_number', sa.String(length=18), nullable=True))
    op.execute(
        "UPDATE family_bindings SET member_id_number = "
        "(SELECT persons.id_number FROM persons WHERE persons.id = family_bindings.member_person_id)"
    )
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild_bindings_on_sqlite()
        return
    op.alter_column('family_bindings', 'member_person_id', existing_type=BigId, nullable=True)
    op.alter_column('family_bindings', 'member_id_number', existing_type=sa.String(length=18), nullable=False)
    op.drop_index('uq_family_bindings_open_pair', table_name='family_bindings')
    op.create_check_constraint(op.f('ck_family_bindings_member_insured'), 'family_bindings', MEMBER_INSURED)
    _open_request_index()


def _rebuild_bindings_on_sqlite() -> None:
    """SQLite cannot drop a NOT NULL: the table is made again.

    Payments refer to the bindings, and the foreign keys are on (they cannot be turned off
    inside the migration's transaction). Deferred to the commit, the dropped rows count as
    missing until the same rows are inserted into the new table; Alembic's batch rebuild
    renames its copy instead, which SQLite does not count as putting them back.
    """
    op.execute('PRAGMA defer_foreign_keys = ON')
    op.execute('CREATE TABLE _family_bindings_0014 AS SELECT * FROM family_bindings')
    op.drop_table('family_bindings')
    op.create_table('family_bindings',
    sa.Column('id', BigId, nullable=False),
    sa.Column('holder_person_id', BigId, nullable=False),
    sa.Column('member_person_id', BigId, nullable=True),
    sa.Column('relation', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('consented_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('consented_by', sa.String(length=8), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_by', BigId, nullable=True),
    sa.Column('member_id_number', sa.String(length=18), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'active', 'ended')", name=op.f('ck_family_bindings_status')),
    sa.CheckConstraint("consented_by IS NULL OR consented_by IN ('member', 'guardian')", name=op.f('ck_family_bindings_consented_by')),
    sa.CheckConstraint('holder_person_id != member_person_id', name=op.f('ck_family_bindings_two_people')),
    sa.CheckConstraint(MEMBER_INSURED, name=op.f('ck_family_bindings_member_insured')),
    sa.ForeignKeyConstraint(['holder_person_id'], ['persons.id'], name=op.f('fk_family_bindings_holder_person_id_persons')),
    sa.ForeignKeyConstraint(['member_person_id'], ['persons.id'], name=op.f('fk_family_bindings_member_person_id_persons')),
    sa.ForeignKeyConstraint(['ended_by'], ['persons.id'], name=op.f('fk_family_bindings_ended_by_persons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_family_bindings'))
    )
    columns = (
        'id, holder_person_id, member_person_id, relation, status, created_at, consented_at, consented_by, '
        'ended_at, ended_by, member_id_number'
    )
    op.execute(f'INSERT INTO family_bindings ({columns}) SELECT {columns} FROM _family_bindings_0014')
    op.drop_table('_family_bindings_0014')
    op.create_index(op.f('ix_family_bindings_holder_person_id'), 'family_bindings', ['holder_person_id'], unique=False)
    op.create_index(op.f('ix_family_bindings_member_person_id'), 'family_bindings', ['member_person_id'], unique=False)
    _open_request_index()


def _open_request_index() -> None:
    op.create_index(
        'uq_family_bindings_open_request', 'family_bindings', ['holder_person_id', 'member_id_number'], unique=True,
        sqlite_where=sa.text(OPEN_BINDING), postgresql_where=sa.text(OPEN_BINDING),
    )


def downgrade() -> None:
    op.drop_table('notifications')
    op.drop_table('guardianships')
    op.execute("DELETE FROM family_bindings WHERE member_person_id IS NULL")
    with op.batch_alter_table('family_bindings', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_family_bindings_member_insured'), type_='check')
        batch_op.drop_index('uq_family_bindings_open_request')
        batch_op.create_index(
            'uq_family_bindings_open_pair', ['holder_person_id', 'member_person_id'], unique=True,
            sqlite_where=sa.text(OPEN_BINDING), postgresql_where=sa.text(OPEN_BINDING),
        )
        batch_op.alter_column('member_person_id', existing_type=BigId, nullable=False)
        batch_op.drop_column('member_id_number')
    with op.batch_alter_table('auth_sessions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_auth_sessions_channel'), type_='check')
        batch_op.drop_column('channel')
