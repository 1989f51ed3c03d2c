"""Reading the accounts of one chunk: a few simple range reads, joined in NumPy.

A chunk is the open personal accounts with ids in ``(after, upto]`` that have no credit for
the month yet, with what evaluation needs of the person and the month's contribution.
Chunks are id ranges, not "the next N rows": every read is bounded by the range, so a chunk
costs the same at the end of a run as at the start.

Each table is read on its own, by one range of its key: the chunk's accounts by id, the
month's ``monthly_credits`` by account id, then the persons of those accounts and their
contributions for the month by person id (``ix_contributions_month_person``). The rows are
matched in NumPy (sorted keys, ``searchsorted``). One joined query did the same work in
PostgreSQL with a nested loop per account, and its rows came back as Python tuples; here
PostgreSQL only walks index ranges and sends every read as one row of ``bigint`` arrays in
binary, which NumPy takes as it is (:func:`pgbinary.read_bigints`), without a Python object
per value. Dates come back as days since 1970-01-01 and text as small codes.

Person and account ids mostly grow together (people are enrolled and their account opened
at once), so a chunk's persons are one short range of person ids. Where they are not (an
account opened for a person enrolled long before, on a move between regions), the persons
are read by their ids instead, never a range wider than two chunks.

"Credited elsewhere" looks only at the person's closed accounts: a person has at most one
open personal account (``uq_accounts_open_personal``), so any other is closed, and the
partial index ``ix_accounts_closed_person`` answers it from a small index.

The reads run one after another in the chunk's transaction (READ COMMITTED, like its
writes): a credit another run writes meanwhile is caught by the ``monthly_credits`` key
when this chunk writes, as it was with one query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
from sqlalchemy import Connection, Date, bindparam, text

from yibao.credit import pgbinary
from yibao.store.db import is_sqlite

# A died_on that never comes (no date of death); retired_on NULL reads as "retired long ago".
NEVER_DAYS = 10_000_000
ALWAYS_DAYS = -10_000_000
NO_CONTRIBUTION = -1
# A chunk's persons are read as one range of ids when it spans at most this many chunks.
_DENSE = 2

_ACCOUNTS = """
SELECT id, person_id, CAST(region_code AS INTEGER) FROM accounts
WHERE kind = 'personal' AND status != 'closed' AND id > :after AND id <= :upto
ORDER BY id
"""
_CREDITED = """
SELECT account_id FROM monthly_credits WHERE month = :month AND account_id > :after AND account_id <= :upto
"""
_PERSONS = """
SELECT id,
       {birth},
       CASE WHEN insurance_type = 'resident' THEN 1 ELSE 0 END,
       CASE WHEN employment = 'retired' THEN 1 ELSE 0 END,
       COALESCE({retired}, {always}),
       COALESCE({died}, {never})
