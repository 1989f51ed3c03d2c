"""A holder's account pays a bound relative's residents'-insurance premium (城乡居民医保个人缴费).

The standard is policy data per region and funding year (``family.resident_premium``,
taken on 1 January of the year paid for, in the relative's region). One premium per
relative and year: the ledger key is the relative and the year, so a second holder cannot
pay it again and the same holder's retry answers the first payment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, Engine, select

from yibao.domain.person import InsuranceType
from yibao.errors import AccountNotActive, IdempotencyConflict, InvalidInput, YibaoError
from yibao.family import beneficiaries
from yibao.family.bindings import ACTIVE, Binding, current_account, get_for
from yibao.family.limits import check_yearly_limit
from yibao.ledger.accounts import system_account
from yibao.ledger.kinds import AccountKind, AccountStatus, TxKind
from yibao.ledger.ledger import LEDGER_SCOPE, Ledger
from yibao.policy.parameters import PolicyBook
from yibao.security.errors import Forbidden
from yibao.store.models import accounts, family_payments, idempotency_keys, ledger_transactions, persons, postings


class PremiumAlreadyPaid(YibaoError):
    code = "premium_already_paid"
    default_message = "该亲属这一年度的城乡居民医保费已经缴纳"


@dataclass(frozen=True)
class PremiumPaid:
    binding_id: int
    year: int
    amount_fen: int
    transaction_id: int
    business_date: date
    rule_id: str | None  # the policy value that set the amount


def is_paid(conn: Connection, member_person_id: int | None, year: int) -> bool:
    """Whether the member's premium for ``year`` was paid from a relative's account already."""
    return conn.execute(
        select(family_payments.c.transaction_id).where(
            family_payments.c.member_person_id == member_person_id, family_payments.c.premium_year == year
        )
    ).first() is not None


def premium_key(member_person_id: int, year: int) -> str:
    return f"family-premium:{member_person_id}:{year}"


def pay_premium(
    engine: Engine, book: PolicyBook, *, holder_id: int, binding_id: int, year: int, today: date,
    ledger: Ledger | None = None,
) -> PremiumPaid:
    ledger = ledger or Ledger(engine)
    with engine.begin() as conn:
        binding = _payable_binding(conn, binding_id, holder_id)
        member = conn.execute(
            select(persons.c.insurance_type, persons.c.region_code).where(persons.c.id == binding.member_person_id)
        ).one()
        done = _paid_already(conn, binding, year)
        if done is not None:
            return PremiumPaid(*done, rule_id=_rule_id(book, member.region_code, year))
        if member.insurance_type != InsuranceType.RESIDENT.value:
            raise InvalidInput("该亲属参加的是职工医保，没有城乡居民医保个人缴费", field="binding_id", code="member_not_resident")
        _check_year(year, today)
        standard = _standard(book, member.region_code, year)
        account = current_account(conn, holder_id)
        if account is None or account.status != AccountStatus.ACTIVE.value:
            raise AccountNotActive("您的个人账户已冻结或注销，不能代缴", field="binding_id")
        check_yearly_limit(
            conn, book, holder_person_id=holder_id, account_id=account.id, region_code=account.region_code, day=today,
            amount_fen=standard.rule.amount_fen,
        )
        # The premium goes into the pooled fund of the relative's region: the residents'
        # insurance fund that the premium finances. The ledger keeps one pool account per
        # region (``pool:<region>``) for every pooled fund; it stands for that fund here.
        pool = system_account(conn, AccountKind.POOL, member.region_code, opened_on=today)
    try:
        posted = ledger.transfer(
            kind=TxKind.FAMILY_PREMIUM, from_account=account.id, to_account=pool, amount_fen=standard.rule.amount_fen,
            idempotency_key=premium_key(binding.member_person_id, year), business_date=today,
            memo=f"代缴亲属{year}年度城乡居民医保个人缴费",
        )
    except IdempotencyConflict:
        raise PremiumAlreadyPaid(field="year") from None
    with engine.begin() as conn:
        _link(conn, binding, account.id, posted.transaction_id, year)
    return PremiumPaid(binding.id, year, standard.rule.amount_fen, posted.transaction_id, today, standard.id)


def _payable_binding(conn: Connection, binding_id: int, holder_id: int) -> Binding:
    binding = get_for(conn, binding_id, holder_id)
    if binding.holder_person_id != holder_id:
        raise Forbidden("只有共济账户持有人可以代缴亲属的医保费", code="holder_only")
    if binding.status != ACTIVE:
        raise InvalidInput("该绑定尚未生效或已解除，不能代缴", field="binding_id", code="binding_not_active")
    return binding


def _paid_already(conn: Connection, binding: Binding, year: int) -> tuple | None:
    """This holder's earlier payment (finishing its link if a crash interrupted it), or None.

    Another holder's payment for the same relative and year is a refusal.
    """
    linked = conn.execute(
        select(family_payments.c.binding_id, family_payments.c.holder_person_id, family_payments.c.transaction_id).where(
            family_payments.c.member_person_id == binding.member_person_id, family_payments.c.premium_year == year
        )
    ).one_or_none()
    if linked is not None and linked.holder_person_id != binding.holder_person_id:
        raise PremiumAlreadyPaid(field="year")
    transaction_id = linked.transaction_id if linked is not None else conn.execute(
        select(idempotency_keys.c.transaction_id).where(
            idempotency_keys.c.scope == LEDGER_SCOPE, idempotency_keys.c.key == premium_key(binding.member_person_id, year)
        )
    ).scalar_one_or_none()
    if transaction_id is None:
        return None
    row = conn.execute(
        select(ledger_transactions.c.business_date).where(ledger_transactions.c.id == transaction_id)
    ).one()
    amount, account_id = _holder_leg(conn, transaction_id)
    if linked is None:
        _link(conn, binding, account_id, transaction_id, year)
    return (binding.id if linked is None else linked.binding_id, year, amount, transaction_id, row.business_date)


def _holder_leg(conn: Connection, transaction_id: int) -> tuple[int, int]:
    leg = conn.execute(
        select(postings.c.amount_fen, postings.c.account_id)
        .join(accounts, accounts.c.id == postings.c.account_id)
        .where(postings.c.transaction_id == transaction_id, accounts.c.kind == AccountKind.PERSONAL.value)
    ).one()
    return -leg.amount_fen, leg.account_id


def _link(conn: Connection, binding: Binding, account_id: int, transaction_id: int, year: int) -> None:
    beneficiaries.record(
        conn, transaction_id=transaction_id, binding_id=binding.id, holder_person_id=binding.holder_person_id,
        member_person_id=binding.member_person_id, account_id=account_id, purpose=beneficiaries.PREMIUM,
        premium_year=year,
    )


def _check_year(year: int, today: date) -> None:
    # Premiums are collected during the year covered and in the months before it.
    if year not in (today.year, today.year + 1):
        raise InvalidInput(f"只能代缴{today.year}或{today.year + 1}年度的医保费", field="year", code="premium_year")


def _standard(book: PolicyBook, region_code: str, year: int):
    value = book.resolve("family.resident_premium", book.regions.get(region_code), date(year, 1, 1)).value
    if value is None or value.rule is None:
        raise InvalidInput(
            f"暂无{year}年度城乡居民医保个人缴费标准的资料，请到当地医保经办机构缴费", field="year", code="premium_unknown"
        )
    return value


def _rule_id(book: PolicyBook, region_code: str, year: int) -> str | None:
    value = book.resolve("family.resident_premium", book.regions.get(region_code), date(year, 1, 1)).value
    return value.id if value is not None else None
