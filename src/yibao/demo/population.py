"""A deterministic synthetic population for demos and load tests.

Pure: no database, no clock, no network. The only I/O is reading the packaged
``profile.yaml`` once (the knobs: shares, ranges, regions), like ``yibao.domain.regions``
reads its CSV.

Person ``i`` depends only on ``(seed, i, today, months, profile)``: every person has their
own ``random.Random(f"{seed}:{i}")``, so any range of people can be generated on its own
(in chunks, in parallel) and comes out identical.

Unique by construction, never by looking back at earlier people:
- ID number: ``i`` is first permuted within 0..1,999,999 (affine, so neighbours differ
  everywhere), giving ``q * 500 + r``. The sequence code is ``2r`` or ``2r + 1`` (odd =
  male) and the birth date's day number is congruent to ``q`` modulo 4000. Two people
  with the same ``q`` differ in the sequence code; two with different ``q`` differ in the
  birth date. Hence at most 2,000,000 people (``MAX_PEOPLE``), and each person's birth
  date is picked from their age range in steps of 4000 days (about 11 years); across the
  population the residues spread birth dates over every day.
- card number and phone: an affine permutation of ``i`` modulo 10^8.

Everything here is synthetic test data, not policy.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from functools import cached_property, lru_cache
from importlib import resources
from random import Random
from typing import NamedTuple

import yaml

from yibao.domain.card import CardNumber
from yibao.domain.contribution import add_months
from yibao.domain.regions import bare_name, regions
from yibao.domain.resident_id import ResidentId, Sex, is_known_region
from yibao.errors import InvalidInput
from yibao.ledger.kinds import TxKind

MAX_PEOPLE = 2_000_000
SEQUENCE_SLOTS = 500  # sequence codes per sex (000-999, odd = male)
BIRTH_SPACING_DAYS = MAX_PEOPLE // SEQUENCE_SLOTS  # 4000
_IDENTITY_FACTOR = 1_236_067  # coprime with MAX_PEOPLE, about MAX_PEOPLE × 0.618 (golden ratio: best spread)
_CARD_FACTOR = 48_271  # coprime with 10^8
_PHONE_FACTOR = 7_919_393  # coprime with 10^8
_CARD_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_PHONE_PREFIX = "199"
_PERCENT = 100
_BP = 10_000
_FEN_PER_YUAN = 100
MAX_WINDOW_MONTHS = 120
# Of retirees who still contributed inside the window, the share who did as flexible employees.
RETIREE_FLEXIBLE_PERCENT = 15
PRIOR_MISSED_SHARE = 20  # at most one month in twenty of the migrated span was not paid

_SURNAMES = (
    "王王王李李李张张张刘刘陈陈杨杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋"
    "蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
    "龚邵万钱严覃武戴莫孔向汤"
)
_GIVEN_MALE = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林洋文建国志海峰东亮成新春晨阳博毅"
_GIVEN_FEMALE = "芳娜敏静丽艳娟霞秀玲燕红琳婷雪慧莹倩颖洁佳欣怡萍梅晶玉兰凤丹璐月悦雅琴露瑶"
_COMPANY_WORDS = ("华信", "恒通", "金达", "宏远", "鼎盛", "瑞丰", "新元", "博远", "天成", "嘉禾", "永康", "泰和", "中联", "远航")
_COMPANY_TRADES = ("科技", "商贸", "建设工程", "物流", "餐饮管理", "医药", "电子", "文化传媒", "机械制造", "信息技术", "物业服务")
_COMPANY_SUFFIXES = ("有限公司", "股份有限公司", "有限责任公司")

MEMO_OPENING = "期初余额结转"
MEMO_PHARMACY = "定点药店购药"
MEMO_HOSPITAL = "定点医院就医"
MEMO_REFUND = "退费"
PHARMACY_PREFIX = "P"
HOSPITAL_PREFIX = "H"


class Status(StrEnum):
    IN_SERVICE = "in_service"
    FLEXIBLE = "flexible"
    RETIRED = "retired"
    RESIDENT = "resident"

    @property
    def insurance_type(self) -> str:
        return "resident" if self is Status.RESIDENT else "employee"

    @property
    def employment(self) -> str:
        return "none" if self is Status.RESIDENT else self.value


# ---------------------------------------------------------------------------- profile


@dataclass(frozen=True)
class RegionSetting:
    code: str
    weight: int
    tier: int
    counties: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class Profile:
    """The knobs of ``profile.yaml`` (synthetic-data settings, not policy), validated."""

    status_weights: dict[Status, int]
    ages: dict[tuple[Status, Sex], tuple[int, int]]
    retirement_age: dict[Sex, int]
    first_job_age: tuple[int, int]
    employee_insurance_start: date
    deemed_probability_percent: int
    deemed_months: tuple[int, int]
    resident_insurance_start: date
    tiers: dict[int, tuple[int, int]]
    base_yearly_raise_bp: int
    flexible_base_positions_percent: tuple[int, ...]
    rates_bp: dict[Status, tuple[int, int]]  # (employer, individual)
    break_probability_percent: int
    break_months: tuple[int, int]
    makeup_probability_percent: int
    makeup_delay_months: tuple[int, int]
    opening_balance_yuan: dict[Status, tuple[int, int]]
    resident_zero_opening_percent: int
    spending_probability_percent: dict[Status, int]
    max_spendings_per_month: int
    pharmacy_share_percent: int
    pharmacy_fen: tuple[int, int]
    hospital_fen: tuple[int, int]
    refund_probability_percent: int
    refund_after_days: tuple[int, int]
    pharmacies: int
    hospitals: int
    regions: tuple[RegionSetting, ...]

    @cached_property
    def status_table(self) -> tuple[tuple[Status, ...], tuple[int, ...]]:
        """Statuses with cumulative weights, for ``Random.choices``."""
        statuses = tuple(self.status_weights)
        return statuses, _cumulative(self.status_weights[s] for s in statuses)

    @cached_property
    def region_table(self) -> tuple[tuple[RegionSetting, ...], tuple[int, ...]]:
        """Regions with cumulative weights, for ``Random.choices``."""
        return self.regions, _cumulative(r.weight for r in self.regions)

    @lru_cache(maxsize=64)  # noqa: B019 - a handful of profiles live for the whole process
    def institution_codes(self, region_code: str) -> tuple[str, ...]:
        """Designated pharmacies (P…) and hospitals (H…) of a region, e.g. ``P3100001``."""
        stem = region_code[:4]
        pharmacies = (f"{PHARMACY_PREFIX}{stem}{n:03d}" for n in range(1, self.pharmacies + 1))
        hospitals = (f"{HOSPITAL_PREFIX}{stem}{n:03d}" for n in range(1, self.hospitals + 1))
        return (*pharmacies, *hospitals)


def parse_profile(text: str) -> Profile:
    raw = yaml.safe_load(text)
    statuses = list(Status)
    profile = Profile(
        status_weights={status: int(raw["statuses"][status.value]) for status in statuses},
        ages={
            (status, sex): _pair(raw["ages"][status.value][sex.value])
            for status in statuses
            for sex in Sex
        },
        retirement_age={sex: int(raw["retirement_age"][sex.value]) for sex in Sex},
        first_job_age=_pair(raw["first_job_age"]),
        employee_insurance_start=raw["employee_insurance_start"],
        deemed_probability_percent=int(raw["deemed"]["probability_percent"]),
        deemed_months=_pair(raw["deemed"]["months"]),
        resident_insurance_start=raw["resident_insurance_start"],
        tiers={int(tier): (int(v["base_min_yuan"]), int(v["base_max_yuan"])) for tier, v in raw["tiers"].items()},
        base_yearly_raise_bp=int(raw["base_yearly_raise_bp"]),
        flexible_base_positions_percent=tuple(int(p) for p in raw["flexible_base_positions_percent"]),
        rates_bp={
            status: (int(raw["rates"][status.value]["employer_bp"]), int(raw["rates"][status.value]["individual_bp"]))
            for status in (Status.IN_SERVICE, Status.FLEXIBLE)
        },
        break_probability_percent=int(raw["breaks"]["probability_percent"]),
        break_months=_pair(raw["breaks"]["months"]),
        makeup_probability_percent=int(raw["breaks"]["makeup_probability_percent"]),
        makeup_delay_months=_pair(raw["breaks"]["makeup_delay_months"]),
        opening_balance_yuan={status: _pair(raw["opening_balance_yuan"][status.value]) for status in statuses},
        resident_zero_opening_percent=int(raw["resident_zero_opening_percent"]),
        spending_probability_percent={
            status: int(raw["spending"]["monthly_probability_percent"][status.value]) for status in statuses
        },
        max_spendings_per_month=int(raw["spending"]["max_per_month"]),
        pharmacy_share_percent=int(raw["spending"]["pharmacy_share_percent"]),
        pharmacy_fen=_pair(raw["spending"]["pharmacy_fen"]),
        hospital_fen=_pair(raw["spending"]["hospital_fen"]),
        refund_probability_percent=int(raw["spending"]["refund_probability_percent"]),
        refund_after_days=_pair(raw["spending"]["refund_after_days"]),
        pharmacies=int(raw["institutions"]["pharmacies"]),
        hospitals=int(raw["institutions"]["hospitals"]),
        regions=tuple(
            RegionSetting(str(code), int(v["weight"]), int(v["tier"]), tuple(str(c) for c in v["counties"]))
            for code, v in sorted(raw["regions"].items())
        ),
    )
    _validate_profile(profile)
    return profile


@lru_cache(maxsize=1)
def default_profile() -> Profile:
    """The packaged ``yibao/demo/profile.yaml`` (read once)."""
    return parse_profile(resources.files("yibao.demo").joinpath("profile.yaml").read_text(encoding="utf-8"))


def _pair(values) -> tuple[int, int]:
    low, high = (int(v) for v in values)
    if low > high:
        raise ValueError(f"range [{low}, {high}] is empty")
    return low, high


def _validate_profile(profile: Profile) -> None:
    min_span_years = BIRTH_SPACING_DAYS // 365 + 1
    for (status, sex), (low, high) in profile.ages.items():
        if high - low + 1 < min_span_years or low < 0:
            raise ValueError(f"age range of {status.value}/{sex.value} must span at least {min_span_years} years")
    for setting in profile.regions:
        if setting.tier not in profile.tiers:
            raise ValueError(f"region {setting.code}: unknown tier {setting.tier}")
        for county in setting.counties:
            _check_county_in_region(county, setting.code)
    if not profile.regions or not profile.flexible_base_positions_percent:
        raise ValueError("profile needs regions and flexible base positions")


def _check_county_in_region(county: str, region_code: str) -> None:
    if not is_known_region(county):
        raise ValueError(f"{county} is not a known county-level division")
    pooling = regions().pooling_region_for(county).code
    if pooling != region_code:
        raise ValueError(f"{county} belongs to pooling region {pooling}, not {region_code}")


# ---------------------------------------------------------------------------- records


class SyntheticContribution(NamedTuple):
    """One month's contribution (a row of ``contributions``); money in fen."""

    month: date  # first day of the month paid for
    base_fen: int
    employer_rate_bp: int
    individual_rate_bp: int
    employer_fen: int
    individual_fen: int
    account_fen: int  # the individual part goes to the personal account
    employer_name: str | None
    flexible: bool
    paid_on: date
    is_makeup: bool


