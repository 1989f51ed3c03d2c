"""Set-based verification of every ledger invariant over the whole database (``yibao db check``).

Besides the ledger's own invariants, institution payments and refunds are compared with the
ledger, each found by the key the service derives from its row (payments.keys): a pending row
whose transaction was posted is half-written (the person was charged, the row never marked:
an error, finished by ``yibao payments resume``); a posted row without its posting, or with
another amount, and a posted payment transaction whose row is gone are errors. A pending row
without a transaction older than ``stale_after_seconds`` is only a warning: no money moved,
and ``yibao payments resume`` drops it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import BigInteger, Connection, and_, cast, exists, func, or_, select

from yibao.ledger.kinds import AccountKind, AccountStatus
from yibao.ledger.ledger import LEDGER_SCOPE
from yibao.config import Settings
from yibao.collection import consistency as collection_consistency
from yibao.national import consistency
from yibao.payments.keys import (
    PAYMENT_KEY_PREFIX,
    POSTED,
    REFUND_KEY_PREFIX,
    key_of,
    pending_with_transactions,
    stale_cutoff,
)
from yibao.store.models import (
    accounts,
    idempotency_keys,
    institution_payments,
    institution_refunds,
    ledger_transactions,
    postings,
)

EXAMPLES = 20
STALE_AFTER_SECONDS = Settings.model_fields["payments_resume_after_seconds"].default  # as `yibao payments resume`


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
    warnings: list[Finding] = field(default_factory=list)  # reported, but the check passes

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "accounts_checked": self.accounts_checked,
            "transactions_checked": self.transactions_checked,
            "findings": [finding.__dict__ for finding in self.findings],
            "warnings": [warning.__dict__ for warning in self.warnings],
        }


def check_ledger(conn: Connection, *, stale_after_seconds: int = STALE_AFTER_SECONDS) -> CheckReport:
    report = CheckReport(
        accounts_checked=conn.execute(select(func.count()).select_from(accounts)).scalar_one(),
        transactions_checked=conn.execute(select(func.count()).select_from(ledger_transactions)).scalar_one(),
    )
    report.findings = _found(conn, [*_checks(), *_payment_checks(), *consistency.findings(), *collection_consistency.findings()])
    cutoff = stale_cutoff(stale_after_seconds)
    report.warnings = _found(conn, [*_stale_pending(cutoff), *consistency.warnings(cutoff), *collection_consistency.warnings(cutoff)])
    return report


def _found(conn: Connection, checks) -> list[Finding]:
    found = []
    for code, message, query in checks:
        rows = [dict(row._mapping) for row in conn.execute(query.limit(EXAMPLES))]
        if rows:
            count = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
            found.append(Finding(code, message, count, rows))
    return found


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


def _pending(table, prefix: str):
    return pending_with_transactions(table, prefix).order_by(None).subquery()


def _payment_checks():
    payments, refunds = institution_payments, institution_refunds
    pending_payments, pending_refunds = _pending(payments, PAYMENT_KEY_PREFIX), _pending(refunds, REFUND_KEY_PREFIX)
    half_written_payments = select(
        pending_payments.c.id.label("payment_id"), pending_payments.c.institution_id, pending_payments.c.receipt_no,
        pending_payments.c.business_date, pending_payments.c.paid_fen, pending_payments.c.ledger_transaction_id.label("transaction_id"),
    ).where(pending_payments.c.ledger_transaction_id.is_not(None))
    half_written_refunds = select(
        pending_refunds.c.id.label("refund_id"), pending_refunds.c.payment_id, pending_refunds.c.institution_id,
        pending_refunds.c.business_date, pending_refunds.c.amount_fen, pending_refunds.c.ledger_transaction_id.label("transaction_id"),
    ).where(pending_refunds.c.ledger_transaction_id.is_not(None))
    # A posted row's transaction must move its amount out of (payment) or back into (refund) the paying account.
    payment_leg = postings.alias("payment_leg")
    payment_mismatch = select(payments.c.id.label("payment_id"), payments.c.transaction_id, payments.c.paid_fen).where(
        payments.c.status == POSTED,
        ~exists().where(
            payment_leg.c.transaction_id == payments.c.transaction_id, payment_leg.c.account_id == payments.c.account_id,
            payment_leg.c.amount_fen == -payments.c.paid_fen,
        ),
    )
    refund_leg = postings.alias("refund_leg")
    refund_mismatch = (
        select(refunds.c.id.label("refund_id"), refunds.c.transaction_id, refunds.c.amount_fen)
        .join(payments, payments.c.id == refunds.c.payment_id)
        .where(
            refunds.c.status == POSTED,
            ~exists().where(
                refund_leg.c.transaction_id == refunds.c.transaction_id, refund_leg.c.account_id == payments.c.account_id,
                refund_leg.c.amount_fen == refunds.c.amount_fen,
            ),
        )
    )
    return [
        ("payment_half_written", "支付已记账但仍为待处理（参保人已扣款）：请运行 yibao payments resume", half_written_payments),
        ("refund_half_written", "退费已记账但仍为待处理：请运行 yibao payments resume", half_written_refunds),
        ("payment_posting_mismatch", "已完成的支付在账务中没有对应金额的分录", payment_mismatch),
        ("refund_posting_mismatch", "已完成的退费在账务中没有对应金额的分录", refund_mismatch),
        ("payment_transaction_without_row", "账务中有支付交易，但支付记录不存在", _keys_without_rows(payments, PAYMENT_KEY_PREFIX)),
        ("refund_transaction_without_row", "账务中有退费交易，但退费记录不存在", _keys_without_rows(refunds, REFUND_KEY_PREFIX)),
    ]


def _keys_without_rows(table, prefix: str):
    keys = idempotency_keys
    return select(keys.c.key, keys.c.transaction_id).where(
        keys.c.scope == LEDGER_SCOPE, keys.c.key.like(prefix + "%"), ~exists().where(key_of(prefix, table.c.id) == keys.c.key)
    )


def _stale_pending(cutoff):
    pending_payments = _pending(institution_payments, PAYMENT_KEY_PREFIX)
    pending_refunds = _pending(institution_refunds, REFUND_KEY_PREFIX)
    never_posted = [pending_payments.c.ledger_transaction_id.is_(None), pending_payments.c.created_at < cutoff]
    refunds_never_posted = [pending_refunds.c.ledger_transaction_id.is_(None), pending_refunds.c.created_at < cutoff]
    return [
        ("payment_pending_stale", "支付长时间待处理且未记账（未扣款）：yibao payments resume 会作废并退还电子凭证", select(
            pending_payments.c.id.label("payment_id"), pending_payments.c.institution_id, pending_payments.c.receipt_no,
            pending_payments.c.created_at,
        ).where(*never_posted)),
        ("refund_pending_stale", "退费长时间待处理且未记账：yibao payments resume 会作废", select(
            pending_refunds.c.id.label("refund_id"), pending_refunds.c.payment_id, pending_refunds.c.created_at,
        ).where(*refunds_never_posted)),
    ]
