"""Who may pay whose contributions: the person, a confirmed guardian of a minor, or the holder of
an active family-sharing binding (家庭共济) whose member is in residents' insurance.

Checked per object: a person id that is none of these is "not found", never a hint that
the person exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from sqlalchemy import Connection, select

from yibao.domain.person import InsuranceType, mask_name
from yibao.errors import NotFound
from yibao.family import relations
from yibao.family.bindings import ACTIVE
from yibao.store.models import family_bindings, guardianships, persons

SELF, GUARDIAN, RELATIVE = "self", "guardian", "relative"
ROLE_LABELS = {SELF: "本人", GUARDIAN: "监护人代缴", RELATIVE: "家庭共济亲属代缴"}


class PersonNotPayable(NotFound):
    code = "person_not_payable"
    default_message = "未找到可以为其缴费的参保人"


@dataclass(frozen=True)
class Payable:
    person_id: int
    name: str  # the payer's own name in full; others masked
    role: str
    relation: str  # 本人 / 被监护人 / 配偶 …
    insurance_type: str
    employment: str
    region_code: str


def payable_people(conn: Connection, payer_id: int) -> list[Payable]:
    """The payer first, then minors under their confirmed guardianship, then bound relatives."""
    found = [_self(conn, payer_id)]
    seen = {payer_id}
    for row in conn.execute(_wards(payer_id)).mappings():
        if row["id"] not in seen:
            seen.add(row["id"])
            found.append(_payable(row, GUARDIAN, "被监护人"))
    for row in conn.execute(_bound_residents(payer_id)).mappings():
        if row["id"] not in seen:
            seen.add(row["id"])
            found.append(_payable(row, RELATIVE, relations.label(row["relation"])))
    return found


def role_for(conn: Connection, payer_id: int, person_id: int) -> Payable:
    """How the payer may pay for this person; :class:`PersonNotPayable` when they may not."""
    for payable in payable_people(conn, payer_id):
        if payable.person_id == person_id:
            return payable
    raise PersonNotPayable(field="person_id")


_PERSON_COLUMNS = (persons.c.id, persons.c.name, persons.c.insurance_type, persons.c.employment, persons.c.region_code)


def _self(conn: Connection, payer_id: int) -> Payable:
    row = conn.execute(select(*_PERSON_COLUMNS).where(persons.c.id == payer_id)).mappings().one()
    return Payable(row["id"], row["name"], SELF, "本人", row["insurance_type"], row["employment"], row["region_code"])


def _wards(payer_id: int):
    return (
        select(*_PERSON_COLUMNS).join(guardianships, guardianships.c.minor_person_id == persons.c.id)
        .where(guardianships.c.guardian_person_id == payer_id, guardianships.c.ended_at.is_(None),
               persons.c.died_on.is_(None))
        .order_by(persons.c.id)
    )


def _bound_residents(payer_id: int):
    # A holder pays a relative's residents' premium (the family-sharing rule); employees pay through work.
    return (
        select(*_PERSON_COLUMNS, family_bindings.c.relation)
        .join(family_bindings, family_bindings.c.member_person_id == persons.c.id)
        .where(family_bindings.c.holder_person_id == payer_id, family_bindings.c.status == ACTIVE,
               persons.c.insurance_type == InsuranceType.RESIDENT.value, persons.c.died_on.is_(None))
        .order_by(persons.c.id)
    )


def _payable(row, role: str, relation: str) -> Payable:
    return Payable(row["id"], mask_name(row["name"]), role, relation, row["insurance_type"], row["employment"],
                   row["region_code"])

