"""The synthetic population: deterministic, valid, unique, and believable enough to demo."""

from __future__ import annotations

from collections import Counter
from datetime import date
from itertools import islice

import pytest

from yibao.demo.population import (
    MAX_PEOPLE,
    Status,
    bp_of,
    default_profile,
    generate,
    history_start,
    synthetic_person,
)
from yibao.domain.regions import regions
from yibao.domain.resident_id import ResidentId, Sex
from yibao.errors import InvalidInput
from yibao.ledger.kinds import TxKind

TODAY = date(2025, 6, 15)
SEED = 7


def people(count: int, seed: int = SEED, **kwargs):
    return list(generate(count, seed=seed, today=TODAY, **kwargs))


@pytest.fixture(scope="module")
def thousand():
    return people(1000)


def test_same_seed_gives_the_same_people_and_another_seed_does_not():
    assert people(50) == people(50)
    other = people(50, seed=SEED + 1)
    assert [p.resident_id for p in other] != [p.resident_id for p in people(50)]


def test_any_range_of_people_can_be_generated_on_its_own():
    assert people(10, start=40) == people(50)[40:]
    assert synthetic_person(12, seed=SEED, today=TODAY) == people(13)[12]


def test_generation_streams_instead_of_building_a_list():
    stream = generate(MAX_PEOPLE, seed=SEED, today=TODAY)
    assert len(list(islice(stream, 3))) == 3


def test_arguments_are_checked_before_the_first_person():
    with pytest.raises(InvalidInput):
        generate(MAX_PEOPLE + 1, seed=SEED, today=TODAY)
    with pytest.raises(InvalidInput):
        generate(10, seed=SEED, today=TODAY, months=0)


def test_every_id_number_is_valid_and_matches_age_and_sex(thousand):
    for person in thousand:
        parsed = ResidentId.parse(person.resident_id.full, today=TODAY)
        assert parsed == person.resident_id
        assert 18 <= parsed.age_on(TODAY) <= 95
        assert regions().pooling_region_for(parsed.region_code).code == person.region_code


def test_retirees_are_old_enough_and_the_others_of_working_age(thousand):
    for person in thousand:
        age = person.resident_id.age_on(TODAY)
        threshold = 60 if person.sex is Sex.MALE else 55
        if person.status is Status.RETIRED:
            assert age >= threshold and person.retired_on <= TODAY
        elif person.status in (Status.IN_SERVICE, Status.FLEXIBLE):
            assert age < threshold and person.retired_on is None


def test_the_mix_covers_regions_sexes_and_statuses():
    sample = people(300)
    assert len({p.region_code for p in sample}) >= 10
    assert {p.sex for p in sample} == set(Sex)
    assert {p.status for p in sample} == set(Status)
    assert {(p.insurance_type, p.employment) for p in sample} == {
        ("employee", "in_service"), ("employee", "flexible"), ("employee", "retired"), ("resident", "none"),
    }


def test_names_cards_and_phones_look_right(thousand):
    for person in thousand:
        assert 2 <= len(person.name) <= 3
        card = person.card_number.value
        assert len(card) == 9 and card[0].isalpha() and card[1:].isdigit()
        assert person.phone.startswith("199") and len(person.phone) == 11


def test_no_two_people_share_an_id_number_or_a_card_number():
    sample = people(5000)
    assert len({p.resident_id.full for p in sample}) == 5000
    assert len({p.card_number.value for p in sample}) == 5000


def test_birth_dates_are_spread_even_among_neighbours():
    sample = people(200)
    assert len({p.birth_date for p in sample}) > 190


def test_some_older_people_have_deemed_months(thousand):
    deemed = [p.deemed_months for p in thousand if p.deemed_months]
    assert deemed and all(12 <= months <= 120 for months in deemed)


def test_contribution_amounts_are_exact_integer_fen(thousand):
    for person in thousand:
        for c in person.contributions:
            assert c.employer_fen == bp_of(c.base_fen, c.employer_rate_bp)
            assert c.individual_fen == bp_of(c.base_fen, c.individual_rate_bp)
            assert c.account_fen == c.individual_fen and c.individual_rate_bp == 200
            assert c.base_fen % 100 == 0 and c.month.day == 1
            assert (c.employer_name is None) == c.flexible


