"""Binding a close relative to the holder's account: create, consent, end, list.

The holder names the relative by ID number and relation; the binding waits for consent:
the relative's own session, or, for a minor, the holder as guardian — only with a
guardianship that agency staff confirmed (``guardianships``). Either side may end it at any
time; an ended binding stays as history and a new one may be made later.

The answer to a request never tells whether the ID number belongs to an insured (living)
person: a number that does not is kept as a request nobody can consent to, and the holder
sees the relative only by masked ID number until the relative consents.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, insert, or_, select, update

from yibao.domain.resident_id import ResidentId
from yibao.errors import InvalidInput, NotFound, YibaoError
from yibao.family import guardianships
from yibao.family.relations import ADULT_AGE, GUARDIAN_OF_MINOR, INVERSE, check_relation
from yibao.ledger.kinds import AccountKind, AccountStatus
from yibao.policy.parameters import PolicyBook
from yibao.security.errors import Forbidden
from yibao.store.db import insert_unique
from yibao.store.models import accounts, family_bindings, persons

PENDING, ACTIVE, ENDED = "pending", "active", "ended"
STATUS_LABELS = {PENDING: "待亲属确认", ACTIVE: "已生效", ENDED: "已解除"}
REQUEST_SENT = "已向对方发送请求，对方同意后生效"


class BindingExists(YibaoError):
    code = "binding_exists"
    default_message = "已与该亲属绑定（或正在等待确认），无需重复绑定"


class BindingEnded(YibaoError):
    code = "binding_ended"
    default_message = "该绑定已解除，如需共济请重新绑定"


class BindingNotFound(NotFound):
    code = "binding_not_found"
    default_message = "未找到该家庭共济绑定"


@dataclass(frozen=True)
class Binding:
    id: int
    holder_person_id: int
    member_person_id: int | None  # None: the ID number is no living insured person's
    member_id_number: str
    relation: str
    status: str
    created_at: datetime
    consented_at: datetime | None
    consented_by: str | None
    ended_at: datetime | None

    def role_of(self, person_id: int) -> str:
        return "holder" if person_id == self.holder_person_id else "member"

    def other_than(self, person_id: int) -> int | None:
        return self.member_person_id if person_id == self.holder_person_id else self.holder_person_id

    def member_is_minor(self, today: date) -> bool:
        """From the ID number the holder gave: the same answer whether or not it is an insured person's."""
        return ResidentId(self.member_id_number).age_on(today) < ADULT_AGE

    def relation_seen_by(self, person_id: int) -> str:
        """What the other person is to ``person_id``: the member is the holder's ``relation``."""
        return self.relation if person_id == self.holder_person_id else INVERSE[self.relation]


def _binding(row) -> Binding:
    return Binding(**{name: row._mapping[name] for name in Binding.__dataclass_fields__})


def create(
    conn: Connection, book: PolicyBook, *, holder_id: int, relative: ResidentId, relation: str, now: datetime, today: date
) -> Binding:
    """A pending request; the same answer whether or not the ID number is a living insured person's."""
    holder = _person(conn, holder_id)
    if relative.full == holder.id_number:
        raise InvalidInput("不能与本人绑定", field="id_number", code="binding_self")
    member = conn.execute(
        select(persons.c.id).where(persons.c.id_number == relative.full, persons.c.died_on.is_(None))
    ).scalar()
    if current_account(conn, holder_id) is None:
        raise InvalidInput(
            "您没有可用的职工医保个人账户，不能作为共济账户持有人", field="id_number", code="holder_has_no_account"
        )
    check_relation(book, holder.region_code, today, relation)
    binding_id = insert_unique(
        conn,
        insert(family_bindings)
        .values(
            holder_person_id=holder_id, member_person_id=member, member_id_number=relative.full, relation=relation,
            status=PENDING, created_at=now,
        )
        .returning(family_bindings.c.id),
        taken=BindingExists(field="id_number"),
    )
    return get_for(conn, binding_id, holder_id)