class LedgerEvent(NamedTuple):
    """One movement of the personal account, in time order; ``amount_fen`` is positive.

    The other side is the region's pool (``institution is None``) or a designated
    institution's account (its code, e.g. ``P3100001``).
    """

    n: int  # position in the person's history, 0-based
    kind: TxKind
    business_date: date
    amount_fen: int
    institution: str | None
    reference: str | None
    memo: str

    @property
    def signed_fen(self) -> int:
        return -self.amount_fen if self.kind is TxKind.SPENDING else self.amount_fen


@dataclass(frozen=True)
class SyntheticPerson:
    index: int
    resident_id: ResidentId
    name: str
    card_number: CardNumber
    phone: str
    region_code: str
    status: Status
    enrolled_on: date
    retired_on: date | None
    deemed_months: int
    prior_paid_months: int  # paid before the window, as a migrated total (no monthly records)
    contributions: tuple[SyntheticContribution, ...]
    events: tuple[LedgerEvent, ...]

    @property
    def insurance_type(self) -> str:
        return self.status.insurance_type

    @property
    def employment(self) -> str:
        return self.status.employment

    @property
    def sex(self) -> Sex:
        return self.resident_id.sex

    @property
    def birth_date(self) -> date:
        return self.resident_id.birth_date

    @property
    def balance_fen(self) -> int:
        """The balance after the last event."""
        return sum(event.signed_fen for event in self.events)


