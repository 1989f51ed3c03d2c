"""Builders for the credit-run tests: people of every kind with accounts and contributions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine, and_, func, insert, select

from yibao.store.models import accounts, contributions, ledger_transactions, persons, postings

MONTH = date(2025, 6, 1)
REFERENCE = "202506"


@dataclass(frozen=True)
class Someone:
    """One person and their account; ``expected_fen`` is what the June run must credit (0: nothing)."""

    name: str
    region: str = "110000"
    birth: date = date(1960, 3, 1)
    insurance: str = "employee"
    employment: str = "in_service"
    retired_on: date | None = None
    died_on: date | None = None
    status: str = "active"
    contribution_fen: int | None = None  # account part of the June contribution
    expected_fen: int = 0
    expected_reason: str | None = None


def add_people(engine: Engine, people: list[Someone], first: int = 1) -> dict[str, int]:
    """Insert everyone (ID numbers from ``first`` on); returns name → account id."""
    ids = {}
    with engine.begin() as conn:
        for n, someone in enumerate(people):
            person_id = conn.execute(
                insert(persons).values(
                    id_number=f"{first + n:018d}", name=someone.name, sex="F", birth_date=someone.birth,
                    region_code=someone.region, insurance_type=someone.insurance, employment=someone.employment,
                    enrolled_on=date(1995, 1, 1), retired_on=someone.retired_on, died_on=someone.died_on,
                ).returning(persons.c.id)
            ).scalar_one()
            ids[someone.name] = conn.execute(
                insert(accounts).values(
                    kind="personal", person_id=person_id, region_code=someone.region, status=someone.status,
                    opened_on=date(1995, 1, 1), closed_on=date(2024, 1, 1) if someone.status == "closed" else None,
                ).returning(accounts.c.id)
            ).scalar_one()
            if someone.contribution_fen is not None:
                conn.execute(insert(contributions).values(
                    person_id=person_id, month=MONTH, insurance_type="employee", base_fen=600_000,
                    employer_rate_bp=800, individual_rate_bp=200, employer_fen=48_000, individual_fen=12_000,
                    account_fen=someone.contribution_fen, paid_on=date(2025, 6, 10),
                ))
    return ids


def month_credit_postings(engine: Engine, reference: str = REFERENCE) -> dict[int, list[int]]:
    """Personal account id → amounts of its credit postings for the month."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(postings.c.account_id, postings.c.amount_fen)
            .join(ledger_transactions, ledger_transactions.c.id == postings.c.transaction_id)
            .join(accounts, accounts.c.id == postings.c.account_id)
            .where(
                and_(
                    ledger_transactions.c.reference == reference,
                    ledger_transactions.c.kind.in_(["monthly_credit", "annual_credit"]),
                    accounts.c.kind == "personal",
                )
            )
        ).all()
    found: dict[int, list[int]] = {}
    for account_id, amount in rows:
        found.setdefault(account_id, []).append(amount)
    return found


def balances(engine: Engine) -> dict[int, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(accounts.c.id, accounts.c.balance_fen).where(accounts.c.kind == "personal")).all())


def count_rows(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()
