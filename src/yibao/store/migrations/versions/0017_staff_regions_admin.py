"""Staff work for a set of pooling regions; the administrator role

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05

``staff_regions``: the pooling regions each staff member works for (none: all regions),
taking over from ``staff_users.region_code`` (one region or all). ``staff_users.role`` may now
be 'admin': registers institutions, apps and staff and reads no person's data.

On SQLite the role's check constraint is changed by making ``staff_users`` again. Many tables
refer to it, and the foreign keys are on (they cannot be turned off inside the migration's
transaction): deferred to the commit, the rows count as missing only until the same rows are
inserted into the new table (as in 0014).
"""

from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
ROLES_BEFORE = "role IN ('agent', 'auditor', 'supervisor')"
ROLES_AFTER = "role IN ('agent', 'auditor', 'supervisor', 'admin')"
COLUMNS = 'id, username, name, role, secret_hash, active, created_at'


def upgrade() -> None:
    op.create_table('staff_regions',
    sa.Column('staff_id', BigId, nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_staff_regions_staff_id_staff_users')),
    sa.PrimaryKeyConstraint('staff_id', 'region_code', name=op.f('pk_staff_regions'))
    )
    op.execute(
        "INSERT INTO staff_regions (staff_id, region_code) "
        "SELECT id, region_code FROM staff_users WHERE region_code IS NOT NULL"
    )
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild_staff_on_sqlite(ROLES_AFTER, with_region=False)
        return
    op.drop_constraint(op.f('ck_staff_users_role'), 'staff_users', type_='check')
    op.create_check_constraint(op.f('ck_staff_users_role'), 'staff_users', ROLES_AFTER)
    op.drop_column('staff_users', 'region_code')


def downgrade() -> None:
    # One region each, as before; staff of several regions keep the first; administrators go
    # (their sessions with them), since the old constraint has no place for them.
    op.execute("DELETE FROM auth_sessions WHERE subject_kind = 'staff' AND subject_id IN "
               "(SELECT id FROM staff_users WHERE role = 'admin')")
    op.execute("DELETE FROM staff_regions WHERE staff_id IN (SELECT id FROM staff_users WHERE role = 'admin')")
    op.execute("DELETE FROM staff_users WHERE role = 'admin'")
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild_staff_on_sqlite(ROLES_BEFORE, with_region=True)
    else:
        op.drop_constraint(op.f('ck_staff_users_role'), 'staff_users', type_='check')
        op.create_check_constraint(op.f('ck_staff_users_role'), 'staff_users', ROLES_BEFORE)
        op.add_column('staff_users', sa.Column('region_code', sa.String(length=6), nullable=True))
    op.execute(
        "UPDATE staff_users SET region_code = "
        "(SELECT MIN(region_code) FROM staff_regions WHERE staff_regions.staff_id = staff_users.id)"
    )
    op.drop_table('staff_regions')


def _rebuild_staff_on_sqlite(roles: str, *, with_region: bool) -> None:
    op.execute('PRAGMA defer_foreign_keys = ON')
    op.execute('CREATE TABLE _staff_users_0017 AS SELECT * FROM staff_users')
    op.drop_table('staff_users')
    region = [sa.Column('region_code', sa.String(length=6), nullable=True)] if with_region else []
    op.create_table('staff_users',
    sa.Column('id', BigId, nullable=False),
    sa.Column('username', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    *region,
    sa.Column('secret_hash', sa.String(length=256), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('(true)'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint(roles, name=op.f('ck_staff_users_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_users')),
    sa.UniqueConstraint('username', name=op.f('uq_staff_users_username'))
    )
    op.execute(f'INSERT INTO staff_users ({COLUMNS}) SELECT {COLUMNS} FROM _staff_users_0017')
    op.drop_table('_staff_users_0017')
