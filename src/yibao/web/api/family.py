"""``/api/v1/me/family``: family sharing (家庭共济) for the signed-in person, in both directions.

The holder binds a close relative by ID number and relation; the relative consents in
their own session (a minor's guardian — the holder, with a guardianship confirmed at the
agency counter — consents for them); either side ends it. The holder may pay a bound
relative's residents'-insurance premium. Only the person's own full session may do this: no
third-party app can bind, consent or pay.

A request answers the same whether or not the ID number is an insured person's; the holder
sees the relative's name only after the relative consented. When a guardian binds a minor or
pays for them, the minor's other guardians are told (a notification and an SMS).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from yibao.domain.money import Money
from yibao.family import service
from yibao.policy.rules import FAMILY_RELATIONS
from yibao.security.principal import Principal
from yibao.web.api import reads
from yibao.web.api.schemas import error_responses
from yibao.web.deps import client_address, get_engine, get_security, own_session, policy_book

router = APIRouter(
    prefix="/api/v1/me/family", tags=["家庭共济 / family sharing"], responses=error_responses(401, 403, 422, 429)
)

Relation = StrEnum("Relation", {relation: relation for relation in FAMILY_RELATIONS})
BINDING_ID = Path(ge=1, le=reads.MAX_ID, description="绑定编号")


class BindingRequest(BaseModel):
    id_number: str = Field(min_length=1, max_length=40, description="亲属的身份证号码")
    relation: Relation = Field(
        description="亲属是您的：spouse 配偶、parent 父母、child 子女、sibling 兄弟姐妹、grandparent 祖父母/外祖父母、"
        "grandchild 孙子女/外孙子女（可绑定范围以当日有效的政策为准）"
    )


class BindingView(BaseModel):
    binding_id: int
    role: str = Field(description="holder：我出钱共济；member：我被共济")
    role_label: str
    other_name_masked: str | None = Field(description="对方姓名（脱敏）；亲属同意前不显示")
    other_id_number_masked: str | None = Field(description="亲属同意前：您填写的亲属身份证号（脱敏）；同意后显示姓名")
    relation: str = Field(description="对方是我的什么人")
    relation_label: str
    status: str
    status_label: str
    created_at: datetime
    consented_at: datetime | None
    consented_by: str | None
    consented_by_label: str | None
    ended_at: datetime | None


class Bindings(BaseModel):
    as_holder: list[BindingView] = Field(description="我的账户共济给亲属")
    as_member: list[BindingView] = Field(description="亲属的账户共济给我")


class PremiumRequest(BaseModel):
    year: int = Field(ge=2000, le=2100, strict=True, description="缴费所属年度")


class PremiumAnswer(BaseModel):
    binding_id: int
    year: int
    amount_fen: int
    amount: str
    transaction_id: int
    business_date: date
    rule_id: str | None = Field(description="决定金额的政策取值 / the policy value that set the amount")


def _view(seen: service.BindingSeen) -> BindingView:
    return BindingView.model_validate(seen, from_attributes=True)


def _acting(request: Request, principal: Principal) -> service.Acting:
    return service.Acting(principal, client_address(request))


@router.get("", summary="我的家庭共济绑定（双向）", response_model=Bindings)
def my_bindings(request: Request, principal: Principal = Depends(own_session)) -> Bindings:
    with get_engine(request).connect() as conn:
        views = [_view(seen) for seen in service.bindings_of(conn, principal.person_id, get_security(request).clock.today())]
    return Bindings(
        as_holder=[view for view in views if view.role == "holder"],
        as_member=[view for view in views if view.role == "member"],
    )


@router.post(
    "", summary="绑定近亲属（等待亲属确认）", response_model=BindingView, status_code=201,
    responses=error_responses(404, 409),
)
def bind_relative(body: BindingRequest, request: Request, principal: Principal = Depends(own_session)) -> BindingView:
    seen = service.bind(
        get_engine(request), get_security(request), policy_book(request), _acting(request, principal),
        id_number=body.id_number, relation=body.relation.value,
    )
    return _view(seen)


@router.post(
    "/{binding_id}/consent", summary="确认家庭共济绑定（亲属本人；未成年人由监护人确认）", response_model=BindingView,
    responses=error_responses(404, 409),
)
def consent(request: Request, binding_id: int = BINDING_ID, principal: Principal = Depends(own_session)) -> BindingView:
    return _view(service.consent(get_engine(request), get_security(request), _acting(request, principal), binding_id))


@router.post(
    "/{binding_id}/end", summary="解除家庭共济绑定（任一方均可）", response_model=BindingView, responses=error_responses(404)
)
def end(request: Request, binding_id: int = BINDING_ID, principal: Principal = Depends(own_session)) -> BindingView:
    return _view(service.end(get_engine(request), get_security(request), _acting(request, principal), binding_id))


@router.post(
    "/{binding_id}/premium", summary="用我的个人账户为亲属代缴城乡居民医保个人缴费", response_model=PremiumAnswer,
    responses=error_responses(404, 409),
)
def pay_premium(
    body: PremiumRequest, request: Request, binding_id: int = BINDING_ID, principal: Principal = Depends(own_session)
) -> PremiumAnswer:
    paid = service.pay_premium(
        get_engine(request), get_security(request), policy_book(request), _acting(request, principal), binding_id, body.year
    )
    return PremiumAnswer(
        binding_id=paid.binding_id, year=paid.year, amount_fen=paid.amount_fen, amount=Money(paid.amount_fen).format(),
        transaction_id=paid.transaction_id, business_date=paid.business_date, rule_id=paid.rule_id,
    )
