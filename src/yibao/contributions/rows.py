"""One row of a contribution file, checked on its own: parsed values or the reasons it fails."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from yibao.contributions.columns import (
    COLUMN_BY_KEY,
    FLEXIBLE_EMPLOYER,
    cell_fault,
    parse_amount,
    parse_day,
    parse_flag,
    parse_insurance_type,
    parse_month,
    text_of,
)
from yibao.contributions.reader import SourceRow
from yibao.domain.contribution import BASIS_POINTS, Contribution
from yibao.domain.money import Money
from yibao.domain.person import MAX_NAME_LENGTH, InsuranceType
from yibao.domain.resident_id import ResidentId
from yibao.errors import InvalidInput

WHOLE_ROW = "整行"  # the column of a fault that is the row's, not one cell's
SHOWN_VALUE_CHARS = 40  # a report quotes the cell as typed, cut to this length


@dataclass(frozen=True)
class RowError:
    row: int
    column: str  # the Chinese heading
    code: str
    message: str
    value: str = ""  # the cell as typed (an ID number masked), so a clerk finds it in the file

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "code": self.code, "message": self.message, "value": self.value}


def shown_value(key: str, cell) -> str:
    """A cell as a report quotes it: trimmed, cut short, and an ID number masked like everywhere else."""
    text = text_of(cell)
    if key == "id_number":
        return mask_id_text(text)
    return text if len(text) <= SHOWN_VALUE_CHARS else text[:SHOWN_VALUE_CHARS - 1] + "…"


def mask_id_text(text: str) -> str:
    """An ID number as typed, valid or not, with its middle hidden (first 6 and last 4 shown, as ``masked``)."""
    compact = "".join(text.split())[:SHOWN_VALUE_CHARS]
    if len(compact) >= 14:
        return compact[:6] + "*" * (len(compact) - 10) + compact[-4:]
    return "*" * max(len(compact) - 2, 0) + compact[-2:] if len(compact) > 2 else "*" * len(compact)


@dataclass(frozen=True)
class ContributionRow:
    number: int
    id_number: str
    name: str
    insurance_type: InsuranceType
    record: Contribution

    def figures(self) -> tuple:
        """The values compared with an existing record of the same person and month."""
        c = self.record
        return (
            c.base.fen, c.employer_part.fen, c.individual_part.fen, self.insurance_type.value, c.flexible,
            c.paid_on, c.is_makeup,
        )

    def as_db_row(self, person_id: int) -> tuple:
        c = self.record
        return (
            person_id, c.month, self.insurance_type.value, c.base.fen, c.employer_rate_bp, c.individual_rate_bp,
            c.employer_part.fen, c.individual_part.fen, c.account_part.fen, c.employer_name, c.flexible, c.paid_on,
            c.is_makeup,
        )


DB_COLUMNS = (
    "person_id", "month", "insurance_type", "base_fen", "employer_rate_bp", "individual_rate_bp", "employer_fen",
    "individual_fen", "account_fen", "employer_name", "flexible", "paid_on", "is_makeup",
)


def check_row(source: SourceRow, *, today: date, need_name: bool) -> ContributionRow | list[RowError]:
    """The row's values, or every reason it is wrong (a person fixes them all in one go)."""
    if source.fault is not None:
        return [RowError(source.number, WHOLE_ROW, source.fault.code, source.fault.message)]
    faults = {key: fault for key, cell in source.cells.items() if (fault := cell_fault(cell)) is not None}
    errors = [
        RowError(source.number, COLUMN_BY_KEY[key].label, fault.code, fault.message, shown_value(key, source.cells.get(key)))
        for key, fault in faults.items()
    ]
    values = {}
    for key, parse in _PARSERS.items():
        if key in faults:
            continue
        try:
            values[key] = parse(source.cells.get(key), today)
        except InvalidInput as error:
            errors.append(RowError(source.number, COLUMN_BY_KEY[key].label, error.code, error.message,
                                   shown_value(key, source.cells.get(key))))
    name = text_of(source.cells.get("name"))
    if "name" not in faults and need_name and not name:
        errors.append(RowError(source.number, "姓名", "name_missing", "新参保人须填写姓名"))
    elif "name" not in faults and len(name) > MAX_NAME_LENGTH:
        errors.append(RowError(source.number, "姓名", "name_too_long", "姓名过长", shown_value("name", name)))
    if errors:
        return errors
    try:
        record = _record(values, source, today)
    except InvalidInput as error:
        column = COLUMN_BY_KEY.get(_COLUMN_OF_FIELD.get(error.field or "", ""), COLUMN_BY_KEY["base"])
        return [RowError(source.number, column.label, error.code, error.message, shown_value(column.key, source.cells.get(column.key)))]
    return ContributionRow(source.number, values["id_number"].full, name, values["insurance_type"], record)


def _record(values: dict, source: SourceRow, today: date) -> Contribution:
    base, employer, individual = values["base"], values["employer_part"], values["individual_part"]
    if employer + individual > base:
        raise InvalidInput("单位与个人缴费之和超过缴费基数", field="employer_part", code="parts_exceed_base")
    employer_name = text_of(source.cells.get("employer_name"))
    flexible = values["insurance_type"] is InsuranceType.EMPLOYEE and employer_name in ("", FLEXIBLE_EMPLOYER)
    record = Contribution(
        month=values["month"],
        base=base,
        employer_rate_bp=_rate_bp(employer, base),
        individual_rate_bp=_rate_bp(individual, base),
        employer_part=employer,
        individual_part=individual,
        # Since the 2021 reform the individual part is what goes to the personal account.
        account_part=individual if values["insurance_type"] is InsuranceType.EMPLOYEE else Money(0),
        paid_on=values["paid_on"],
        employer_name=(FLEXIBLE_EMPLOYER if flexible else employer_name) or None,
        flexible=flexible,
        is_makeup=values["is_makeup"],
    )
    record.check_not_future(today)
    return record


def _rate_bp(part: Money, base: Money) -> int:
    """The rate the bill implies, in basis points (half-up); kept for display and checks."""
    if base.fen == 0:
        return 0
    return int((Decimal(part.fen) * BASIS_POINTS / base.fen).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _id_number(cell, today: date) -> ResidentId:
    return ResidentId.parse(text_of(cell), today=today)


_PARSERS = {
    "id_number": _id_number,
    "month": lambda cell, _today: parse_month(cell),
    "base": lambda cell, _today: parse_amount(cell),
    "employer_part": lambda cell, _today: parse_amount(cell),
    "individual_part": lambda cell, _today: parse_amount(cell),
    "insurance_type": lambda cell, _today: parse_insurance_type(cell),
    "paid_on": lambda cell, _today: parse_day(cell),
    "is_makeup": lambda cell, _today: parse_flag(cell),
}
# Domain errors name the domain's field; a report names the file's column.
_COLUMN_OF_FIELD = {
    "month": "month", "paid_on": "paid_on", "base": "base", "employer_part": "employer_part",
    "individual_part": "individual_part", "account_part": "individual_part",
    "employer_rate_bp": "employer_part", "individual_rate_bp": "individual_part",
}
