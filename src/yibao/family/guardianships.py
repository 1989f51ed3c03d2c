"""Guardians of minors (监护人, 民法典第二十七条), confirmed by agency staff at the counter.

A holder may bind a minor for family sharing and consent as the minor's guardian only with
a confirmed guardianship between the two: staff see the document (户口簿, 出生医学证明, a
court or committee decision …) and record it here, with a reason, in the audit log. When a
guardian binds a minor or pays for them, the minor's other confirmed guardians are told.
Ending a guardianship ends that guardian's bindings for the minor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, and_, insert, or_, select, update

from yibao.domain.person import mask_name
from yibao.domain.resident_id import ResidentId
from yibao.errors import InvalidInput, NotFound, YibaoError
from yibao.family.relations import ADULT_AGE
from yibao.notifications import Outgoing, notify
from yibao.store.db import insert_unique
from yibao.store.models import family_bindings, guardianships, persons

RELATION_LABELS = {"parent": "父母", "grandparent": "祖父母、外祖父母", "sibling": "兄弟姐妹", "other": "其他监护人"}
TOLD_BOUND = "guardian.binding"
TOLD_PAID = "guardian.payment"


class GuardianshipExists(YibaoError):
    code = "guardianship_exists"
    default_message = "已确认过该监护关系，无需重复确认"


class GuardianshipNotFound(NotFound):
    code = "guardianship_not_found"
    default_message = "未找到该监护关系"


@dataclass(frozen=True)
class Guardianship:
    id: int
    minor_person_id: int
    guardian_person_id: int
    relation: str
    evidence: str
    confirmed_by: int
    confirmed_at: datetime
    ended_by: int | None
    ended_at: datetime | None


def _guardianship(row) -> Guardianship:
    return Guardianship(**{name: row._mapping[name] for name in Guardianship.__dataclass_fields__})


def confirm(
    conn: Connection, *, minor_id: int, guardian_id: int, relation: str, evidence: str, staff_id: int, now: datetime,
    today: date,
) -> Guardianship:
    if minor_id == guardian_id:
        raise InvalidInput("监护人不能是未成年人本人", field="guardian_person_id", code="guardian_self")
    if not is_minor(conn, minor_id, today):
        raise InvalidInput("该参保人已成年，无需确认监护关系", field="minor_person_id", code="not_a_minor")
    if is_minor(conn, guardian_id, today, field="guardian_person_id"):
        raise InvalidInput("监护人须为成年人", field="guardian_person_id", code="guardian_minor")
    guardianship_id = insert_unique(
        conn,
        insert(guardianships)
        .values(
            minor_person_id=minor_id, guardian_person_id=guardian_id, relation=relation, evidence=evidence.strip(),
            confirmed_by=staff_id, confirmed_at=now,
        )
        .returning(guardianships.c.id),
        taken=GuardianshipExists(field="guardian_person_id"),
    )
    return get(conn, guardianship_id)


def end(conn: Connection, *, guardianship_id: int, staff_id: int, now: datetime) -> Guardianship:
    """The guardianship ends, and with it the guardian's family bindings for the minor."""
    current = get(conn, guardianship_id)
    if current.ended_at is not None:
        return current
    conn.execute(
        update(guardianships)
        .where(guardianships.c.id == guardianship_id, guardianships.c.ended_at.is_(None))
        .values(ended_at=now, ended_by=staff_id)
    )
    conn.execute(
        update(family_bindings)
        .where(
            family_bindings.c.holder_person_id == current.guardian_person_id,
            family_bindings.c.member_person_id == current.minor_person_id,
            family_bindings.c.status != "ended",
        )
        .values(status="ended", ended_at=now)
    )
    return get(conn, guardianship_id)


def get(conn: Connection, guardianship_id: int) -> Guardianship:
    row = conn.execute(select(guardianships).where(guardianships.c.id == guardianship_id)).one_or_none()
    if row is None:
        raise GuardianshipNotFound(field="guardianship_id")
    return _guardianship(row)


def of_minor(conn: Connection, minor_id: int) -> list[Guardianship]:
    """Every guardianship recorded for the minor, current ones first."""
    rows = conn.execute(
        select(guardianships)
        .where(guardianships.c.minor_person_id == minor_id)
        .order_by(guardianships.c.ended_at.is_not(None), guardianships.c.id)
    ).all()
    return [_guardianship(row) for row in rows]


def is_guardian(conn: Connection, *, minor_id: int | None, guardian_id: int) -> bool:
    if minor_id is None:
        return False
    return conn.execute(
        select(guardianships.c.id).where(_current(minor_id), guardianships.c.guardian_person_id == guardian_id)
    ).first() is not None


def tell_other_guardians(
    conn: Connection, *, minor_id: int, acting_guardian_id: int, kind: str, what: str, now: datetime
) -> list[Outgoing | None]:
    """Tell the minor's other current guardians what ``acting_guardian_id`` did (``what``, in Chinese)."""
    others = conn.execute(
        select(guardianships.c.guardian_person_id).where(
            _current(minor_id), guardianships.c.guardian_person_id != acting_guardian_id
        )
    ).scalars().all()
    if not others:
        return []
    names = dict(conn.execute(select(persons.c.id, persons.c.name).where(
        or_(persons.c.id == minor_id, persons.c.id == acting_guardian_id)
    )).all())
    text = f"{mask_name(names[acting_guardian_id])}{what}（未成年人{mask_name(names[minor_id])}）。如有疑问，请到医保经办机构柜台咨询。"
    return [notify(conn, guardian, kind=kind, text=text, now=now) for guardian in others]


def is_minor(conn: Connection, person_id: int, today: date, *, field: str = "minor_person_id") -> bool:
    id_number = conn.execute(select(persons.c.id_number).where(persons.c.id == person_id)).scalar()
    if id_number is None:
        raise NotFound("未找到该参保人", field=field, code="person_not_found")
    return ResidentId(id_number).age_on(today) < ADULT_AGE


def _current(minor_id: int):
    return and_(guardianships.c.minor_person_id == minor_id, guardianships.c.ended_at.is_(None))