def consent(conn: Connection, *, binding_id: int, person_id: int, now: datetime, today: date) -> Binding:
    """The member consents; for a minor member the holder consents as a confirmed guardian."""
    binding = get_for(conn, binding_id, person_id)
    if binding.status == ENDED:
        raise BindingEnded(field="binding_id")
    consented_by = _who_may_consent(binding, person_id, binding.member_is_minor(today))
    if consented_by == "guardian" and not guardianships.is_guardian(
        conn, minor_id=binding.member_person_id, guardian_id=person_id
    ):
        raise Forbidden(
            "代未成年人确认前，须携户口簿或出生医学证明等材料到医保经办机构柜台确认您与该未成年人的监护关系",
            code="guardianship_not_confirmed",
        )
    if binding.status == ACTIVE:  # consenting again changes nothing
        return binding
    conn.execute(
        update(family_bindings)
        .where(family_bindings.c.id == binding_id, family_bindings.c.status == PENDING)
        .values(status=ACTIVE, consented_at=now, consented_by=consented_by)
    )
    return get_for(conn, binding_id, person_id)


def _who_may_consent(binding: Binding, person_id: int, minor: bool) -> str:
    if person_id == binding.member_person_id:
        if minor:
            raise Forbidden("未成年人的共济绑定由其监护人（绑定发起人）确认", code="guardian_consent_required")
        return "member"
    if not minor:
        raise Forbidden("须由被绑定的亲属本人登录确认", code="member_consent_required")
    if binding.relation not in GUARDIAN_OF_MINOR:
        raise Forbidden(
            "只有未成年人的父母、祖父母、外祖父母或兄弟姐妹可以作为监护人代为确认", code="not_guardian"
        )
    return "guardian"


def end(conn: Connection, *, binding_id: int, person_id: int, now: datetime) -> Binding:
    """Either side ends the binding; ending an ended binding changes nothing."""
    binding = get_for(conn, binding_id, person_id)
    if binding.status != ENDED:
        conn.execute(
            update(family_bindings)
            .where(family_bindings.c.id == binding_id, family_bindings.c.status != ENDED)
            .values(status=ENDED, ended_at=now, ended_by=person_id)
        )
    return get_for(conn, binding_id, person_id)


def guardians_told_of_payment(conn: Connection, binding: Binding, *, today: date, now: datetime, what: str) -> list:
    """A guardian paid for a minor: the minor's other guardians are told (the SMS to send after the commit)."""
    if binding.consented_by != "guardian" or not binding.member_is_minor(today):
        return []
    return guardianships.tell_other_guardians(
        conn, minor_id=binding.member_person_id, acting_guardian_id=binding.holder_person_id,
        kind=guardianships.TOLD_PAID, what=what, now=now,
    )


def get_for(conn: Connection, binding_id: int, person_id: int) -> Binding:
    """A binding the person is a party to; anyone else's is "not found"."""
    row = conn.execute(
        select(family_bindings).where(
            family_bindings.c.id == binding_id,
            or_(family_bindings.c.holder_person_id == person_id, family_bindings.c.member_person_id == person_id),
        )
    ).one_or_none()
    if row is None:
        raise BindingNotFound(field="binding_id")
    return _binding(row)


def list_for(conn: Connection, person_id: int) -> list[Binding]:
    rows = conn.execute(
        select(family_bindings)
        .where(or_(family_bindings.c.holder_person_id == person_id, family_bindings.c.member_person_id == person_id))
        .order_by(family_bindings.c.id.desc())
    ).all()
    return [_binding(row) for row in rows]


def paying_binding(conn: Connection, member_id: int) -> Binding | None:
    """The binding whose holder pays for this member: the earliest consented one still active."""
    row = conn.execute(
        select(family_bindings)
        .where(family_bindings.c.member_person_id == member_id, family_bindings.c.status == ACTIVE)
        .order_by(family_bindings.c.consented_at, family_bindings.c.id)
        .limit(1)
    ).one_or_none()
    return _binding(row) if row is not None else None


def current_account(conn: Connection, person_id: int):
    """The person's personal account that is not closed (id, status, balance), or None."""
    return conn.execute(
        select(accounts.c.id, accounts.c.status, accounts.c.balance_fen, accounts.c.region_code).where(
            accounts.c.person_id == person_id,
            accounts.c.kind == AccountKind.PERSONAL.value,
            accounts.c.status != AccountStatus.CLOSED.value,
        )
    ).one_or_none()


def _person(conn: Connection, person_id: int):
    row = conn.execute(select(persons).where(persons.c.id == person_id)).one_or_none()
    if row is None:
        raise NotFound("未找到该参保人", field="person_id", code="person_not_found")
    return row
