"""Pharmacy settlements through the national interface (2102) against the existing payment endpoint,
on the same server in the same run.

    python bench/national.py [--institutions 8] [--people-per-institution 25] [--seconds 15]
                             [--warmup 3] [--rounds 2] [--workers 2]
                             [--database-url postgresql://postgres@127.0.0.1:5432/postgres]
                             [--write docs/benchmarks.md]

What it does:

1. creates a throw-away PostgreSQL database on the server named by ``--database-url`` (only used
   to connect), migrates it and registers ``--institutions`` designated pharmacies, each with
   ``--people-per-institution`` insured people of its own, every one with 100,000 yuan in the
   personal account (funded through the ledger), a card service PIN and a sign-in session;
2. starts ``uvicorn --workers N`` serving the real app (``create_app()``) with rate limiting off;
3. per institution, concurrently: 9001 sign-in once, and for each of its people an e-voucher
   (``POST /api/v1/me/evoucher`` with the person's session) and 1101 with it, once;
4. ``--rounds`` times (after a warm-up round of ``--warmup`` seconds), each institution in its own
   thread runs a closed loop for ``--seconds`` of, in turn:
   a. 2102 settlements (``X-Api-Key``, one drug line of 1.00–9.99 yuan, ``acct_used_flag`` "1",
      its people in turn);
   b. ``POST /api/v1/institution/payments`` with an e-voucher, the same institutions, people and
      amounts (the vouchers, single use and valid 60 s, are issued just before the loop, untimed);
   c. the same with card number + PIN instead (an Argon2 check of the PIN on every payment);
5. checks that the accounts lost exactly what the answers say was paid from them, and that the
   ledger's own check is clean; prints settlements/s, p50/p99 latency per endpoint and the ratios
   national ÷ existing (goal ≥ 0.8), medians over the rounds.

The client is the fact-sheet client of the tests (``tests/national_sheet_client.py``) on httpx, one
thread per institution. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent / "tests"))  # the fact-sheet client lives with the tests

import httpx2 as httpx  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402

from api import free_port, tree_cpu_seconds  # noqa: E402
from ledger import (  # noqa: E402
    DOC_INTRO,
    admin_engine,
    busy_share,
    cpu_model,
    cpu_times,
    drop_database,
    median,
    postgres_cpu_seconds,
    server_settings,
    server_url,
)
from national_sheet_client import DrugLine, SheetClient, fen, yuan  # noqa: E402
from yibao.domain.resident_id import ResidentId  # noqa: E402
from yibao.ledger.accounts import system_account  # noqa: E402
from yibao.ledger.check import check_ledger  # noqa: E402
from yibao.ledger.kinds import AccountKind, TxKind  # noqa: E402
from yibao.ledger.ledger import Leg, Ledger, TransactionRequest  # noqa: E402
from yibao.payments.institutions import set_designated  # noqa: E402
from yibao.security import sessions  # noqa: E402
from yibao.security.institutions import InstitutionKind, add_institution  # noqa: E402
from yibao.security.passwords import hash_secret  # noqa: E402
from yibao.security.principal import Kind  # noqa: E402
from yibao.security.tokens import SESSION_PREFIX, new_token, token_hash  # noqa: E402
from yibao.store.db import make_engine  # noqa: E402
from yibao.store.migrate import upgrade  # noqa: E402
from yibao.store.models import accounts, auth_sessions, credentials, persons  # noqa: E402
from yibao.store.partitions import ensure_ahead  # noqa: E402

DEFAULT_URL = os.environ.get(
    "YIBAO_BENCH_POSTGRES_URL",
    os.environ.get("YIBAO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
)
REGION = "110000"
BALANCE_FEN = 10_000_000  # 100,000 yuan: no settlement of the run ever meets an empty account
PIN = "246810"
SECRET_KEY = "bench-national-" + "k" * 32  # a throw-away server's key, never a deployment's
NATIONAL = "national 2102 (`/fsi/api/rsfComIfsService/callService`)"
VOUCHER = "`POST /api/v1/institution/payments`, e-voucher"
CARD_PIN = "`POST /api/v1/institution/payments`, card + PIN"
ENDPOINTS = (NATIONAL, VOUCHER, CARD_PIN)
VOUCHER_MARGIN = 4  # e-vouchers issued per round: this many times what the national loop settled
SECTION_START = "<!-- bench:national:start -->"
SECTION_END = "<!-- bench:national:end -->"


def amount_fen(n: int) -> int:
    """1.00–9.99 yuan, spread, the same sequence for both endpoints."""
    return 100 + (n * 389) % 900


# --------------------------------------------------------------------------- population


@dataclass
class Person:
    person_id: int
    account_id: int
    card_number: str
    session: str
    psn_no: str = ""
    payload: str = ""
    vouchers: list[str] = field(default_factory=list, repr=False)  # issued ahead for the e-voucher payments


@dataclass
class Lane:
    """One institution and its people."""

    code: str
    key: str = field(repr=False)
    people: list[Person]
    client: SheetClient | None = field(default=None, repr=False)


def populate(engine, institutions: int, per: int) -> list[Lane]:
    upgrade(engine)
    today = date.today()
    with engine.connect() as conn:
        ensure_ahead(conn, today)  # the postings partitions of this month, as `yibao serve` makes them
    pin_hash = hash_secret(PIN)  # one Argon2 hash for every card: setting up is not what is measured
    now = datetime.now(timezone.utc)
    lanes, n = [], 0
    with engine.begin() as conn:
        pool = system_account(conn, AccountKind.POOL, REGION, opened_on=today)
        for i in range(1, institutions + 1):
            code = f"B{i:03d}"
            _, key = add_institution(conn, code=code, name=f"压测大药房{i}", kind=InstitutionKind.PHARMACY, region_code=REGION)
            set_designated(conn, code, True)
            people = []
            for _ in range(per):
                n += 1
                resident = ResidentId.build("110105", date(1950, 1, 1) + timedelta(days=n % 10_000), 100 + n // 10_000,
                                            today=today)
                card = f"B{n:08d}"
                person_id = conn.execute(insert(persons).values(
                    id_number=resident.full, card_number=card, name=f"压测{n}", sex=resident.sex.value[0].upper(),
                    birth_date=resident.birth_date, region_code=REGION, insurance_type="employee", employment="retired",
                    enrolled_on=date(1990, 1, 1),
                ).returning(persons.c.id)).scalar_one()
                account_id = conn.execute(insert(accounts).values(
                    kind=AccountKind.PERSONAL.value, person_id=person_id, region_code=REGION, opened_on=today,
                ).returning(accounts.c.id)).scalar_one()
                conn.execute(insert(credentials).values(person_id=person_id, kind="phone_pin", secret_hash=pin_hash))
                session = new_token(SESSION_PREFIX)
                conn.execute(insert(auth_sessions).values(
                    token_hash=token_hash(session), subject_kind=Kind.PERSON.value, subject_id=person_id,
                    purpose=sessions.FULL, method="password", channel=sessions.WEB, client="127.0.0.1",
                    created_at=now, expires_at=now + timedelta(hours=2),
                ))
                people.append(Person(person_id, account_id, card, session))
            lanes.append(Lane(code, key, people))
    # Funding through the real ledger, so the database is consistent by construction.
    ledger = Ledger(engine)
    every = [person.account_id for lane in lanes for person in lane.people]
    for start in range(0, len(every), 1_000):
        chunk = every[start : start + 1_000]
        legs = (Leg(pool, -BALANCE_FEN * len(chunk)),) + tuple(Leg(account, BALANCE_FEN) for account in chunk)
        ledger.post(TransactionRequest(TxKind.OPENING_BALANCE, f"bench-national-{start}", legs, today, "压测资金"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    return lanes


def personal_total(engine, lanes: list[Lane]) -> int:
    ids = [person.account_id for lane in lanes for person in lane.people]
    with engine.connect() as conn:
        return int(conn.execute(select(func.sum(accounts.c.balance_fen)).where(accounts.c.id.in_(ids))).scalar_one())


# --------------------------------------------------------------------------- server


class Server:
    """``uvicorn --workers N`` serving ``yibao.web.app:create_app`` on a free loopback port."""

    def __init__(self, url: str, workers: int, data_dir: str):
        self.port = free_port()
        env = {key: value for key, value in os.environ.items() if not key.startswith("YIBAO_")} | {
            "YIBAO_DATABASE_URL": url,
            "YIBAO_SECRET_KEY": SECRET_KEY,
            "YIBAO_DATA_DIR": data_dir,
            "YIBAO_RATE_LIMIT_PER_MINUTE": "0",  # the benchmark measures the request path, not the limiter
        }
        self.log = tempfile.TemporaryFile("w+")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "yibao.web.app:create_app", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(workers), "--no-access-log", "--log-level", "warning"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.base + "/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"uvicorn not ready after {timeout:.0f} s:\n{self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # our own process group only
                self.process.wait()
        self.log.close()


# --------------------------------------------------------------------------- load


def identify(server: Server, lane: Lane, http: httpx.Client) -> None:
    """9001 once, then an e-voucher and 1101 for each of the lane's people (not timed)."""
    lane.client = SheetClient(server.base, lane.code, f"压测大药房{lane.code}", api_key=lane.key, http=http)
    signed = lane.client.sign_in()
    if not signed.ok:
        raise RuntimeError(f"9001 of {lane.code}: {signed.raw[:300]!r}")
    for person in lane.people:
        answer = http.post(server.base + "/api/v1/me/evoucher", headers={"Authorization": f"Bearer {person.session}"})
        if answer.status_code != 200:
            raise RuntimeError(f"e-voucher of person {person.person_id}: {answer.status_code} {answer.text[:300]}")
        person.payload = answer.json()["payload"]
        info = lane.client.person_info(person.payload)
        if not info.ok:
            raise RuntimeError(f"1101 of person {person.person_id}: {info.raw[:300]!r}")
        person.psn_no = info.output["baseinfo"]["psn_no"]


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # seconds, successful settlements only
    failures: int = 0
    first_failure: str = ""
    account_fen: int = 0  # paid from the accounts, as the answers say
    ran_out: bool = False  # the e-vouchers issued ahead were all spent before the time was up

    def add(self, other: Tally) -> None:
        self.latencies += other.latencies
        self.failures += other.failures
        self.first_failure = self.first_failure or other.first_failure
        self.account_fen += other.account_fen
        self.ran_out = self.ran_out or other.ran_out


