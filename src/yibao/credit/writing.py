"""Writing one chunk's credits: one database transaction, set-based, all or nothing.

In that transaction: one ledger transaction per kind present (monthly_credit, and
annual_credit for yearly amounts) with one pool leg per pooling region (minus the
region's sum) and one posting per credited account; the ``monthly_credits`` rows (the
exactly-once record); one set-based balance update whose row count must equal the number
of credited accounts. Anything unexpected raises, and the whole chunk rolls back.

PostgreSQL gets binary COPY built by NumPy and one ``UPDATE … FROM unnest(…)`` with its
arrays sent in binary; SQLite gets ``executemany``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
from sqlalchemy import Connection, insert

from yibao.credit import pgbinary
from yibao.credit.evaluation import ChunkPlan
from yibao.credit.month import label, reference
from yibao.domain.money import MAX_FEN
from yibao.errors import LedgerInvariantBroken, YibaoError
from yibao.ledger.kinds import TxKind
from yibao.store.bulk import insert_rows
from yibao.store.db import is_sqlite
from yibao.store.models import ledger_transactions

_CREDITABLE = "('active', 'frozen')"  # frozen accounts take credits, closed ones nothing
_REGION_CODES = 1_000_000  # region codes have 6 digits
# The id range bounds the scan of accounts to the chunk's: without it PostgreSQL hashes
# the whole table for every chunk, and a run's cost grows with the square of the accounts.
_PG_UPDATE = f"""
UPDATE accounts AS a SET balance_fen = a.balance_fen + v.amount_fen
FROM unnest(%b, %b) AS v(id, amount_fen)
WHERE a.id = v.id AND a.id BETWEEN %s AND %s AND a.kind = 'personal' AND a.status IN {_CREDITABLE}
"""
_SQLITE_UPDATE = f"""
UPDATE accounts SET balance_fen = balance_fen + ?
WHERE id = ? AND kind = 'personal' AND status IN {_CREDITABLE}
"""


class ConcurrentCreditRun(YibaoError):
    code = "credit_run_concurrent"
    default_message = "有账户本月已被另一个划入任务划入（可能有两个任务同时运行），本批次已回滚，请稍后重新运行"


@dataclass(frozen=True)
class Legs:
    """The postings of one chunk, as columns."""

    transaction_id: np.ndarray
    account_id: np.ndarray
    amount_fen: np.ndarray


def write_chunk(conn: Connection, month: date, plan: ChunkPlan, pools: dict[int, int], rule_names: list[str]) -> None:
    """Post ``plan`` inside the caller's transaction on ``conn`` (the caller commits)."""
    if not plan.credited:
        return
    _check_amounts(plan)
    transaction_of_row = _open_transactions(conn, month, plan)
    legs = _legs(plan, transaction_of_row, pools)
    try:
        if is_sqlite(conn.engine):
            _sqlite_write(conn, month, plan, transaction_of_row, legs, rule_names)
        else:
            _postgres_write(conn, month, plan, transaction_of_row, legs, rule_names)
    except Exception as error:
        # Raw DBAPI errors (the rows go through the driver's cursor) or SQLAlchemy's wrapper.
        if _is_duplicate_credit(error):
            raise ConcurrentCreditRun() from error
        raise


def _is_duplicate_credit(error: Exception) -> bool:
    cause = getattr(error, "orig", None) or error
    return type(cause).__name__ in {"IntegrityError", "UniqueViolation"} and "monthly_credits" in str(cause)


def _check_amounts(plan: ChunkPlan) -> None:
    if (plan.amount_fen <= 0).any() or (plan.amount_fen > MAX_FEN).any():
        raise LedgerInvariantBroken("划入金额必须大于0且不超过上限")
    ids = plan.account_id  # read in id order, so distinct when strictly increasing (np.unique sorts)
    if not (ids[1:] > ids[:-1]).all() and len(np.unique(ids)) != plan.credited:
        raise LedgerInvariantBroken("同一账户在一个批次中出现两次")


def _open_transactions(conn: Connection, month: date, plan: ChunkPlan) -> np.ndarray:
    """One ledger transaction per kind present; returns each credited row's transaction id."""
    transaction_of_row = np.zeros(plan.credited, dtype=np.int64)
    for annual, kind, memo in ((False, TxKind.MONTHLY_CREDIT, "个人账户划入"), (True, TxKind.ANNUAL_CREDIT, "个人账户年度划入")):
        rows = plan.annual == annual
        if not rows.any():
            continue
        transaction_of_row[rows] = conn.execute(
            insert(ledger_transactions)
            .values(kind=kind.value, business_date=month, memo=f"{label(month)}{memo}", reference=reference(month))
            .returning(ledger_transactions.c.id)
        ).scalar_one()
    return transaction_of_row


