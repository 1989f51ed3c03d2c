"""Month by month, from the ledger: the balance at each month's end and the credits received.

Read for the charts of the portal's home page. Only the person's own personal accounts are
read; amounts are summed in the database up to the window, so a long history costs one row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, func, select

from yibao.domain.contribution import next_month
from yibao.ledger.kinds import AccountKind
from yibao.policy.personal import CREDIT_KINDS
from yibao.store.models import accounts, ledger_transactions, postings


@dataclass(frozen=True)
class MonthFigures:
    month: date  # first day
    closing_balance_fen: int
    credited_fen: int


def months_back(last: date, count: int) -> list[date]:
    """The ``count`` months ending with the month of ``last`` (first days, oldest first)."""
    year, month = last.year, last.month
    months = []
    for _ in range(count):
        months.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


def monthly_figures(conn: Connection, person_id: int, months: list[date]) -> list[MonthFigures]:
    if not months:
        return []
    own = select(accounts.c.id).where(accounts.c.person_id == person_id, accounts.c.kind == AccountKind.PERSONAL.value)
    first, end = months[0], next_month(months[-1])
    opening = conn.execute(
        select(func.coalesce(func.sum(postings.c.amount_fen), 0))
        .where(postings.c.account_id.in_(own), postings.c.business_date < first)
    ).scalar_one()
    rows = conn.execute(
        select(postings.c.business_date, postings.c.amount_fen, ledger_transactions.c.kind)
        .select_from(postings.join(ledger_transactions, ledger_transactions.c.id == postings.c.transaction_id))
        .where(postings.c.account_id.in_(own), postings.c.business_date >= first, postings.c.business_date < end)
    ).all()
    change = {month: 0 for month in months}
    credited = {month: 0 for month in months}
    for row in rows:
        month = row.business_date.replace(day=1)
        change[month] += row.amount_fen
        if row.kind in CREDIT_KINDS:
            credited[month] += row.amount_fen
    figures, balance = [], int(opening)
    for month in months:
        balance += change[month]
        figures.append(MonthFigures(month, balance, credited[month]))
    return figures
