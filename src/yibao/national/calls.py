"""One message being answered: the envelope, the calling institution and what the answer concerns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Connection, Engine

from yibao.national.envelope import Envelope
from yibao.payments.service import Payments
from yibao.policy.parameters import PolicyBook
from yibao.security.context import Security
from yibao.security.principal import Principal


@dataclass
class Call:
    env: Envelope
    institution: Principal
    payee: object  # the institution's row: id, code, name, kind, region_code, designated
    engine: Engine
    sec: Security
    book: PolicyBook
    client: str | None
    received_at: datetime
    seen: bool = False  # the msgid has a row already (claimed by a settlement a crash interrupted)
    person_id: int | None = None  # whom the message concerns, for the audit log
    audit: dict = field(default_factory=dict)  # more for the audit entry (no full ID numbers)
    # Writes that belong with the answer: run in the transaction that keeps it (one commit, not two).
    finish: list[Callable[[Connection], None]] = field(default_factory=list)

    @property
    def today(self) -> date:
        return self.sec.clock.today()

    @property
    def data(self) -> dict:
        return self.env.input

    def payments(self) -> Payments:
        return Payments(self.engine, self.sec, self.book)
