"""Agency staff: sign-in, finding a person (a stated reason is required and audited), their views.

Every request about a person carries a reason (the search in its body, the views in header
``X-Yibao-Reason``, see ``reason.py``); each is written to the audit log with the
staff member, the person, the action, the time and the client address. Staff limited to a
pooling region see only people insured there (others are "not found").
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import Engine, select

from yibao.domain.card import CardNumber
from yibao.errors import InvalidInput, NotFound
from yibao.ledger.kinds import TxKind
from yibao.security import audit
from yibao.security.context import Security
from yibao.security.permissions import Permission
from yibao.security.principal import Principal
from yibao.security.signin import parse_id_number
from yibao.security.staff import sign_in_staff
from yibao.statements import check_owner, validate_period
from yibao.store.models import persons
from yibao.web.api import reads, statements
from yibao.web.api.auth import token_answer
from yibao.web.api.reason import Reason
from yibao.web.api.schemas import (
    Accounts,
    ContributionPage,
    DetailPage,
    IsoDate,
    PersonRef,
    StaffProfile,
    TokenAnswer,
    error_responses,
)
from yibao.web.deps import StaffPermission, client_address, get_engine, get_security

router = APIRouter(prefix="/api/v1/staff", tags=["经办人员 / agency staff"])
agent = StaffPermission(Permission.PERSON_VIEW)
statement_printer = StaffPermission(Permission.STATEMENT_PRINT)
person_views = APIRouter(
    prefix="/api/v1/staff/persons", tags=["经办人员 / agency staff"], responses=error_responses(401, 403, 404, 422, 429)
)
PersonId = Annotated[int, Path(ge=1, le=reads.MAX_ID)]


class StaffLogin(BaseModel):
    username: str = Field(min_length=1, max_length=40)
    password: str = Field(min_length=1, max_length=64)


class PersonSearch(BaseModel):
    id_number: str | None = Field(None, max_length=40, description="身份证号码（与社保卡号二选一）")
    card_number: str | None = Field(None, max_length=20, description="社会保障卡卡号")
    reason: str = Field(min_length=2, max_length=200, description="查询事由（必填，记入审计日志）")


@router.post("/login", summary="经办人员登录", response_model=TokenAnswer, responses=error_responses(401, 422, 423, 429))
def staff_login(body: StaffLogin, request: Request) -> TokenAnswer:
    signed = sign_in_staff(
        get_engine(request), get_security(request), username=body.username, password=body.password, client=client_address(request)
    )
    return token_answer(request, signed)


@router.post(
    "/persons/search",
    summary="按身份证号或社保卡号查找参保人（须填写事由）",
    response_model=PersonRef,
    responses=error_responses(401, 403, 404, 422, 429),
)
def search_person(body: PersonSearch, request: Request, principal: Principal = Depends(agent)) -> PersonRef:
    """POST, not GET: an ID number never goes into a URL (URLs end up in logs)."""
    row = find_person(
        get_engine(request), get_security(request), principal, id_number=body.id_number, card_number=body.card_number,
        reason=body.reason, client=client_address(request),
    )
    return PersonRef(
        person_id=row["id"], name=row["name"], id_number=row["id_number"], card_number=row["card_number"],
        region_code=row["region_code"],
    )


# The functions below are shared by the API and the agency counter pages, so that both find,
# scope and audit a person in exactly the same way.


def find_person(
    engine: Engine, sec: Security, principal: Principal, *, id_number: str | None, card_number: str | None,
    reason: str, client: str | None, detail: dict | None = None,
):
    """The person with this ID or card number in the staff member's region; the search is audited either way."""
    condition, by = search_condition(sec, id_number=id_number, card_number=card_number)
    with engine.begin() as conn:
        row = conn.execute(select(persons).where(condition)).mappings().first()
        if row is not None and not in_region(principal, row["region_code"]):
            row = None
        audit.record(
            conn, actor=principal, action="staff.person.search", at=sec.now(),
            subject_person_id=row["id"] if row else None, reason=reason, client=client,
            detail={"by": by, "found": row is not None, **(detail or {})},
        )
    if row is None:
        raise NotFound("未找到该参保人", field=by, code="person_not_found")
    return row


def search_condition(sec: Security, *, id_number: str | None, card_number: str | None):
    if bool(id_number) == bool(card_number):
        raise InvalidInput("请填写身份证号码或社保卡卡号（二选一）", field="id_number", code="search_key_required")
    if id_number:
        return persons.c.id_number == parse_id_number(sec, id_number).full, "id_number"
    return persons.c.card_number == CardNumber.parse(card_number).value, "card_number"