def issue_vouchers(server: Server, lanes: list[Lane], http: httpx.Client, national: Run, numbers: dict[str, int]) -> None:
    """Enough e-vouchers for the coming loop, each for the person whose turn it will be (not timed)."""
    per_lane = int(VOUCHER_MARGIN * len(national.tally.latencies) / len(lanes)) + 10

    def issue(lane: Lane) -> None:
        for person in lane.people:
            person.vouchers.clear()
        for n in range(numbers[lane.code], numbers[lane.code] + per_lane):
            person = lane.people[n % len(lane.people)]
            answer = http.post(server.base + "/api/v1/me/evoucher", headers={"Authorization": f"Bearer {person.session}"})
            if answer.status_code != 200:
                raise RuntimeError(f"e-voucher of person {person.person_id}: {answer.status_code} {answer.text[:300]}")
            person.vouchers.append(answer.json()["payload"])

    in_threads(issue, lanes)


def in_threads(work, lanes: list[Lane]) -> None:
    """``work(lane)`` for every lane at once; the first error of any is raised here."""
    errors: list[BaseException] = []

    def guarded(lane: Lane) -> None:
        try:
            work(lane)
        except BaseException as error:  # noqa: BLE001 - handed to the main thread
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(lane,)) for lane in lanes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def national_loop(lane: Lane, until: float, start_number: int, tally: Tally) -> None:
    n = start_number
    while time.perf_counter() < until:
        person = lane.people[n % len(lane.people)]
        amount = amount_fen(n)
        began = time.perf_counter()
        reply = lane.client.drug_settle(person.psn_no, person.payload, [DrugLine(yuan(amount))], acct_used_flag="1")
        elapsed = time.perf_counter() - began
        if reply.ok and fen(reply.output["setlinfo"]["medfee_sumamt"]) == amount:
            tally.latencies.append(elapsed)
            tally.account_fen += fen(reply.output["setlinfo"]["acct_pay"])
        else:
            tally.failures += 1
            tally.first_failure = tally.first_failure or f"{reply.status_code} {reply.raw[:300]!r}"
        n += 1


