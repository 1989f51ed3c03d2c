"""Agency staff accounts: creation (the ``yibao staff add`` command) and sign-in."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Connection, Engine, insert, select

from yibao.domain.regions import regions
from yibao.errors import InvalidInput
from yibao.security import audit, sessions
from yibao.security.context import Security
from yibao.security.errors import BadCredentials
from yibao.security.passwords import hash_secret, is_weak_password, verify_stored
from yibao.security.principal import Kind
from yibao.security.signin import SignedIn, check_password_field
from yibao.store.db import insert_unique
from yibao.store.models import staff_users

STAFF_LOCKOUT = "staff"


class StaffRole(StrEnum):
    AGENT = "agent"  # counter staff: find a person (with a reason) and see their records
    AUDITOR = "auditor"  # reads the audit log
    # Works withdrawal and transfer cases like an agent, and gives the second approval of
    # a withdrawal above the threshold (two people, the second with this role).
    SUPERVISOR = "supervisor"

    @property
    def label(self) -> str:
        return {"agent": "经办人员", "auditor": "审计人员", "supervisor": "复核人员"}[self.value]


def add_staff(
    conn: Connection, *, username: str, name: str, role: StaffRole, password: str, region_code: str | None = None
) -> int:
    username = (username or "").strip()
    if not username or len(username) > 40 or not username.isascii() or not username.replace("_", "").replace(".", "").isalnum():
        raise InvalidInput("用户名应为1-40位字母、数字、下划线或点", field="username", code="username_format")
    if not (name or "").strip():
        raise InvalidInput("请填写姓名", field="name", code="name_required")
    if is_weak_password(password):
        raise InvalidInput("密码过于简单：至少8位，须同时包含字母和数字", field="password", code="password_weak")
    if region_code is not None:
        regions().get(region_code, field="region_code")
    return insert_unique(
        conn,
        insert(staff_users)
        .values(username=username, name=name.strip(), role=role.value, region_code=region_code, secret_hash=hash_secret(password))
        .returning(staff_users.c.id),
        taken=InvalidInput("该用户名已存在", field="username", code="username_taken"),
    )



def sign_in_staff(
    engine: Engine, sec: Security, *, username: str, password: str, client: str | None, channel: str = sessions.WEB
) -> SignedIn:
    """A staff session for the API (``web``) or the counter pages (``counter``)."""
    if not username:
        raise InvalidInput("请输入用户名", field="username", code="username_required")
    check_password_field(password, "password")
    lockout = sec.lockout(STAFF_LOCKOUT)
    subjects = [lockout.identity(username), lockout.address(client)]
    lockout.check(subjects)
    with engine.begin() as conn:
        row = conn.execute(
            select(staff_users.c.id, staff_users.c.secret_hash).where(
                staff_users.c.username == username, staff_users.c.active.is_(True)
            )
        ).first()
        if not lockout.verify(subjects, lambda: verify_stored(row.secret_hash if row else None, password)):
            raise BadCredentials("用户名或密码不正确")
        now = sec.now()
        token, expires_at = sessions.open_session(
            conn, subject_kind=Kind.STAFF.value, subject_id=row.id, purpose=sessions.FULL, method="password",
            channel=channel, client=client, now=now, ttl_seconds=sec.settings.session_ttl_seconds,
        )
        audit.record(conn, actor=None, actor_kind=Kind.STAFF.value, actor_id=str(row.id), action="auth.login.staff", at=now, client=client)
    return SignedIn(token, expires_at, False, row.id)
