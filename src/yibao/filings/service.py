"""Filing, changing, cancelling and deciding out-of-area care filings.

A change never edits a filing in place: the old row becomes ``changed`` (closed on the day of the
change) and a new row, naming it in ``replaces_id``, starts with the new place, reason or dates
and goes through confirmation again. The person and staff then read every place and period the
person ever filed, and which staff decision applied to which, without digging in the audit log.

A person has at most one filing in force or waiting at a time. A temporary filing ends on its
end date by itself (no job flips its status; ``in_force`` reads the date). Every status change
is one conditional UPDATE (``… WHERE status = :expected``), so two clicks cannot both act.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Connection, and_, insert, or_, select, update

from yibao import notifications
from yibao.errors import InvalidInput, NotFound, YibaoError
from yibao.filings.rules import FilingRules, earliest_end, filing_rules
from yibao.policy.parameters import PolicyBook
from yibao.security.permissions import StaffScope
from yibao.store.models import care_filings, persons

DECIDED = "filing_decided"  # the notification's kind


class FilingStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    CHANGED = "changed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @property
    def label(self) -> str:
        return {"pending": "待确认", "active": "已生效", "changed": "已变更", "cancelled": "已取消",
                "rejected": "未通过"}[self.value]


OPEN = (FilingStatus.PENDING.value, FilingStatus.ACTIVE.value)
EXPIRED_LABEL = "已到期"


class FilingConflict(YibaoError):
    """The filing is not in a state that allows this step (HTTP 409)."""

    code = "filing_conflict"
    default_message = "该备案当前状态不允许此操作"
    status_code = 409


@dataclass(frozen=True)
class FilingInput:
    """A filing as the person typed it; ``ends_on`` only for a temporary one."""

    kind: str
    place_code: str
    reason: str
    starts_on: date | None
    ends_on: date | None = None


@dataclass(frozen=True)
class Actor:
    kind: str  # "person" | "staff"
    id: int
    scope: StaffScope = StaffScope(None)

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.id}"


# ---------------------------------------------------------------------------- reading


def in_force(row, day: date) -> bool:
    """Active on ``day``: confirmed (or needing no confirmation), started, not past its end."""
    return (row["status"] == FilingStatus.ACTIVE.value and row["starts_on"] <= day
            and (row["ends_on"] is None or day <= row["ends_on"]))


def expired(row, day: date) -> bool:
    return row["status"] in OPEN and row["ends_on"] is not None and row["ends_on"] < day


def is_open(row, day: date) -> bool:
    """Waiting or in force (now or from a later start): what blocks a second filing."""
    return row["status"] in OPEN and not expired(row, day)


def status_label(row, day: date) -> str:
    return EXPIRED_LABEL if expired(row, day) else FilingStatus(row["status"]).label


def validity_text(row) -> str:
    start = row["starts_on"].isoformat()
    if row["status"] in (FilingStatus.CHANGED.value, FilingStatus.CANCELLED.value) and row["closed_on"]:
        ended = "变更" if row["status"] == FilingStatus.CHANGED.value else "取消"
        before = "原定" if row["closed_on"] < row["starts_on"] else ""  # closed before it started
        return f"{before}{start} 起，{row['closed_on'].isoformat()} {ended}"
    if row["ends_on"] is None:
        return f"{start} 起，长期有效（至取消）"
    return f"{start} 至 {row['ends_on'].isoformat()}"


def filings_of(conn: Connection, person_id: int) -> list:
    """The person's filings, newest first (changed and cancelled ones included: the history)."""
    query = select(care_filings).where(care_filings.c.person_id == person_id).order_by(care_filings.c.id.desc())
    return list(conn.execute(query).mappings())


def long_term_in_force(conn: Connection, person_id: int, day: date):
    """The person's long-term filing in force on ``day``, or None."""
    query = select(care_filings).where(
        care_filings.c.person_id == person_id, care_filings.c.kind == "long_term",
        care_filings.c.status == FilingStatus.ACTIVE.value, care_filings.c.starts_on <= day,
    ).order_by(care_filings.c.id.desc())
    return conn.execute(query).mappings().first()


