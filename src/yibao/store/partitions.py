"""PostgreSQL: ``postings`` is partitioned by business date, one partition per month.

Why: the monthly credit run adds one posting per account (a million in a large region),
and every posting goes into the ``(account_id, business_date, id)`` index that an
account's details are read by. In one table that index holds every posting ever made,
and a month's credits, in account order, land on nearly every one of its pages: once the
index is larger than the server's cache, most of the run's time went into reading and
rewriting those pages (docs/benchmarks.md). With a partition per month, the run's
postings go into that month's partition, whose index holds only that month's postings.

Layout: years that were already past when partitioning began (history) get a partition
per year, every later month one partition each, and ``postings_default`` takes a posting
whose month has no partition yet, so a write never fails for want of one. Partitions are
made ahead of time: by the migration, the credit run (its month and the next ones), the
web server at start and ``yibao db partitions``. Making a month's partition moves that
month's rows out of the default partition first.

SQLite keeps one table: every function here does nothing there.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from yibao.domain.contribution import add_months, first_of_month, month_range
from yibao.store.db import is_sqlite

log = logging.getLogger(__name__)

PARENT = "postings"
DEFAULT_PARTITION = "postings_default"
MONTHS_AHEAD = 3
# Making a partition briefly locks the default partition; rather than queue behind a long
# query (and make every other query queue behind it), give up and try again next time.
LOCK_TIMEOUT = "5s"
_LOCK_NOT_AVAILABLE, _DUPLICATE_TABLE = "55P03", "42P07"
_COLUMNS = "id, transaction_id, account_id, amount_fen, business_date"
_PARTITION_NAME = re.compile(r"postings_(y\d{4}(m\d{2})?|default)")
_BOUND = re.compile(r"FROM \('(\d{4}-\d{2}-\d{2})'\) TO \('(\d{4}-\d{2}-\d{2})'\)")


@dataclass(frozen=True)
class Span:
    """A partition's range of business dates: ``first`` included, ``end`` excluded."""

    first: date
    end: date

    @property
    def name(self) -> str:
        if self.end == add_months(self.first, 12) and self.first.month == 1:
            return f"postings_y{self.first.year}"
        return f"postings_y{self.first.year}m{self.first.month:02d}"

    def overlaps(self, other: Span) -> bool:
        return self.first < other.end and other.first < self.end


def month_span(day: date) -> Span:
    return Span(first_of_month(day), add_months(day, 1))


def year_span(day: date) -> Span:
    return Span(date(day.year, 1, 1), date(day.year + 1, 1, 1))


def is_partition_name(name: str) -> bool:
    """A table name this module gives to a partition of ``postings``."""
    return _PARTITION_NAME.fullmatch(name) is not None


def is_partitioned(conn: Connection) -> bool:
    if is_sqlite(conn.engine):
        return False
    return bool(conn.execute(text(
        "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(:parent))"
    ), {"parent": PARENT}).scalar_one())


def existing_spans(conn: Connection) -> list[Span]:
    """The date ranges of ``postings``' partitions (the default partition has none)."""
    bounds = conn.execute(text(
        "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(:parent)"
    ), {"parent": PARENT}).scalars()
    spans = []
    for bound in bounds:
        match = _BOUND.search(bound)
        if match:
            spans.append(Span(date.fromisoformat(match[1]), date.fromisoformat(match[2])))
    return sorted(spans, key=lambda span: span.first)


def ensure_partitions(conn: Connection, first: date, last: date, *, monthly_from: date) -> list[str]:
    """Give every month from ``first``'s to ``last``'s a partition; the names made.

    A month of a year before ``monthly_from``'s gets its year's partition, unless that year
    already has partitions of its own; every other month gets its own. Outside a transaction
    each partition is made and committed on its own; inside one (a migration) they are part
    of it. A partition that cannot get its locks within :data:`LOCK_TIMEOUT`, or that another
    process made at the same moment, is left as it is (rows of a month without a partition
    keep going to the default partition meanwhile).
    """
    own_transactions = not conn.in_transaction()
    spans = existing_spans(conn) if is_partitioned(conn) else None
    if own_transactions:
        conn.rollback()  # the lookups' implicit transaction: each partition commits on its own
    if spans is None:
        return []
    made = []
    for month in month_range(first, last):
        if any(span.first <= month < span.end for span in spans):
            continue
        span = year_span(month)
        if month.year >= monthly_from.year or any(span.overlaps(other) for other in spans):
            span = month_span(month)
        if _attach(conn, span):
            spans.append(span)
            made.append(span.name)
    return made


def ensure_ahead(conn: Connection, today: date) -> list[str]:
    """Partitions for last month, this month and the next :data:`MONTHS_AHEAD` months."""
    return ensure_partitions(conn, add_months(today, -1), add_months(today, MONTHS_AHEAD), monthly_from=today)


def _attach(conn: Connection, span: Span) -> bool:
    """Make ``span``'s partition, in the caller's transaction if there is one, else in its own."""
    if conn.in_transaction():  # a migration: all or nothing with the rest of it
        _attach_statements(conn, span)
        return True
    try:
        with conn.begin():
            conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            _attach_statements(conn, span)
    except DBAPIError as error:
        state = getattr(error.orig, "sqlstate", None)
        if state == _DUPLICATE_TABLE:
            log.info("postings partition %s was made by another process meanwhile", span.name)
            return True
        if state != _LOCK_NOT_AVAILABLE:
            raise
        log.warning("postings partition %s not made: its locks were busy; its rows stay in %s for now", span.name, DEFAULT_PARTITION)
        return False
    log.info("postings partition %s made", span.name)
    return True


def _attach_statements(conn: Connection, span: Span) -> None:
    """A new table, the span's rows moved into it from the default partition, attached."""
    name, lo, hi = span.name, span.first.isoformat(), span.end.isoformat()
    in_span = f"business_date >= DATE '{lo}' AND business_date < DATE '{hi}'"
    conn.execute(text(f'CREATE TABLE "{name}" (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'))
    # With this check in place, attaching does not scan the new table to prove its rows fit.
    conn.execute(text(f'ALTER TABLE "{name}" ADD CONSTRAINT "{name}_span" CHECK ({in_span})'))
    conn.execute(text(
        f'WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE {in_span} RETURNING {_COLUMNS}) '
        f'INSERT INTO "{name}" ({_COLUMNS}) SELECT {_COLUMNS} FROM moved'
    ))
    conn.execute(text(f"ALTER TABLE {PARENT} ATTACH PARTITION \"{name}\" FOR VALUES FROM ('{lo}') TO ('{hi}')"))
    conn.execute(text(f'ALTER TABLE "{name}" DROP CONSTRAINT "{name}_span"'))


def rows_in_default(conn: Connection) -> int:
    """Postings waiting in the default partition for their month's partition (0 on SQLite)."""
    if not is_partitioned(conn):
        return 0
    return conn.execute(text(f"SELECT COUNT(*) FROM {DEFAULT_PARTITION}")).scalar_one()