FROM persons WHERE {persons}
"""
_CONTRIBUTIONS = "SELECT person_id, account_fen FROM contributions WHERE month = :month AND {persons}"
_CREDITED_ELSEWHERE = """
SELECT o.person_id FROM accounts o JOIN monthly_credits m ON m.month = :month AND m.account_id = o.id
WHERE o.status = 'closed' AND {persons}
"""


@dataclass
class AccountRows:
    account_id: np.ndarray  # int64
    region: np.ndarray  # int32, 6-digit code of the account's pooling region
    birth_days: np.ndarray  # int64, days since 1970-01-01
    resident: np.ndarray  # bool: residents' insurance
    retired: np.ndarray  # bool: employment is "retired"
    retired_days: np.ndarray  # int64; ALWAYS_DAYS when the date is not recorded
    died_days: np.ndarray  # int64; NEVER_DAYS when alive
    contribution_fen: np.ndarray  # int64 account part of the month's contribution; NO_CONTRIBUTION
    # The person's month was already credited to another of their accounts (one closed by a
    # transfer between regions, say): a month is credited once per person, not per account.
    credited_elsewhere: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.account_id)


class ChunkReader:
    """Reads chunks on one connection (its statements are prepared for that connection's driver)."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.sqlite = is_sqlite(conn.engine)
        days = _sqlite_days if self.sqlite else _postgres_days
        self.persons_sql = _PERSONS.format(
            birth=days("birth_date"), retired=days("retired_on"), died=days("died_on"),
            always=ALWAYS_DAYS, never=NEVER_DAYS, persons="{persons}",
        )

    def read(self, month: date, after: int, upto: int) -> AccountRows | None:
        """The accounts to credit with ids in ``(after, upto]``, or None when there are none."""
        cursor = self.conn.connection.driver_connection.cursor()
        try:
            if not self.sqlite:
                # Plans this small gain nothing from JIT compilation, which cost more than the
                # reads themselves when it kicked in (docs/benchmarks.md).
                cursor.execute("SET LOCAL jit = off")
            return self._read(cursor, month.isoformat() if self.sqlite else month, after, upto)
        finally:
            cursor.close()

    def _read(self, cursor, month, after: int, upto: int) -> AccountRows | None:
        span = {"month": month, "after": after, "upto": upto}
        accounts = _sorted(self._fetch(cursor, _ACCOUNTS, span, 3))
        credited = self._fetch(cursor, _CREDITED, span, 1)[:, 0]
        accounts = accounts[~np.isin(accounts[:, 0], credited)]
        if not len(accounts):
            return None
        person_id = accounts[:, 1]
        who = self._persons_filter(person_id, upto - after)
        persons = self._by_person(cursor, self.persons_sql, "id", month, who, 6)
        found = _positions(persons[:, 0], person_id)
        if (found < 0).any():
            raise LookupError("账户的参保人不存在")  # accounts.person_id is a foreign key: cannot happen
        person = persons[found]
        contributions = self._by_person(cursor, _CONTRIBUTIONS, "person_id", month, who, 2)
        paid = _positions(contributions[:, 0], person_id)
        paid_fen = np.append(contributions[:, 1], NO_CONTRIBUTION)  # position -1: no contribution
        elsewhere = self._by_person(cursor, _CREDITED_ELSEWHERE, "o.person_id", month, who, 1)[:, 0]
        return AccountRows(
            account_id=accounts[:, 0].copy(),
            region=accounts[:, 2].astype(np.int32),
            birth_days=person[:, 1].copy(),
            resident=person[:, 2] == 1,
            retired=person[:, 3] == 1,
            retired_days=person[:, 4].copy(),
            died_days=person[:, 5].copy(),
            contribution_fen=paid_fen[paid],
            credited_elsewhere=np.isin(person_id, elsewhere),
        )

    def _persons_filter(self, person_id: np.ndarray, chunk_size: int) -> tuple[str, dict]:
        """A condition on a person-id ``{column}`` that picks ``person_id``, and its parameters.

        One range of ids when it is no wider than ``_DENSE`` chunks (the usual case, also when
        most of the chunk is credited already and its rest is scattered over the range), else
        the ids themselves.
        """
        low, high = int(person_id.min()), int(person_id.max())
        if high - low + 1 <= _DENSE * chunk_size:
            return "{column} BETWEEN :low AND :high", {"low": low, "high": high}
        if self.sqlite:
            return "{column} IN (SELECT value FROM json_each(:ids))", {"ids": str(person_id.tolist())}
        return "{column} = ANY(:ids)", {"ids": pgbinary.BigintArray(person_id)}

    def _by_person(self, cursor, sql: str, column: str, month, who: tuple[str, dict], width: int) -> np.ndarray:
        """``sql``'s rows for the persons ``who`` (:meth:`_persons_filter`), sorted by column 0."""
        condition, params = who
        rows = self._fetch(cursor, sql.format(persons=condition.format(column=column)), {"month": month, **params}, width)
        return _sorted(rows)

    def _fetch(self, cursor, sql: str, params: dict, width: int) -> np.ndarray:
        """The rows of ``sql`` (``width`` integer columns, no NULLs) as an (n, width) int64 array."""
        used = {name: value for name, value in params.items() if f":{name}" in sql}
        if self.sqlite:
            rows = cursor.execute(sql, used).fetchall()
            return np.array(rows, dtype=np.int64).reshape(len(rows), width)
        for name in used:
            sql = sql.replace(f":{name}", f"%({name})s")
        return pgbinary.read_bigints(cursor, sql, used, width)


def _sorted(rows: np.ndarray) -> np.ndarray:
    """``rows`` in the order of column 0 (usually already so: read along an index)."""
    keys = rows[:, 0]
    if len(keys) < 2 or (keys[1:] > keys[:-1]).all():
        return rows
    return rows[np.argsort(keys, kind="stable")]


def _positions(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Row of each ``wanted`` value in the sorted, distinct ``keys``; -1 where absent."""
    if not len(keys):
        return np.full(len(wanted), -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[at] == wanted, at, -1)


def _sqlite_days(column: str) -> str:
    return f"CAST(julianday({column}) - 2440587.5 AS INTEGER)"


def _postgres_days(column: str) -> str:
    return f"({column} - DATE '1970-01-01')"


def personal_id_span(conn: Connection) -> tuple[int, int]:
    """The smallest and largest personal account id, (0, 0) when there are none."""
    low, high = conn.execute(text("SELECT MIN(id), MAX(id) FROM accounts WHERE kind = 'personal'")).one()
    return (low or 0, high or 0)


def count_open_accounts(conn: Connection) -> int:
    return conn.execute(
        text("SELECT COUNT(*) FROM accounts WHERE kind = 'personal' AND status != 'closed'")
    ).scalar_one()


def count_closed_accounts(conn: Connection) -> int:
    return conn.execute(
        text("SELECT COUNT(*) FROM accounts WHERE kind = 'personal' AND status = 'closed'")
    ).scalar_one()


def count_already_credited(conn: Connection, month: date) -> int:
    query = text("SELECT COUNT(*) FROM monthly_credits WHERE month = :month").bindparams(bindparam("month", type_=Date))
    return conn.execute(query, {"month": month}).scalar_one()


def pooling_regions(conn: Connection) -> list[str]:
    """Every pooling region with an open personal account (each needs its pool account)."""
    rows = conn.execute(
        text("SELECT DISTINCT region_code FROM accounts WHERE kind = 'personal' AND status != 'closed'")
    ).scalars()
    return sorted(rows)
