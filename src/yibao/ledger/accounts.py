"""Opening and closing accounts; finding the system accounts that stand for the other side."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from yibao.errors import AccountNotActive, InvalidInput, NotFound
from yibao.ledger.kinds import AccountKind, AccountStatus
from yibao.store.db import insert_unique
from yibao.store.models import accounts


def system_account_code(kind: AccountKind, region_code: str, suffix: str | None = None) -> str:
    return ":".join(part for part in (kind.value, region_code, suffix) if part)


def system_account(
    conn: Connection, kind: AccountKind, region_code: str, *, suffix: str | None = None, opened_on: date
) -> int:
    """The id of a region's system account of this kind, created on first use."""
    if kind is AccountKind.PERSONAL:
        raise ValueError("personal accounts are opened with open_personal_account")
    code = system_account_code(kind, region_code, suffix)
    found = conn.execute(select(accounts.c.id).where(accounts.c.code == code)).scalar_one_or_none()
    if found is not None:
        return found
    try:
        with conn.begin_nested():
            return conn.execute(
                insert(accounts)
                .values(kind=kind.value, code=code, region_code=region_code, opened_on=opened_on)
                .returning(accounts.c.id)
            ).scalar_one()
    except IntegrityError:  # somebody else created it between our look and our insert
        return conn.execute(select(accounts.c.id).where(accounts.c.code == code)).scalar_one()


def open_personal_account(conn: Connection, person_id: int, region_code: str, opened_on: date) -> int:
    """A person's personal account in their pooling region; one open account per person."""
    return insert_unique(
        conn,
        insert(accounts)
        .values(kind=AccountKind.PERSONAL.value, person_id=person_id, region_code=region_code, opened_on=opened_on)
        .returning(accounts.c.id),
        taken=InvalidInput("该参保人已有未注销的个人账户", field="person_id", code="account_exists"),
    )


def current_personal_account(conn: Connection, person_id: int):
    """The person's personal account that statements and balance answers are about: the open
    one, else the newest closed one (after a withdrawal); a row (id, status, balance_fen), or
    None when the person never had one."""
    return conn.execute(
        select(accounts.c.id, accounts.c.status, accounts.c.balance_fen)
        .where(accounts.c.person_id == person_id, accounts.c.kind == AccountKind.PERSONAL.value)
        .order_by((accounts.c.status == AccountStatus.CLOSED.value).asc(), accounts.c.id.desc())
        .limit(1)
    ).first()


def open_account_of(conn: Connection, person_id: int) -> int:
    account_id = conn.execute(
        select(accounts.c.id).where(
            accounts.c.person_id == person_id, accounts.c.status != AccountStatus.CLOSED.value
        )
    ).scalar_one_or_none()
    if account_id is None:
        raise NotFound("该参保人没有未注销的个人账户", field="person_id", code="account_not_found")
    return account_id


def set_status(conn: Connection, account_id: int, status: AccountStatus, on: date) -> None:
    """Freeze, unfreeze or close. Closing needs a zero balance: pay it out first."""
    changes: dict = {"status": status.value}
    conditions = [accounts.c.id == account_id, accounts.c.status != AccountStatus.CLOSED.value]
    if status is AccountStatus.CLOSED:
        changes["closed_on"] = on
        conditions.append(accounts.c.balance_fen == 0)
    done = conn.execute(update(accounts).where(*conditions).values(**changes)).rowcount
    if done == 1:
        return
    current = conn.execute(
        select(accounts.c.status, accounts.c.balance_fen).where(accounts.c.id == account_id)
    ).one_or_none()
    if current is None:
        raise NotFound("账户不存在", field="account_id", code="account_not_found")
    if current.status == AccountStatus.CLOSED.value:
        raise AccountNotActive("账户已注销", field="account_id")
    raise InvalidInput("账户仍有余额，须先支取或转出后才能注销", field="account_id", code="balance_not_zero")
