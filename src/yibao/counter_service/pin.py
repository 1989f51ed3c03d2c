"""Resetting a person's service PIN at the counter (柜台重置服务密码).

The design: staff never see or type a PIN. The counter removes the stored PIN and clears
the service PIN's lockout (shared by the phone line, kiosks and pharmacies); the person then
sets a new six-digit PIN where they are signed in as themselves (the web portal's settings,
the app), which with no PIN on record asks for no old one and refuses weak PINs as always
(``security.phone_pin.weak_pin_reason``). Until then no channel accepts any PIN for the
person, so a card lost together with a written-down PIN is useless at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, delete

from yibao import notifications
from yibao.counter_service import check_request, person_for_staff
from yibao.security import audit
from yibao.security.context import Security
from yibao.security.phone_pin import PHONE_PIN, holder_subject, service_pin_lockout
from yibao.security.principal import Principal
from yibao.store.models import credentials

NOTICE_KIND = "counter.pin_reset"


@dataclass(frozen=True)
class PinReset:
    person_id: int
    had_pin: bool


def reset_pin(
    engine: Engine, sec: Security, principal: Principal, person_id: int, *, identity_checked: bool, reason: str,
    client: str | None, detail: dict | None = None,
) -> PinReset:
    reason = check_request(identity_checked=identity_checked, reason=reason)
    now = sec.now()
    with engine.begin() as conn:
        person_for_staff(conn, principal, person_id, lock=True)
        removed = conn.execute(
            delete(credentials).where(credentials.c.person_id == person_id, credentials.c.kind == PHONE_PIN)
        ).rowcount
        audit.record(
            conn, actor=principal, action="staff.person.pin_reset", at=now, subject_person_id=person_id, reason=reason,
            client=client, detail={"had_pin": bool(removed), **(detail or {})},
        )
        told = notifications.notify(
            conn, person_id, kind=NOTICE_KIND, now=now,
            text="您的服务密码（电话、自助机、药店使用）已在经办机构柜台清除，请登录网上服务大厅重新设置6位服务密码。如非本人办理，请尽快联系经办机构。",
        )
    lockout = service_pin_lockout(sec)
    lockout.clear([holder_subject(lockout, person_id, "")])
    notifications.send(sec, [told])
    return PinReset(person_id, bool(removed))
