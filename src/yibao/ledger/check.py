"""Set-based verification of every ledger invariant over the whole database (``yibao db check``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import BigInteger, Connection, and_, cast, func, or_, select

from yibao.ledger.kinds import AccountKind, AccountStatus
from yibao.store.models import accounts, ledger_transactions, postings

EXAMPLES = 20


@dataclass
class Finding:
    code: str
    message: str  # Chinese, for the person running the check
    count: int
    examples: list[dict] = field(default_factory=list)


@dataclass
class CheckReport:
    accounts_checked: int = 0
    transactions_checked: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "accounts_checked": self.accounts_checked,
            "transactions_checked": self.transactions_checked,
            "findings": [finding.__dict__ for finding in self.findings],
        }


def check_ledger(conn: Connection) -> CheckReport:
    report = CheckReport(
        accounts_checked=conn.execute(select(func.count()).select_from(accounts)).scalar_one(),
        transactions_checked=conn.execute(select(func.count()).select_from(ledger_transactions)).scalar_one(),
    )
    for code, message, query in _checks():
        rows = [dict(row._mapping) for row in conn.execute(query.limit(EXAMPLES))]
        if rows:
            count = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
            report.findings.append(Finding(code, message, count, rows))
    return report


def _sum(column):
    # PostgreSQL sums BIGINT into NUMERIC; cast back so reports carry plain integers.
    return cast(func.sum(column), BigInteger)


def _checks():
    per_tx = (
        select(
            postings.c.transaction_id,
            _sum(postings.c.amount_fen).label("total_fen"),
            func.count().label("legs"),
        )
        .group_by(postings.c.transaction_id)
        .having(or_(func.sum(postings.c.amount_fen) != 0, func.count() < 2))
    )
    without_postings = (
        select(ledger_transactions.c.id.label("transaction_id"))
        .outerjoin(postings, postings.c.transaction_id == ledger_transactions.c.id)
        .where(postings.c.id.is_(None))
    )
    per_account = (
        select(postings.c.account_id, _sum(postings.c.amount_fen).label("posted_fen"))
        .group_by(postings.c.account_id)
        .subquery()
    )
    posted = func.coalesce(per_account.c.posted_fen, 0)
    personal = accounts.c.kind == AccountKind.PERSONAL.value
    account_totals = select(accounts.c.id.label("account_id"), accounts.c.balance_fen, posted.label("posted_fen")).outerjoin(
        per_account, per_account.c.account_id == accounts.c.id
    )
    date_mismatch = (
        select(postings.c.id.label("posting_id"), postings.c.transaction_id)
        .join(ledger_transactions, ledger_transactions.c.id == postings.c.transaction_id)
        .where(postings.c.business_date != ledger_transactions.c.business_date)
    )
    without_account = (
        select(postings.c.id.label("posting_id"), postings.c.account_id)
        .outerjoin(accounts, accounts.c.id == postings.c.account_id)
        .where(accounts.c.id.is_(None))
    )
    without_transaction = (
        select(postings.c.id.label("posting_id"), postings.c.transaction_id)
        .outerjoin(ledger_transactions, ledger_transactions.c.id == postings.c.transaction_id)
        .where(ledger_transactions.c.id.is_(None))
    )
    return [
        ("unbalanced_transaction", "交易分录合计不为零或少于两条", per_tx),
        ("transaction_without_postings", "交易没有任何分录", without_postings),
        ("cached_balance_mismatch", "个人账户余额与分录合计不一致", account_totals.where(and_(personal, accounts.c.balance_fen != posted))),
        ("negative_balance", "个人账户余额为负", account_totals.where(and_(personal, or_(accounts.c.balance_fen < 0, posted < 0)))),
        ("system_balance_cached", "系统账户不应保存缓存余额", account_totals.where(and_(~personal, accounts.c.balance_fen != 0))),
        ("closed_with_balance", "已注销账户仍有余额", account_totals.where(and_(accounts.c.status == AccountStatus.CLOSED.value, posted != 0, personal))),
        ("posting_date_mismatch", "分录日期与交易日期不一致", date_mismatch),
        ("posting_without_account", "分录指向不存在的账户", without_account),
        ("posting_without_transaction", "分录指向不存在的交易", without_transaction),
    ]