def visible_filing(conn: Connection, filing_id: int, actor: Actor, *, lock: bool = False):
    """The filing if ``actor`` may see it; someone else's, or another region's, is "not found"."""
    query = select(care_filings).where(care_filings.c.id == filing_id)
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    hidden = row is None or (
        row["person_id"] != actor.id if actor.kind == "person" else not actor.scope.covers(row["region_code"])
    )
    if hidden:
        raise NotFound("未找到该备案", field="filing_id", code="filing_not_found")
    return row


def waiting(conn: Connection, scope: StaffScope, limit: int = 300) -> list:
    """Filings waiting for staff in the scope's regions, oldest first."""
    query = select(care_filings).where(
        care_filings.c.status == FilingStatus.PENDING.value, scope.limit(care_filings.c.region_code),
    ).order_by(care_filings.c.id).limit(limit)
    return list(conn.execute(query).mappings())


# ---------------------------------------------------------------------------- filing and changing


def file(conn: Connection, book: PolicyBook, *, person_id: int, typed: FilingInput, today: date, actor: Actor,
         now: datetime) -> int:
    """A new filing; refused while another one is waiting or in force."""
    region_code = _person_region(conn, person_id)
    if _open_filing(conn, person_id, today) is not None:
        raise FilingConflict("您已有待确认或有效的异地就医备案，请变更或取消该备案后再办理",
                             code="filing_already_open")
    return _insert(conn, book, person_id=person_id, region_code=region_code, typed=typed, today=today, actor=actor,
                   now=now)


def change(conn: Connection, book: PolicyBook, row, *, typed: FilingInput, today: date, actor: Actor,
           now: datetime) -> int:
    """Close ``row`` as changed and start its replacement (checked like a new filing)."""
    _require_open(row, today, "只有待确认或有效的备案可以变更")
    region_code = _person_region(conn, row["person_id"])
    new_id = _insert(conn, book, person_id=row["person_id"], region_code=region_code, typed=typed, today=today,
                     actor=actor, now=now, replaces_id=row["id"])
    _move(conn, row, FilingStatus.CHANGED, closed_on=today)
    return new_id


def cancel(conn: Connection, row, *, today: date) -> None:
    _require_open(row, today, "只有待确认或有效的备案可以取消")
    _move(conn, row, FilingStatus.CANCELLED, closed_on=today)


def _insert(conn: Connection, book: PolicyBook, *, person_id: int, region_code: str, typed: FilingInput, today: date,
            actor: Actor, now: datetime, replaces_id: int | None = None) -> int:
    rules = filing_rules(book, region_code, today)
    kind = rules.kind(typed.kind)
    reason = rules.reason(kind, typed.reason)
    place = _place(book, typed.place_code, region_code)
    starts_on, ends_on = _dates(kind, typed, today)
    status = FilingStatus.PENDING if rules.needs_confirmation else FilingStatus.ACTIVE
    return conn.execute(
        insert(care_filings).values(
            person_id=person_id, region_code=region_code, place_code=place, kind=kind.key, reason=reason.key,
            required_documents=list(kind.documents), rule_ids=list(rules.rule_ids), starts_on=starts_on,
            ends_on=ends_on, status=status.value, replaces_id=replaces_id, created_by=actor.label, created_at=now,
        ).returning(care_filings.c.id)
    ).scalar_one()


def _place(book: PolicyBook, code: str, home: str) -> str:
    """The pooling region of the place of care; never the person's own."""
    if not (code or "").strip():
        raise InvalidInput("请选择备案地（就医地）", field="place", code="filing_place_required")
    place = book.regions.pooling_region_for(code, field="place")
    if place.code == home:
        raise InvalidInput("备案地是您参保的统筹区，在本地就医无需办理异地就医备案", field="place",
                           code="filing_place_home")
    return place.code


