"""Messages to insured people: a row the portal can show, and an SMS to the registered phone.

The row is written in the caller's transaction, so it exists exactly when what it tells
about happened. The SMS goes out after the commit (``send``) through the configured sender;
a sender that fails or is refused leaves the row as the record and is logged, never undoing
what was done.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select

from yibao.errors import YibaoError
from yibao.security.context import Security
from yibao.security.sms import mask_phone
from yibao.store.models import notifications, persons

log = logging.getLogger("yibao.notifications")

SMS_SIGNATURE = "【医保个人账户】"


@dataclass(frozen=True)
class Outgoing:
    phone: str
    text: str


def notify(conn: Connection, person_id: int, *, kind: str, text: str, now: datetime) -> Outgoing | None:
    """Record a message for the person; the SMS to send after the commit, when they have a phone."""
    conn.execute(insert(notifications).values(person_id=person_id, kind=kind, text=text, created_at=now))
    phone = conn.execute(select(persons.c.phone).where(persons.c.id == person_id)).scalar()
    return Outgoing(phone, SMS_SIGNATURE + text) if phone else None


def send(security: Security, outgoing: list[Outgoing | None]) -> None:
    """Send the SMS of committed notifications; the sender is loaded only when there is one to send."""
    for message in outgoing:
        if message is None:
            continue
        try:
            security.sms.send(message.phone, message.text)
        except (YibaoError, OSError, RuntimeError) as error:
            log.warning("notification SMS to %s not sent: %s", mask_phone(message.phone), error)


def for_person(conn: Connection, person_id: int, limit: int = 50) -> list[dict]:
    rows = conn.execute(
        select(notifications.c.id, notifications.c.kind, notifications.c.text, notifications.c.created_at)
        .where(notifications.c.person_id == person_id)
        .order_by(notifications.c.id.desc())
        .limit(limit)
    ).mappings()
    return [dict(row) for row in rows]
