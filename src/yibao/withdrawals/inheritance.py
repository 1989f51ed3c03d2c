"""A death recorded by staff and confirmed by another, and the heirs who inherit the balance.

Recording the death (date, certificate number, the certificate) freezes the account at once,
provisionally (待复核), so nothing more is spent from it; nothing else changes yet. A second
staff member who did not record it confirms it (four eyes, ``security.four_eyes``): then
``persons.died_on`` is set (the monthly credit run skips the account from the month after the
death), a withdrawal the person had applied for ends, and the heirs' case opens when the
policy allows it, with the certificate on it. Or they reject it: the account is active again
and nothing else has changed. Heirs are listed with their shares as fractions that must add up
to exactly one, each with a verified bank account in their own name for their part.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Connection, delete, insert, select, update

from yibao import documents
from yibao.domain.bank_account import BankAccount
from yibao.domain.resident_id import ResidentId
from yibao.errors import InvalidInput, NotFound
from yibao.ledger.accounts import set_status
from yibao.ledger.kinds import AccountStatus
from yibao.policy.parameters import PolicyBook
from yibao.security import four_eyes
from yibao.security.four_eyes import CaseKind, Part
from yibao.store.models import accounts, case_participants, death_records, heirs, persons, withdrawal_cases
from yibao.store.models import documents as document_rows
from yibao.withdrawals import shares
from yibao.withdrawals.cases import Actor, Applicant, CaseConflict, CaseStatus, open_case, require_status
from yibao.withdrawals.eligibility import eligibility

DEATH_CERTIFICATE = "死亡证明"
MAX_HEIRS = 20


class DeathStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"

    @property
    def label(self) -> str:
        return {"pending": "待复核", "confirmed": "已确认", "rejected": "已驳回"}[self.value]


@dataclass(frozen=True)
class DeathRecorded:
    status: DeathStatus
    document_id: int
    case_id: int | None = None  # the heirs' case, once confirmed (None: no open account, or not allowed)
    refusal: str | None = None  # the policy's words when inheritance is not allowed


@dataclass(frozen=True)
class HeirInput:
    name: str
    id_number: str
    share: str
    bank_name: str = ""
    bank_account: str = ""
    account_holder: str = ""


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
    """Record a death, pending a second person's confirmation; the account is frozen meanwhile."""
    person = _person_for_staff(conn, person_id, staff)
    number = (certificate_number or "").strip()
    if not 1 <= len(number) <= 40:
        raise InvalidInput("请填写死亡证明编号（1-40个字符）", field="certificate_number", code="certificate_number")
    if died_on > today or died_on < person["birth_date"]:
        raise InvalidInput("死亡日期应在出生日期之后、今天或以前", field="died_on", code="died_on_range")
    earlier = conn.execute(
        select(death_records.c.status).where(death_records.c.person_id == person_id).with_for_update()
    ).scalar()
    if person["died_on"] is not None or earlier in (DeathStatus.PENDING.value, DeathStatus.CONFIRMED.value):
        raise CaseConflict("该参保人的死亡信息已登记", field="person_id", code="death_already_recorded")
    stored = documents.store(
        conn, person_id=person_id, case_id=None, doc_type=DEATH_CERTIFICATE, file_name=file_name,
        content=content, uploaded_by=staff.label, at=now,
    )
    values = dict(
        died_on=died_on, certificate_number=number, document_id=stored.id, recorded_by=staff.id, recorded_at=now,
        status=DeathStatus.PENDING.value, frozen_account_id=_freeze_provisionally(conn, person_id, today),
        confirmed_by=None, confirmed_at=None, rejected_by=None, rejected_at=None, decision_note=None,
    )
    if earlier is None:
        conn.execute(insert(death_records).values(person_id=person_id, **values))
    else:
        # A rejected record is recorded anew, and its parts with it (the audit log keeps the old ones).
        conn.execute(update(death_records).where(death_records.c.person_id == person_id).values(**values))
        conn.execute(delete(case_participants).where(case_participants.c.case_kind == CaseKind.DEATH.value,
                                                     case_participants.c.case_id == person_id))
    four_eyes.prepared(conn, CaseKind.DEATH, person_id, staff.id, Part.RECORDED_DEATH, now, field="person_id")
    return DeathRecorded(DeathStatus.PENDING, stored.id)


def _freeze_provisionally(conn: Connection, person_id: int, today: date) -> int | None:
    """Freeze the person's active account; its id, to give it back if the record is rejected."""
    account_id = conn.execute(
        select(accounts.c.id).where(accounts.c.person_id == person_id, accounts.c.status == AccountStatus.ACTIVE.value)
    ).scalar()
    if account_id is not None:
        set_status(conn, account_id, AccountStatus.FROZEN, today)
    return account_id


def death_record(conn: Connection, person_id: int, staff: Actor, *, lock: bool = False):
    _person_for_staff(conn, person_id, staff)
    query = select(death_records).where(death_records.c.person_id == person_id)
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise NotFound("未找到该参保人的死亡登记", field="person_id", code="death_not_found")
    return row


def pending_deaths(conn: Connection, staff: Actor, limit: int = 200) -> list:
    """Deaths recorded and waiting for a second person, in the staff member's region, oldest first."""
    query = (
        select(death_records, persons.c.region_code)
        .join(persons, persons.c.id == death_records.c.person_id)
        .where(death_records.c.status == DeathStatus.PENDING.value)
        .order_by(death_records.c.recorded_at, death_records.c.person_id)
        .limit(limit)
    )
    query = query.where(staff.scope.limit(persons.c.region_code))
    return list(conn.execute(query).mappings())