def _dates(kind, typed: FilingInput, today: date) -> tuple[date, date | None]:
    if typed.starts_on is None:
        raise InvalidInput("请选择开始日期", field="starts_on", code="filing_start_required")
    if typed.starts_on < today:
        raise InvalidInput("开始日期不能早于今天", field="starts_on", code="filing_start_past")
    if kind.until_cancelled:
        if typed.ends_on is not None:
            raise InvalidInput(f"{kind.name}备案长期有效，直至取消，无需填写结束日期", field="ends_on",
                               code="filing_end_not_allowed")
        return typed.starts_on, None
    shortest = earliest_end(typed.starts_on, kind.minimum_months)
    if typed.ends_on is None:
        raise InvalidInput(f"请选择结束日期（{kind.name}备案至少{kind.minimum_months}个月）", field="ends_on",
                           code="filing_end_required")
    if typed.ends_on < shortest:
        raise InvalidInput(
            f"{kind.name}备案有效期至少{kind.minimum_months}个月：结束日期不能早于{shortest.isoformat()}",
            field="ends_on", code="filing_too_short",
        )
    return typed.starts_on, typed.ends_on


def _person_region(conn: Connection, person_id: int) -> str:
    # Locked: two filings sent at once by the same person are taken one after the other.
    return conn.execute(
        select(persons.c.region_code).where(persons.c.id == person_id).with_for_update()
    ).scalar_one()


def _open_filing(conn: Connection, person_id: int, today: date):
    query = select(care_filings).where(
        care_filings.c.person_id == person_id, care_filings.c.status.in_(OPEN),
        or_(care_filings.c.ends_on.is_(None), care_filings.c.ends_on >= today),
    )
    return conn.execute(query).mappings().first()


def _require_open(row, today: date, message: str) -> None:
    if not is_open(row, today):
        raise FilingConflict(f"{message}（当前：{status_label(row, today)}）", field="filing_id",
                             code="filing_wrong_status")


def _move(conn: Connection, row, to: FilingStatus, **values) -> None:
    moved = conn.execute(
        update(care_filings).where(and_(care_filings.c.id == row["id"], care_filings.c.status == row["status"]))
        .values(status=to.value, **values)
    ).rowcount
    if moved != 1:
        raise FilingConflict("备案状态已被更新，请刷新后重试", field="filing_id", code="filing_wrong_status")


# ---------------------------------------------------------------------------- staff decision


MIN_NOTE, MAX_NOTE = 2, 200


def decide(conn: Connection, row, *, staff_id: int, approve: bool, note: str, now: datetime,
           place_name: str, kind_name: str) -> notifications.Outgoing | None:
    """Confirm or reject a waiting filing with a reason; the person is told. Returns the SMS."""
    text = (note or "").strip()
    if not MIN_NOTE <= len(text) <= MAX_NOTE:
        raise InvalidInput(f"请填写确认意见或不予通过的原因（{MIN_NOTE}至{MAX_NOTE}字）", field="note",
                           code="note_required")
    if row["status"] != FilingStatus.PENDING.value:
        raise FilingConflict(f"只有待确认的备案可以确认或不予通过（当前：{FilingStatus(row['status']).label}）",
                             field="filing_id", code="filing_wrong_status")
    to = FilingStatus.ACTIVE if approve else FilingStatus.REJECTED
    _move(conn, row, to, decided_by=staff_id, decided_at=now, decision_note=text)
    outcome = "已确认生效" if approve else f"未通过，原因：{text}"
    return notifications.notify(
        conn, row["person_id"], kind=DECIDED, now=now,
        text=f"您的异地就医备案（{kind_name}，备案地{place_name}，{row['starts_on'].isoformat()}起）{outcome}。",
    )


def rules_for(book: PolicyBook, conn: Connection, person_id: int, day: date) -> FilingRules:
    """The filing rules of the person's own pooling region (the one that confirms their filings)."""
    region_code = conn.execute(select(persons.c.region_code).where(persons.c.id == person_id)).scalar_one()
    return filing_rules(book, region_code, day)
