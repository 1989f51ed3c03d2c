"""What agency staff change for a person at the counter, after checking the person's identity
document in person: the sign-in password, the service PIN, the registered mobile number, a
freeze of the personal account. One module per concept; the staff API and the workbench pages
both call these functions, so both make the same checks and leave the same audit rows.

Every action needs the tick "identity document checked in person" and a reason (2–200
characters, written to the audit log), is refused as "not found" for a person outside the
staff member's regions, and tells the person by a notification (and an SMS to the phone on
record) after it was committed.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from yibao.security.audit import written_reason
from yibao.errors import InvalidInput, NotFound
from yibao.security.principal import Principal
from yibao.store.models import persons



def check_request(*, identity_checked: bool, reason: str) -> str:
    """The reason, stripped; refused unless the identity document was checked and a reason given."""
    if identity_checked is not True:
        raise InvalidInput("请先核验本人身份证件原件，并勾选“已核验本人身份证件原件”", field="identity_checked",
                           code="identity_not_checked")
    return written_reason(reason)


def person_for_staff(conn: Connection, principal: Principal, person_id: int, *, lock: bool = False):
    """The person's row (id, name, id_number, birth_date, phone, region_code, died_on), when in the staff member's regions."""
    query = select(
        persons.c.id, persons.c.name, persons.c.id_number, persons.c.birth_date, persons.c.phone, persons.c.region_code,
        persons.c.died_on,
    ).where(persons.c.id == person_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None or not principal.scope.covers(row.region_code):
        raise NotFound("未找到该参保人", field="person_id", code="person_not_found")
    return row
