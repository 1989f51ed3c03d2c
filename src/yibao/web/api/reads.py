"""Read models of one person's data, shared by the person's own, staff and third-party views.

Every function takes the person id that the caller was authorized for; an object (an
account) that is not that person's is "not found", never "forbidden", so that ids of other
people's objects reveal nothing.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, Connection, Select, bindparam, func, select

from yibao.domain.card import CardNumber
from yibao.domain.contribution import month_range
from yibao.domain.money import Money
from yibao.domain.person import InsuranceType, mask_name  # noqa: F401 - mask_name: the pages and API call reads.mask_name
from yibao.domain.regions import regions
from yibao.domain.resident_id import ResidentId
from yibao.errors import InvalidInput, NotFound
from yibao.family import details as family_details
from yibao.ledger.accounts import current_personal_account
from yibao.ledger.kinds import AccountKind, AccountStatus, TxKind
from yibao.policy import personal
from yibao.security.sms import mask_phone
from yibao.store.models import accounts, contributions, ledger_transactions, persons, postings
from yibao.web.api import schemas
from yibao.web.direct import PersonQuery

MAX_PAGE_SIZE = 100
MAX_ID = schemas.MAX_ID


def region_name(code: str) -> str | None:
    try:
        return regions().get(code).name
    except InvalidInput:
        return None


def person_row(conn: Connection, person_id: int):
    row = conn.execute(select(persons).where(persons.c.id == person_id)).mappings().first()
    if row is None:
        raise NotFound("未找到该参保人", field="person_id", code="person_not_found")
    return row


def profile(conn: Connection, person_id: int) -> schemas.Profile:
    return schemas.Profile(**_profile_fields(person_row(conn, person_id)))


def staff_profile(conn: Connection, person_id: int) -> schemas.StaffProfile:
    row = person_row(conn, person_id)
    return schemas.StaffProfile(
        **_profile_fields(row), person_id=row["id"], id_number=row["id_number"], card_number=row["card_number"]
    )


def _profile_fields(row) -> dict:
    return {
        "name": row["name"],
        "id_number_masked": ResidentId(row["id_number"]).masked,
        "card_number_masked": CardNumber(row["card_number"]).masked if row["card_number"] else None,
        "sex": "male" if row["sex"] == "M" else "female",
        "region_code": row["region_code"],
        "region_name": region_name(row["region_code"]),
        "insurance_type": row["insurance_type"],
        "insurance_type_label": InsuranceType(row["insurance_type"]).label,
        "employment": row["employment"],
        "enrolled_on": row["enrolled_on"],
        "phone_masked": mask_phone(row["phone"]) if row["phone"] else None,
    }


def _personal_accounts(person_id: ColumnElement) -> Select:
    return (
        select(
            accounts.c.id, accounts.c.region_code, accounts.c.status, accounts.c.balance_fen,
            accounts.c.opened_on, accounts.c.closed_on,
        )
        .where(accounts.c.person_id == person_id, accounts.c.kind == AccountKind.PERSONAL.value)
        .order_by(accounts.c.id)
    )


def _accounts_answer(rows) -> schemas.Accounts:
    views = [
        schemas.AccountView(
            id=row.id,
            region_code=row.region_code,
            region_name=region_name(row.region_code),
            status=row.status,
            status_label=AccountStatus(row.status).label,
            balance_fen=row.balance_fen,
            balance=Money(row.balance_fen).format(),
            opened_on=row.opened_on,
            closed_on=row.closed_on,
        )
        for row in rows
    ]
    return schemas.Accounts(accounts=views, total_balance_fen=sum(view.balance_fen for view in views))


# The balance: the most frequent read of all, served directly on PostgreSQL (web/direct.py).
account_list = PersonQuery(_personal_accounts, _accounts_answer, order_by=("id",), present="id")


def check_range(date_from: date | None, date_to: date | None, field: str = "date_to") -> None:
    if date_from and date_to and date_from > date_to:
        raise InvalidInput("结束日期不能早于开始日期", field=field, code="date_range")


def details(
    conn: Connection,
    person_id: int,
    *,
    account_id: int | None,
    date_from: date | None,
    date_to: date | None,
    kind: TxKind | None,
    page: int,
    page_size: int,
) -> schemas.DetailPage:
    check_range(date_from, date_to)
    own = select(accounts.c.id).where(accounts.c.person_id == person_id, accounts.c.kind == AccountKind.PERSONAL.value)
    account_ids = [row.id for row in conn.execute(own)]
    if account_id is not None:
        if account_id not in account_ids:
            raise NotFound("未找到该账户", field="account_id", code="account_not_found")
        account_ids = [account_id]
    filters = []
    if date_from:
        filters.append(postings.c.business_date >= date_from)
    if date_to:
        filters.append(postings.c.business_date <= date_to)
    if kind:
        filters.append(ledger_transactions.c.kind == kind.value)
    joined = postings.join(ledger_transactions, ledger_transactions.c.id == postings.c.transaction_id)
    columns = (
        postings.c.transaction_id, postings.c.account_id, postings.c.business_date, postings.c.amount_fen,
        ledger_transactions.c.kind, ledger_transactions.c.memo, ledger_transactions.c.reference,
        postings.c.id.label("posting_id"),
    )
    listed = select(*columns).select_from(joined).where(postings.c.account_id.in_(account_ids), *filters)
    if account_id is None:  # what relatives' accounts paid for this person (家庭共济)
        listed = family_details.with_paid_for(listed, person_id, columns, joined, filters)
    listed = listed.subquery()
    total = conn.execute(select(func.count()).select_from(listed)).scalar_one()
    rows = conn.execute(
        select(listed)
        .order_by(listed.c.business_date.desc(), listed.c.posting_id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    family_notes = family_details.notes(conn, person_id, [row.transaction_id for row in rows])
    # A relative's account paid these for the person: her own account did not move, so no minus.
    paid_by = family_details.paid_by(
        conn, person_id, {row.transaction_id: row.amount_fen for row in rows if row.account_id not in account_ids}
    )
    items = [
        schemas.DetailItem(
            transaction_id=row.transaction_id,
            account_id=row.account_id,
            date=row.business_date,
            kind=row.kind,
            kind_label=_kind_label(row.kind),
            amount_fen=abs(row.amount_fen) if row.transaction_id in paid_by else row.amount_fen,
            amount=Money(abs(row.amount_fen) if row.transaction_id in paid_by else row.amount_fen).format(),
            memo=family_notes.get(row.transaction_id, row.memo),  # a family payment in the reader's own words
            reference=row.reference,
            paid_by=paid_by.get(row.transaction_id),
        )
        for row in rows
    ]
    return schemas.DetailPage(items=items, total=total, page=page, page_size=page_size)


def _kind_label(kind: str) -> str:
    try:
        return TxKind(kind).label
    except ValueError:
        return kind


def contribution_page(
    conn: Connection, person_id: int, *, month_from: date | None, month_to: date | None, page: int, page_size: int
) -> schemas.ContributionPage:
    check_range(month_from, month_to, "month_to")
    conditions = [contributions.c.person_id == person_id]
    if month_from:
        conditions.append(contributions.c.month >= month_from.replace(day=1))
    if month_to:
        conditions.append(contributions.c.month <= month_to)
    rows = conn.execute(select(contributions).where(*conditions).order_by(contributions.c.month.desc())).mappings().all()
    start = (page - 1) * page_size
    items = [schemas.ContributionItem(**{name: row[name] for name in schemas.ContributionItem.model_fields}) for row in rows[start : start + page_size]]
    return schemas.ContributionPage(
        items=items, total=len(rows), page=page, page_size=page_size, continuity=continuity([row["month"] for row in rows]),
        years=schemas.ContributionYears(**personal.contribution_years(conn, person_id)),
    )


def continuity(months: list[date]) -> schemas.Continuity:
    """Facts about the months paid: which months between the first and the last have no record.

    What a gap means (waiting periods, lifetime coverage) is a policy question, answered
    by the policy engine; this only states the record.
    """
    paid = sorted(set(months))
    if not paid:
        return schemas.Continuity(months_paid=0, first_month=None, last_month=None, missing_months=[], continuous=True)
    paid_set = set(paid)
    missing = [month for month in month_range(paid[0], paid[-1]) if month not in paid_set]
    return schemas.Continuity(
        months_paid=len(paid), first_month=paid[0], last_month=paid[-1], missing_months=missing, continuous=not missing
    )


def balance_of(conn: Connection, person_id: int) -> tuple[str, int]:
    """Status and balance of the person's open personal account (closed ones only when none is open)."""
    row = current_personal_account(conn, person_id)
    if row is None:
        raise NotFound("该参保人没有个人账户", field="payload", code="account_not_found")
    return row.status, row.balance_fen
