"""PostgreSQL: a two-leg transfer as one SQL statement, in one round trip.

Paying at a pharmacy, a monthly credit, a refund: nearly every write is one personal
account against one system account. The general path (``ledger._post_new``) needs five
statements inside BEGIN/COMMIT; on a busy server each of those round trips is a wait, and
on a small machine the client's CPU per statement is what limits throughput (see
docs/benchmarks.md). PostgreSQL can run the whole transaction as one statement with
data-modifying CTEs, and a single statement in autocommit mode is atomic on its own.

The statement either posts the complete transaction or changes nothing:

* the personal leg's conditional UPDATE (the same rule as ``_apply_to_cached_balance``:
  debits need an active account and enough balance, credits an active or frozen one)
  runs only when the *other* leg is an open system account;
* the transaction, its idempotency key and its postings are inserted only when every leg
  passed (the personal one moved, the system one is open), judged from the same snapshot;
* a repeated idempotency key fails the key INSERT with a unique violation, which rolls
  back the whole statement, including the UPDATE; the caller then replays or refuses.

When it posts nothing (a refusal, a missing account, two personal accounts whose row
locks must be taken in a fixed order), the caller runs the general path, which gives the
precise error. So this path never decides a refusal; it only makes success cheaper.
"""

from __future__ import annotations

import psycopg
from sqlalchemy import Engine

from yibao.ledger.kinds import AccountKind, AccountStatus
from yibao.store.models import accounts, idempotency_keys, ledger_transactions, postings

PERSONAL = AccountKind.PERSONAL.value
ACTIVE, FROZEN, CLOSED = AccountStatus.ACTIVE.value, AccountStatus.FROZEN.value, AccountStatus.CLOSED.value

# Table names come from the model so a rename cannot silently miss this statement.
TRANSFER_SQL = (
    f"""
WITH legs (account_id, amount_fen) AS (
    VALUES (CAST(%(from_account)s AS BIGINT), CAST(%(debit_fen)s AS BIGINT)),
           (CAST(%(to_account)s AS BIGINT), CAST(%(credit_fen)s AS BIGINT))
),
targets AS (
    SELECT legs.account_id, legs.amount_fen, a.kind, a.status
    FROM legs JOIN {accounts.name} a ON a.id = legs.account_id
),
moved AS (
    UPDATE {accounts.name} SET balance_fen = {accounts.name}.balance_fen + t.amount_fen
    FROM targets t
    WHERE {accounts.name}.id = t.account_id
      AND t.kind = '{PERSONAL}'
      AND {accounts.name}.status = ANY (
          CASE WHEN t.amount_fen < 0 THEN ARRAY['{ACTIVE}'] ELSE ARRAY['{ACTIVE}', '{FROZEN}'] END)
      AND {accounts.name}.balance_fen + t.amount_fen >= 0
      AND EXISTS (SELECT 1 FROM targets other
                  WHERE other.account_id <> t.account_id
                    AND other.kind <> '{PERSONAL}' AND other.status <> '{CLOSED}')
    RETURNING {accounts.name}.id, {accounts.name}.balance_fen
),
passed AS (
    SELECT count(*) AS legs FROM targets t
    WHERE (t.kind = '{PERSONAL}' AND t.account_id IN (SELECT id FROM moved))
       OR (t.kind <> '{PERSONAL}' AND t.status <> '{CLOSED}')
),
tx AS (
    INSERT INTO {ledger_transactions.name} (kind, business_date, memo, reference)
    SELECT %(kind)s, %(business_date)s, %(memo)s, %(reference)s FROM passed WHERE passed.legs = 2
    RETURNING id
),
keyed AS (
    INSERT INTO {idempotency_keys.name} (scope, key, request_hash, transaction_id)
    SELECT %(scope)s, %(key)s, %(request_hash)s, tx.id FROM tx
),
posted AS (
    INSERT INTO {postings.name} (transaction_id, account_id, amount_fen, business_date)
    SELECT tx.id, legs.account_id, legs.amount_fen, %(business_date)s FROM tx CROSS JOIN legs
)
SELECT tx.id AS transaction_id, moved.id AS account_id, moved.balance_fen
FROM tx LEFT JOIN moved ON true
"""
)


def supports_single_statement(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


class DuplicateKey(Exception):
    """The idempotency key is taken: the statement rolled back as a whole."""


def try_transfer(engine: Engine, parameters: dict) -> tuple[int, dict[int, int]] | None:
    """Post the transfer in one statement: (transaction id, new personal balances), or None.

    None means nothing was written. The statement goes straight to psycopg on a pooled
    connection: on a small machine the client's CPU per debit limits throughput, and half
    of it was SQLAlchemy's per-execution work, which a fixed statement does not need.
    psycopg prepares the statement on the server after a few uses.
    """
    pooled = engine.raw_connection()
    try:
        raw = pooled.driver_connection
        raw.autocommit = True  # one statement is its own transaction: no BEGIN, no COMMIT
        try:
            rows = raw.execute(TRANSFER_SQL, parameters).fetchall()
        finally:
            raw.autocommit = False
    except psycopg.errors.UniqueViolation as error:
        raise DuplicateKey from error
    except psycopg.OperationalError:
        pooled.invalidate()  # a dead connection (server restart) must not go back to the pool
        raise
    finally:
        pooled.close()
    if not rows:
        return None
    balances = {account_id: balance for _, account_id, balance in rows if account_id is not None}
    return rows[0][0], balances
