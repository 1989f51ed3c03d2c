"""Load the synthetic population into a database, fast: set-based bulk writes per chunk.

PostgreSQL gets ``COPY … FROM STDIN`` (psycopg 3), SQLite gets ``executemany`` on the raw
DBAPI cursor. Ids are assigned here, so nothing is read back while loading. Each chunk of
people is one database transaction: a crash leaves whole chunks, never half a person.

Speed (one million people is the target): people are generated on the calling thread
while a writer thread stores the previous chunk; Python's cycle collector is paused;
SQLite gets a large page cache; and the one index that cannot be fed in order
(``ix_postings_account_date``) is built once at the end instead of row by row.

The rows obey every ledger invariant (``check_ledger`` is ok afterwards): two postings per
transaction summing to zero, one idempotency key per transaction (scope ``demo``),
personal balances equal to their postings and never negative.
"""

from __future__ import annotations

import gc
import hashlib
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date
from itertools import islice
from random import Random

from sqlalchemy import Connection, Engine, text

from yibao.demo.family import bind_family
from yibao.demo.population import (
    Profile,
    Status,
    SyntheticPerson,
    default_profile,
    generate,
    history_start,
)
from yibao.domain.regions import regions
from yibao.domain.person import MemberStatus
from yibao.domain.resident_id import Sex
from yibao.errors import InvalidInput
from yibao.ledger.accounts import system_account_code
from yibao.ledger.kinds import AccountKind, TxKind
from yibao.security.passwords import hash_secret, is_weak_password, is_weak_pin
from yibao.store.bulk import insert_rows
from yibao.store.db import is_sqlite
from yibao.store.migrate import upgrade
from yibao.store.models import Base, postings
from yibao.domain.contribution import add_months
from yibao.store.partitions import MONTHS_AHEAD, ensure_partitions
from yibao.terminal import progress_bar

DEFAULT_SEED = 20250601
CHUNK_PEOPLE = 2_000
BULK_CACHE_KIB = 512 * 1024  # SQLite page cache while loading
DEMO_SCOPE = "demo"
INITIAL_PASSWORD = "123456"  # "generally 123456" (POLICY_FACTS §1.4); must be changed first
LOGIN_STATUSES = (Status.IN_SERVICE, Status.RETIRED, Status.RESIDENT, Status.FLEXIBLE)
# Personas beyond the member statuses: who each demo login is there to show.
INITIAL, FAMILY_HOLDER, FAMILY_MEMBER = "initial_password", "family_holder", "family_member"
PERSONA_LABELS = {
    INITIAL: "在职职工（初始密码）",
    FAMILY_HOLDER: "家庭共济账户持有人",
    FAMILY_MEMBER: "家庭共济亲属（居民医保，保费由家人代缴）",
}
HOLDER_MIN_BALANCE_FEN = 100_000  # enough for a year's residents' premium with money left to see
_DATA_TABLES = (
    "persons", "accounts", "ledger_transactions", "postings", "idempotency_keys", "contributions", "credentials",
)
_ID_TABLES = ("persons", "accounts", "ledger_transactions", "postings", "contributions", "credentials")

_COLUMNS = {
    "persons": (
        "id", "id_number", "card_number", "name", "sex", "birth_date", "region_code", "insurance_type",
        "employment", "enrolled_on", "retired_on", "deemed_months", "prior_paid_months", "phone",
    ),
    "accounts": ("id", "kind", "person_id", "code", "region_code", "status", "balance_fen", "opened_on"),
    "ledger_transactions": ("id", "kind", "business_date", "memo", "reference"),
    # A contribution credited in the history counts as that month's credit (yibao credit run skips it).
    "monthly_credits": ("month", "account_id", "amount_fen", "transaction_id", "rule"),
    "idempotency_keys": ("scope", "key", "request_hash", "transaction_id"),
    "postings": ("id", "transaction_id", "account_id", "amount_fen", "business_date"),
    "contributions": (
        "id", "person_id", "month", "insurance_type", "base_fen", "employer_rate_bp", "individual_rate_bp",
        "employer_fen", "individual_fen", "account_fen", "employer_name", "flexible", "paid_on", "is_makeup",
    ),
    "credentials": ("id", "person_id", "kind", "secret_hash", "must_change"),
}
_SEX_CODE = {Sex.MALE: "M", Sex.FEMALE: "F"}
_DEFERRED_INDEXES = tuple(index for index in postings.indexes if index.name == "ix_postings_account_date")


