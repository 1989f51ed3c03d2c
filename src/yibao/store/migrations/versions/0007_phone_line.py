"""12333 phone line: no schema change

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23

The phone line keeps its call state in Redis (or in memory without it) and its phone
passwords in ``credentials`` (kind ``phone_pin``, since 0001), so it needs no table. The
revision stays so that databases stamped with it keep a linear history.
"""


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
