"""Person, Account and Contribution: construction rules and the errors that name the field."""

from __future__ import annotations

from datetime import date

import pytest

from yibao.domain.account import Account, AccountKind, AccountStatus
from yibao.domain.contribution import Contribution, part_of
from yibao.domain.money import Money
from yibao.domain.person import Employment, InsuranceType, MemberStatus, Person
from yibao.domain.resident_id import ResidentId, Sex
from yibao.errors import InvalidInput

ID = ResidentId.parse("11010519491231002X", today=date(2025, 6, 1))


def person(**changes) -> Person:
    values = dict(
        id_number=ID, name="王秀英", region_code="110000", insurance_type=InsuranceType.EMPLOYEE,
        employment=Employment.RETIRED, enrolled_on=date(1980, 1, 1), retired_on=date(2004, 12, 31),
    )
    return Person(**(values | changes))


def test_a_retired_employee_knows_age_sex_and_status():
    someone = person()
    assert someone.sex is Sex.FEMALE and someone.birth_date == date(1949, 12, 31)
    assert someone.age_on(date(2025, 6, 1)) == 75
    assert someone.status is MemberStatus.RETIRED
    assert someone.is_retired_on(date(2005, 1, 1)) and not someone.is_retired_on(date(2004, 1, 1))


def test_a_residents_insurance_member_has_resident_status():
    assert person(insurance_type=InsuranceType.RESIDENT, employment=Employment.NONE, retired_on=None).status is MemberStatus.RESIDENT


@pytest.mark.parametrize(
    "changes, field, code",
    [
        ({"name": " "}, "name", "name_required"),
        ({"name": "名" * 41}, "name", "name_too_long"),
        ({"region_code": "999999"}, "region_code", "unknown_region"),
        ({"region_code": "440000"}, "region_code", "not_pooling_region"),
        ({"insurance_type": InsuranceType.RESIDENT}, "employment", "employment_for_resident"),
        ({"employment": Employment.NONE, "retired_on": None}, "employment", "employment_required"),
        ({"retired_on": None}, "retired_on", "retired_on_mismatch"),
        ({"employment": Employment.IN_SERVICE}, "retired_on", "retired_on_mismatch"),
        ({"deemed_months": -1}, "deemed_months", "deemed_months_negative"),
        ({"enrolled_on": date(1940, 1, 1)}, "enrolled_on", "date_before_birth"),
        ({"retired_on": date(1979, 1, 1)}, "retired_on", "retired_before_enrolled"),
    ],
)
def test_bad_person_data_is_refused_naming_the_field(changes, field, code):
    with pytest.raises(InvalidInput) as caught:
        person(**changes)
    assert (caught.value.field, caught.value.code) == (field, code)
    assert caught.value.message  # a Chinese sentence for people


def test_contribution_parts_round_half_up_to_the_fen():
    record = Contribution.compute(
        date(2025, 5, 1), Money.parse("8123.45"), employer_rate_bp=800, individual_rate_bp=200, paid_on=date(2025, 5, 20)
    )
    assert record.individual_part == Money(16247)  # 8123.45 × 2% = 162.469 → 162.47
    assert record.employer_part == Money(64988)  # 649.876 → 649.88
    assert record.account_part == record.individual_part
    assert part_of(Money(25), 200) == Money(1)  # 0.5 fen rounds up


@pytest.mark.parametrize(
    "changes, field, code",
    [
        ({"month": date(2025, 5, 2)}, "month", "month_not_first_day"),
        ({"base": Money(-1)}, "base", "money_negative"),
        ({"employer_rate_bp": 9_000}, "employer_rate_bp", "rate_out_of_range"),
        ({"individual_rate_bp": -1}, "individual_rate_bp", "rate_out_of_range"),
        ({"account_part": Money(10**7)}, "account_part", "account_part_too_large"),
    ],
)
def test_bad_contribution_is_refused_naming_the_field(changes, field, code):
    values = dict(
        month=date(2025, 5, 1), base=Money(800_000), employer_rate_bp=800, individual_rate_bp=200,
        employer_part=Money(64_000), individual_part=Money(16_000), account_part=Money(16_000), paid_on=date(2025, 5, 20),
    )
    with pytest.raises(InvalidInput) as caught:
        Contribution(**(values | changes))
    assert (caught.value.field, caught.value.code) == (field, code)


def test_contribution_for_a_future_month_is_refused():
    record = Contribution.compute(date(2025, 7, 1), Money(800_000), employer_rate_bp=800, individual_rate_bp=200, paid_on=date(2025, 6, 1))
    with pytest.raises(InvalidInput) as caught:
        record.check_not_future(date(2025, 6, 30))
    assert caught.value.field == "month"


def test_account_status_decides_what_an_account_may_do():
    account = Account(1, AccountKind.PERSONAL, "110000", AccountStatus.ACTIVE, Money(1_000), date(2020, 1, 1), person_id=1)
    assert account.can_pay(Money(1_000)) and not account.can_pay(Money(1_001))
    frozen = Account(2, AccountKind.PERSONAL, "110000", AccountStatus.FROZEN, Money(1_000), date(2020, 1, 1), person_id=1)
    assert not frozen.can_pay(Money(1)) and frozen.status.takes_credits
    assert not AccountStatus.CLOSED.takes_credits and AccountStatus.CLOSED.label == "已注销"
    assert AccountKind.PERSONAL.keeps_cached_balance and not AccountKind.POOL.keeps_cached_balance
