"""The double-entry ledger: every write is one balanced, atomic, idempotent transaction.

Invariants, asserted here and re-checked by ``yibao db check`` and the property tests:
1. the postings of a transaction sum to zero (and there are at least two);
2. a personal account's cached balance equals the sum of its postings;
3. a personal account never goes below zero;
4. one idempotency key = one request: a repeat returns the first result and posts nothing,
   the same key with different content is refused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from yibao.domain.money import MAX_FEN
from yibao.errors import (
    AccountNotActive,
    IdempotencyConflict,
    InsufficientBalance,
    InvalidInput,
    LedgerInvariantBroken,
    NotFound,
)
from yibao.ledger import single_statement
from yibao.ledger.kinds import AccountKind, AccountStatus, TxKind
from yibao.store.models import accounts, idempotency_keys, ledger_transactions, postings

LEDGER_SCOPE = "ledger"
MAX_KEY_LENGTH = 128


@dataclass(frozen=True)
class Leg:
    """One side of a transaction; a positive amount increases the account's balance."""

    account_id: int
    amount_fen: int


@dataclass(frozen=True)
class TransactionRequest:
    kind: TxKind
    idempotency_key: str
    legs: tuple[Leg, ...]
    business_date: date
    memo: str = ""
    reference: str | None = None
    corrects_id: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", TxKind(self.kind))
        object.__setattr__(self, "legs", tuple(self.legs))
        _validate_key(self.idempotency_key)
        _validate_legs(self.legs)

    def request_hash(self) -> str:
        """A digest of everything that makes this request what it is (not the key itself)."""
        canonical = {
            "kind": self.kind.value,
            "legs": sorted([leg.account_id, leg.amount_fen] for leg in self.legs),
            "business_date": self.business_date.isoformat(),
            "memo": self.memo,
            "reference": self.reference,
            "corrects_id": self.corrects_id,
        }
        encoded = json.dumps(canonical, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(encoded).hexdigest()


@dataclass(frozen=True)
class PostResult:
    transaction_id: int
    replayed: bool = False  # True when this key had already been posted with the same content
    balances: dict[int, int] = field(default_factory=dict)  # new cached balances, fresh posts only


def _validate_key(key: str) -> None:
    if not isinstance(key, str) or not key.strip():
        raise InvalidInput("缺少幂等键", field="idempotency_key", code="idempotency_key_missing")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"幂等键不能超过{MAX_KEY_LENGTH}个字符", field="idempotency_key", code="idempotency_key_too_long"
        )


def _validate_legs(legs: tuple[Leg, ...]) -> None:
    if len(legs) < 2:
        raise LedgerInvariantBroken("一笔交易至少需要两条分录")
    for leg in legs:
        if type(leg.amount_fen) is not int or leg.amount_fen == 0:
            raise InvalidInput("分录金额必须是非零整数（分）", field="amount", code="posting_amount")
        if abs(leg.amount_fen) > MAX_FEN:
            raise InvalidInput("金额超出上限", field="amount", code="money_too_large")
    if len({leg.account_id for leg in legs}) != len(legs):
        raise LedgerInvariantBroken("同一账户在一笔交易中只能出现一次")
    if sum(leg.amount_fen for leg in legs) != 0:
        raise LedgerInvariantBroken("借贷不平衡：分录合计必须为零")


