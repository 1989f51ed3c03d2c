"""Reading the accounts of one chunk: one query, integer columns, straight into NumPy.

A chunk is the open personal accounts with ids in ``(after, upto]`` that have no credit for
the month yet, with what evaluation needs of the person and the month's contribution.
Chunks are id ranges, not "the next N rows": every condition, the anti-join with the
month's ``monthly_credits`` included, is then bounded by the range, so a chunk costs the
same at the end of a run as at the start (with LIMIT, PostgreSQL's plan re-read the whole
month's credits for every chunk once they grew past the statistics). The chunk's persons and
their contributions for the month are read as ranges of person ids too (index
``ix_contributions_month_person``), not probed one by one. Dates come back as days since
1970-01-01 and text as small codes, so the rows convert to arrays without a Python object per
value.

"Credited elsewhere" looks only at the person's closed accounts: a person has at most one
open personal account (``uq_accounts_open_personal``), so any other is closed, and the
partial index ``ix_accounts_closed_person`` answers for most people from an empty range.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
from sqlalchemy import Connection, Date, bindparam, text

from yibao.store.db import is_sqlite

# A died_on that never comes (no date of death); retired_on NULL reads as "retired long ago".
NEVER_DAYS = 10_000_000
ALWAYS_DAYS = -10_000_000
NO_CONTRIBUTION = -1

_CHUNK_SQL = """
SELECT a.id,
       CAST(a.region_code AS INTEGER),
       {birth},
       CASE WHEN p.insurance_type = 'resident' THEN 1 ELSE 0 END,
       CASE WHEN p.employment = 'retired' THEN 1 ELSE 0 END,
       COALESCE({retired}, {always}),
       COALESCE({died}, {never}),
       COALESCE(c.account_fen, {no_contribution}),
       CASE WHEN EXISTS (
           SELECT 1 FROM accounts o JOIN monthly_credits mo ON mo.month = :month AND mo.account_id = o.id
           WHERE o.person_id = a.person_id AND o.status = 'closed'
       ) THEN 1 ELSE 0 END
FROM accounts a
JOIN persons p ON p.id = a.person_id AND p.id BETWEEN :first_person AND :last_person
LEFT JOIN contributions c
       ON c.person_id = a.person_id AND c.month = :month AND c.person_id BETWEEN :first_person AND :last_person
WHERE a.kind = 'personal' AND a.status != 'closed' AND a.id > :after AND a.id <= :upto
  AND NOT EXISTS (
      SELECT 1 FROM monthly_credits m
      WHERE m.month = :month AND m.account_id = a.id AND m.account_id > :after AND m.account_id <= :upto
  )
ORDER BY a.id
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

    @classmethod
    def from_rows(cls, rows: list) -> AccountRows:
        table = np.array(rows, dtype=np.int64).reshape(len(rows), 9)
        return cls(
            account_id=table[:, 0].copy(),
            region=table[:, 1].astype(np.int32),
            birth_days=table[:, 2].copy(),
            resident=table[:, 3] == 1,
            retired=table[:, 4] == 1,
            retired_days=table[:, 5].copy(),
            died_days=table[:, 6].copy(),
            contribution_fen=table[:, 7].copy(),
            credited_elsewhere=table[:, 8] == 1,
        )


def _days(column: str, sqlite: bool) -> str:
    if sqlite:
        return f"CAST(julianday({column}) - 2440587.5 AS INTEGER)"
    return f"({column} - DATE '1970-01-01')"


def chunk_query(conn: Connection) -> str:
    """The chunk query in the driver's own parameter style (it runs on the raw cursor)."""
    sqlite = is_sqlite(conn.engine)
    sql = _CHUNK_SQL.format(
        birth=_days("p.birth_date", sqlite),
        retired=_days("p.retired_on", sqlite),
        died=_days("p.died_on", sqlite),
        always=ALWAYS_DAYS,
        never=NEVER_DAYS,
        no_contribution=NO_CONTRIBUTION,
    )
    # Plain tuples from the driver: SQLAlchemy's Row objects cost more than the query itself here.
    style = (lambda name: f":{name}") if sqlite else (lambda name: f"%({name})s")
    for name in ("month", "after", "upto", "first_person", "last_person"):
        sql = sql.replace(f":{name}", style(name))
    return sql


def read_chunk(conn: Connection, query: str, month: date, after: int, upto: int) -> AccountRows | None:
    """The accounts to credit with ids in ``(after, upto]``, or None when there are none."""
    sqlite = is_sqlite(conn.engine)
    day = month.isoformat() if sqlite else month
    cursor = conn.connection.driver_connection.cursor()
    try:
        if not sqlite:
            # The plan's estimated cost is past PostgreSQL's JIT thresholds, and compiling it
            # took 1.8 s of a 1.1 s chunk read, for every chunk of a million-account run
            # (docs/benchmarks.md): the query runs once per chunk, too short for JIT to pay off.
            # The sort of 50,000 rows spilled to disk with the default 4 MB of work memory.
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL work_mem = '32MB'")
        first_person, last_person = _person_span(cursor, sqlite, after, upto)
        cursor.execute(query, {
            "month": day, "after": after, "upto": upto, "first_person": first_person, "last_person": last_person,
        })
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return AccountRows.from_rows(rows) if rows else None


def _person_span(cursor, sqlite: bool, after: int, upto: int) -> tuple[int, int]:
    """The smallest and largest person id of the chunk's accounts.

    Given to the chunk query as a range of ``persons.id``, it lets PostgreSQL read just that
    range of persons by their key instead of hashing every person for every chunk (which
    made a run's reading grow with the square of its size: 545 → 271 ms per chunk of 50,000
    at 1,000,000 people). Person and account ids mostly grow together (people are enrolled
    and their account opened at once); where they do not, the range is wider and the query
    reads more persons, with the same result.
    """
    # OFFSET 0 keeps PostgreSQL from answering MIN and MAX by walking the person_id index
    # until it meets an account in the range (0.25 s per chunk late in a run).
    marker, fence = ("?", "") if sqlite else ("%s", " OFFSET 0")
    cursor.execute(
        "SELECT MIN(person_id), MAX(person_id) FROM "
        f"(SELECT person_id FROM accounts WHERE id > {marker} AND id <= {marker}{fence}) AS chunk",
        (after, upto),
    )
    first, last = cursor.fetchone()
    return (first or 0, last or 0)


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
