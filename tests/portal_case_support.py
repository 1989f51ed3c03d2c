"""What the portal's case-page tests share: a signed-in client per person, staff actors for
the steps clerks take through the service functions, and small files of each accepted type."""

from __future__ import annotations

import re

from sqlalchemy import select

from api_support import add_staff_user
from yibao.security.permissions import StaffScope
from yibao.security.staff import StaffRole
from yibao.store.models import staff_users
from yibao.withdrawals.cases import Actor

CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
# The smallest JPEG the type check accepts (start-of-image marker) and a PDF.
SAMPLE_JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


def csrf_of(client, path: str) -> str:
    return CSRF.search(client.get(path).text).group(1)


def staff_actor(engine, username: str, role: StaffRole = StaffRole.AGENT, region_code: str | None = "110000") -> Actor:
    """A staff member (created here) as the service functions take them."""
    add_staff_user(engine, username, role, region_code=region_code)
    with engine.connect() as conn:
        staff_id = conn.execute(select(staff_users.c.id).where(staff_users.c.username == username)).scalar_one()
    return Actor("staff", staff_id, StaffScope.of([region_code] if region_code else None), role.value)
