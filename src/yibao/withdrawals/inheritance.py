"""A death recorded by staff, and the heirs who inherit the balance (个人账户余额继承).

Recording the death (date, certificate number, the certificate) in one transaction:
sets ``persons.died_on`` (the monthly credit run skips the account from the month after
the death), freezes the account so nothing more is spent from it, ends a withdrawal the
person had applied for, and opens the heirs' case when the policy allows it. Heirs are
listed with their shares as fractions that must add up to exactly one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, delete, insert, select, update

from yibao import documents
from yibao.domain.resident_id import ResidentId
from yibao.errors import InvalidInput, NotFound
from yibao.ledger.accounts import set_status
from yibao.ledger.kinds import AccountStatus
from yibao.policy.parameters import PolicyBook
from yibao.store.models import accounts, death_records, heirs, persons, withdrawal_cases
from yibao.withdrawals import shares
from yibao.withdrawals.cases import Actor, Applicant, CaseConflict, CaseStatus, open_case, require_status
from yibao.withdrawals.eligibility import eligibility

DEATH_CERTIFICATE = "死亡证明"
MAX_HEIRS = 20


@dataclass(frozen=True)
class DeathRecorded:
    case_id: int | None  # None: no open account, or the region does not allow inheritance
    document_id: int
    refusal: str | None = None  # the policy's words when inheritance is not allowed


@dataclass(frozen=True)
class HeirInput:
    name: str
    id_number: str
    share: str


def record_death(
    conn: Connection,
    book: PolicyBook,
    *,
    person_id: int,
    died_on: date,
    certificate_number: str,
    file_name: str,
    content: bytes,
    staff: Actor,
    today: date,
    now: datetime,
) -> DeathRecorded:
    person = _person_for_staff(conn, person_id, staff)
    number = (certificate_number or "").strip()
    if not 1 <= len(number) <= 40:
        raise InvalidInput("请填写死亡证明编号（1-40个字符）", field="certificate_number", code="certificate_number")
    if died_on > today or died_on < person["birth_date"]:
        raise InvalidInput("死亡日期应在出生日期之后、今天或以前", field="died_on", code="died_on_range")
    if person["died_on"] is not None:
        raise CaseConflict("该参保人的死亡信息已登记", field="person_id", code="death_already_recorded")
    _end_own_applications(conn, person_id)
    case_id, refusal = open_heirs_case(conn, book, person_id, staff, today)
    stored = documents.store(
        conn, person_id=person_id, case_id=case_id, doc_type=DEATH_CERTIFICATE, file_name=file_name,
        content=content, uploaded_by=staff.label, at=now,
    )
    conn.execute(
        insert(death_records).values(
            person_id=person_id, died_on=died_on, certificate_number=number, document_id=stored.id,
            recorded_by=staff.id, recorded_at=now,
        )
    )
    conn.execute(update(persons).where(persons.c.id == person_id).values(died_on=died_on))
    return DeathRecorded(case_id, stored.id, refusal)


def _person_for_staff(conn: Connection, person_id: int, staff: Actor):
    person = conn.execute(
        select(persons.c.id, persons.c.region_code, persons.c.birth_date, persons.c.died_on).where(persons.c.id == person_id)
    ).mappings().first()
    if person is None or staff.region_code not in (None, person["region_code"]):
        raise NotFound("未找到该参保人", field="person_id", code="person_not_found")
    return person


def _end_own_applications(conn: Connection, person_id: int) -> None:
    open_statuses = [status.value for status in CaseStatus if status.is_open]
    conn.execute(
        update(withdrawal_cases)
        .where(withdrawal_cases.c.person_id == person_id, withdrawal_cases.c.status.in_(open_statuses))
        .values(status=CaseStatus.REJECTED.value, decision_note="参保人身故，本人申请终止，余额按继承办理")
    )


def open_heirs_case(conn: Connection, book: PolicyBook, person_id: int, staff: Actor, today: date):
    """Freeze the deceased's open account and open the heirs' case for it (None and the rule
    when the region does not allow it; None, None when there is no open account, e.g. while
    a transfer between regions is in flight: the transfer-in opens it then)."""
    account = conn.execute(
        select(accounts.c.id, accounts.c.region_code, accounts.c.status).where(
            accounts.c.person_id == person_id, accounts.c.status != AccountStatus.CLOSED.value
        )
    ).first()
    if account is None:
        return None, None
    if account.status == AccountStatus.ACTIVE.value:
        set_status(conn, account.id, AccountStatus.FROZEN, today)
    found = eligibility(book, account.region_code, "death", today)
    if found.allowed is False:
        return None, found.rule
    case_id = open_case(
        conn, book, person_id=person_id, account_id=account.id, region_code=account.region_code, reason="death",
        applicant=Applicant.HEIR, on=today, created_by=staff.label,
    )
    return case_id, None


def set_heirs(conn: Connection, case, listed: list[HeirInput], today: date) -> None:
    """Replace the case's heirs; the shares must add up to exactly one."""
    if case["applicant"] != Applicant.HEIR.value:
        raise CaseConflict("只有继承申请需要登记继承人", field="heirs", code="not_an_inheritance")
    require_status(case, CaseStatus.COLLECTING, "申请已提交，不能再修改继承人")
    if not 1 <= len(listed) <= MAX_HEIRS:
        raise InvalidInput(f"请登记1到{MAX_HEIRS}位继承人", field="heirs", code="heirs_count")
    deceased = conn.execute(select(persons.c.id_number).where(persons.c.id == case["person_id"])).scalar_one()
    rows, seen, fractions = [], set(), []
    for index, heir in enumerate(listed):
        where = f"heirs.{index}"
        name = (heir.name or "").strip()
        if not 1 <= len(name) <= 40:
            raise InvalidInput("请填写继承人姓名", field=f"{where}.name", code="heir_name")
        number = ResidentId.parse(heir.id_number or "", field=f"{where}.id_number", today=today).full
        if number == deceased or number in seen:
            raise InvalidInput("继承人身份证号重复或为参保人本人", field=f"{where}.id_number", code="heir_duplicate")
        seen.add(number)
        share = shares.parse_share(heir.share, field=f"{where}.share")
        fractions.append(share)
        rows.append({"case_id": case["id"], "name": name, "id_number": number,
                     "share_numerator": share.numerator, "share_denominator": share.denominator})
    shares.check_whole(fractions)
    conn.execute(delete(heirs).where(heirs.c.case_id == case["id"]))
    conn.execute(insert(heirs), rows)