def _legs(plan: ChunkPlan, transaction_of_row: np.ndarray, pools: dict[int, int]) -> Legs:
    """Each credited account's posting, then one pool leg per (transaction, region)."""
    # One integer key per (transaction, region): the transaction follows from ``annual``,
    # and region codes have 6 digits. Sorting one int64 column is much cheaper than
    # np.unique over pairs (which sorts structured records).
    key = plan.annual.astype(np.int64) * _REGION_CODES + plan.region
    order = np.argsort(key, kind="stable")
    starts = np.flatnonzero(np.diff(key[order], prepend=-1))
    sums = np.add.reduceat(plan.amount_fen[order], starts)
    first_rows = order[starts]
    pool_ids = np.array([pools[int(region)] for region in plan.region[first_rows]], dtype=np.int64)
    legs = Legs(
        transaction_id=np.concatenate([transaction_of_row, transaction_of_row[first_rows]]),
        account_id=np.concatenate([plan.account_id, pool_ids]),
        amount_fen=np.concatenate([plan.amount_fen, -sums]),
    )
    _check_balanced(legs)
    return legs


def _check_balanced(legs: Legs) -> None:
    order = np.argsort(legs.transaction_id, kind="stable")
    transactions, starts = np.unique(legs.transaction_id[order], return_index=True)
    totals = np.add.reduceat(legs.amount_fen[order], starts)
    if totals.any():
        raise LedgerInvariantBroken("借贷不平衡：划入批次的分录合计不为零")
    if (legs.amount_fen == 0).any():
        raise LedgerInvariantBroken("分录金额不能为0")


def _check_updated(updated: int, expected: int) -> None:
    if updated != expected:
        raise LedgerInvariantBroken(
            f"应更新{expected}个账户余额，实际{updated}个（有账户在划入时已注销或不存在），本批次已回滚"
        )


# ---------------------------------------------------------------------------- PostgreSQL


def _postgres_write(conn, month, plan, transaction_of_row, legs: Legs, rule_names) -> None:
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor:
        _copy(cursor, "monthly_credits (month, account_id, amount_fen, transaction_id, rule)",
              _credit_payloads(month, plan, transaction_of_row, rule_names))
        _copy(cursor, "postings (transaction_id, account_id, amount_fen, business_date)", [(len(legs.account_id), [
            pgbinary.bigint(legs.transaction_id),
            pgbinary.bigint(legs.account_id),
            pgbinary.bigint(legs.amount_fen),
            pgbinary.pg_date(month),
        ])])
        ids = plan.account_id
        pgbinary.register_arrays(cursor)
        cursor.execute(_PG_UPDATE, (
            pgbinary.BigintArray(ids), pgbinary.BigintArray(plan.amount_fen), int(ids.min()), int(ids.max()),
        ))
        _check_updated(cursor.rowcount, plan.credited)


def _credit_payloads(month, plan, transaction_of_row, rule_names):
    """The ``monthly_credits`` rows, one payload per rule (a payload's text is the same in every row)."""
    for rule in np.unique(plan.rule):
        rows = plan.rule == rule
        yield int(rows.sum()), [
            pgbinary.pg_date(month),
            pgbinary.bigint(plan.account_id[rows]),
            pgbinary.bigint(plan.amount_fen[rows]),
            pgbinary.bigint(transaction_of_row[rows]),
            pgbinary.constant_text(rule_names[rule]),
        ]


def _copy(cursor, target: str, payloads) -> None:
    """One binary COPY of ``payloads``: (row count, fields) each, see :func:`pgbinary.rows_payload`."""
    with cursor.copy(f"COPY {target} FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(pgbinary.HEADER)
        for count, fields in payloads:
            copy.write(pgbinary.rows_payload(count, fields))
        copy.write(pgbinary.TRAILER)


# ---------------------------------------------------------------------------- SQLite


def _sqlite_write(conn, month, plan, transaction_of_row, legs: Legs, rule_names) -> None:
    day = month.isoformat()
    names = np.array(rule_names, dtype=object)[plan.rule]
    insert_rows(
        conn, "monthly_credits", ("month", "account_id", "amount_fen", "transaction_id", "rule"),
        zip([day] * plan.credited, plan.account_id.tolist(), plan.amount_fen.tolist(), transaction_of_row.tolist(), names.tolist()),
    )
    insert_rows(
        conn, "postings", ("transaction_id", "account_id", "amount_fen", "business_date"),
        zip(legs.transaction_id.tolist(), legs.account_id.tolist(), legs.amount_fen.tolist(), [day] * len(legs.account_id)),
    )
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.executemany(_SQLITE_UPDATE, zip(plan.amount_fen.tolist(), plan.account_id.tolist()))
        _check_updated(cursor.rowcount, plan.credited)
    finally:
        cursor.close()
