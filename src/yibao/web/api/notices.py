"""``/api/v1/me/notifications``: what the person was told (a minor's guardians: another guardian's binding or payment)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from yibao import notifications
from yibao.security.context import as_utc
from yibao.security.principal import Principal
from yibao.web.api.schemas import error_responses
from yibao.web.deps import get_engine, own_session

router = APIRouter(prefix="/api/v1/me/notifications", tags=["本人 / the signed-in person"], responses=error_responses(401, 403, 429))


class Notification(BaseModel):
    notification_id: int
    kind: str
    text: str
    created_at: datetime


class Notifications(BaseModel):
    notifications: list[Notification]


@router.get("", summary="我的通知（最近50条）", response_model=Notifications)
def my_notifications(request: Request, principal: Principal = Depends(own_session)) -> Notifications:
    with get_engine(request).connect() as conn:
        rows = notifications.for_person(conn, principal.person_id)
    return Notifications(notifications=[
        Notification(notification_id=row["id"], kind=row["kind"], text=row["text"], created_at=as_utc(row["created_at"]))
        for row in rows
    ])