def existing_loop(lane: Lane, until: float, start_number: int, tally: Tally, base: str, run: str, by_voucher: bool) -> None:
    n = start_number
    http = lane.client.http
    while time.perf_counter() < until:
        person = lane.people[n % len(lane.people)]
        amount = amount_fen(n)
        key = f"{run}-{'v' if by_voucher else 'p'}-{lane.code}-{n}"  # unique per endpoint, round and lane
        body = {"receipt_no": key, "amount_fen": amount, "allow_partial": True}
        if by_voucher:
            if not person.vouchers:
                tally.ran_out = True
                return
            body["payload"] = person.vouchers.pop(0)
        else:
            body |= {"card_number": person.card_number, "pin": PIN}
        began = time.perf_counter()
        answer = http.post(base + "/api/v1/institution/payments", json=body,
                           headers={"X-Api-Key": lane.key, "Idempotency-Key": key})
        elapsed = time.perf_counter() - began
        if answer.status_code == 200 and answer.json()["amount_fen"] == amount:
            tally.latencies.append(elapsed)
            tally.account_fen += answer.json()["paid_fen"]
        else:
            tally.failures += 1
            tally.first_failure = tally.first_failure or f"{answer.status_code} {answer.text[:300]}"
        n += 1


@dataclass
class Run:
    endpoint: str
    seconds: float
    tally: Tally
    cpu_server: float  # shares of all cores
    cpu_client: float
    cpu_postgres: float | None
    cpu_busy: float | None
    transactions: int | None = None  # database transactions (commits and rollbacks) during the loop

    @property
    def rate(self) -> float:
        return len(self.tally.latencies) / self.seconds

    def percentile_ms(self, p: float) -> float:
        ordered = sorted(self.tally.latencies)
        if not ordered:
            return float("nan")
        return 1000 * ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def database_transactions(engine) -> int | None:
    """Commits and rollbacks in the bench database so far, as PostgreSQL's statistics count them."""
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        )).scalar_one_or_none()


