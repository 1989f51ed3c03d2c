"""``/api/v1/staff/guardianships``: a minor's guardians, confirmed by agency staff at the counter.

Staff record what they saw (户口簿, 出生医学证明, a court or committee decision …) with a
reason; every call is audited for the minor and the guardian. Staff limited to a pooling
region work only on minors insured there (others are "not found"). Only a confirmed,
current guardianship lets a holder bind a minor for family sharing and consent for them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import Connection, select

from yibao.errors import NotFound
from yibao.family import guardianships
from yibao.security import audit
from yibao.security.context import as_utc
from yibao.security.permissions import Permission
from yibao.security.principal import Principal
from yibao.store.models import GUARDIAN_RELATIONS, persons
from yibao.web.api import reads
from yibao.web.api.reason import Reason as ReadReason
from yibao.web.api.schemas import Id, error_responses
from yibao.web.api.staff import in_region
from yibao.web.deps import StaffPermission, client_address, get_engine, get_security

guardian_staff = StaffPermission(Permission.GUARDIAN_CONFIRM)

router = APIRouter(
    prefix="/api/v1/staff/guardianships", tags=["经办人员 / agency staff"],
    responses=error_responses(401, 403, 404, 409, 422, 429),
)
GuardianRelation = StrEnum("GuardianRelation", {relation: relation for relation in GUARDIAN_RELATIONS})
Reason = Annotated[str, Field(min_length=2, max_length=200, description="办理事由（必填，记入审计日志）")]


class GuardianshipRequest(BaseModel):
    minor_person_id: Id = Field(description="未成年人的参保人编号")
    guardian_person_id: Id = Field(description="监护人的参保人编号")
    relation: GuardianRelation = Field(
        description="监护人是未成年人的：parent 父母、grandparent 祖父母/外祖父母、sibling 兄弟姐妹、other 其他（经指定）"
    )
    evidence: str = Field(min_length=2, max_length=200, description="核验的证明材料及编号（如户口簿、出生医学证明、指定监护文书）")
    reason: Reason


class EndRequest(BaseModel):
    reason: Reason


class GuardianshipView(BaseModel):
    guardianship_id: int
    minor_person_id: int
    guardian_person_id: int
    guardian_name_masked: str
    relation: str
    relation_label: str
    evidence: str
    confirmed_by: int = Field(description="确认的经办人员编号")
    confirmed_at: datetime
    ended_at: datetime | None
    current: bool


class Guardians(BaseModel):
    minor_person_id: int
    guardianships: list[GuardianshipView] = Field(description="当前的在前，已终止的在后")


@router.post("", summary="确认未成年人的监护关系（须核验证明材料并填写事由）", response_model=GuardianshipView, status_code=201)
def confirm(body: GuardianshipRequest, request: Request, principal: Principal = Depends(guardian_staff)) -> GuardianshipView:
    sec = get_security(request)
    now = sec.now()
    with get_engine(request).begin() as conn:
        _minor_in_region(conn, principal, body.minor_person_id)
        guardianship = guardianships.confirm(
            conn, minor_id=body.minor_person_id, guardian_id=body.guardian_person_id, relation=body.relation.value,
            evidence=body.evidence, staff_id=principal.subject_id, now=now, today=sec.clock.today(),
        )
        _audit(conn, request, principal, "staff.guardianship.confirmed", guardianship, body.reason, now)
        return _view(conn, guardianship)


@router.get("", summary="未成年人的监护人（须填写事由）", response_model=Guardians)
def guardians_of(
    request: Request,
    reason: ReadReason,
    minor_person_id: int = Query(ge=1, le=reads.MAX_ID),
    principal: Principal = Depends(guardian_staff),
) -> Guardians:
    sec = get_security(request)
    with get_engine(request).begin() as conn:
        _minor_in_region(conn, principal, minor_person_id)
        audit.record(
            conn, actor=principal, action="staff.guardianship.list", at=sec.now(), subject_person_id=minor_person_id,
            reason=reason, client=client_address(request),
        )
        found = guardianships.of_minor(conn, minor_person_id)
        return Guardians(minor_person_id=minor_person_id, guardianships=[_view(conn, item) for item in found])


@router.post("/{guardianship_id}/end", summary="终止监护关系（该监护人为其办理的家庭共济绑定随之解除）", response_model=GuardianshipView)
def end(
    body: EndRequest, request: Request, guardianship_id: int = Path(ge=1, le=reads.MAX_ID),
    principal: Principal = Depends(guardian_staff),
) -> GuardianshipView:
    sec = get_security(request)
    now = sec.now()
    with get_engine(request).begin() as conn:
        current = guardianships.get(conn, guardianship_id)
        if not _in_region(conn, principal, current.minor_person_id):
            raise guardianships.GuardianshipNotFound(field="guardianship_id")
        ended = guardianships.end(conn, guardianship_id=guardianship_id, staff_id=principal.subject_id, now=now)
        _audit(conn, request, principal, "staff.guardianship.ended", ended, body.reason, now)
        return _view(conn, ended)


def _minor_in_region(conn: Connection, principal: Principal, minor_id: int) -> None:
    if not _in_region(conn, principal, minor_id):
        raise NotFound("未找到该参保人", field="minor_person_id", code="person_not_found")


def _in_region(conn: Connection, principal: Principal, person_id: int) -> bool:
    region = conn.execute(select(persons.c.region_code).where(persons.c.id == person_id)).scalar()
    return region is not None and in_region(principal, region)


def _audit(conn, request: Request, principal: Principal, action: str, item: guardianships.Guardianship, reason: str, now) -> None:
    for subject in (item.minor_person_id, item.guardian_person_id):
        audit.record(
            conn, actor=principal, action=action, at=now, subject_person_id=subject, reason=reason,
            client=client_address(request), detail={"guardianship_id": item.id, "relation": item.relation},
        )


def _view(conn, item: guardianships.Guardianship) -> GuardianshipView:
    name = conn.execute(select(persons.c.name).where(persons.c.id == item.guardian_person_id)).scalar_one()
    return GuardianshipView(
        guardianship_id=item.id, minor_person_id=item.minor_person_id, guardian_person_id=item.guardian_person_id,
        guardian_name_masked=reads.mask_name(name), relation=item.relation,
        relation_label=guardianships.RELATION_LABELS[item.relation], evidence=item.evidence, confirmed_by=item.confirmed_by,
        confirmed_at=as_utc(item.confirmed_at), ended_at=as_utc(item.ended_at) if item.ended_at else None,
        current=item.ended_at is None,
    )
