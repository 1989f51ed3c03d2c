"""The demo's people behind the other channels: counter staff, an auditor, an administrator and a designated
pharmacy with its API key, so that every channel can be tried at once.

Passwords and the key are random for each demo build and printed with the demo logins;
nothing secret is stored in the repository.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass

from sqlalchemy import Engine

from yibao.payments.institutions import set_designated
from yibao.security.institutions import InstitutionKind, add_institution
from yibao.security.staff import StaffRole, add_staff

DEMO_STAFF = (
    ("guitai", "柜台经办员", StaffRole.AGENT),
    ("fuhe", "复核主管", StaffRole.SUPERVISOR),
    ("shenji", "审计员", StaffRole.AUDITOR),
    ("guanli", "系统管理员", StaffRole.ADMIN),
)
DEMO_PHARMACY = ("DEMO-P001", "演示大药房（定点）")


@dataclass(frozen=True)
class DemoStaff:
    username: str
    name: str
    role: str
    password: str


@dataclass(frozen=True)
class DemoAccess:
    staff: list[DemoStaff]
    pharmacy_code: str
    pharmacy_name: str
    pharmacy_region: str
    pharmacy_api_key: str

    def as_dict(self) -> dict:
        return asdict(self)


def add_demo_access(engine: Engine, region_code: str) -> DemoAccess:
    """Create the demo staff and a designated pharmacy in ``region_code`` (an empty demo database)."""
    staff = [DemoStaff(username, name, role.value, _password()) for username, name, role in DEMO_STAFF]
    code, pharmacy_name = DEMO_PHARMACY
    with engine.begin() as conn:
        for member in staff:
            add_staff(conn, username=member.username, name=member.name, role=StaffRole(member.role), password=member.password)
        _, key = add_institution(conn, code=code, name=pharmacy_name, kind=InstitutionKind.PHARMACY, region_code=region_code)
        set_designated(conn, code, True)
    return DemoAccess(staff, code, pharmacy_name, region_code, key)


def _password() -> str:
    # Letters and digits, as the password rules want, and easy to type from the screen.
    return f"Demo{secrets.randbelow(10**6):06d}{secrets.choice('abcdefghjkmnpqrstuvwxyz')}"