# ---------------------------------------------------------------------------- generation


@dataclass(frozen=True)
class _Window:
    months: tuple[date, ...]  # first days, oldest first
    start: date
    end: date  # last day of the last month
    julys_before: tuple[int, ...]  # base raises (each July) since the window started, per month

    @classmethod
    def ending_before(cls, today: date, months: int) -> _Window:
        """The ``months`` whole calendar months before ``today``'s month."""
        this_month = today.replace(day=1)
        firsts = tuple(add_months(this_month, k - months) for k in range(months))
        julys = tuple(sum(1 for m in firsts[1 : k + 1] if m.month == 7) for k in range(months))
        return cls(firsts, firsts[0], this_month - timedelta(days=1), julys)


def generate(
    count: int,
    *,
    seed: int,
    today: date,
    months: int = 24,
    start: int = 0,
    profile: Profile | None = None,
) -> Iterator[SyntheticPerson]:
    """People ``start`` .. ``start + count - 1``, one at a time (nothing is kept in memory).

    ``today`` fixes ages; the history covers the ``months`` whole months before
    ``today``'s month.
    """
    _check_arguments(count, start, months, today)  # eagerly, not at the first next()
    window = _Window.ending_before(today, months)
    return _stream(range(start, start + count), seed, today, window, profile or default_profile())


