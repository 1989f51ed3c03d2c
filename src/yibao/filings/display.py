"""A filing in words (kind, place, reason, status, validity), as the portal, the API and the
workbench show it: the keys the table stores are never shown to a person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from yibao.filings import service
from yibao.filings.rules import kind_name, reason_name
from yibao.policy.parameters import PolicyBook


@dataclass(frozen=True)
class FilingLine:
    id: int
    kind: str
    kind_label: str
    place_code: str
    place_name: str
    reason: str
    reason_label: str
    starts_on: date
    ends_on: date | None
    status: str
    status_label: str
    validity: str
    in_force: bool
    open: bool  # may still be changed or cancelled
    required_documents: tuple[str, ...]
    decision_note: str | None
    replaces_id: int | None


def region_label(book: PolicyBook, code: str) -> str:
    return book.regions.get(code).name if code in book.regions else "未知地区"


def describe(book: PolicyBook, row, day: date) -> FilingLine:
    # Names as the data in force on the filing's start day names them.
    named_on = row["starts_on"]
    return FilingLine(
        id=row["id"], kind=row["kind"], kind_label=kind_name(book, row["region_code"], named_on, row["kind"]),
        place_code=row["place_code"], place_name=region_label(book, row["place_code"]), reason=row["reason"],
        reason_label=reason_name(book, row["region_code"], named_on, row["kind"], row["reason"]),
        starts_on=row["starts_on"], ends_on=row["ends_on"], status=row["status"],
        status_label=service.status_label(row, day), validity=service.validity_text(row),
        in_force=service.in_force(row, day), open=service.is_open(row, day),
        required_documents=tuple(row["required_documents"]), decision_note=row["decision_note"],
        replaces_id=row["replaces_id"],
    )
