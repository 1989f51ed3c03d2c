"""A statement (对账单) of one personal account over a date range, read from the ledger.

Three set-based reads, whatever the number of transactions: the account with its owner,
the opening and closing balances (sums of postings before and up to the period), and the
period's postings with their transactions. The closing balance is summed independently of
the period's lines, so ``opening + in - out == closing`` is a real check of the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, case, func, select

from yibao.domain.regions import regions
from yibao.domain.resident_id import ResidentId
from yibao.errors import InvalidInput, LedgerInvariantBroken, NotFound
from yibao.ledger.kinds import AccountKind, AccountStatus, TxKind
from yibao.store.models import accounts, ledger_transactions, persons, postings

# A service limit, not a policy number: a statement covers at most five years so that one
# request cannot render decades of history into a single PDF.
MAX_PERIOD_YEARS = 5


@dataclass(frozen=True)
class StatementLine:
    """One posting on the account: money in or out (never both) and the balance after it."""

    transaction_id: int
    on: date
    kind: str
    kind_label: str
    memo: str
    reference: str | None
    in_fen: int
    out_fen: int
    balance_fen: int


@dataclass(frozen=True)
class Statement:
    person_id: int
    person_name: str
    id_number_masked: str
    region_code: str
    region_name: str | None
    account_id: int
    account_status_label: str
    date_from: date
    date_to: date
    opening_fen: int
    closing_fen: int
    total_in_fen: int
    total_out_fen: int
    lines: tuple[StatementLine, ...]

    @property
    def count(self) -> int:
        return len(self.lines)


def validate_period(date_from: date, date_to: date) -> None:
    """Raise ``InvalidInput`` naming the field unless the period is ordered and short enough."""
    if date_from > date_to:
        raise InvalidInput("结束日期不能早于开始日期", field="date_to", code="date_range")
    if date_to >= _years_after(date_from, MAX_PERIOD_YEARS):
        raise InvalidInput(
            f"对账期间最长{MAX_PERIOD_YEARS}年，请缩短日期范围", field="date_to", code="date_range_too_long"
        )


def check_owner(conn: Connection, *, account_id: int, person_id: int) -> None:
    """``NotFound`` unless ``account_id`` is a personal account of ``person_id``.

    Someone else's account and no account at all answer the same, so ids reveal nothing.
    """
    owner = conn.execute(
        select(accounts.c.person_id).where(accounts.c.id == account_id, accounts.c.kind == AccountKind.PERSONAL.value)
    ).scalar_one_or_none()
    if owner != person_id:
        raise NotFound("未找到该账户", field="account_id", code="account_not_found")


def build_statement(conn: Connection, *, account_id: int, date_from: date, date_to: date) -> Statement:
    validate_period(date_from, date_to)
    holder = _account_and_holder(conn, account_id)
    opening_fen, closing_fen = _balances_around(conn, account_id, date_from, date_to)
    lines = _lines(conn, account_id, date_from, date_to, opening_fen)
    total_in = sum(line.in_fen for line in lines)
    total_out = sum(line.out_fen for line in lines)
    if opening_fen + total_in - total_out != closing_fen:
        raise LedgerInvariantBroken("对账单期初余额加收入减支出不等于期末余额")
    return Statement(
        person_id=holder.person_id,
        person_name=holder.name,
        id_number_masked=ResidentId(holder.id_number).masked,
        region_code=holder.region_code,
        region_name=_region_name(holder.region_code),
        account_id=account_id,
        account_status_label=AccountStatus(holder.status).label,
        date_from=date_from,
        date_to=date_to,
        opening_fen=opening_fen,
        closing_fen=closing_fen,
        total_in_fen=total_in,
        total_out_fen=total_out,
        lines=tuple(lines),
    )


def _account_and_holder(conn: Connection, account_id: int):
    row = conn.execute(
        select(accounts.c.person_id, accounts.c.region_code, accounts.c.status, persons.c.name, persons.c.id_number)
        .join_from(accounts, persons, persons.c.id == accounts.c.person_id)
        .where(accounts.c.id == account_id, accounts.c.kind == AccountKind.PERSONAL.value)
    ).first()
    if row is None:
        raise NotFound("未找到该账户", field="account_id", code="account_not_found")
    return row


def _balances_around(conn: Connection, account_id: int, date_from: date, date_to: date) -> tuple[int, int]:
    """Balance at the end of the day before ``date_from`` and at the end of ``date_to``."""
    amount, day = postings.c.amount_fen, postings.c.business_date
    opening, closing = conn.execute(
        select(
            func.coalesce(func.sum(case((day < date_from, amount), else_=0)), 0),
            func.coalesce(func.sum(amount), 0),
        ).where(postings.c.account_id == account_id, day <= date_to)
    ).one()
    return int(opening), int(closing)


def _lines(conn: Connection, account_id: int, date_from: date, date_to: date, opening_fen: int) -> list[StatementLine]:
    rows = conn.execute(
        select(
            postings.c.transaction_id, postings.c.business_date, postings.c.amount_fen,
            ledger_transactions.c.kind, ledger_transactions.c.memo, ledger_transactions.c.reference,
        )
        .join_from(postings, ledger_transactions, ledger_transactions.c.id == postings.c.transaction_id)
        .where(postings.c.account_id == account_id, postings.c.business_date.between(date_from, date_to))
        .order_by(postings.c.business_date, postings.c.id)
    ).all()
    lines, balance = [], opening_fen
    for row in rows:
        balance += row.amount_fen
        lines.append(
            StatementLine(
                transaction_id=row.transaction_id,
                on=row.business_date,
                kind=row.kind,
                kind_label=_kind_label(row.kind),
                memo=row.memo or "",
                reference=row.reference,
                in_fen=max(row.amount_fen, 0),
                out_fen=max(-row.amount_fen, 0),
                balance_fen=balance,
            )
        )
    return lines


def _kind_label(kind: str) -> str:
    try:
        return TxKind(kind).label
    except ValueError:  # a kind newer than this code still prints, untranslated
        return kind


def _region_name(code: str) -> str | None:
    try:
        return regions().get(code).name
    except InvalidInput:
        return None


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return date(day.year + years, 3, 1)
