"""What the workbench's transfer and refund pages share: persons shown masked, staff named, a
step's note checked before anything is done, region names and dates in plain Chinese.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, select

from yibao.domain.person import mask_name
from yibao.domain.resident_id import ResidentId
from yibao.errors import InvalidInput, YibaoError
from yibao.security.errors import AccessError
from yibao.store.models import persons
from yibao.web.api import reads
from yibao.web.counter.case import COMMON_REASONS, OTHER

MIN_NOTE, MAX_NOTE = 2, 200  # as the staff API requires


@dataclass(frozen=True)
class Masked:
    name: str
    id_number: str


def masked_person(row) -> Masked:
    return Masked(mask_name(row["name"]), ResidentId(row["id_number"]).masked)


def persons_by_id(conn: Connection, ids) -> dict[int, object]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    rows = conn.execute(select(persons.c.id, persons.c.name, persons.c.id_number).where(persons.c.id.in_(ids))).mappings()
    return {row["id"]: row for row in rows}


def stated_note(text: str, what: str = "办理意见") -> str:
    """A step's note or reason, which goes into the audit row: 2 to 200 characters."""
    note = (text or "").strip()
    if not MIN_NOTE <= len(note) <= MAX_NOTE:
        raise InvalidInput(f"请填写{what}（{MIN_NOTE}至{MAX_NOTE}字），将记入审计日志", field="note", code="note_required")
    return note


def region_label(code: str | None) -> str:
    if not code:
        return "未填写"
    return reads.region_name(code) or "未知地区"


def date_text(day: date | None, empty: str = "暂无") -> str:
    return day.isoformat() if day is not None else empty


def reason_context(form: dict | None = None) -> dict:
    return {"reasons": COMMON_REASONS, "other": OTHER, "form": form or {"reason_choice": "", "reason_other": ""}}


def error_status(error: YibaoError) -> int:
    if isinstance(error, AccessError):
        return error.status_code
    return 422 if isinstance(error, InvalidInput) else 409