def history_start(today: date, months: int = 24) -> date:
    """The first day of the generated history: opening balances are dated here."""
    return _Window.ending_before(today, months).start


def _stream(indexes: range, seed: int, today: date, window: _Window, profile: Profile) -> Iterator[SyntheticPerson]:
    for index in indexes:
        yield _person(index, seed, today, window, profile)


def synthetic_person(
    index: int, *, seed: int, today: date, months: int = 24, profile: Profile | None = None
) -> SyntheticPerson:
    """Person ``index`` alone: the same as the ``index``-th person of :func:`generate`."""
    return next(generate(1, seed=seed, today=today, months=months, start=index, profile=profile))


def _check_arguments(count: int, start: int, months: int, today: date) -> None:
    if type(count) is not int or type(start) is not int or count < 0 or start < 0:
        raise InvalidInput("人数和起始序号必须是非负整数", field="count", code="demo_count")
    if start + count > MAX_PEOPLE:
        raise InvalidInput(f"演示人口最多{MAX_PEOPLE}人", field="count", code="demo_too_many")
    if type(months) is not int or not 1 <= months <= MAX_WINDOW_MONTHS:
        raise InvalidInput(f"月数应在1到{MAX_WINDOW_MONTHS}之间", field="months", code="demo_months")
    if not isinstance(today, date):
        raise TypeError("today must be a datetime.date")


