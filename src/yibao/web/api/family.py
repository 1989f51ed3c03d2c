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
from sqlalchemy import select

from yibao.domain.money import Money
from yibao.domain.resident_id import ResidentId
from yibao import notifications
from yibao.family import bindings, guardianships, premium
from yibao.family.relations import label
from yibao.policy.loading import load_book
from yibao.policy.parameters import PolicyBook
from yibao.policy.rules import FAMILY_RELATIONS
from yibao.security import audit
from yibao.security.context import as_utc
from yibao.security.principal import Principal
from yibao.store.models import persons
from yibao.web.api import reads
from yibao.web.api.schemas import error_responses
from yibao.web.deps import client_address, get_engine, get_security, own_session

router = APIRouter(
    prefix="/api/v1/me/family", tags=["家庭共济 / family sharing"], responses=error_responses(401, 403, 422, 429)
)

Relation = StrEnum("Relation", {relation: relation for relation in FAMILY_RELATIONS})
BINDING_ID = Path(ge=1, le=reads.MAX_ID, description="绑定编号")
ROLE_LABELS = {"holder": "我是共济账户持有人", "member": "我是被共济的亲属"}
CONSENT_LABELS = {"member": "亲属本人确认", "guardian": "监护人代为确认"}


def policy_book(request: Request) -> PolicyBook:
    """The shipped policy data, unless the application was given another book (tests, previews)."""
    return getattr(request.app.state, "policy_book", None) or load_book()


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


def _view(conn, binding: bindings.Binding, viewer: int) -> BindingView:
    """The holder sees the relative by the masked ID number they gave, and by name once the relative consented."""
    role, relation = binding.role_of(viewer), binding.relation_seen_by(viewer)
    named = role == "member" or binding.consented_at is not None
    name = conn.execute(select(persons.c.name).where(persons.c.id == binding.other_than(viewer))).scalar() if named else None
    status_label = (
        bindings.REQUEST_SENT if role == "holder" and binding.status == bindings.PENDING
        else bindings.STATUS_LABELS[binding.status]
    )
    return BindingView(
        binding_id=binding.id, role=role, role_label=ROLE_LABELS[role],
        other_name_masked=reads.mask_name(name) if name else None,
        other_id_number_masked=None if named else ResidentId(binding.member_id_number).masked,
        relation=relation, relation_label=label(relation), status=binding.status, status_label=status_label, created_at=as_utc(binding.created_at),
        consented_at=_utc(binding.consented_at), consented_by=binding.consented_by,
        consented_by_label=CONSENT_LABELS.get(binding.consented_by or ""), ended_at=_utc(binding.ended_at),
    )


def _utc(moment: datetime | None) -> datetime | None:
    return as_utc(moment) if moment is not None else None


def _audit(conn, request: Request, principal: Principal, action: str, binding: bindings.Binding, now: datetime, **detail) -> None:
    audit.record(
        conn, actor=principal, action=action, at=now, subject_person_id=binding.other_than(principal.person_id),
        client=client_address(request), detail={"binding_id": binding.id, **detail},
    )


@router.get("", summary="我的家庭共济绑定（双向）", response_model=Bindings)
def my_bindings(request: Request, principal: Principal = Depends(own_session)) -> Bindings:
    with get_engine(request).connect() as conn:
        views = [_view(conn, binding, principal.person_id) for binding in bindings.list_for(conn, principal.person_id)]
    return Bindings(
        as_holder=[view for view in views if view.role == "holder"],
        as_member=[view for view in views if view.role == "member"],
    )


@router.post(
    "", summary="绑定近亲属（等待亲属确认）", response_model=BindingView, status_code=201,
    responses=error_responses(404, 409),
)
def bind_relative(body: BindingRequest, request: Request, principal: Principal = Depends(own_session)) -> BindingView:
    sec = get_security(request)
    now, today = sec.now(), sec.clock.today()
    relative = ResidentId.parse(body.id_number, field="id_number", today=today)
    with get_engine(request).begin() as conn:
        binding = bindings.create(
            conn, policy_book(request), holder_id=principal.person_id, relative=relative, relation=body.relation.value,
            now=now, today=today,
        )
        _audit(conn, request, principal, "family.binding_created", binding, now, relation=binding.relation)
        return _view(conn, binding, principal.person_id)


@router.post(
    "/{binding_id}/consent", summary="确认家庭共济绑定（亲属本人；未成年人由监护人确认）", response_model=BindingView,
    responses=error_responses(404, 409),
)
def consent(request: Request, binding_id: int = BINDING_ID, principal: Principal = Depends(own_session)) -> BindingView:
    sec = get_security(request)
    now = sec.now()
    with get_engine(request).begin() as conn:
        was_active = bindings.get_for(conn, binding_id, principal.person_id).status == bindings.ACTIVE
        binding = bindings.consent(conn, binding_id=binding_id, person_id=principal.person_id, now=now, today=sec.clock.today())
        _audit(conn, request, principal, "family.binding_consented", binding, now, consented_by=binding.consented_by)
        told = [] if was_active or binding.consented_by != "guardian" else guardianships.tell_other_guardians(
            conn, minor_id=binding.member_person_id, acting_guardian_id=principal.person_id, kind=guardianships.TOLD_BOUND,
            what="已作为监护人将其绑定为家庭共济亲属，可用其职工医保个人账户为该未成年人支付", now=now,
        )
        view = _view(conn, binding, principal.person_id)
    notifications.send(sec, told)
    return view


@router.post(
    "/{binding_id}/end", summary="解除家庭共济绑定（任一方均可）", response_model=BindingView, responses=error_responses(404)
)
def end(request: Request, binding_id: int = BINDING_ID, principal: Principal = Depends(own_session)) -> BindingView:
    now = get_security(request).now()
    with get_engine(request).begin() as conn:
        binding = bindings.end(conn, binding_id=binding_id, person_id=principal.person_id, now=now)
        _audit(conn, request, principal, "family.binding_ended", binding, now)
        return _view(conn, binding, principal.person_id)


@router.post(
    "/{binding_id}/premium", summary="用我的个人账户为亲属代缴城乡居民医保个人缴费", response_model=PremiumAnswer,
    responses=error_responses(404, 409),
)
def pay_premium(
    body: PremiumRequest, request: Request, binding_id: int = BINDING_ID, principal: Principal = Depends(own_session)
) -> PremiumAnswer:
    sec = get_security(request)
    engine = get_engine(request)
    with engine.connect() as conn:
        paid_before = premium.is_paid(conn, bindings.get_for(conn, binding_id, principal.person_id).member_person_id, body.year)
    paid = premium.pay_premium(
        engine, policy_book(request), holder_id=principal.person_id, binding_id=binding_id, year=body.year,
        today=sec.clock.today(),
    )
    with engine.begin() as conn:
        binding = bindings.get_for(conn, binding_id, principal.person_id)
        _audit(conn, request, principal, "family.premium_paid", binding, sec.now(), year=paid.year, amount_fen=paid.amount_fen)
        told = [] if paid_before else bindings.guardians_told_of_payment(
            conn, binding, today=sec.clock.today(), now=sec.now(), what=f"已用其个人账户代缴{paid.year}年度城乡居民医保费"
        )
    notifications.send(sec, told)
    return PremiumAnswer(
        binding_id=paid.binding_id, year=paid.year, amount_fen=paid.amount_fen, amount=Money(paid.amount_fen).format(),
        transaction_id=paid.transaction_id, business_date=paid.business_date, rule_id=paid.rule_id,
    )
