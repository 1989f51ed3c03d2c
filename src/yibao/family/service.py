"""Family sharing (家庭共济) as the signed-in person does it, whichever screen asks: the JSON
API (``/api/v1/me/family``) and the portal (``/portal/family``) both call these functions, so
the checks, the audit rows and the notices are the same.

Each operation runs in its own transaction, audits what the person did and tells the other
side through a notification row (shown on their portal pages; no SMS, so that binding
requests cannot be used to send messages to strangers). The SMS to a minor's other guardians
(``guardianships``) goes out after the commit, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, Engine, select

from yibao import notifications
from yibao.domain.person import mask_name
from yibao.domain.resident_id import ResidentId
from yibao.errors import InvalidInput
from yibao.family import bindings, details, guardianships, premium
from yibao.family.relations import LABELS, allowed_relations, label
from yibao.policy.parameters import PolicyBook
from yibao.security import audit
from yibao.security.context import Security, as_utc
from yibao.security.principal import Principal
from yibao.store.models import family_payments, persons, postings

ROLE_LABELS = {"holder": "我是共济账户持有人", "member": "我是被共济的亲属"}
CONSENT_LABELS = {"member": "亲属本人确认", "guardian": "监护人代为确认"}
TOLD_REQUEST, TOLD_CONSENTED, TOLD_ENDED, TOLD_PREMIUM = (
    "family.request", "family.consented", "family.ended", "family.premium",
)


@dataclass(frozen=True)
class BindingSeen:
    """A binding as one of its two parties sees it (the API's ``BindingView`` has the same fields)."""

    binding_id: int
    role: str
    role_label: str
    other_name_masked: str | None
    other_id_number_masked: str | None
    relation: str
    relation_label: str
    status: str
    status_label: str
    created_at: datetime
    consented_at: datetime | None
    consented_by: str | None
    consented_by_label: str | None
    ended_at: datetime | None
    # The viewer may consent now: the member of a pending binding, or the holder of a minor's (as guardian).
    may_consent: bool = False


@dataclass(frozen=True)
class Acting:
    """Who acts and from where: the signed-in person's principal and client address, for the audit row."""

    principal: Principal
    client: str | None

    @property
    def person_id(self) -> int:
        return self.principal.person_id


# ---------------------------------------------------------------------------- reading


def seen_by(conn: Connection, binding: bindings.Binding, viewer: int, today: date) -> BindingSeen:
    """The holder sees the relative by the masked ID number they gave, and by name once the relative consented."""
    role, relation = binding.role_of(viewer), binding.relation_seen_by(viewer)
    named = role == "member" or binding.consented_at is not None
    name = _name(conn, binding.other_than(viewer)) if named else None
    pending = binding.status == bindings.PENDING
    status_label = bindings.REQUEST_SENT if role == "holder" and pending else bindings.STATUS_LABELS[binding.status]
    minor = binding.member_is_minor(today)
    return BindingSeen(
        binding_id=binding.id, role=role, role_label=ROLE_LABELS[role],
        other_name_masked=mask_name(name) if name else None,
        other_id_number_masked=None if named else ResidentId(binding.member_id_number).masked,
        relation=relation, relation_label=label(relation), status=binding.status, status_label=status_label,
        created_at=as_utc(binding.created_at), consented_at=_utc(binding.consented_at), consented_by=binding.consented_by,
        consented_by_label=CONSENT_LABELS.get(binding.consented_by or ""), ended_at=_utc(binding.ended_at),
        may_consent=pending and (role == "member") != minor,
    )


def bindings_of(conn: Connection, person_id: int, today: date) -> list[BindingSeen]:
    """Both directions, newest first."""
    return [seen_by(conn, binding, person_id, today) for binding in bindings.list_for(conn, person_id)]


def relation_choices(conn: Connection, book: PolicyBook, person_id: int, today: date) -> list[tuple[str, str]]:
    """The relations the person may bind today (policy data of their region), as (value, Chinese name)."""
    region = conn.execute(select(persons.c.region_code).where(persons.c.id == person_id)).scalar()
    return [(relation, LABELS[relation]) for relation in allowed_relations(book, region, today) if relation in LABELS]


@dataclass(frozen=True)
class FamilyPayment:
    transaction_id: int
    business_date: date
    amount_fen: int
    note: str  # whom it was for, or who paid, as the viewer reads it


def payments_of(conn: Connection, person_id: int, limit: int = 50) -> list[FamilyPayment]:
    """What the person paid for relatives and what relatives paid for them (the holder's leg), newest first."""
    rows = conn.execute(
        select(family_payments.c.transaction_id, postings.c.business_date, postings.c.amount_fen)
        .join(
            postings,
            (postings.c.transaction_id == family_payments.c.transaction_id)
            & (postings.c.account_id == family_payments.c.account_id),
        )
        .where((family_payments.c.holder_person_id == person_id) | (family_payments.c.member_person_id == person_id))
        .order_by(postings.c.business_date.desc(), family_payments.c.transaction_id.desc())
        .limit(limit)
    ).all()
    notes = details.notes(conn, person_id, [row.transaction_id for row in rows])
    return [FamilyPayment(row.transaction_id, row.business_date, -row.amount_fen, notes.get(row.transaction_id, "")) for row in rows]


# ---------------------------------------------------------------------------- acting


def bind(engine: Engine, sec: Security, book: PolicyBook, acting: Acting, *, id_number: str, relation: str) -> BindingSeen:
    """Ask a relative to be bound; the answer is the same whether or not the ID number is an insured person's."""
    now, today = sec.now(), sec.clock.today()
    if relation not in LABELS:
        raise InvalidInput("请选择亲属关系", field="relation", code="relation_required")
    relative = ResidentId.parse(id_number, field="id_number", today=today)
    with engine.begin() as conn:
        binding = bindings.create(
            conn, book, holder_id=acting.person_id, relative=relative, relation=relation, now=now, today=today,
        )
        _audit(conn, acting, "family.binding_created", binding, now, relation=binding.relation)
        if binding.member_person_id is not None and not binding.member_is_minor(today):
            _tell(conn, binding, binding.member_person_id, TOLD_REQUEST, now,
                  "{who}请求用其职工医保个人账户与您家庭共济，请在“家庭共济”页面确认或拒绝。")
        return seen_by(conn, binding, acting.person_id, today)


def consent(engine: Engine, sec: Security, acting: Acting, binding_id: int) -> BindingSeen:
    """The relative consents in their own session (a minor's confirmed guardian for the minor)."""
    now, today = sec.now(), sec.clock.today()
    with engine.begin() as conn:
        was_active = bindings.get_for(conn, binding_id, acting.person_id).status == bindings.ACTIVE
        binding = bindings.consent(conn, binding_id=binding_id, person_id=acting.person_id, now=now, today=today)
        _audit(conn, acting, "family.binding_consented", binding, now, consented_by=binding.consented_by)
        told = []
        if not was_active and binding.consented_by == "guardian":
            told = guardianships.tell_other_guardians(
                conn, minor_id=binding.member_person_id, acting_guardian_id=acting.person_id, kind=guardianships.TOLD_BOUND,
                what="已作为监护人将其绑定为家庭共济亲属，可用其职工医保个人账户为该未成年人支付", now=now,
            )
        elif not was_active:
            _tell(conn, binding, binding.holder_person_id, TOLD_CONSENTED, now, "{who}已同意与您家庭共济，绑定已生效。")
        seen = seen_by(conn, binding, acting.person_id, today)
    notifications.send(sec, told)
    return seen


def end(engine: Engine, sec: Security, acting: Acting, binding_id: int) -> BindingSeen:
    """Either side ends the binding (a pending request is withdrawn or refused the same way)."""
    now = sec.now()
    with engine.begin() as conn:
        was_ended = bindings.get_for(conn, binding_id, acting.person_id).status == bindings.ENDED
        binding = bindings.end(conn, binding_id=binding_id, person_id=acting.person_id, now=now)
        _audit(conn, acting, "family.binding_ended", binding, now)
        other = binding.other_than(acting.person_id)
        if not was_ended and other is not None and _knows_of(binding, other, sec.clock.today()):
            _tell(conn, binding, other, TOLD_ENDED, now, "{who}已解除与您的家庭共济绑定。")
        return seen_by(conn, binding, acting.person_id, sec.clock.today())


def pay_premium(engine: Engine, sec: Security, book: PolicyBook, acting: Acting, binding_id: int, year: int) -> premium.PremiumPaid:
    """The holder's account pays the relative's residents' premium for ``year`` (once per relative and year)."""
    today = sec.clock.today()
    with engine.connect() as conn:
        member = bindings.get_for(conn, binding_id, acting.person_id).member_person_id
        paid_before = premium.is_paid(conn, member, year)
    paid = premium.pay_premium(engine, book, holder_id=acting.person_id, binding_id=binding_id, year=year, today=today)
    now = sec.now()
    with engine.begin() as conn:
        binding = bindings.get_for(conn, binding_id, acting.person_id)
        _audit(conn, acting, "family.premium_paid", binding, now, year=paid.year, amount_fen=paid.amount_fen)
        told = []
        if not paid_before:
            what = f"已用其个人账户代缴{paid.year}年度城乡居民医保费"
            told = bindings.guardians_told_of_payment(conn, binding, today=today, now=now, what=what)
            if not binding.member_is_minor(today):
                _tell(conn, binding, binding.member_person_id, TOLD_PREMIUM, now, "{who}" + what + "，您本人账户未扣款。")
    notifications.send(sec, told)
    return paid


# ---------------------------------------------------------------------------- helpers


def _audit(conn: Connection, acting: Acting, action: str, binding: bindings.Binding, now: datetime, **detail) -> None:
    audit.record(
        conn, actor=acting.principal, action=action, at=now, subject_person_id=binding.other_than(acting.person_id),
        client=acting.client, detail={"binding_id": binding.id, **detail},
    )


def _tell(conn: Connection, binding: bindings.Binding, person_id: int, kind: str, now: datetime, text: str) -> None:
    """A notification row for ``person_id``; ``{who}`` is the other party, by relation and masked name."""
    actor = binding.other_than(person_id)
    who = f"您的{label(binding.relation_seen_by(person_id))}{mask_name(_name(conn, actor) or '')}"
    notifications.notify(conn, person_id, kind=kind, text=text.format(who=who), now=now)


def _knows_of(binding: bindings.Binding, person_id: int, today: date) -> bool:
    """Whether the other party was told of the binding: the holder always; an adult member always; a minor never."""
    return person_id == binding.holder_person_id or not binding.member_is_minor(today)


def _name(conn: Connection, person_id: int | None) -> str | None:
    if person_id is None:
        return None
    return conn.execute(select(persons.c.name).where(persons.c.id == person_id)).scalar()


def _utc(moment: datetime | None) -> datetime | None:
    return as_utc(moment) if moment is not None else None
