"""Import a contribution file whole or not at all.

Three passes, and nothing is written until all of them found no fault:
1. every row on its own (ID check character, month, amounts, dates, flags);
2. the rows against each other (the same person and month twice with other figures);
3. the rows against the database (unknown people, a month already recorded otherwise).
Then one database transaction writes the new records (and, when allowed, enrols the
people it did not know). A record already present with the same figures is not written
again, so importing the same file twice changes nothing the second time, and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import Connection, Engine, select

from yibao.contributions.reader import open_contribution_file
from yibao.contributions.rows import DB_COLUMNS, ContributionRow, RowError, check_row, mask_id_text
from yibao.domain.person import Employment, InsuranceType
from yibao.domain.regions import regions
from yibao.domain.resident_id import ResidentId, Sex
from yibao.errors import InvalidInput
from yibao.ledger.accounts import open_personal_account
from yibao.store.bulk import insert_rows
from yibao.store.models import contributions, persons

LOOKUP_BATCH = 2_000  # ids per IN (...) query: well under every backend's parameter limit
MAX_REPORTED_ERRORS = 1_000  # a file with a wrong column can fail every row; the count stays exact


@dataclass
class ImportReport:
    file: str
    format: str = ""
    rows: int = 0
    added: int = 0
    unchanged: int = 0  # already recorded with the same figures
    people_created: int = 0
    # What the added records hold: people, months (first, last, how many), sums in fen.
    people: int = 0
    months: int = 0
    first_month: str | None = None  # "YYYY-MM"
    last_month: str | None = None
    employer_fen: int = 0
    individual_fen: int = 0
    account_fen: int = 0  # the part for personal accounts (credited by the monthly credit run)
    applied: bool = False
    error_count: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def already_imported(self) -> bool:
        return self.applied and self.rows > 0 and self.added == 0 and self.unchanged == self.rows

    def add_errors(self, errors: list[RowError]) -> None:
        self.error_count += len(errors)
        room = MAX_REPORTED_ERRORS - len(self.errors)
        self.errors.extend(errors[:max(room, 0)])

    def summary(self) -> str:
        if not self.applied:
            return f"文件未导入：发现 {self.error_count} 处错误，未做任何更改。请改正后重新导入整个文件。"
        if self.already_imported:
            return f"文件中的 {self.rows} 条记录此前均已导入，本次未做任何更改。"
        created = f"，新建参保人 {self.people_created} 人" if self.people_created else ""
        return f"导入成功：新增缴费记录 {self.added} 条，已存在且相同 {self.unchanged} 条{created}。"

    def as_dict(self) -> dict:
        data = asdict(self)
        data["errors"] = [error.as_dict() for error in self.errors]
        data["already_imported"] = self.already_imported
        data["message"] = self.summary()
        return data


@dataclass(frozen=True)
class ImportOptions:
    today: date
    # Enrol people the database does not know (needs a 姓名 column) in this pooling region.
    create_people_in: str | None = None
    # Staff scoped to one pooling region may only add records of people insured there.
    only_region: str | None = None


def import_contributions(
    engine: Engine,
    path: Path,
    options: ImportOptions,
    *,
    on_row: Callable[[int], None] | None = None,
    on_read: Callable[[int], None] | None = None,
    on_result: Callable[[Connection, ImportReport], None] | None = None,
) -> ImportReport:
    """``on_row`` is told each row read and ``on_read`` the number of rows once all are read;
    ``on_result`` gets the final report inside the import's transaction, so what it writes (an
    import job's outcome) commits with the records or not at all."""
    report = ImportReport(file=Path(path).name)
    opened = open_contribution_file(Path(path))
    report.format = opened.format
    region = _pooling_region(options.create_people_in)
    rows = _checked_rows(opened.rows, report, options, on_row)
    if on_read:
        on_read(report.rows)
    with engine.begin() as conn:
        # The good rows meet the database even when others failed, so one report lists
        # every fault of the file.
        person_ids = _known_people(conn, {row.id_number for row in rows})
        new_rows, unchanged = _compare_with_database(conn, rows, person_ids, region is not None, report)
        if options.only_region is not None:
            report.add_errors(_rows_outside(conn, rows, person_ids, options.only_region))
        if report.error_count:
            report.errors.sort(key=lambda error: error.row)
            if on_result:
                on_result(conn, report)
            return report  # only read so far: nothing to undo
        if region is not None:
            report.people_created = _enrol_new_people(conn, rows, person_ids, region, options.today)
        insert_rows(conn, contributions.name, DB_COLUMNS, (row.as_db_row(person_ids[row.id_number]) for row in new_rows))
        report.added, report.unchanged, report.applied = len(new_rows), unchanged, True
        _sum_up(report, new_rows)
        if on_result:
            on_result(conn, report)
    return report


def _pooling_region(region: str | None) -> str | None:
    if region is None:
        return None
    found = regions().find(region, field="region")
    return regions().pooling_region_for(found.code, field="region").code


def _checked_rows(source_rows, report: ImportReport, options: ImportOptions, on_row) -> list[ContributionRow]:
    """Passes 1 and 2: each row alone, then the rows against each other."""
    rows: list[ContributionRow] = []
    seen: dict[tuple[str, date], ContributionRow] = {}
    for source in source_rows:
        report.rows += 1
        if on_row:
            on_row(report.rows)
        checked = check_row(source, today=options.today, need_name=options.create_people_in is not None)
        if isinstance(checked, list):
            report.add_errors(checked)
            continue
        key = (checked.id_number, checked.record.month)
        earlier = seen.get(key)
        if earlier is None:
            seen[key] = checked
            rows.append(checked)
        elif earlier.figures() != checked.figures():
            report.add_errors([RowError(checked.number, "缴费月份", "duplicate_month",
                                        f"与第 {earlier.number} 行同一人同一月份，但金额或日期不同", _month_text(checked))])
        # An identical repeat of an earlier row adds nothing and is not an error.
    if report.rows == 0:
        raise InvalidInput("文件中没有缴费记录", field="file", code="file_empty")
    return rows