@dataclass
class DemoSummary:
    people: int = 0
    accounts: int = 0
    contributions: int = 0
    transactions: int = 0
    postings: int = 0
    total_balance_fen: int = 0  # sum of the personal accounts' balances
    by_region: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    seed: int = DEFAULT_SEED
    # Demo sign-ins. Contains full ID numbers and plain passwords: demo data only.
    logins: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def build_demo(
    engine: Engine,
    *,
    people: int,
    seed: int = DEFAULT_SEED,
    today: date,
    months: int = 24,
    progress: bool = True,
    reset: bool = False,
    chunk_people: int = CHUNK_PEOPLE,
    profile: Profile | None = None,
) -> DemoSummary:
    """Migrate, then write ``people`` synthetic people with their accounts and histories.

    Refuses (``InvalidInput``, field ``database``) when the database already holds data,
    unless ``reset`` is true: then every table is emptied first. People are generated on
    this thread while a second thread writes the previous chunk (SQLite and psycopg
    release the GIL while the database works), so the two overlap.
    """
    started = time.perf_counter()
    profile = profile or default_profile()
    population = generate(people, seed=seed, today=today, months=months, profile=profile)
    upgrade(engine)
    _empty_or_reset(engine, reset)
    with engine.connect() as conn:  # PostgreSQL: the history's months get their partitions before loading
        ensure_partitions(conn, history_start(today, months), add_months(today, MONTHS_AHEAD), monthly_from=today)
    rows = _RowMaker(seed, profile)
    with _no_cyclic_gc(), _progress_bar(progress, people) as advance, _BackgroundWriter(engine, advance) as writer:
        writer.submit({"accounts": rows.system_accounts(history_start(today, months))}, people=0)
        for chunk in _chunks(population, chunk_people):
            writer.submit(rows.for_people(chunk), people=len(chunk))
    summary = rows.summary()
    paid = bind_family(engine, summary.logins, today, history_start(today, months))
    if paid is not None:  # one more transaction: the holder's account paid the relative's premium into the pool
        summary.transactions += 1
        summary.postings += 2
        summary.total_balance_fen -= paid.amount_fen
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


# ---------------------------------------------------------------------------- before loading


def _empty_or_reset(engine: Engine, reset: bool) -> None:
    with engine.begin() as conn:
        if not _has_data(conn):
            return
        if not reset:
            raise InvalidInput(
                "数据库中已有参保人或账务数据，不能直接生成演示数据；如需清空后重建，请使用重置选项（reset）",
                field="database",
                code="database_not_empty",
            )
        _delete_everything(conn)


def _has_data(conn: Connection) -> bool:
    return any(conn.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).first() for table in _DATA_TABLES)


def _delete_everything(conn: Connection) -> None:
    """Every table of the schema emptied, children before parents (not alembic_version)."""
    tables = list(reversed(Base.metadata.sorted_tables))
    if is_sqlite(conn.engine):
        for table in tables:
            conn.execute(table.delete())
        return
    # PostgreSQL: one TRUNCATE of all tables at once (DELETE of millions of rows takes ages).
    names = ", ".join(f'"{table.name}"' for table in tables)
    conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))


