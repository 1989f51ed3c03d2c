"""Four eyes (双人复核) on every staff action that moves money: one rule, in one place.

Each staff member's part in a money case is recorded: preparing it (entering a refund,
recording a death, naming heirs, uploading a document, submitting, refusing a balance at
transfer-in) or approving it (an approval, a second approval, confirming or rejecting a death).
Nobody approves a case they prepared or approved before. The database backs this up: one row
per staff member and case (unique key), with one side, so a second side for the same person
cannot be written even by code that forgot to ask.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from yibao.errors import YibaoError
from yibao.store.models import case_participants


class CaseKind(StrEnum):
    WITHDRAWAL = "withdrawal"  # withdrawal_cases.id: a person's own, a refused balance, the heirs'
    REFUND = "refund"  # emergency_refunds.id
    DEATH = "death"  # death_records.person_id


class Part(StrEnum):
    # Preparing
    ENTERED = "entered"
    RECORDED_DEATH = "recorded_death"
    NAMED_HEIRS = "named_heirs"
    UPLOADED_DOCUMENT = "uploaded_document"
    SUBMITTED = "submitted"
    REFUSED_BALANCE = "refused_balance"
    # Approving
    FIRST_APPROVAL = "first_approval"
    SECOND_APPROVAL = "second_approval"
    CONFIRMED_DEATH = "confirmed_death"
    REJECTED_DEATH = "rejected_death"

    @property
    def side(self) -> str:
        return "approve" if self in _APPROVING else "prepare"

    @property
    def label(self) -> str:
        return _LABELS[self]


_APPROVING = {Part.FIRST_APPROVAL, Part.SECOND_APPROVAL, Part.CONFIRMED_DEATH, Part.REJECTED_DEATH}
_LABELS = {
    Part.ENTERED: "登记", Part.RECORDED_DEATH: "登记死亡信息", Part.NAMED_HEIRS: "登记继承人",
    Part.UPLOADED_DOCUMENT: "上传材料", Part.SUBMITTED: "提交审批", Part.REFUSED_BALANCE: "办理转入时不接收余额",
    Part.FIRST_APPROVAL: "审批", Part.SECOND_APPROVAL: "复核", Part.CONFIRMED_DEATH: "复核死亡信息",
    Part.REJECTED_DEATH: "复核死亡信息",
}


class FourEyes(YibaoError):
    """The same staff member would both prepare and approve, or approve twice (HTTP 409)."""

    code = "four_eyes"
    default_message = "涉及资金的业务须由两人办理：经办（登记、上传材料等）和审批不能是同一人"


def parts_of(conn: Connection, kind: CaseKind, case_id: int, staff_id: int):
    return conn.execute(
        select(case_participants.c.side, case_participants.c.parts).where(
            case_participants.c.case_kind == kind.value, case_participants.c.case_id == case_id,
            case_participants.c.staff_id == staff_id,
        )
    ).first()


def prepared(conn: Connection, kind: CaseKind, case_id: int, staff_id: int, part: Part, at: datetime, *, field: str) -> None:
    """Record that ``staff_id`` prepared the case; refused if they already approved it."""
    assert part.side == "prepare"
    found = parts_of(conn, kind, case_id, staff_id)
    if found is None:
        _insert(conn, kind, case_id, staff_id, part, at, field=field)
        return
    if found.side != "prepare":
        raise FourEyes(f"您已审批过此业务，不能再{part.label}", field=field)
    if part.value not in found.parts:
        conn.execute(
            update(case_participants)
            .where(case_participants.c.case_kind == kind.value, case_participants.c.case_id == case_id,
                   case_participants.c.staff_id == staff_id)
            .values(parts=[*found.parts, part.value], last_at=at)
        )


def approved(conn: Connection, kind: CaseKind, case_id: int, staff_id: int, part: Part, at: datetime, *, field: str) -> None:
    """Record an approval by ``staff_id``; refused if they took any part in the case before."""
    assert part.side == "approve"
    found = parts_of(conn, kind, case_id, staff_id)
    if found is not None:
        raise FourEyes(_refusal(found), field=field)
    _insert(conn, kind, case_id, staff_id, part, at, field=field)


def _refusal(found) -> str:
    done = "、".join(dict.fromkeys(Part(part).label for part in found.parts))
    if found.side == "approve":
        return f"您已{done}过此业务，须由另一位工作人员审批；同一人不能审批两次"
    return f"您在此业务中办理了{done}，须由另一位工作人员审批；同一人不能既经办又审批"


def _insert(conn: Connection, kind: CaseKind, case_id: int, staff_id: int, part: Part, at: datetime, *, field: str) -> None:
    try:
        with conn.begin_nested():
            conn.execute(
                insert(case_participants).values(
                    case_kind=kind.value, case_id=case_id, staff_id=staff_id, side=part.side, parts=[part.value],
                    first_at=at, last_at=at,
                )
            )
    except IntegrityError as error:  # the same person, at the same moment, on the other side
        raise FourEyes(field=field) from error
