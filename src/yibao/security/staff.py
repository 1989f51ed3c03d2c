"""Agency staff accounts: creation (the ``yibao staff add`` command) and sign-in."""

from __future__ import annotations

from enum import StrEnum

from collections.abc import Iterable

from sqlalchemy import Connection, Engine, delete, insert, select, update

from yibao.domain.regions import regions as region_table
from yibao.errors import InvalidInput, NotFound
from yibao.security import audit, idle, sessions
from yibao.security.context import Security
from yibao.security.errors import BadCredentials
from yibao.security.passwords import hash_secret, is_weak_password, verify_stored
from yibao.security.principal import Kind
from yibao.security.signin import SignedIn, check_password_field
from yibao.store.db import insert_unique
from yibao.store.models import staff_regions, staff_users

STAFF_LOCKOUT = "staff"


class StaffRole(StrEnum):
    """The roles; what each may do is ``security.permissions.ROLE_PERMISSIONS``."""

    AGENT = "agent"  # works cases at the counter
    # Works cases like an agent, gives the second approval above a threshold, sees the team's work.
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"  # reads the audit log
    ADMIN = "admin"  # registers institutions, apps and staff; reads no person's data

    @property
    def label(self) -> str:
        return {"agent": "经办人员", "auditor": "审计人员", "supervisor": "复核人员", "admin": "系统管理员"}[self.value]


def add_staff(
    conn: Connection, *, username: str, name: str, role: StaffRole, password: str, region_code: str | None = None,
    regions: Iterable[str] | None = None,
) -> int:
    """A new staff member working for ``regions`` (or the one ``region_code``); neither: all regions."""
    username = (username or "").strip()
    if not username or len(username) > 40 or not username.isascii() or not username.replace("_", "").replace(".", "").isalnum():
        raise InvalidInput("用户名应为1-40位字母、数字、下划线或点", field="username", code="username_format")
    if not (name or "").strip():
        raise InvalidInput("请填写姓名", field="name", code="name_required")
    if is_weak_password(password):
        raise InvalidInput("密码过于简单：至少8位，须同时包含字母和数字", field="password", code="password_weak")
    codes = sorted(set(regions or ()) | ({region_code} if region_code else set()))
    for code in codes:
        region_table().get(code, field="region_code")
    staff_id = insert_unique(
        conn,
        insert(staff_users)
        .values(username=username, name=name.strip(), role=role.value, secret_hash=hash_secret(password))
        .returning(staff_users.c.id),
        taken=InvalidInput("该用户名已存在", field="username", code="username_taken"),
    )
    set_regions(conn, staff_id, codes)
    return staff_id


def set_regions(conn: Connection, staff_id: int, codes: Iterable[str]) -> None:
    conn.execute(delete(staff_regions).where(staff_regions.c.staff_id == staff_id))
    rows = [{"staff_id": staff_id, "region_code": code} for code in sorted(set(codes))]
    if rows:
        conn.execute(insert(staff_regions), rows)


def check_regions(codes: Iterable[str]) -> list[str]:
    """Known region codes, sorted and without repeats."""
    found = sorted(set(codes))
    for code in found:
        region_table().get(code, field="regions")
    return found


def change_staff(conn: Connection, staff_id: int, *, role: StaffRole, regions: Iterable[str] | None) -> None:
    """A staff member's new role and regions (None or empty: all regions)."""
    codes = check_regions(regions or ())
    changed = conn.execute(update(staff_users).where(staff_users.c.id == staff_id).values(role=role.value)).rowcount
    if changed != 1:
        raise NotFound("未找到该工作人员", field="staff", code="staff_not_found")
    set_regions(conn, staff_id, codes)


def deactivate_staff(conn: Connection, staff_id: int, now) -> None:
    """The staff member can no longer sign in, and every session of theirs ends now."""
    changed = conn.execute(update(staff_users).where(staff_users.c.id == staff_id).values(active=False)).rowcount
    if changed != 1:
        raise NotFound("未找到该工作人员", field="staff", code="staff_not_found")
    sessions.revoke_all(conn, Kind.STAFF.value, staff_id, now)


def reset_staff_password(conn: Connection, staff_id: int, password: str, now) -> None:
    """A new password chosen by an administrator; the staff member's sessions end."""
    if is_weak_password(password):
        raise InvalidInput("密码过于简单：至少8位，须同时包含字母和数字", field="password", code="password_weak")
    changed = conn.execute(
        update(staff_users).where(staff_users.c.id == staff_id).values(secret_hash=hash_secret(password))
    ).rowcount
    if changed != 1:
        raise NotFound("未找到该工作人员", field="staff", code="staff_not_found")
    sessions.revoke_all(conn, Kind.STAFF.value, staff_id, now)


def regions_of(conn: Connection, staff_id: int) -> frozenset[str] | None:
    """The regions a staff member works for; None: every region."""
    codes = conn.execute(select(staff_regions.c.region_code).where(staff_regions.c.staff_id == staff_id)).scalars().all()
    return frozenset(codes) if codes else None



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
            channel=channel, client=client, now=now, ttl_seconds=sec.settings.staff_session_max_seconds,
        )
        audit.record(conn, actor=None, actor_kind=Kind.STAFF.value, actor_id=str(row.id), action="auth.login.staff", at=now, client=client)
        idle.STAFF.touch(sec, sessions.find_session(conn, token, now, channel).id)
    return SignedIn(token, expires_at, False, row.id)
