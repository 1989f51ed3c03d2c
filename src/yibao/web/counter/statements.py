"""Statements of a list of people at the workbench (批量打印对账单): one PDF, one statement each.

The clerk pastes ID numbers (one a line), picks a period and states a reason. Every line is
checked before anything is printed: the ID's check character, a person with that number, in
the clerk's regions (a person elsewhere reads "not found", as everywhere at the workbench),
with a personal account. Any bad line re-renders the form with the line numbers and reasons.
Then one PDF holds every statement, each from a new page and numbered on its own, and each
person's statement is written to the audit log (``staff.person.statement``, as for one
statement) with the reason, the period, the batch size and the channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from urllib.parse import quote

from fastapi import Depends, Form, Request, Response
from sqlalchemy import select

from yibao.errors import InvalidInput
from yibao.ledger.accounts import current_personal_account
from yibao.security.permissions import Permission
from yibao.security.principal import Principal
from yibao.security.signin import parse_id_number
from yibao.statements import statements_pdf
from yibao.statements.data import MAX_PERIOD_YEARS
from yibao.store.models import persons
from yibao.web.api.staff import in_region
from yibao.web.counter.case import COMMON_REASONS, OTHER, stated_reason
from yibao.web.counter.workbench import HOME, Requires, audit_action, check_form, page, workbench_router
from yibao.web.deps import get_engine, get_security
from yibao.web.page_tools import requested_period, statement_period, today

router = workbench_router()
STATEMENTS = f"{HOME}/statements"
MAX_PEOPLE = 200
MAX_TEXT_CHARS = MAX_PEOPLE * 24  # an ID number, spaces and a line break each
STATEMENT_ACTION = "staff.person.statement"  # the same action as one person's statement

batch_printer = Requires(Permission.STATEMENT_BATCH)


@dataclass(frozen=True)
class BadLine:
    number: int  # the line number the clerk sees in the text box
    text: str
    message: str


@router.get(STATEMENTS)
def batch_form(request: Request, principal: Principal = Depends(batch_printer)) -> Response:
    start, end = statement_period(today(request))
    form = {"id_numbers": "", "date_from": start.isoformat(), "date_to": end.isoformat(), "reason_choice": "",
            "reason_other": ""}
    return _form_page(request, principal, form)


@router.post(STATEMENTS)
def batch_print(
    request: Request,
    principal: Principal = Depends(batch_printer),
    csrf: str = Form(""),
    id_numbers: str = Form(""),
    date_from: str = Form(""),
    date_to: str = Form(""),
    reason_choice: str = Form(""),
    reason_other: str = Form(""),
) -> Response:
    check_form(request, csrf)
    form = {"id_numbers": id_numbers[:MAX_TEXT_CHARS], "date_from": date_from.strip()[:10], "date_to": date_to.strip()[:10],
            "reason_choice": reason_choice, "reason_other": reason_other.strip()[:200]}
    try:
        reason = stated_reason(reason_choice, reason_other)
        start, end = _period(request, form["date_from"], form["date_to"])
        lines = _lines(id_numbers)
        with get_engine(request).connect() as conn:
            people, bad = _people(request, conn, principal, lines)
        if bad:
            return _form_page(request, principal, form, bad=bad, status_code=422)
    except InvalidInput as error:
        return _form_page(request, principal, form, error=error, status_code=422)
    period = {"date_from": start.isoformat(), "date_to": end.isoformat()}
    with get_engine(request).begin() as conn:
        for person_id, _account_id in people:
            audit_action(conn, request, principal, STATEMENT_ACTION, reason=reason, person_id=person_id,
                         detail={**period, "batch_size": len(people)})
        content = statements_pdf(conn, account_ids=[account_id for _, account_id in people], date_from=start, date_to=end,
                                 generated_at=get_security(request).now())
    return _pdf(content, len(people), start, end)


def _period(request: Request, date_from: str, date_to: str) -> tuple[date, date]:
    return requested_period(today(request), date_from, date_to)


def _lines(text: str) -> list[tuple[int, str]]:
    """The non-blank lines with their numbers; at least one, at most ``MAX_PEOPLE``."""
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidInput(f"一次最多打印 {MAX_PEOPLE} 人的对账单，请分批打印", field="id_numbers", code="too_many_people")
    lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise InvalidInput("请填写身份证号码，每行一个", field="id_numbers", code="id_numbers_required")
    if len(lines) > MAX_PEOPLE:
        raise InvalidInput(f"一次最多打印 {MAX_PEOPLE} 人的对账单（本次填写了 {len(lines)} 个），请分批打印",
                           field="id_numbers", code="too_many_people")
    return lines


def _people(request: Request, conn, principal: Principal, lines: list[tuple[int, str]]) -> tuple[list[tuple[int, int]], list[BadLine]]:
    """(person id, personal account id) of every line, or every line that is wrong and why."""
    sec = get_security(request)
    parsed: list[tuple[int, str, str]] = []
    bad: list[BadLine] = []
    for number, text in lines:
        shown = text[:30]
        try:
            parsed.append((number, shown, parse_id_number(sec, text).full))
        except InvalidInput as error:
            bad.append(BadLine(number, shown, error.message))
    found = {
        row.id_number: row for row in conn.execute(
            select(persons.c.id, persons.c.id_number, persons.c.region_code)
            .where(persons.c.id_number.in_(sorted({full for _, _, full in parsed})))
        )
    } if parsed else {}
    people: list[tuple[int, int]] = []
    first_line: dict[str, int] = {}
    for number, shown, full in parsed:
        row = found.get(full)
        if full in first_line:
            bad.append(BadLine(number, shown, f"与第 {first_line[full]} 行重复"))
            continue
        first_line[full] = number
        if row is None or not in_region(principal, row.region_code):  # elsewhere reads as unknown
            bad.append(BadLine(number, shown, "未找到该参保人"))
            continue
        account = current_personal_account(conn, row.id)
        if account is None:
            bad.append(BadLine(number, shown, "该参保人没有个人账户"))
            continue
        people.append((row.id, account.id))
    return people, sorted(bad, key=lambda line: line.number)


def _pdf(content: bytes, count: int, start: date, end: date) -> Response:
    period = f"{start:%Y%m%d}-{end:%Y%m%d}"
    ascii_name = f"statements-{count}-{period}.pdf"
    chinese_name = quote(f"医保个人账户对账单-{count}人-{period}.pdf")
    return Response(content, media_type="application/pdf", headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{chinese_name}",
        "Cache-Control": "no-store",
    })


def _form_page(request: Request, principal: Principal, form: dict, *, bad: list[BadLine] | None = None,
               error: InvalidInput | None = None, status_code: int = 200) -> Response:
    context = {
        "form": form, "bad": bad or [], "error": error.message if error else None,
        "error_field": _field_of(error) if error else ("id_numbers" if bad else None),
        "reasons": COMMON_REASONS, "other": OTHER, "max_people": MAX_PEOPLE, "max_years": MAX_PERIOD_YEARS,
    }
    return page(request, "counter/statements/batch.html", principal, context, nav="statements", status_code=status_code)


def _field_of(error: InvalidInput) -> str:
    if error.field in ("date_from", "date_to"):
        return "period"
    return error.field if error.field in ("reason", "id_numbers") else "id_numbers"