def _pending(conn: Connection, person_id: int, staff: Actor):
    row = death_record(conn, person_id, staff, lock=True)
    if row["status"] != DeathStatus.PENDING.value:
        raise CaseConflict(
            f"该死亡登记已{DeathStatus(row['status']).label}，不能再复核", field="person_id", code="death_not_pending"
        )
    return row


def confirm_death(
    conn: Connection, book: PolicyBook, person_id: int, staff: Actor, *, note: str, today: date, now: datetime
) -> DeathRecorded:
    """A second staff member confirms the death: it takes effect and the heirs' case opens."""
    record = _pending(conn, person_id, staff)
    four_eyes.approved(conn, CaseKind.DEATH, person_id, staff.id, Part.CONFIRMED_DEATH, now, field="person_id")
    conn.execute(
        update(death_records).where(death_records.c.person_id == person_id)
        .values(status=DeathStatus.CONFIRMED.value, confirmed_by=staff.id, confirmed_at=now, decision_note=note)
    )
    conn.execute(update(persons).where(persons.c.id == person_id).values(died_on=record["died_on"]))
    _end_own_applications(conn, person_id)
    case_id, refusal = open_heirs_case(conn, book, person_id, today)
    return DeathRecorded(DeathStatus.CONFIRMED, record["document_id"], case_id, refusal)


def reject_death(conn: Connection, person_id: int, staff: Actor, *, note: str, today: date, now: datetime) -> DeathRecorded:
    """A second staff member finds the record wrong: the account is given back, nothing else changed."""
    record = _pending(conn, person_id, staff)
    four_eyes.approved(conn, CaseKind.DEATH, person_id, staff.id, Part.REJECTED_DEATH, now, field="person_id")
    conn.execute(
        update(death_records).where(death_records.c.person_id == person_id)
        .values(status=DeathStatus.REJECTED.value, rejected_by=staff.id, rejected_at=now, decision_note=note)
    )
    frozen = record["frozen_account_id"]
    if frozen is not None and conn.execute(
        select(accounts.c.status).where(accounts.c.id == frozen)
    ).scalar_one() == AccountStatus.FROZEN.value:
        set_status(conn, frozen, AccountStatus.ACTIVE, today)
    return DeathRecorded(DeathStatus.REJECTED, record["document_id"])


def _person_for_staff(conn: Connection, person_id: int, staff: Actor):
    person = conn.execute(
        select(persons.c.id, persons.c.region_code, persons.c.birth_date, persons.c.died_on).where(persons.c.id == person_id)
    ).mappings().first()
    if person is None or not staff.scope.covers(person["region_code"]):
        raise NotFound("未找到该参保人", field="person_id", code="person_not_found")
    return person


def _end_own_applications(conn: Connection, person_id: int) -> None:
    open_statuses = [status.value for status in CaseStatus if status.is_open]
    conn.execute(
        update(withdrawal_cases)
        .where(withdrawal_cases.c.person_id == person_id, withdrawal_cases.c.status.in_(open_statuses))
        .values(status=CaseStatus.REJECTED.value, decision_note="参保人身故，本人申请终止，余额按继承办理")
    )


def open_heirs_case(conn: Connection, book: PolicyBook, person_id: int, today: date):
    """Freeze the deceased's open account and open the heirs' case for it, with the death
    certificate on it and whoever recorded the death as one of its preparers (None and the
    rule when the region does not allow it; None, None when there is no open account, e.g.
    while a transfer between regions is in flight: the transfer-in opens it then)."""
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
    record = conn.execute(select(death_records).where(death_records.c.person_id == person_id)).mappings().one()
    case_id = open_case(
        conn, book, person_id=person_id, account_id=account.id, region_code=account.region_code, reason="death",
        applicant=Applicant.HEIR, on=today, created_by=f"staff:{record['recorded_by']}",
    )
    conn.execute(update(document_rows).where(document_rows.c.id == record["document_id"]).values(withdrawal_case_id=case_id))
    four_eyes.prepared(conn, CaseKind.WITHDRAWAL, case_id, record["recorded_by"], Part.RECORDED_DEATH,
                       record["recorded_at"], field="case_id")
    return case_id, None


def set_heirs(conn: Connection, case, listed: list[HeirInput], *, staff: Actor, today: date, now: datetime) -> None:
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
        bank = BankAccount.parse(heir.bank_name, heir.bank_account, heir.account_holder, payee_name=name, field=f"{where}.")
        fractions.append(share)
        rows.append({"case_id": case["id"], "name": name, "id_number": number,
                     "share_numerator": share.numerator, "share_denominator": share.denominator,
                     "insured_here": _insured_here(conn, number), "bank_name": bank.bank_name,
                     "bank_account": bank.number})
    shares.check_whole(fractions)
    four_eyes.prepared(conn, CaseKind.WITHDRAWAL, case["id"], staff.id, Part.NAMED_HEIRS, now, field="case_id")
    conn.execute(delete(heirs).where(heirs.c.case_id == case["id"]))
    conn.execute(insert(heirs), rows)


def _insured_here(conn: Connection, id_number: str) -> bool:
    """Whether the heir is among the insured persons here: information for staff, not a condition."""
    return conn.execute(select(persons.c.id).where(persons.c.id_number == id_number)).first() is not None
