"""Changing a person's registered mobile number at the counter (柜台变更手机号码).

The number is where SMS sign-in codes, reset codes and notifications go, so it is changed
only after the identity document was checked. A number registered to another person is
refused without saying whose. The audit log keeps both numbers masked; the old number is
told of the change, the new one gets the usual notification.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Engine, select, update

from yibao import notifications
from yibao.counter_service import check_request, person_for_staff
from yibao.errors import InvalidInput
from yibao.security import audit
from yibao.security.context import Security
from yibao.security.principal import Principal
from yibao.security.sms import mask_phone
from yibao.store.models import persons

MOBILE = re.compile(r"1[3-9][0-9]{9}")
NOTICE_KIND = "counter.phone_changed"


@dataclass(frozen=True)
class PhoneChanged:
    person_id: int
    old_masked: str | None
    new_masked: str


def parse_mobile(text: str) -> str:
    phone = re.sub(r"[\s-]", "", text or "")
    if not MOBILE.fullmatch(phone):
        raise InvalidInput("请输入11位手机号码，以1开头、第二位为3至9", field="phone", code="phone_format")
    return phone


def change_phone(
    engine: Engine, sec: Security, principal: Principal, person_id: int, *, phone: str, identity_checked: bool,
    reason: str, client: str | None, detail: dict | None = None,
) -> PhoneChanged:
    reason = check_request(identity_checked=identity_checked, reason=reason)
    phone = parse_mobile(phone)
    now = sec.now()
    with engine.begin() as conn:
        person = person_for_staff(conn, principal, person_id, lock=True)
        if person.phone == phone:
            raise InvalidInput("新手机号码与当前登记的号码相同", field="phone", code="phone_unchanged")
        taken = conn.execute(select(persons.c.id).where(persons.c.phone == phone, persons.c.id != person_id)).first()
        if taken is not None:
            raise InvalidInput("该手机号码已登记在其他参保人名下，请核实后重新输入", field="phone", code="phone_taken")
        conn.execute(update(persons).where(persons.c.id == person_id).values(phone=phone))
        changed = PhoneChanged(person_id, mask_phone(person.phone) if person.phone else None, mask_phone(phone))
        audit.record(
            conn, actor=principal, action="staff.person.phone_changed", at=now, subject_person_id=person_id, reason=reason,
            client=client, detail={"old": changed.old_masked, "new": changed.new_masked, **(detail or {})},
        )
        told = notifications.notify(
            conn, person_id, kind=NOTICE_KIND, now=now,
            text=f"您登记的手机号码已在经办机构柜台变更为{changed.new_masked}，今后验证码和通知将发送到此号码。",
        )
    old = None
    if person.phone:
        old = notifications.Outgoing(person.phone, notifications.SMS_SIGNATURE + (
            f"您登记的手机号码已在经办机构柜台变更为{changed.new_masked}，本号码不再接收医保验证码和通知。如非本人办理，请尽快联系经办机构。"))
    notifications.send(sec, [told, old])
    return changed
