"""Out-of-area care filing (异地就医备案): the person's own filings through the API.

The person (own full session only, never an app) files, lists, changes and cancels; staff
confirm or reject at the workbench (``web.counter.filings``). Someone else's filing is
"not found". Every change is audited under the person's own actions.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from yibao.filings import service
from yibao.filings.display import describe
from yibao.filings.service import Actor, FilingInput
from yibao.security.principal import Principal
from yibao.web.api.reads import MAX_ID
from yibao.web.api.schemas import IsoDate, error_responses
from yibao.web.api.withdrawals import audit_action, today_of
from yibao.web.deps import get_engine, get_security, own_session, policy_book

TAG = "异地就医备案 / out-of-area care filing"
router = APIRouter(prefix="/api/v1/me/filings", tags=[TAG], responses=error_responses(401, 403, 404, 409, 422, 429))
FilingId = Annotated[int, Path(ge=1, le=MAX_ID)]


class FilingBody(BaseModel):
    kind: str = Field(min_length=1, max_length=16, description="备案类型：取自 kinds 的 key（long_term 长期异地居住，temporary 临时外出就医）")
    place: str = Field(min_length=6, max_length=6, description="备案地（就医地）6位行政区划代码，不能是本人参保的统筹区")
    reason: str = Field(min_length=1, max_length=32, description="备案原因：取自所选类型 reasons 的 key")
    starts_on: IsoDate = Field(description="开始日期（不早于今天）")
    ends_on: IsoDate | None = Field(None, description="结束日期：临时外出就医必填（不少于规定月数）；长期异地居住不填")

    def typed(self) -> FilingInput:
        return FilingInput(self.kind, self.place, self.reason, self.starts_on, self.ends_on)


class FilingView(BaseModel):
    id: int
    kind: str
    kind_label: str
    place_code: str
    place_name: str
    reason: str
    reason_label: str
    starts_on: date
    ends_on: date | None
    status: str
    status_label: str = Field(description="待确认 / 已生效 / 已到期 / 已变更 / 已取消 / 未通过")
    validity: str
    in_force: bool
    open: bool = Field(description="还可以变更或取消")
    required_documents: list[str]
    decision_note: str | None
    replaces_id: int | None = Field(description="变更前的备案")


class ReasonView(BaseModel):
    key: str
    name: str


class KindView(BaseModel):
    key: str
    name: str
    until_cancelled: bool
    minimum_months: int | None
    reasons: list[ReasonView]
    documents: list[str]


class FilingList(BaseModel):
    items: list[FilingView]
    kinds: list[KindView] = Field(description="本人参保地的备案类型、原因与所需材料（政策数据）")
    needs_confirmation: bool = Field(description="备案须经办机构确认后生效")


def filing_view(request: Request, row) -> FilingView:
    line = describe(policy_book(request), row, today_of(request))
    return FilingView(**{**line.__dict__, "required_documents": list(line.required_documents)})


@router.get("", summary="本人的异地就医备案及可办理的类型", response_model=FilingList)
def my_filings(request: Request, principal: Principal = Depends(own_session)) -> FilingList:
    with get_engine(request).connect() as conn:
        rows = service.filings_of(conn, principal.person_id)
        rules = service.rules_for(policy_book(request), conn, principal.person_id, today_of(request))
    kinds = [KindView(key=kind.key, name=kind.name, until_cancelled=kind.until_cancelled, minimum_months=kind.minimum_months,
                      reasons=[ReasonView(key=r.key, name=r.name) for r in kind.reasons], documents=list(kind.documents))
             for kind in rules.kinds]
    return FilingList(items=[filing_view(request, row) for row in rows], kinds=kinds,
                      needs_confirmation=rules.needs_confirmation)


@router.post("", summary="办理异地就医备案", response_model=FilingView, status_code=201)
def file_filing(body: FilingBody, request: Request, principal: Principal = Depends(own_session)) -> FilingView:
    with get_engine(request).begin() as conn:
        filing_id = service.file(conn, policy_book(request), person_id=principal.person_id, typed=body.typed(),
                                 today=today_of(request), actor=Actor("person", principal.person_id),
                                 now=get_security(request).now())
        audit_action(conn, request, principal, "filing.file", person_id=principal.person_id, reason=None,
                     detail={"filing_id": filing_id, "place": body.place})
        return filing_view(request, service.visible_filing(conn, filing_id, Actor("person", principal.person_id)))


@router.post("/{filing_id}/change", summary="变更备案（原备案记为已变更，新备案重新确认）", response_model=FilingView,
             status_code=201)
def change_filing(filing_id: FilingId, body: FilingBody, request: Request,
                  principal: Principal = Depends(own_session)) -> FilingView:
    actor = Actor("person", principal.person_id)
    with get_engine(request).begin() as conn:
        row = service.visible_filing(conn, filing_id, actor, lock=True)
        new_id = service.change(conn, policy_book(request), row, typed=body.typed(), today=today_of(request), actor=actor,
                                now=get_security(request).now())
        audit_action(conn, request, principal, "filing.change", person_id=principal.person_id, reason=None,
                     detail={"filing_id": new_id, "replaces_id": filing_id, "place": body.place})
        return filing_view(request, service.visible_filing(conn, new_id, actor))


@router.post("/{filing_id}/cancel", summary="取消备案", response_model=FilingView)
def cancel_filing(filing_id: FilingId, request: Request, principal: Principal = Depends(own_session)) -> FilingView:
    actor = Actor("person", principal.person_id)
    with get_engine(request).begin() as conn:
        row = service.visible_filing(conn, filing_id, actor, lock=True)
        service.cancel(conn, row, today=today_of(request))
        audit_action(conn, request, principal, "filing.cancel", person_id=principal.person_id, reason=None,
                     detail={"filing_id": filing_id})
        return filing_view(request, service.visible_filing(conn, filing_id, actor))