def measure(endpoint: str, lanes: list[Lane], server: Server, seconds: float, numbers: dict[str, int], run: str,
            engine) -> Run:
    transactions = database_transactions(engine)
    tallies = [Tally() for _ in lanes]
    barrier = threading.Barrier(len(lanes) + 1)
    window: dict[str, float] = {}

    def work(index: int, lane: Lane) -> None:
        barrier.wait()
        if endpoint == NATIONAL:
            national_loop(lane, window["until"], numbers[lane.code], tallies[index])
        else:
            existing_loop(lane, window["until"], numbers[lane.code], tallies[index], server.base, run, endpoint == VOUCHER)

    threads = [threading.Thread(target=work, args=(index, lane)) for index, lane in enumerate(lanes)]
    for thread in threads:
        thread.start()
    machine, postgres, served = cpu_times(), postgres_cpu_seconds(), tree_cpu_seconds(server.process.pid)
    mine = resource.getrusage(resource.RUSAGE_SELF)
    began = time.perf_counter()
    window["until"] = began + seconds
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    capacity = elapsed * (os.cpu_count() or 1)
    mine_after, postgres_after = resource.getrusage(resource.RUSAGE_SELF), postgres_cpu_seconds()
    tally = Tally()
    for lane, one in zip(lanes, tallies):
        tally.add(one)
        numbers[lane.code] += len(one.latencies) + one.failures
    busy = busy_share(machine, cpu_times())
    time.sleep(1)  # PostgreSQL publishes a backend's statistics within a second
    after = database_transactions(engine)
    return Run(
        endpoint, elapsed, tally,
        cpu_server=(tree_cpu_seconds(server.process.pid) - served) / capacity,
        cpu_client=((mine_after.ru_utime + mine_after.ru_stime) - (mine.ru_utime + mine.ru_stime)) / capacity,
        cpu_postgres=None if postgres is None or postgres_after is None else (postgres_after - postgres) / capacity,
        cpu_busy=busy,
        transactions=None if transactions is None or after is None else after - transactions,
    )


