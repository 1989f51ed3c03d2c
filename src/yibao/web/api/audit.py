"""The audit log, read by auditors (staff with the auditor role). Reading it is audited too."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from fastapi import APIRouter, Depends, Query, Request

from yibao.clock import CHINA
from yibao.security import audit
from yibao.security.context import as_utc
from yibao.security.permissions import Permission
from yibao.security.principal import Principal
from yibao.web.api import reads
from yibao.web.api.schemas import AuditEntryView, AuditPage, IsoDate, error_responses
from yibao.web.deps import StaffPermission, client_address, get_engine, get_security

router = APIRouter(prefix="/api/v1/audit", tags=["审计 / audit"], responses=error_responses(401, 403, 422, 429))


def _start_of(day: date | None) -> datetime | None:
    """Midnight in China (where the agencies work) as UTC; dates outside any log are no bound."""
    if day is None or not EARLIEST <= day <= LATEST:
        return None
    return datetime.combine(day, time(), CHINA).astimezone(timezone.utc)


EARLIEST, LATEST = date(1900, 1, 1), date(9000, 1, 1)


@router.get("", summary="查询审计日志", response_model=AuditPage)
def read_audit_log(
    request: Request,
    principal: Principal = Depends(StaffPermission(Permission.AUDIT_VIEW)),
    subject_person_id: int | None = Query(None, ge=1, le=reads.MAX_ID, description="被查询的参保人"),
    actor_kind: str | None = Query(None, max_length=16, description="person / staff / third_party / institution"),
    actor_id: str | None = Query(None, max_length=64),
    action: str | None = Query(None, max_length=64),
    date_from: IsoDate | None = Query(None, description="开始日期（含，北京时间）"),
    date_to: IsoDate | None = Query(None, description="结束日期（含，北京时间）"),
    page: int = Query(1, ge=1, le=100_000),
    page_size: int = Query(50, ge=1, le=reads.MAX_PAGE_SIZE),
) -> AuditPage:
    reads.check_range(date_from, date_to)
    where = audit.AuditFilter(
        subject_person_id=subject_person_id, actor_kind=actor_kind, actor_id=actor_id, action=action,
        since=_start_of(date_from), until=_start_of(date_to + timedelta(days=1)) if date_to and date_to < LATEST else None,
    )
    with get_engine(request).begin() as conn:
        total, rows = audit.read(conn, where, offset=(page - 1) * page_size, limit=page_size)
        audit.record(
            conn, actor=principal, action="audit.read", at=get_security(request).now(), subject_person_id=subject_person_id,
            client=client_address(request),
        )
    items = [AuditEntryView(**(row | {"at": as_utc(row["at"])})) for row in rows]
    return AuditPage(items=items, total=total, page=page, page_size=page_size)