class Ledger:
    """Posts transactions. Each call is its own database transaction."""

    def __init__(self, engine: Engine, *, single_statement_transfers: bool = True):
        self.engine = engine
        # PostgreSQL posts the common two-leg transfer in one statement (see single_statement).
        self._single_statement = single_statement_transfers and single_statement.supports_single_statement(engine)

    def post(self, request: TransactionRequest) -> PostResult:
        def general_path() -> PostResult:
            with self.engine.begin() as conn:
                return _post_new(conn, request)

        return self._replaying_repeats(request, general_path)

    def _replaying_repeats(self, request: TransactionRequest, write) -> PostResult:
        try:
            return write()
        except (IntegrityError, single_statement.DuplicateKey):
            # Most likely the idempotency key exists (a retry, possibly a concurrent one
            # that waited on the key's unique index). Anything else is re-raised.
            with self.engine.connect() as conn:
                existing = _find_key(conn, request.idempotency_key)
            if existing is None:
                raise
            return _replay(existing, request)

    def transfer(
        self,
        *,
        kind: TxKind,
        from_account: int,
        to_account: int,
        amount_fen: int,
        idempotency_key: str,
        business_date: date,
        memo: str = "",
        reference: str | None = None,
    ) -> PostResult:
        """The common two-leg transaction: move ``amount_fen`` from one account to another."""
        if type(amount_fen) is not int or amount_fen <= 0:
            raise InvalidInput("金额必须大于零", field="amount", code="amount_not_positive")
        legs = (Leg(from_account, -amount_fen), Leg(to_account, amount_fen))
        request = TransactionRequest(kind, idempotency_key, legs, business_date, memo, reference)
        if self._single_statement:
            posted = self._replaying_repeats(request, lambda: self._single_statement_transfer(request))
            if posted is not None:
                return posted
        # Refusals, missing accounts and transfers between two personal accounts take the
        # general path, which names the exact reason.
        return self.post(request)

    def _single_statement_transfer(self, request: TransactionRequest) -> PostResult | None:
        debit, credit = request.legs
        posted = single_statement.try_transfer(
            self.engine,
            {
                "from_account": debit.account_id,
                "debit_fen": debit.amount_fen,
                "to_account": credit.account_id,
                "credit_fen": credit.amount_fen,
                "kind": request.kind.value,
                "business_date": request.business_date,
                "memo": request.memo,
                "reference": request.reference,
                "scope": LEDGER_SCOPE,
                "key": request.idempotency_key,
                "request_hash": request.request_hash(),
            },
        )
        if posted is None:
            return None
        transaction_id, balances = posted
        if any(value < 0 for value in balances.values()):  # unreachable by the WHERE clause
            raise LedgerInvariantBroken("个人账户余额不能为负")
        return PostResult(transaction_id, replayed=False, balances=balances)

    def reverse(
        self, transaction_id: int, *, idempotency_key: str, business_date: date, memo: str = ""
    ) -> PostResult:
        """A correction is a new transaction with every leg negated; nothing is ever edited."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(postings.c.account_id, postings.c.amount_fen).where(
                    postings.c.transaction_id == transaction_id
                )
            ).all()
        if not rows:
            raise NotFound("找不到要冲正的交易", field="transaction_id")
        legs = tuple(Leg(account_id, -amount) for account_id, amount in rows)
        request = TransactionRequest(
            TxKind.CORRECTION, idempotency_key, legs, business_date, memo or "冲正", None, transaction_id
        )
        return self.post(request)

    def balance(self, account_id: int) -> int:
        with self.engine.connect() as conn:
            return balance(conn, account_id)


def _post_new(conn: Connection, request: TransactionRequest) -> PostResult:
    transaction_id = conn.execute(
        insert(ledger_transactions)
        .values(
            kind=request.kind.value,
            business_date=request.business_date,
            memo=request.memo,
            reference=request.reference,
            corrects_id=request.corrects_id,
        )
        .returning(ledger_transactions.c.id)
    ).scalar_one()
    # The key goes in before any balance moves: a concurrent duplicate waits here on the
    # unique index and then fails, instead of racing us on the balances.
    conn.execute(
        insert(idempotency_keys).values(
            scope=LEDGER_SCOPE,
            key=request.idempotency_key,
            request_hash=request.request_hash(),
            transaction_id=transaction_id,
        )
    )
    kinds = _account_kinds(conn, [leg.account_id for leg in request.legs])
    new_balances: dict[int, int] = {}
    # A fixed lock order (by account id) keeps two transactions that touch the same two
    # personal accounts from deadlocking.
    for leg in sorted(request.legs, key=lambda leg: leg.account_id):
        kind, status = kinds[leg.account_id]
        if kind.keeps_cached_balance:
            new_balances[leg.account_id] = _apply_to_cached_balance(conn, leg)
        elif status == AccountStatus.CLOSED:
            raise AccountNotActive("系统账户已关闭", field="account_id")
    conn.execute(
        insert(postings),
        [
            {
                "transaction_id": transaction_id,
                "account_id": leg.account_id,
                "amount_fen": leg.amount_fen,
                "business_date": request.business_date,
            }
            for leg in request.legs
        ],
    )
    return PostResult(transaction_id, replayed=False, balances=new_balances)


def _account_kinds(conn: Connection, account_ids: list[int]) -> dict[int, tuple[AccountKind, AccountStatus]]:
    rows = conn.execute(
        select(accounts.c.id, accounts.c.kind, accounts.c.status).where(accounts.c.id.in_(account_ids))
    ).all()
    found = {row.id: (AccountKind(row.kind), AccountStatus(row.status)) for row in rows}
    missing = [account_id for account_id in account_ids if account_id not in found]
    if missing:
        raise NotFound(f"账户不存在：{missing[0]}", field="account_id", code="account_not_found")
    return found


def _apply_to_cached_balance(conn: Connection, leg: Leg) -> int:
    """Move a personal account's balance by ``leg.amount_fen`` unless that would break a rule.

    A conditional UPDATE, not SELECT ... FOR UPDATE followed by UPDATE: the check and the
    write are one statement, so there is no gap between reading the balance and writing
    it, and no lock is held while Python runs. On PostgreSQL a concurrent UPDATE of the
    same row waits for the row lock, then re-evaluates the WHERE clause against the newly
    committed row (READ COMMITTED), so two debits can never both pass on the same old
    balance. On SQLite, writers are serialised by BEGIN IMMEDIATE (see store.db).
    """
    is_debit = leg.amount_fen < 0
    # Frozen accounts still receive credits; only active accounts may pay.
    allowed = [AccountStatus.ACTIVE.value] if is_debit else [AccountStatus.ACTIVE.value, AccountStatus.FROZEN.value]
    new_balance = conn.execute(
        update(accounts)
        .where(
            accounts.c.id == leg.account_id,
            accounts.c.status.in_(allowed),
            accounts.c.balance_fen + leg.amount_fen >= 0,
        )
        .values(balance_fen=accounts.c.balance_fen + leg.amount_fen)
        .returning(accounts.c.balance_fen)
    ).scalar_one_or_none()
    if new_balance is None:
        raise _refusal(conn, leg)
    if new_balance < 0:  # unreachable by the WHERE clause; asserted because money is at stake
        raise LedgerInvariantBroken("个人账户余额不能为负")
    return new_balance


def _refusal(conn: Connection, leg: Leg) -> Exception:
    status = conn.execute(select(accounts.c.status).where(accounts.c.id == leg.account_id)).scalar_one()
    if status == AccountStatus.CLOSED:
        return AccountNotActive("账户已注销，不能记账", field="account_id")
    if status == AccountStatus.FROZEN:
        return AccountNotActive("账户已冻结，不能支出", field="account_id")
    return InsufficientBalance("余额不足", field="amount")


def _find_key(conn: Connection, key: str):
    return conn.execute(
        select(idempotency_keys.c.request_hash, idempotency_keys.c.transaction_id).where(
            idempotency_keys.c.scope == LEDGER_SCOPE, idempotency_keys.c.key == key
        )
    ).one_or_none()


def _replay(existing, request: TransactionRequest) -> PostResult:
    if existing.request_hash != request.request_hash():
        raise IdempotencyConflict(field="idempotency_key")
    return PostResult(existing.transaction_id, replayed=True)


def balance(conn: Connection, account_id: int) -> int:
    """The balance in fen: cached for personal accounts, derived for system accounts."""
    row = conn.execute(
        select(accounts.c.kind, accounts.c.balance_fen).where(accounts.c.id == account_id)
    ).one_or_none()
    if row is None:
        raise NotFound("账户不存在", field="account_id", code="account_not_found")
    if AccountKind(row.kind).keeps_cached_balance:
        return row.balance_fen
    return posted_balance(conn, account_id)


def posted_balance(conn: Connection, account_id: int) -> int:
    """The sum of an account's postings: the definition of its balance."""
    total = conn.execute(
        select(func.coalesce(func.sum(postings.c.amount_fen), 0)).where(postings.c.account_id == account_id)
    ).scalar_one()
    return int(total)


def post_within(conn: Connection, request: TransactionRequest) -> PostResult:
    """Post inside the caller's database transaction; the caller commits or rolls back.

    For writes whose postings must stand or fall with other changes: a withdrawal's payout
    and the closing of the account, a transfer's money and its step. Same rules as
    :meth:`Ledger.post` (balanced, idempotent by key, never below zero, closed accounts
    take nothing); a refusal raises and the caller's whole transaction rolls back.
    """
    existing = _find_key(conn, request.idempotency_key)
    if existing is not None:
        return _replay(existing, request)
    return _post_new(conn, request)