def in_region(principal: Principal, region_code: str) -> bool:
    return principal.scope.covers(region_code)


def open_person(
    engine: Engine, sec: Security, principal: Principal, person_id: int, *, reason: str | None, action: str,
    client: str | None, detail: dict | None = None,
) -> None:
    """Check the person exists and is in the staff member's region, and audit the access."""
    with engine.begin() as conn:
        region = conn.execute(select(persons.c.region_code).where(persons.c.id == person_id)).scalar()
        if region is None or not in_region(principal, region):
            raise NotFound("未找到该参保人", field="person_id", code="person_not_found")
        audit.record(
            conn, actor=principal, action=action, at=sec.now(), subject_person_id=person_id,
            reason=reason, client=client, detail=detail,
        )


def _open_person(request: Request, principal: Principal, person_id: int, reason: str, action: str, detail: dict | None = None):
    open_person(
        get_engine(request), get_security(request), principal, person_id, reason=reason, action=action,
        client=client_address(request), detail=detail,
    )


@person_views.get("/{person_id}", summary="参保人基本信息（完整证件号）", response_model=StaffProfile)
def person_profile(
    request: Request, person_id: PersonId, principal: Principal = Depends(agent), *, reason: Reason
) -> StaffProfile:
    _open_person(request, principal, person_id, reason, "staff.person.profile")
    with get_engine(request).connect() as conn:
        return reads.staff_profile(conn, person_id)


@person_views.get("/{person_id}/accounts", summary="参保人个人账户及余额", response_model=Accounts)
def person_accounts(
    request: Request, person_id: PersonId, principal: Principal = Depends(agent), *, reason: Reason
) -> Accounts:
    _open_person(request, principal, person_id, reason, "staff.person.accounts")
    with get_engine(request).connect() as conn:
        return reads.account_list(conn, person_id)


@person_views.get("/{person_id}/details", summary="参保人收支明细", response_model=DetailPage)
def person_details(
    request: Request,
    person_id: PersonId,
    principal: Principal = Depends(agent),
    *,
    reason: Reason,
    account_id: int | None = Query(None, ge=1, le=reads.MAX_ID),
    date_from: IsoDate | None = Query(None),
    date_to: IsoDate | None = Query(None),
    kind: TxKind | None = Query(None),
    page: int = Query(1, ge=1, le=100_000),
    page_size: int = Query(20, ge=1, le=reads.MAX_PAGE_SIZE),
) -> DetailPage:
    filters = {"date_from": date_from and date_from.isoformat(), "date_to": date_to and date_to.isoformat(), "kind": kind and kind.value}
    _open_person(request, principal, person_id, reason, "staff.person.details", filters)
    with get_engine(request).connect() as conn:
        return reads.details(
            conn, person_id, account_id=account_id, date_from=date_from, date_to=date_to, kind=kind, page=page, page_size=page_size
        )


@person_views.get("/{person_id}/contributions", summary="参保人缴费记录", response_model=ContributionPage)
def person_contributions(
    request: Request,
    person_id: PersonId,
    principal: Principal = Depends(agent),
    *,
    reason: Reason,
    month_from: IsoDate | None = Query(None),
    month_to: IsoDate | None = Query(None),
    page: int = Query(1, ge=1, le=100_000),
    page_size: int = Query(24, ge=1, le=reads.MAX_PAGE_SIZE),
) -> ContributionPage:
    _open_person(request, principal, person_id, reason, "staff.person.contributions")
    with get_engine(request).connect() as conn:
        return reads.contribution_page(conn, person_id, month_from=month_from, month_to=month_to, page=page, page_size=page_size)


@person_views.get(
    "/{person_id}/statement", summary="打印参保人个人账户对账单（PDF）", response_class=Response,
    responses=statements.PDF_RESPONSE,
)
def person_statement(
    request: Request,
    person_id: PersonId,
    account_id: statements.AccountId,
    date_from: statements.DateFrom,
    date_to: statements.DateTo,
    principal: Principal = Depends(statement_printer),
    *,
    reason: Reason,
) -> Response:
    validate_period(date_from, date_to)  # bad input is refused before anything is opened or audited
    period = {"account_id": account_id, "date_from": date_from.isoformat(), "date_to": date_to.isoformat()}
    _open_person(request, principal, person_id, reason, "staff.person.statement", period)
    with get_engine(request).connect() as conn:
        check_owner(conn, account_id=account_id, person_id=person_id)
        return statements.pdf_download(request, conn, account_id=account_id, date_from=date_from, date_to=date_to)
