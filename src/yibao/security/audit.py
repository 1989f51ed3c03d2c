"""The audit log: who (actor), whom (subject person), what (action), when, why (reason), from where.

Append-only: this module only inserts and reads, and the database refuses UPDATE (and
DELETE on PostgreSQL) of audit rows. ``detail`` never carries personal data: ids and
filters, not ID numbers or names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, insert, select

from yibao.errors import InvalidInput
from yibao.security.principal import Principal
from yibao.store.models import audit_log

# Every staff request about a person or a case states why, in these many characters (the
# reason column holds 200); the staff API's header, the workbench's forms and the counter's
# maintenance steps all hold to it.
MIN_REASON, MAX_REASON = 2, 200


def written_reason(text: str | None, *, field: str = "reason", what: str = "办理事由") -> str:
    """A reason typed into a staff form, stripped; refused (naming ``what`` was asked for) when too short or long."""
    reason = (text or "").strip()
    if not MIN_REASON <= len(reason) <= MAX_REASON:
        raise InvalidInput(f"请填写{what}（{MIN_REASON}至{MAX_REASON}字），将记入审计日志", field=field, code="reason_required")
    return reason


@dataclass(frozen=True)
class AuditFilter:
    subject_person_id: int | None = None
    actor_kind: str | None = None
    actor_id: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    channel: str | None = None  # "counter": the workbench's rows (detail.channel); "other": the rest


_INSERT = insert(audit_log)


def record(
    conn: Connection,
    *,
    actor: Principal | None,
    action: str,
    at: datetime,
    subject_person_id: int | None = None,
    reason: str | None = None,
    client: str | None = None,
    detail: dict | None = None,
    actor_kind: str | None = None,
    actor_id: str | None = None,
) -> None:
    conn.execute(  # the values as parameters: the statement is compiled once, not per entry
        _INSERT,
        {
            "at": at,
            "actor_kind": actor_kind or (actor.kind.value if actor else "system"),
            "actor_id": (actor_id or (actor.actor_id if actor else "system"))[:64],
            "action": action[:64],
            "subject_person_id": subject_person_id,
            "reason": reason[:200] if reason else None,
            "client": client[:64] if client else None,
            "detail": detail,
        },
    )


def read(conn: Connection, where: AuditFilter, *, offset: int, limit: int) -> tuple[int, list[dict]]:
    """Matching entries, newest first, and how many match in all."""
    conditions = []
    if where.subject_person_id is not None:
        conditions.append(audit_log.c.subject_person_id == where.subject_person_id)
    if where.actor_kind:
        conditions.append(audit_log.c.actor_kind == where.actor_kind)
    if where.actor_id:
        conditions.append(audit_log.c.actor_id == where.actor_id)
    if where.action:
        conditions.append(audit_log.c.action == where.action)
    if where.since:
        conditions.append(audit_log.c.at >= where.since)
    if where.until:
        conditions.append(audit_log.c.at < where.until)
    if where.channel:
        channel = func.coalesce(audit_log.c.detail["channel"].as_string(), "")
        conditions.append(channel == where.channel if where.channel != "other" else channel == "")
    total = conn.execute(select(func.count()).select_from(audit_log).where(*conditions)).scalar_one()
    rows = conn.execute(
        select(audit_log).where(*conditions).order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).offset(offset).limit(limit)
    ).mappings()
    return total, [dict(row) for row in rows]