def _person(index: int, seed: int, today: date, window: _Window, profile: Profile) -> SyntheticPerson:
    rng = Random(f"{seed}:{index}")
    status = _choose_status(rng, profile)
    sex = Sex.MALE if _below(rng, 2) else Sex.FEMALE
    region = _choose_region(rng, profile)
    birth = _birth_date(rng, index, seed, profile.ages[status, sex], status, today)
    resident_id = ResidentId.build(
        _one_of(rng, region.counties), birth, _sequence(index, seed, sex), sex=sex, today=today
    )
    enrolled_on, deemed = _enrolment(rng, status, birth, today, profile)
    retired_on = _add_years(birth, profile.retirement_age[sex]) if status is Status.RETIRED else None
    contributions = _contributions(rng, status, region, enrolled_on, retired_on, window, profile)
    events = _ledger_events(rng, index, status, region, enrolled_on, contributions, window, profile)
    return SyntheticPerson(
        index=index,
        resident_id=resident_id,
        name=_name(rng, sex),
        card_number=_card_number(index, seed),
        phone=_phone(index, seed),
        region_code=region.code,
        status=status,
        enrolled_on=enrolled_on,
        retired_on=retired_on,
        deemed_months=deemed,
        prior_paid_months=_prior_paid_months(index, seed, status, enrolled_on, retired_on, window),
        contributions=contributions,
        events=events,
    )


# ---------------------------------------------------------------------------- identity


def _choose_status(rng: Random, profile: Profile) -> Status:
    statuses, weights = profile.status_table
    return rng.choices(statuses, cum_weights=weights)[0]


def _choose_region(rng: Random, profile: Profile) -> RegionSetting:
    settings, weights = profile.region_table
    return rng.choices(settings, cum_weights=weights)[0]


def _cumulative(weights) -> tuple[int, ...]:
    total, out = 0, []
    for weight in weights:
        total += weight
        out.append(total)
    return tuple(out)


def _identity_number(index: int, seed: int) -> int:
    """A permutation of 0 .. MAX_PEOPLE-1, so that neighbours get unrelated ID parts."""
    return (index * _IDENTITY_FACTOR + seed) % MAX_PEOPLE


def _sequence(index: int, seed: int, sex: Sex) -> int:
    slot = _identity_number(index, seed) % SEQUENCE_SLOTS
    return 2 * slot + (1 if sex is Sex.MALE else 0)


def _birth_residue(index: int, seed: int) -> int:
    return _identity_number(index, seed) // SEQUENCE_SLOTS


def _birth_date(rng: Random, index: int, seed: int, ages: tuple[int, int], status: Status, today: date) -> date:
    """A birth date giving an age in ``ages`` on ``today``, on this person's day residue."""
    youngest, oldest = ages
    latest = _add_years(today, -youngest).toordinal()
    earliest = _add_years(today, -(oldest + 1)).toordinal() + 1
    span = latest - earliest
    draw = _below(rng, 1001)
    # Retirees thin out with age; everybody else is spread evenly.
    offset = span * draw * draw // 1_000_000 if status is Status.RETIRED else span * draw // 1000
    target = latest - offset
    day = target - (target - _birth_residue(index, seed)) % BIRTH_SPACING_DAYS
    if day < earliest:
        day += BIRTH_SPACING_DAYS
    return date.fromordinal(day)


def _name(rng: Random, sex: Sex) -> str:
    given = _GIVEN_MALE if sex is Sex.MALE else _GIVEN_FEMALE
    length = 2 if _chance(rng, 70) else 1
    return _one_of(rng, _SURNAMES) + "".join(_one_of(rng, given) for _ in range(length))


def _card_number(index: int, seed: int) -> CardNumber:
    digits = (index * _CARD_FACTOR + seed) % 10**8
    letter = _CARD_LETTERS[(index + seed) % len(_CARD_LETTERS)]
    return CardNumber(f"{letter}{digits:08d}")


