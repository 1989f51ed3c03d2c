"""Freezing and unfreezing a personal account at the counter (柜台冻结、解冻个人账户).

A frozen account still takes credits and refuses payments (``ledger``). Each freeze made
here is a row of ``account_freezes`` with its reason, staff member and time; an unfreeze at
the counter lifts only such a freeze. An account frozen by anything else — a recorded death,
an inheritance, a transfer closing it — has no open row and is refused with the reason, and so
is an account whose holder's death is recorded or pending, even when the counter froze it first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, select, update

from yibao import notifications
from yibao.counter_service import check_request, person_for_staff
from yibao.errors import NotFound, YibaoError
from yibao.ledger.accounts import set_status
from yibao.ledger.kinds import AccountKind, AccountStatus
from yibao.security import audit
from yibao.security.context import Security
from yibao.security.principal import Principal
from yibao.store.models import account_freezes, accounts, death_records, staff_users

NOTICE_FROZEN, NOTICE_UNFROZEN = "counter.account_frozen", "counter.account_unfrozen"


class FreezeConflict(YibaoError):
    """The account is not in a state that allows this (HTTP 409)."""

    code = "freeze_conflict"
    default_message = "账户当前状态不允许此操作"


@dataclass(frozen=True)
class Freeze:
    id: int
    account_id: int
    reason: str
    frozen_by: int
    frozen_by_name: str
    frozen_at: datetime
    unfreeze_reason: str | None
    unfrozen_by: int | None
    unfrozen_at: datetime | None


def _account(conn: Connection, person_id: int):
    row = conn.execute(
        select(accounts.c.id, accounts.c.status).where(
            accounts.c.person_id == person_id, accounts.c.kind == AccountKind.PERSONAL.value,
            accounts.c.status != AccountStatus.CLOSED.value,
        ).with_for_update()
    ).first()
    if row is None:
        raise NotFound("该参保人没有未注销的个人账户", field="person_id", code="account_not_found")
    return row


def open_freeze(conn: Connection, person_id: int) -> Freeze | None:
    """The counter's freeze in force on the person's open account, if any."""
    row = conn.execute(
        select(account_freezes, staff_users.c.name.label("frozen_by_name"))
        .join(staff_users, staff_users.c.id == account_freezes.c.frozen_by)
        .join(accounts, accounts.c.id == account_freezes.c.account_id)
        .where(account_freezes.c.person_id == person_id, account_freezes.c.unfrozen_at.is_(None),
               accounts.c.status == AccountStatus.FROZEN.value)
        .order_by(account_freezes.c.id.desc())
    ).mappings().first()
    return Freeze(**{name: row[name] for name in Freeze.__dataclass_fields__}) if row else None


def freezes_of(conn: Connection, person_id: int, limit: int = 20) -> list[Freeze]:
    rows = conn.execute(
        select(account_freezes, staff_users.c.name.label("frozen_by_name"))
        .join(staff_users, staff_users.c.id == account_freezes.c.frozen_by)
        .where(account_freezes.c.person_id == person_id)
        .order_by(account_freezes.c.id.desc()).limit(limit)
    ).mappings()
    return [Freeze(**{name: row[name] for name in Freeze.__dataclass_fields__}) for row in rows]


def freeze(
    engine: Engine, sec: Security, principal: Principal, person_id: int, *, identity_checked: bool, reason: str,
    today, client: str | None, detail: dict | None = None,
) -> int:
    """Freeze the person's open account; the freeze's id."""
    reason = check_request(identity_checked=identity_checked, reason=reason)
    now = sec.now()
    with engine.begin() as conn:
        person = person_for_staff(conn, principal, person_id, lock=True)
        if person.died_on is not None:
            raise FreezeConflict("该参保人已登记死亡，账户按继承办理，不能在柜台冻结", field="person_id")
        account = _account(conn, person_id)
        if account.status != AccountStatus.ACTIVE.value:
            raise FreezeConflict("该账户已处于冻结状态，无需再次冻结", field="person_id", code="already_frozen")
        set_status(conn, account.id, AccountStatus.FROZEN, today)
        freeze_id = conn.execute(
            insert(account_freezes).values(account_id=account.id, person_id=person_id, reason=reason,
                                           frozen_by=principal.subject_id, frozen_at=now)
            .returning(account_freezes.c.id)
        ).scalar_one()
        audit.record(
            conn, actor=principal, action="staff.account.frozen", at=now, subject_person_id=person_id, reason=reason,
            client=client, detail={"account_id": account.id, "freeze_id": freeze_id, **(detail or {})},
        )
        told = notifications.notify(
            conn, person_id, kind=NOTICE_FROZEN, now=now,
            text="您的医保个人账户已在经办机构柜台冻结，冻结期间暂不能用于支付，入账不受影响。如有疑问，请到经办机构柜台咨询。",
        )
    notifications.send(sec, [told])
    return freeze_id


def unfreeze(
    engine: Engine, sec: Security, principal: Principal, person_id: int, *, identity_checked: bool, reason: str,
    today, client: str | None, detail: dict | None = None,
) -> int:
    """Lift the counter's freeze of the person's open account; the freeze's id."""
    reason = check_request(identity_checked=identity_checked, reason=reason)
    now = sec.now()
    with engine.begin() as conn:
        person = person_for_staff(conn, principal, person_id, lock=True)
        account = _account(conn, person_id)
        if account.status == AccountStatus.ACTIVE.value:
            raise FreezeConflict("该账户未冻结，无需解冻", field="person_id", code="not_frozen")
        death = conn.execute(select(death_records.c.status).where(death_records.c.person_id == person_id)).scalar()
        if person.died_on is not None or death in ("pending", "confirmed"):
            raise FreezeConflict("该参保人已登记死亡信息，账户按继承办理，不能在柜台解冻", field="person_id",
                                 code="frozen_by_death")
        row = conn.execute(
            select(account_freezes.c.id).where(account_freezes.c.account_id == account.id,
                                              account_freezes.c.unfrozen_at.is_(None))
        ).scalar()
        if row is None:
            raise FreezeConflict("该账户的冻结不是在柜台办理的（如死亡登记、转移接续），不能在柜台解冻", field="person_id",
                                 code="frozen_elsewhere")
        set_status(conn, account.id, AccountStatus.ACTIVE, today)
        conn.execute(
            update(account_freezes).where(account_freezes.c.id == row)
            .values(unfreeze_reason=reason, unfrozen_by=principal.subject_id, unfrozen_at=now)
        )
        audit.record(
            conn, actor=principal, action="staff.account.unfrozen", at=now, subject_person_id=person_id, reason=reason,
            client=client, detail={"account_id": account.id, "freeze_id": row, **(detail or {})},
        )
        told = notifications.notify(
            conn, person_id, kind=NOTICE_UNFROZEN, now=now,
            text="您的医保个人账户已在经办机构柜台解除冻结，可正常使用。",
        )
    notifications.send(sec, [told])
    return row