# --------------------------------------------------------------------------- report


@dataclass
class Report:
    command: str
    when: str
    args: argparse.Namespace
    settings: dict[str, str]
    load_before: float
    rounds: list[dict[str, Run]] = field(default_factory=list)
    paid_fen: int = 0
    debited_fen: int = 0
    ledger_ok: bool = False

    def endpoint_runs(self, endpoint: str) -> list[Run]:
        return [runs[endpoint] for runs in self.rounds]

    def ratio(self, existing: str) -> float:
        return median([runs[NATIONAL].rate / runs[existing].rate for runs in self.rounds])


def share(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f} %"


def rows(report: Report) -> list[list[str]]:
    out = []
    for endpoint in ENDPOINTS:
        runs = report.endpoint_runs(endpoint)
        rates = [run.rate for run in runs]
        out.append([
            endpoint, f"{median(rates):,.0f} ({min(rates):,.0f}–{max(rates):,.0f})",
            f"{median([run.percentile_ms(50) for run in runs]):.1f}", f"{median([run.percentile_ms(99) for run in runs]):.1f}",
            f"{sum(len(run.tally.latencies) for run in runs):,} / {sum(run.tally.failures for run in runs)}",
            per_request(runs),
            " / ".join(share(median([value for value in values if value is not None]) if any(
                value is not None for value in values) else None) for values in (
                [run.cpu_busy for run in runs], [run.cpu_server for run in runs],
                [run.cpu_postgres for run in runs], [run.cpu_client for run in runs])),
        ])
    return out


HEADER = ["endpoint", "settlements/s", "p50 ms", "p99 ms", "settled / failed", "DB transactions per request",
          "CPU: machine / uvicorn / PostgreSQL / client"]


def per_request(runs: list[Run]) -> str:
    if any(run.transactions is None for run in runs):
        return "n/a"
    requests = sum(len(run.tally.latencies) + run.tally.failures for run in runs)
    return f"{sum(run.transactions for run in runs) / max(1, requests):.1f}"


def print_report(report: Report) -> None:
    widths = [max(len(row[i]) for row in [HEADER, *rows(report)]) for i in range(len(HEADER))]
    for row in [HEADER, *rows(report)]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)))
    print(f"ratio national ÷ e-voucher payments: {report.ratio(VOUCHER):.2f} (goal ≥ 0.8); "
          f"national ÷ card + PIN payments: {report.ratio(CARD_PIN):.2f}")
    print(f"paid from accounts per the answers: {report.paid_fen:,} fen; accounts debited: {report.debited_fen:,} fen; "
          f"ledger check {'ok' if report.ledger_ok else 'FAILED'}")
    for endpoint in ENDPOINTS:
        if any(run.tally.ran_out for run in report.endpoint_runs(endpoint)):
            print(f"{endpoint}: the e-vouchers issued ahead ran out before the end of a loop (its rate is low)")
        failure = next((run.tally.first_failure for run in report.endpoint_runs(endpoint) if run.tally.first_failure), "")
        if failure:
            print(f"first failure of {endpoint}: {failure}")