def test_rounding_is_half_up():
    assert bp_of(12_345, 200) == 247  # 246.9
    assert bp_of(12_325, 200) == 247  # 246.5 exactly
    assert bp_of(12_324, 200) == 246  # 246.48


def test_only_working_employees_contribute(thousand):
    for person in thousand:
        if person.status is Status.RESIDENT:
            assert person.contributions == ()
        if person.status is Status.RETIRED:
            assert all(c.month < person.retired_on for c in person.contributions)
        if person.status in (Status.IN_SERVICE, Status.FLEXIBLE) and person.enrolled_on < date(2023, 1, 1):
            assert person.contributions


def test_contributions_have_breaks_and_make_up_payments(thousand):
    with_gap = with_makeup = 0
    for person in thousand:
        months = [c.month for c in person.contributions]
        assert months == sorted(set(months))
        if any(_months_between(a, b) > 1 for a, b in zip(months, months[1:])):
            with_gap += 1
        makeups = [c for c in person.contributions if c.is_makeup]
        for c in makeups:
            assert c.paid_on > c.month and (c.paid_on.year, c.paid_on.month) > (c.month.year, c.month.month)
        with_makeup += bool(makeups)
    assert with_gap >= 10 and with_makeup >= 10


def test_flexible_employees_pay_both_parts_themselves(thousand):
    flexible = [c for p in thousand if p.status is Status.FLEXIBLE for c in p.contributions]
    assert flexible and all(c.flexible and c.employer_name is None and c.employer_fen > 0 for c in flexible)


def test_balance_never_goes_below_zero_at_any_event(thousand):
    for person in thousand:
        balance = 0
        for n, event in enumerate(person.events):
            assert event.n == n and event.amount_fen > 0
            balance += event.signed_fen
            assert balance >= 0
        assert balance == person.balance_fen


def test_events_are_in_time_order_inside_the_window(thousand):
    start, end = history_start(TODAY), date(2025, 5, 31)
    for person in thousand:
        days = [e.business_date for e in person.events]
        assert days == sorted(days)
        assert all(start <= day <= end and day >= person.enrolled_on for day in days)


def test_credits_follow_contributions_and_refunds_follow_spendings(thousand):
    kinds = Counter()
    for person in thousand:
        credits = [e for e in person.events if e.kind is TxKind.MONTHLY_CREDIT]
        assert sorted(e.amount_fen for e in credits) == sorted(c.account_fen for c in person.contributions)
        spent = {e.reference: e for e in person.events if e.kind is TxKind.SPENDING}
        for refund in (e for e in person.events if e.kind is TxKind.REFUND):
            original = spent[refund.reference]
            assert refund.amount_fen <= original.amount_fen and refund.business_date > original.business_date
            assert refund.institution == original.institution
        kinds.update(e.kind for e in person.events)
    assert {TxKind.OPENING_BALANCE, TxKind.MONTHLY_CREDIT, TxKind.SPENDING, TxKind.REFUND} <= set(kinds)


def test_residents_usually_have_an_empty_account(thousand):
    residents = [p for p in thousand if p.status is Status.RESIDENT]
    opening = [p for p in residents if any(e.kind is TxKind.OPENING_BALANCE for e in p.events)]
    assert residents and len(opening) < len(residents) / 3


def test_the_profile_names_real_counties_inside_each_region():
    profile = default_profile()
    assert len(profile.regions) >= 10
    for setting in profile.regions:
        for county in setting.counties:
            assert regions().pooling_region_for(county).code == setting.code


def _months_between(earlier: date, later: date) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def test_years_paid_follow_each_persons_enrolment_date(thousand):
    """Months paid before the window (migrated totals) plus the window's records fill the time insured."""
    for person in thousand:
        if person.status is Status.RESIDENT:
            assert person.prior_paid_months == 0
            continue
        end = min(TODAY, person.retired_on) if person.retired_on else TODAY
        span = max(0, (end.year - person.enrolled_on.year) * 12 + end.month - person.enrolled_on.month)
        paid = person.prior_paid_months + len(person.contributions)
        assert span * 0.9 - 24 <= paid <= span, person.index
    since_2005 = [p for p in thousand if p.status is Status.IN_SERVICE and p.enrolled_on <= date(2005, 12, 31)]
    assert since_2005 and all(p.prior_paid_months + len(p.contributions) >= 12 * 17 for p in since_2005)