def _phone(index: int, seed: int) -> str:
    return f"{_PHONE_PREFIX}{(index * _PHONE_FACTOR + seed) % 10**8:08d}"


def _company_name(rng: Random, region: RegionSetting) -> str:
    city = bare_name(regions().get(region.code).name)
    return city + _one_of(rng, _COMPANY_WORDS) + _one_of(rng, _COMPANY_TRADES) + _one_of(rng, _COMPANY_SUFFIXES)


# ---------------------------------------------------------------------------- enrolment


def _enrolment(rng: Random, status: Status, birth: date, today: date, profile: Profile) -> tuple[date, int]:
    """(enrolled_on, deemed months)."""
    if status is Status.RESIDENT:
        return _resident_enrolment(rng, birth, today, profile), 0
    age_now = _age(birth, today)
    low, high = profile.first_job_age
    first_job = _add_years(birth, _between(rng, low, max(low, min(high, age_now))))
    first_job = min(first_job + timedelta(days=_below(rng, 181)), today)
    start = profile.employee_insurance_start
    if first_job >= start:
        return first_job, 0
    enrolled_on = min(start + timedelta(days=_below(rng, 731)), today)
    return enrolled_on, _deemed_months(rng, first_job, start, profile)


def _resident_enrolment(rng: Random, birth: date, today: date, profile: Profile) -> date:
    earliest = min(max(profile.resident_insurance_start, _add_years(birth, 18)), today)
    return earliest + timedelta(days=_between(rng, 0, (today - earliest).days))


def _deemed_months(rng: Random, first_job: date, system_start: date, profile: Profile) -> int:
    worked = (system_start.year - first_job.year) * 12 + system_start.month - first_job.month
    low, high = profile.deemed_months
    if worked < low or not _chance(rng, profile.deemed_probability_percent):
        return 0
    return _between(rng, low, min(high, worked))


# ---------------------------------------------------------------------------- contributions


def _contributions(
    rng: Random,
    status: Status,
    region: RegionSetting,
    enrolled_on: date,
    retired_on: date | None,
    window: _Window,
    profile: Profile,
) -> tuple[SyntheticContribution, ...]:
    """Monthly contributions of employees' insurance while working, with breaks and make-ups.

    Retirees only have months before their retirement inside the window; residents none.
    """
    if status is Status.RESIDENT:
        return ()
    working = _working_months(window, enrolled_on, retired_on)
    if not working:
        return ()
    flexible = status is Status.FLEXIBLE or (status is Status.RETIRED and _chance(rng, RETIREE_FLEXIBLE_PERCENT))
    rate_status = Status.FLEXIBLE if flexible else Status.IN_SERVICE
    employer_bp, individual_bp = profile.rates_bp[rate_status]
    base_yuan = _first_base_yuan(rng, flexible, region, profile)
    employer = None if flexible else _company_name(rng, region)
    gap, makeup_on = _break(rng, working, window, profile)
    result = []
    for k in working:
        if k in gap and makeup_on is None:
            continue
        base_fen = _raised(base_yuan, window.julys_before[k], profile.base_yearly_raise_bp) * _FEN_PER_YUAN
        individual_fen = bp_of(base_fen, individual_bp)
        month = window.months[k]
        paid_on = makeup_on if k in gap else month.replace(day=_between(rng, 5, 25))
        result.append(
            SyntheticContribution(
                month, base_fen, employer_bp, individual_bp, bp_of(base_fen, employer_bp), individual_fen,
                individual_fen, employer, flexible, paid_on, k in gap,
            )
        )
    return tuple(result)