def markdown_section(report: Report) -> str:
    args = report.args
    table = "\n".join("| " + " | ".join(row) + " |" for row in [HEADER, ["---"] + ["---:"] * 6, *rows(report)])
    ratio, pin_ratio = report.ratio(VOUCHER), report.ratio(CARD_PIN)
    verdict = "meets it" if ratio >= 0.8 else "misses it"
    ran_out = [endpoint for endpoint in ENDPOINTS if any(run.tally.ran_out for run in report.endpoint_runs(endpoint))]
    ran_out_note = " The e-vouchers issued ahead ran out before the end of a loop, so that rate is low." if ran_out else ""
    other = [run.cpu_busy - run.cpu_server - run.cpu_postgres - run.cpu_client for run in report.endpoint_runs(NATIONAL)
             if run.cpu_busy is not None and run.cpu_postgres is not None]
    other_note = (f" Processes outside the benchmark took about {share(median(other))} of the machine's CPU during"
                  " the national loops, so the absolute rates are low and noisy; the ratio compares loops run"
                  " back to back.") if other and median(other) >= 0.05 else ""
    return f"""{SECTION_START}
## National interface settlements vs the payment endpoint (bench/national.py)

**What is measured.** Pharmacy settlements on the same server in the same run: the national
interface's 2102 (药店结算, a JSON envelope to `POST /fsi/api/rsfComIfsService/callService` with
`X-Api-Key`, one drug line, `acct_used_flag` "1") and the existing `POST /api/v1/institution/payments`
(an idempotency key each), once with an e-voucher per payment and once with card number + service PIN.
{args.institutions} designated pharmacies, each a thread of the load generator in a closed loop (one
request in flight per pharmacy), each serving its own {args.people_per_institution} insured people in
turn with 100,000 yuan in their accounts; the same amounts (1.00–9.99 yuan) in the same order for every
endpoint. Before timing, each pharmacy signed in (9001) and identified each of its people once (an
e-voucher, then 1101), as the interface expects; the e-vouchers of the voucher payments (single use,
valid 60 s) are issued just before their loop, untimed; a card + PIN payment checks the PIN (Argon2,
slow on purpose) every time. `uvicorn --workers {args.workers}` serving `create_app()`, rate limiting
off, PostgreSQL on the same machine; {args.rounds} round(s) of {args.seconds} s per endpoint after a
warm-up round of {args.warmup} s each. The client is the fact-sheet client of the tests
(`tests/national_sheet_client.py`, httpx, one thread per pharmacy), so its Python time is part of every
request. **Ratio = national settlements/s ÷ e-voucher payments/s** (like for like: neither checks a
secret per payment), the median of the rounds' ratios (goal ≥ 0.8); national ÷ card + PIN payments is
shown too. After the run the accounts must have lost exactly what the answers say was paid from them,
and the ledger check must be clean.

**Command.** `{report.command}`

**Run.** {report.when}; {os.cpu_count()} CPUs ({cpu_model()}) shared by the load generator, the server and
PostgreSQL {report.settings.get('server_version', '')} (fsync={report.settings.get('fsync')},
synchronous_commit={report.settings.get('synchronous_commit')}); load average {report.load_before:.1f}
before the run; Python {platform.python_version()}.

{table}

**Ratio national ÷ e-voucher payments: {ratio:.2f}** (goal ≥ 0.8: {verdict}); national ÷ card + PIN
payments: {pin_ratio:.2f}.{ran_out_note} Paid from accounts per the answers
{report.paid_fen:,} fen, accounts debited {report.debited_fen:,} fen
({'equal' if report.paid_fen == report.debited_fen else 'NOT equal'}); ledger check
{'clean' if report.ledger_ok else 'FAILED'}. Latencies are the client's, per successful settlement. "DB
transactions per request" is the bench database's commits and rollbacks during the loops
(`pg_stat_database`) divided by the requests sent (each at least one round trip, and a flush of the
WAL when it wrote).{other_note}
{SECTION_END}"""


