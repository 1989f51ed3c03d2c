"""An insured person (参保人) as the domain sees them: validated, no storage concerns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from yibao.domain.card import CardNumber
from yibao.domain.regions import regions
from yibao.domain.resident_id import ResidentId, Sex
from yibao.errors import InvalidInput

MAX_NAME_LENGTH = 40


def mask_name(name: str) -> str:
    """A name as shown to anyone but its owner: the surname, then one star per other character."""
    return name[:1] + "*" * max(1, len(name) - 1)


class InsuranceType(StrEnum):
    EMPLOYEE = "employee"  # 职工基本医疗保险
    RESIDENT = "resident"  # 城乡居民基本医疗保险

    @property
    def label(self) -> str:
        return "职工医保" if self is InsuranceType.EMPLOYEE else "城乡居民医保"


class Employment(StrEnum):
    IN_SERVICE = "in_service"  # 在职
    FLEXIBLE = "flexible"  # 灵活就业
    RETIRED = "retired"  # 退休
    NONE = "none"  # residents' insurance: no employment relation recorded

    @property
    def label(self) -> str:
        return {"in_service": "在职", "flexible": "灵活就业", "retired": "退休", "none": "—"}[self.value]


class MemberStatus(StrEnum):
    """The one-word answer to "what kind of member is this" that channels show."""

    IN_SERVICE = "in_service"
    FLEXIBLE = "flexible"
    RETIRED = "retired"
    RESIDENT = "resident"

    @property
    def label(self) -> str:
        return MEMBER_STATUS_LABELS[self]


MEMBER_STATUS_LABELS = {
    MemberStatus.IN_SERVICE: "在职职工",
    MemberStatus.FLEXIBLE: "灵活就业人员",
    MemberStatus.RETIRED: "退休人员",
    MemberStatus.RESIDENT: "城乡居民医保参保人",
}


@dataclass(frozen=True)
class Person:
    id_number: ResidentId
    name: str
    region_code: str  # the pooling region (统筹区) where the person is insured
    insurance_type: InsuranceType
    employment: Employment
    enrolled_on: date
    card_number: CardNumber | None = None
    retired_on: date | None = None
    died_on: date | None = None
    deemed_months: int = 0  # 视同缴费年限, in months
    prior_paid_months: int = 0  # months paid before the platform, migrated from the previous system
    phone: str | None = None

    def __post_init__(self) -> None:
        _check_name(self.name)
        pooling = regions().get(self.region_code)
        if not pooling.pools_at_own_level:
            raise InvalidInput(f"{pooling.name}不是统筹区", field="region_code", code="not_pooling_region")
        _check_membership(self)
        _check_dates(self)

    @property
    def sex(self) -> Sex:
        return self.id_number.sex

    @property
    def birth_date(self) -> date:
        return self.id_number.birth_date

    def age_on(self, day: date) -> int:
        return self.id_number.age_on(day)

    def is_retired_on(self, day: date) -> bool:
        return self.retired_on is not None and self.retired_on <= day

    @property
    def status(self) -> MemberStatus:
        if self.insurance_type is InsuranceType.RESIDENT:
            return MemberStatus.RESIDENT
        return MemberStatus(self.employment.value)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("姓名不能为空", field="name", code="name_required")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"姓名不能超过{MAX_NAME_LENGTH}个字", field="name", code="name_too_long")


def _check_membership(person: Person) -> None:
    resident = person.insurance_type is InsuranceType.RESIDENT
    if resident and person.employment is not Employment.NONE:
        raise InvalidInput("城乡居民医保参保人没有在职或退休身份", field="employment", code="employment_for_resident")
    if not resident and person.employment is Employment.NONE:
        raise InvalidInput("职工医保参保人须注明在职、灵活就业或退休", field="employment", code="employment_required")
    if (person.employment is Employment.RETIRED) != (person.retired_on is not None):
        raise InvalidInput("退休人员须有退休日期，非退休人员不能有退休日期", field="retired_on", code="retired_on_mismatch")
    if person.deemed_months < 0:
        raise InvalidInput("视同缴费月数不能为负", field="deemed_months", code="deemed_months_negative")
    if person.prior_paid_months < 0:
        raise InvalidInput("原系统迁移的已缴月数不能为负", field="prior_paid_months", code="prior_paid_months_negative")


def _check_dates(person: Person) -> None:
    born = person.birth_date
    for field, day in (("enrolled_on", person.enrolled_on), ("retired_on", person.retired_on), ("died_on", person.died_on)):
        if day is not None and day < born:
            raise InvalidInput("日期不能早于出生日期", field=field, code="date_before_birth")
    if person.retired_on and person.retired_on < person.enrolled_on:
        raise InvalidInput("退休日期不能早于参保日期", field="retired_on", code="retired_before_enrolled")