def _prior_paid_months(
    index: int, seed: int, status: Status, enrolled_on: date, retired_on: date | None, window: _Window
) -> int:
    """Employee-insurance months paid between enrolment and the window (or retirement), as the
    previous system would hand them over: every month of that span, less a few missed ones.

    Its own random stream, so that adding it changed nobody's other values.
    """
    if status is Status.RESIDENT:
        return 0
    end = min(window.start, retired_on.replace(day=1)) if retired_on else window.start
    span = max(0, (end.year - enrolled_on.year) * 12 + end.month - enrolled_on.month - 1)
    rng = Random(f"{seed}:{index}:prior")
    return span - _below(rng, span // PRIOR_MISSED_SHARE + 1)


def _working_months(window: _Window, enrolled_on: date, retired_on: date | None) -> list[int]:
    """Positions of the window's months after the month of enrolment and before retirement."""
    last = retired_on.replace(day=1) if retired_on else date.max
    return [k for k, month in enumerate(window.months) if enrolled_on < month < last]


def bp_of(amount_fen: int, rate_bp: int) -> int:
    """``amount_fen`` × ``rate_bp`` / 10000, rounded half up (both non-negative)."""
    return (amount_fen * rate_bp + _BP // 2) // _BP


def _first_base_yuan(rng: Random, flexible: bool, region: RegionSetting, profile: Profile) -> int:
    low, high = profile.tiers[region.tier]
    if flexible:
        return low + (high - low) * _one_of(rng, profile.flexible_base_positions_percent) // _PERCENT
    draw = _below(rng, 1001)  # squared: most bases sit near the floor
    return low + (high - low) * draw * draw // 1_000_000


def _raised(base_yuan: int, raises: int, raise_bp: int) -> int:
    for _ in range(raises):
        base_yuan = (base_yuan * (_BP + raise_bp) + _BP // 2) // _BP
    return base_yuan


def _break(rng: Random, working: list[int], window: _Window, profile: Profile) -> tuple[frozenset[int], date | None]:
    """Months not paid on time and, when they were made up later, the make-up day."""
    low, high = profile.break_months
    if len(working) <= low or not _chance(rng, profile.break_probability_percent):
        return frozenset(), None
    length = _between(rng, low, min(high, len(working) - 1))
    first = _below(rng, len(working) - length + 1)
    gap = frozenset(working[first : first + length])
    if not _chance(rng, profile.makeup_probability_percent):
        return gap, None
    paid_month = add_months(window.months[max(gap)], _between(rng, *profile.makeup_delay_months))
    makeup_on = paid_month.replace(day=_between(rng, 1, 28))
    return gap, (makeup_on if makeup_on <= window.end else None)


# ---------------------------------------------------------------------------- ledger events

_OPENING, _CREDIT, _REFUND, _SPENDING = range(4)  # order of events on the same day


def _ledger_events(
    rng: Random,
    index: int,
    status: Status,
    region: RegionSetting,
    enrolled_on: date,
    contributions: tuple[SyntheticContribution, ...],
    window: _Window,
    profile: Profile,
) -> tuple[LedgerEvent, ...]:
    """The personal account's history over the window, oldest first; never below zero.

    Credits here are only those from the person's own contributions. Retirees' monthly
    credits (and any other credit decided by policy) come from the policy engine's credit
    run, which is built later; residents' insurance has no personal-account credit.
    """
    pending: list[tuple] = []
    opening = _opening_balance_fen(rng, status, profile) if enrolled_on < window.start else 0
    if opening:
        pending.append((window.start, _OPENING, 0, opening, None, None, MEMO_OPENING))
    for contribution in contributions:
        memo = _credit_memo(contribution)
        reference = f"{contribution.month:%Y%m}"  # the month credited
        pending.append((contribution.paid_on, _CREDIT, len(pending), contribution.account_fen, None, reference, memo))
    pending.extend(_spending_plans(rng, status, region, enrolled_on, window, profile, len(pending)))
    heapq.heapify(pending)
    return _play(rng, index, pending, window, profile)


def _opening_balance_fen(rng: Random, status: Status, profile: Profile) -> int:
    if status is Status.RESIDENT and _chance(rng, profile.resident_zero_opening_percent):
        return 0
    low, high = profile.opening_balance_yuan[status]
    return _between(rng, low, high) * _FEN_PER_YUAN + _below(rng, _FEN_PER_YUAN)


def _credit_memo(contribution: SyntheticContribution) -> str:
    month = contribution.month
    suffix = "（补缴）" if contribution.is_makeup else ""
    return f"{month.year}年{month.month:02d}月个人账户划入{suffix}"


def _spending_plans(
    rng: Random,
    status: Status,
    region: RegionSetting,
    enrolled_on: date,
    window: _Window,
    profile: Profile,
    counter: int,
) -> list[tuple]:
    """Planned visits; the amount is capped by the balance when the visit is played."""
    probability = profile.spending_probability_percent[status]
    institutions = profile.institution_codes(region.code)
    plans = []
    for month in window.months:
        for _ in range(profile.max_spendings_per_month):
            if not _chance(rng, probability):
                continue
            day = month.replace(day=_between(rng, 1, 28))
            pharmacy = _chance(rng, profile.pharmacy_share_percent)
            code = _one_of(rng, institutions[: profile.pharmacies] if pharmacy else institutions[profile.pharmacies :])
            amount = _between(rng, *(profile.pharmacy_fen if pharmacy else profile.hospital_fen))
            if day >= enrolled_on:
                memo = MEMO_PHARMACY if pharmacy else MEMO_HOSPITAL
                plans.append((day, _SPENDING, counter + len(plans), amount, code, None, memo))
    return plans


def _play(rng: Random, index: int, pending: list[tuple], window: _Window, profile: Profile) -> tuple[LedgerEvent, ...]:
    """Apply the planned events in time order, capping spendings by the balance."""
    events: list[LedgerEvent] = []
    balance = 0
    counter = len(pending)
    while pending:
        day, order, _, amount, institution, reference, memo = heapq.heappop(pending)
        if order == _SPENDING:
            amount = min(amount, balance)
            if amount <= 0:
                continue
            reference = f"{institution}{index:07d}{len(events):03d}"
            refund = _refund_plan(rng, day, amount, institution, reference, window, profile, counter)
            if refund is not None:
                heapq.heappush(pending, refund)
                counter += 1
        kind = _KIND_OF_ORDER[order]
        events.append(LedgerEvent(len(events), kind, day, amount, institution, reference, memo))
        balance += -amount if order == _SPENDING else amount
    return tuple(events)


_KIND_OF_ORDER = {
    _OPENING: TxKind.OPENING_BALANCE,
    _CREDIT: TxKind.MONTHLY_CREDIT,
    _REFUND: TxKind.REFUND,
    _SPENDING: TxKind.SPENDING,
}


def _refund_plan(
    rng: Random,
    day: date,
    spent: int,
    institution: str,
    reference: str,
    window: _Window,
    profile: Profile,
    counter: int,
) -> tuple | None:
    """Sometimes part or all of a spending comes back later (a returned prescription…)."""
    if not _chance(rng, profile.refund_probability_percent):
        return None
    refund_day = day + timedelta(days=_between(rng, *profile.refund_after_days))
    if refund_day > window.end:
        return None
    amount = spent if _below(rng, 2) else _between(rng, 1, spent)
    return (refund_day, _REFUND, counter, amount, institution, reference, MEMO_REFUND)


# ---------------------------------------------------------------------------- random draws
# Built on Random.random() (one C call) instead of randrange/randint/choice, which are
# several Python calls each: they run a few hundred times per person. The tiny bias of
# int(random() * n) does not matter for synthetic data.


def _chance(rng: Random, percent: int) -> bool:
    return rng.random() * _PERCENT < percent


def _below(rng: Random, n: int) -> int:
    return int(rng.random() * n)


def _between(rng: Random, low: int, high: int) -> int:
    return low + int(rng.random() * (high - low + 1))


def _one_of(rng: Random, options):
    return options[int(rng.random() * len(options))]


# ---------------------------------------------------------------------------- dates


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a common year
        return day.replace(year=day.year + years, day=28)


def _age(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