def write_section(path: Path, section: str) -> None:
    """Replace this benchmark's section between its markers, or append it; the rest of the file stays."""
    current = path.read_text(encoding="utf-8") if path.exists() else DOC_INTRO
    if SECTION_START in current and SECTION_END in current:
        before, rest = current.split(SECTION_START, 1)
        updated = before + section + rest.split(SECTION_END, 1)[1]
    else:
        updated = current.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(updated, encoding="utf-8")


# --------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--institutions", type=int, default=8, help="concurrent pharmacies (client threads)")
    parser.add_argument("--people-per-institution", type=int, default=25)
    parser.add_argument("--seconds", type=int, default=15, help="duration of each measured loop")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of unmeasured load per endpoint first")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--write", type=Path, help="replace this benchmark's section of that markdown file")
    args = parser.parse_args()
    if min(args.institutions, args.people_per_institution, args.seconds, args.rounds, args.workers) < 1:
        parser.error("every count must be at least 1")
    return args


def main() -> None:
    args = parse_args()
    admin = admin_engine(server_url(args.database_url))
    name = f"yibao_bench_national_{uuid.uuid4().hex[:8]}"
    report = Report(
        command="python " + shlex.join(["bench/national.py", *sys.argv[1:]]),
        when=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), args=args, settings=server_settings(admin),
        load_before=os.getloadavg()[0],
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        print(f"setting up {args.institutions} pharmacies × {args.people_per_institution} people in {name} …")
        lanes = populate(engine, args.institutions, args.people_per_institution)
        before = personal_total(engine, lanes)
        with tempfile.TemporaryDirectory() as data_dir, httpx.Client(
            timeout=60, limits=httpx.Limits(max_connections=4 * args.institutions)
        ) as http:
            server = Server(url, args.workers, data_dir)
            try:
                server.wait_ready()
                in_threads(lambda lane: identify(server, lane, http), lanes)
                if any(not person.psn_no for lane in lanes for person in lane.people):
                    raise RuntimeError("not every person was identified by 1101")
                # Each endpoint counts on from where its last loop stopped: the same amounts in the same order.
                numbers = {endpoint: {lane.code: 0 for lane in lanes} for endpoint in ENDPOINTS}
                paid = 0
                run_id = uuid.uuid4().hex[:6]
                for number in range(0, args.rounds + 1):  # round 0 is the warm-up, not reported
                    seconds, label = (args.warmup, "w") if number == 0 else (args.seconds, f"r{number}")
                    runs = {}
                    for endpoint in ENDPOINTS:
                        if endpoint == VOUCHER:  # spent one per payment, valid 60 s: issued just before
                            issue_vouchers(server, lanes, http, runs[NATIONAL], numbers[VOUCHER])
                        runs[endpoint] = measure(endpoint, lanes, server, seconds, numbers[endpoint], run_id + label, engine)
                    paid += sum(run.tally.account_fen for run in runs.values())
                    if number == 0:
                        continue
                    report.rounds.append(runs)
                    print(f"round {number}: " + ", ".join(
                        f"{endpoint} {run.rate:,.0f}/s p99 {run.percentile_ms(99):.1f} ms ({run.tally.failures} failed)"
                        for endpoint, run in runs.items()))
            finally:
                server.stop()
                for lane in lanes:
                    if lane.client is not None:
                        lane.client.http = None  # the shared client closes with its own block
        report.paid_fen, report.debited_fen = paid, before - personal_total(engine, lanes)
        with engine.connect() as conn:
            report.ledger_ok = check_ledger(conn).ok
    finally:
        engine.dispose()
        drop_database(admin, name)
        admin.dispose()
    print_report(report)
    if args.write:
        write_section(args.write, markdown_section(report))
        print(f"wrote the national-interface section of {args.write}")


if __name__ == "__main__":
    main()