@contextmanager
def _bulk_settings(conn: Connection) -> Iterator[None]:
    """SQLite: a large page cache while loading, the connection's own value afterwards.

    The default 2 MB cache makes every index insert re-read pages from the OS once the
    file grows past a few hundred MB (measured: the load rate fell by a quarter by 200,000
    people). PostgreSQL needs nothing here.
    """
    if not is_sqlite(conn.engine):
        yield
        return
    raw = conn.connection.driver_connection
    previous = raw.execute("PRAGMA cache_size").fetchone()[0]
    raw.execute(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size = {int(previous)}")


@contextmanager
def _deferred_indexes(conn: Connection) -> Iterator[None]:
    """Drop the indexes that bulk loading cannot feed in order; build them again at the end.

    ``ix_postings_account_date`` sorts each system account's postings by date: every
    chunk adds entries all over every pool's and institution's range, so each commit
    rewrites tens of thousands of index pages (measured on SQLite: ten times more bytes
    written than the data, and a load rate that kept falling as the file grew). Building
    the index once from the finished table is a single sort.

    The index comes back when loading ends, also after an error. Only a killed process
    leaves it missing; the next ``build_demo`` (which needs ``reset`` then) restores it.
    """
    with conn.begin():
        for index in _DEFERRED_INDEXES:
            index.drop(conn, checkfirst=True)
    try:
        yield
    finally:
        if conn.in_transaction():
            conn.rollback()
        with conn.begin():
            for index in _DEFERRED_INDEXES:
                index.create(conn, checkfirst=True)


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause Python's cycle collector while loading; the rows hold no reference cycles.

    Each chunk keeps hundreds of thousands of row tuples alive, and every collection
    walks all of them again: measured, the build ran a quarter slower with it on.
    Reference counting still frees each chunk as soon as it is written.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _chunks(people: Iterator[SyntheticPerson], size: int) -> Iterator[list[SyntheticPerson]]:
    while chunk := list(islice(people, size)):
        yield chunk


@contextmanager
def _progress_bar(enabled: bool, total: int) -> Iterator[Callable[[int], None]]:
    """Advance by the number of people written."""
    with progress_bar("写入演示人口", enabled=enabled) as bar:
        task = bar.add_task("people", total=total)
        yield lambda done: bar.advance(task, done)


# ---------------------------------------------------------------------------- rows


class _RowMaker:
    """Turns people into rows, table by table, with every id assigned here."""

    def __init__(self, seed: int, profile: Profile):
        self.profile = profile
        self.totals = DemoSummary(seed=seed)
        self.by_region: Counter[str] = Counter()
        self.pool_ids: dict[str, int] = {}
        self.institution_ids: dict[str, dict[str, int]] = {}  # region -> institution code -> id
        self.next_id = {table: 1 for table in _ID_TABLES}
        self.logins = _LoginPicker(seed)

    def summary(self) -> DemoSummary:
        self.totals.by_region = dict(sorted(self.by_region.items()))
        self.totals.logins = self.logins.logins
        return self.totals

    def system_accounts(self, opened_on: date) -> list[tuple]:
        """Each region's pool and designated institutions; call before any person."""
        rows = []
        for setting in self.profile.regions:
            code = setting.code
            self.pool_ids[code] = self._take_id("accounts")
            self.institution_ids[code] = {}
            rows.append(_system_row(self.pool_ids[code], AccountKind.POOL, code, None, opened_on))
            for institution in self.profile.institution_codes(code):
                account_id = self._take_id("accounts")
                self.institution_ids[code][institution] = account_id
                rows.append(_system_row(account_id, AccountKind.INSTITUTION, code, institution, opened_on))
        self.totals.accounts += len(rows)
        return rows

    def for_people(self, people: list[SyntheticPerson]) -> dict[str, list[tuple]]:
        rows: dict[str, list[tuple]] = {table: [] for table in _COLUMNS}
        for person in people:
            self._add_person(person, rows)
        return rows

    def _add_person(self, person: SyntheticPerson, rows: dict[str, list]) -> None:
        person_id = self._take_id("persons")
        account_id = self._take_id("accounts")
        rows["persons"].append(_person_row(person_id, person))
        self._add_contributions(person_id, person, rows["contributions"])
        balance = self._add_events(account_id, person, rows)
        rows["accounts"].append(
            (
                account_id, AccountKind.PERSONAL.value, person_id, None, person.region_code, "active", balance,
                person.enrolled_on.isoformat(),
            )
        )
        for credential in self.logins.consider(person):
            rows["credentials"].append((self._take_id("credentials"), person_id, *credential))
        self._count_person(person, balance)

    def _add_contributions(self, person_id: int, person: SyntheticPerson, out: list) -> None:
        for c in person.contributions:
            out.append(
                (
                    self._take_id("contributions"), person_id, c.month.isoformat(), person.insurance_type, c.base_fen,
                    c.employer_rate_bp, c.individual_rate_bp, c.employer_fen, c.individual_fen, c.account_fen,
                    c.employer_name, c.flexible, c.paid_on.isoformat(), c.is_makeup,
                )
            )
        self.totals.contributions += len(person.contributions)

    def _add_events(self, account_id: int, person: SyntheticPerson, rows: dict[str, list]) -> int:
        """Transactions, postings and keys of the person's history; returns the final balance.

        The hot loop of the whole build (tens of millions of events): kept flat on purpose.
        """
        transactions, legs, keys = rows["ledger_transactions"], rows["postings"], rows["idempotency_keys"]
        credits = rows["monthly_credits"]
        pool, institutions = self.pool_ids[person.region_code], self.institution_ids[person.region_code]
        transaction_id, posting_id = self.next_id["ledger_transactions"], self.next_id["postings"]
        balance = 0
        for n, kind, business_date, amount, institution, reference, memo in person.events:
            other = pool if institution is None else institutions[institution]
            if kind is TxKind.SPENDING:
                source, target, balance = account_id, other, balance - amount
            else:
                source, target, balance = other, account_id, balance + amount
            if balance < 0:  # the generator guarantees this never happens; money is at stake
                raise AssertionError(f"demo person {person.index} would go below zero")
            day = business_date.isoformat()
            transactions.append((transaction_id, kind.value, day, memo, reference))
            legs.append((posting_id, transaction_id, source, -amount, day))
            legs.append((posting_id + 1, transaction_id, target, amount, day))
            request_hash = ledger_request_hash(kind.value, day, ((source, -amount), (target, amount)), memo, reference)
            keys.append((DEMO_SCOPE, demo_key(person.index, n), request_hash, transaction_id))
            if kind is TxKind.MONTHLY_CREDIT:  # its reference is the month credited, YYYYMM
                credits.append((f"{reference[:4]}-{reference[4:]}-01", account_id, amount, transaction_id, "contribution"))
            transaction_id += 1
            posting_id += 2
        self.next_id["ledger_transactions"], self.next_id["postings"] = transaction_id, posting_id
        self.totals.transactions += len(person.events)
        self.totals.postings += 2 * len(person.events)
        return balance

    def _count_person(self, person: SyntheticPerson, balance: int) -> None:
        self.totals.people += 1
        self.totals.accounts += 1
        self.totals.total_balance_fen += balance
        self.by_region[person.region_code] += 1

    def _take_id(self, table: str) -> int:
        value = self.next_id[table]
        self.next_id[table] = value + 1
        return value


# ---------------------------------------------------------------------------- writing


class _TableWriter:
    """Set-based inserts on one connection: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.sqlite = is_sqlite(conn.engine)

    def write(self, rows: dict[str, list[tuple]]) -> None:
        """All tables of one chunk in one database transaction, parents first."""
        with self.conn.begin():
            for table in _COLUMNS:
                if rows.get(table):
                    self._write_table(table, rows[table])

    def _write_table(self, table: str, rows: list[tuple]) -> None:
        insert_rows(self.conn, table, _COLUMNS[table], rows)

    def reset_sequences(self) -> None:
        """PostgreSQL: after explicit ids, the next id handed out must be above them."""
        if self.sqlite:  # INTEGER PRIMARY KEY continues after the largest rowid by itself
            return
        with self.conn.begin():
            for table in _ID_TABLES:
                self.conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table}"
                    )
                )


class _BackgroundWriter:
    """A thread that owns one connection and writes the submitted chunks in order.

    At most ``depth`` chunks wait in memory. A write error stops the writing, is raised
    from the next ``submit`` (or on leaving the ``with`` block), and the chunks already
    committed stay. Leaving the block waits for the queued chunks, then resets the
    PostgreSQL id sequences.
    """

    def __init__(self, engine: Engine, on_written, depth: int = 2):
        self.engine = engine
        self.on_written = on_written
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="yibao-demo-writer", daemon=True)

    def __enter__(self) -> _BackgroundWriter:
        self.thread.start()
        return self

    def submit(self, rows: dict[str, list[tuple]], *, people: int) -> None:
        while True:
            self._raise_error()
            try:
                self.queue.put((rows, people), timeout=0.5)
                return
            except queue.Full:
                continue

    def __exit__(self, exc_type, exc, traceback) -> None:
        self.queue.put(None)
        self.thread.join()
        if exc_type is None:
            self._raise_error()

    def _raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            with self.engine.connect() as conn, _bulk_settings(conn), _deferred_indexes(conn):
                tables = _TableWriter(conn)
                for rows, people in self._queued():
                    tables.write(rows)
                    self.on_written(people)
                tables.reset_sequences()
        except BaseException as error:  # handed to the main thread
            self.error = error
            for _ in self._queued():  # keep taking chunks so that submit() never blocks
                pass

    def _queued(self) -> Iterator[tuple[dict[str, list[tuple]], int]]:
        while (item := self.queue.get()) is not None:
            yield item


def _system_row(account_id: int, kind: AccountKind, region: str, suffix: str | None, opened_on: date) -> tuple:
    code = system_account_code(kind, region, suffix)
    return (account_id, kind.value, None, code, region, "active", 0, opened_on.isoformat())


def _person_row(person_id: int, person: SyntheticPerson) -> tuple:
    resident_id = person.resident_id
    return (
        person_id, resident_id.full, person.card_number.value, person.name, _SEX_CODE[resident_id.sex],
        resident_id.birth_date.isoformat(), person.region_code, person.insurance_type, person.employment,
        person.enrolled_on.isoformat(), person.retired_on.isoformat() if person.retired_on else None,
        person.deemed_months, person.prior_paid_months, person.phone,
    )


def demo_key(person_index: int, event_n: int) -> str:
    """The idempotency key of a demo event, e.g. ``demo:0000042:007`` (sorts in load order)."""
    return f"demo:{person_index:07d}:{event_n:03d}"


def ledger_request_hash(kind: str, day: str, legs: Iterable[tuple[int, int]], memo: str, reference: str | None) -> str:
    """The same digest as ``TransactionRequest.request_hash`` for a two-leg transaction.

    Written out instead of going through ``json.dumps`` (five times faster, and this runs
    for every one of tens of millions of events). Valid because demo memos and references
    never contain characters JSON would escape; a test compares both.
    """
    (first_account, first_fen), (second_account, second_fen) = sorted(legs)
    quoted_reference = "null" if reference is None else f'"{reference}"'
    canonical = (
        f'{{"business_date": "{day}", "corrects_id": null, "kind": "{kind}", '
        f'"legs": [[{first_account}, {first_fen}], [{second_account}, {second_fen}]], '
        f'"memo": "{memo}", "reference": {quoted_reference}}}'
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


# ---------------------------------------------------------------------------- demo logins


class _LoginPicker:
    """The first person of each status gets a web password and a phone PIN, plus a second
    in-service person who still has the initial password and must change it first, and a
    family-sharing pair: an in-service holder with money on the account and a resident
    relative (bound and given a premium after the load, see ``demo.family``).

    Only these few: Argon2 is slow on purpose, hashing a million secrets would take hours.
    """

    def __init__(self, seed: int):
        self.seed = seed
        self.logins: list[dict] = []
        self.waiting = set(LOGIN_STATUSES)
        self.waiting_initial = True
        self.waiting_family = {FAMILY_HOLDER: Status.IN_SERVICE, FAMILY_MEMBER: Status.RESIDENT}

    def consider(self, person: SyntheticPerson) -> list[tuple[str, str, bool]]:
        """Credential rows (kind, hash, must_change) for this person, usually none."""
        if person.status in self.waiting:
            self.waiting.discard(person.status)
            return self._login(person, self._strong_password(person), must_change=False)
        if person.status is Status.IN_SERVICE and self.waiting_initial:
            self.waiting_initial = False
            return self._login(person, INITIAL_PASSWORD, must_change=True, persona=INITIAL)
        for persona, status in self.waiting_family.items():
            if person.status is status and (persona != FAMILY_HOLDER or person.balance_fen >= HOLDER_MIN_BALANCE_FEN):
                del self.waiting_family[persona]
                return self._login(person, self._strong_password(person), must_change=False, persona=persona)
        return []

    def _login(
        self, person: SyntheticPerson, password: str, *, must_change: bool, persona: str | None = None
    ) -> list[tuple[str, str, bool]]:
        pin = self._pin(person)
        region = regions().get(person.region_code)
        self.logins.append(
            {
                "id_number": person.resident_id.full,
                "card_number": person.card_number.value,
                "password": password,
                "phone_pin": pin,
                "region_code": region.code,
                "region_name": region.name,
                "status": person.status.value,
                "persona": persona or person.status.value,
                "label": PERSONA_LABELS.get(persona, MemberStatus(person.status.value).label),
                "name": person.name,
                "must_change_password": must_change,
            }
        )
        return [("password", hash_secret(password), must_change), ("phone_pin", hash_secret(pin), False)]

    def _strong_password(self, person: SyntheticPerson) -> str:
        rng = Random(f"{self.seed}:password:{person.index}")
        while True:
            digits = "".join(rng.choice("0123456789") for _ in range(6))
            candidate = "Yb" + digits + rng.choice("abcdefghjkmnpqrstuvwxyz")
            if not is_weak_password(candidate):
                return candidate

    def _pin(self, person: SyntheticPerson) -> str:
        rng = Random(f"{self.seed}:pin:{person.index}")
        while True:
            candidate = "".join(rng.choice("0123456789") for _ in range(6))
            if not is_weak_pin(candidate):
                return candidate