def _sum_up(report: ImportReport, added: list[ContributionRow]) -> None:
    months = sorted({row.record.month for row in added})
    report.people = len({row.id_number for row in added})
    report.months = len(months)
    report.first_month = f"{months[0]:%Y-%m}" if months else None
    report.last_month = f"{months[-1]:%Y-%m}" if months else None
    report.employer_fen = sum(row.record.employer_part.fen for row in added)
    report.individual_fen = sum(row.record.individual_part.fen for row in added)
    report.account_fen = sum(row.record.account_part.fen for row in added)


def _month_text(row: ContributionRow) -> str:
    return f"{row.record.month:%Y-%m}"


def _known_people(conn: Connection, id_numbers: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for batch in _batches(sorted(id_numbers)):
        found.update(conn.execute(select(persons.c.id_number, persons.c.id).where(persons.c.id_number.in_(batch))).all())
    return found


def _compare_with_database(
    conn: Connection, rows: list[ContributionRow], person_ids: dict[str, int], may_create: bool, report: ImportReport
) -> tuple[list[ContributionRow], int]:
    """Pass 3: unknown people, and months the database already holds (same or other figures)."""
    if not may_create:
        report.add_errors([
            RowError(row.number, "身份证号", "person_unknown", "查无此参保人", mask_id_text(row.id_number))
            for row in rows if row.id_number not in person_ids
        ])
    existing = _existing_figures(conn, [row for row in rows if row.id_number in person_ids], person_ids)
    new_rows, unchanged = [], 0
    for row in rows:
        recorded = existing.get((row.id_number, row.record.month))
        if recorded is None:
            new_rows.append(row)
        elif recorded == row.figures():
            unchanged += 1
        else:
            report.add_errors([RowError(row.number, "缴费月份", "month_recorded_differently",
                                        "该人该月已有缴费记录，金额或日期与本行不同", _month_text(row))])
    return new_rows, unchanged


def _rows_outside(conn: Connection, rows: list[ContributionRow], person_ids: dict[str, int], region: str) -> list[RowError]:
    outside: set[int] = set()
    for batch in _batches(sorted(set(person_ids.values()))):
        outside.update(conn.execute(
            select(persons.c.id).where(persons.c.id.in_(batch), persons.c.region_code != region)
        ).scalars())
    return [
        RowError(row.number, "身份证号", "person_other_region", "该参保人不在您所属的统筹区，无权导入其缴费记录",
                 mask_id_text(row.id_number))
        for row in rows if person_ids.get(row.id_number) in outside
    ]


def _existing_figures(conn: Connection, rows: list[ContributionRow], person_ids: dict[str, int]) -> dict:
    """What the database holds for the (person, month) pairs of ``rows``.

    Read by batches of people over the file's month range (the (person_id, month) index),
    then narrowed to the pairs wanted: a row-value ``IN`` list of pairs made PostgreSQL scan
    the whole table once per batch.
    """
    if not rows:
        return {}
    by_person_id = {person_ids[row.id_number]: row.id_number for row in rows}
    wanted = {(person_ids[row.id_number], row.record.month) for row in rows}
    first, last = min(month for _, month in wanted), max(month for _, month in wanted)
    c = contributions.c
    figures = {}
    for batch in _batches(sorted(by_person_id)):
        for record in conn.execute(
            select(c.person_id, c.month, c.base_fen, c.employer_fen, c.individual_fen, c.insurance_type, c.flexible,
                   c.paid_on, c.is_makeup).where(c.person_id.in_(batch), c.month.between(first, last))
        ):
            if (record.person_id, record.month) in wanted:
                figures[(by_person_id[record.person_id], record.month)] = (
                    record.base_fen, record.employer_fen, record.individual_fen, record.insurance_type,
                    bool(record.flexible), record.paid_on, bool(record.is_makeup),
                )
    return figures


def _enrol_new_people(
    conn: Connection, rows: list[ContributionRow], person_ids: dict[str, int], region: str, today: date
) -> int:
    """Enrol every unknown person with a personal account; their first month is the enrolment."""
    newcomers: dict[str, list[ContributionRow]] = {}
    for row in rows:
        if row.id_number not in person_ids:
            newcomers.setdefault(row.id_number, []).append(row)
    for id_number, own_rows in newcomers.items():
        latest = max(own_rows, key=lambda row: row.record.month)
        first_month = min(row.record.month for row in own_rows)
        resident_id = ResidentId.parse(id_number, today=today)
        person_ids[id_number] = conn.execute(
            persons.insert()
            .values(
                id_number=id_number, name=latest.name, sex="M" if resident_id.sex is Sex.MALE else "F",
                birth_date=resident_id.birth_date, region_code=region, insurance_type=latest.insurance_type.value,
                employment=_employment(latest).value, enrolled_on=first_month,
            )
            .returning(persons.c.id)
        ).scalar_one()
        open_personal_account(conn, person_ids[id_number], region, first_month)
    return len(newcomers)


def _employment(row: ContributionRow) -> Employment:
    if row.insurance_type is InsuranceType.RESIDENT:
        return Employment.NONE
    return Employment.FLEXIBLE if row.record.flexible else Employment.IN_SERVICE


def _batches(items: list) -> Iterator[list]:
    for start in range(0, len(items), LOOKUP_BATCH):
        yield items[start : start + LOOKUP_BATCH]
