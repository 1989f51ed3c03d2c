"""Account details (明细): filter by date range, kind and account, page through, export as CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from yibao.domain.money import Money
from yibao.errors import InvalidInput
from yibao.ledger.kinds import TxKind
from yibao.security.principal import Principal
from yibao.web.api import reads
from yibao.web.deps import get_engine
from yibao.web.portal.forms import FormErrors, parse_day, parse_id, parse_page
from yibao.web.portal.pages import PageRoute, account_options, current_person, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE_SIZE = 20
EXPORT_BATCH = 500
CSV_HEADER = ["日期", "类型", "金额（元）", "摘要", "账户编号", "交易编号"]
# Excel runs a cell that starts with these as a formula; a memo must never do that.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class DetailFilter:
    date_from: date | None
    date_to: date | None
    kind: TxKind | None
    account_id: int | None

    def query(self, **extra) -> str:
        values = {
            "date_from": self.date_from and self.date_from.isoformat(),
            "date_to": self.date_to and self.date_to.isoformat(),
            "kind": self.kind and self.kind.value,
            "account_id": self.account_id,
            **extra,
        }
        return urlencode({name: value for name, value in values.items() if value})


def _parse_kind(text: str, field: str) -> TxKind:
    try:
        return TxKind(text)
    except ValueError:
        raise InvalidInput("请选择有效的交易类型", field=field, code="invalid_choice") from None


def _filter(errors: FormErrors, date_from, date_to, kind, account_id) -> DetailFilter:
    return DetailFilter(
        errors.parse(parse_day, date_from, "date_from"), errors.parse(parse_day, date_to, "date_to"),
        errors.parse(_parse_kind, kind, "kind"), errors.parse(parse_id, account_id, "account_id"),
    )


@router.get("/portal/details")
def details_page(
    request: Request,
    principal: Principal = Depends(current_person),
    date_from: str | None = None,
    date_to: str | None = None,
    kind: str | None = None,
    account_id: str | None = None,
    page: str | None = None,
) -> HTMLResponse:
    errors = FormErrors()
    chosen = _filter(errors, date_from, date_to, kind, account_id)
    result = None
    with get_engine(request).connect() as conn:
        own_accounts = reads.account_list(conn, principal.person_id).accounts
        if not errors:
            try:
                result = _read(conn, principal.person_id, chosen, parse_page(page), PAGE_SIZE)
            except InvalidInput as error:
                errors.add(error)
    pages = max(1, -(-result.total // PAGE_SIZE)) if result else 1
    context = {
        "typed": {"date_from": date_from or "", "date_to": date_to or "", "kind": kind or "", "account_id": account_id or ""},
        "errors": errors.by_field, "result": result, "pages": pages, "filter": chosen,
        "account_options": account_options(own_accounts),
        "kinds": [(each.value, each.label) for each in TxKind],
    }
    return render(request, "portal/details.html", context, status_code=422 if errors else 200, principal=principal)


@router.get("/portal/details.csv")
def details_csv(
    request: Request,
    principal: Principal = Depends(current_person),
    date_from: str | None = None,
    date_to: str | None = None,
    kind: str | None = None,
    account_id: str | None = None,
) -> Response:
    errors = FormErrors()
    chosen = _filter(errors, date_from, date_to, kind, account_id)
    if errors:
        raise InvalidInput(next(iter(errors.by_field.values())), field=next(iter(errors.by_field)))
    with get_engine(request).connect() as conn:
        text = _csv(conn, principal.person_id, chosen)
    return Response(
        ("\ufeff" + text).encode("utf-8"),  # the BOM makes Excel read the Chinese as UTF-8
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="yibao-details.csv"'},
    )


def _read(conn, person_id: int, chosen: DetailFilter, page: int, page_size: int):
    return reads.details(
        conn, person_id, account_id=chosen.account_id, date_from=chosen.date_from, date_to=chosen.date_to,
        kind=chosen.kind, page=page, page_size=page_size,
    )


def _csv(conn, person_id: int, chosen: DetailFilter) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    page = 1
    while True:
        batch = _read(conn, person_id, chosen, page, EXPORT_BATCH)
        for item in batch.items:
            writer.writerow([
                item.date.isoformat(), _cell(item.kind_label), *_amount_and_memo(item),
                item.account_id, item.transaction_id,
            ])
        if page * EXPORT_BATCH >= batch.total:
            return out.getvalue()
        page += 1


def _amount_and_memo(item) -> list[str]:
    """A line a relative's account paid moved nothing on the person's own account: 0.00, and who paid what."""
    if item.paid_by:
        return [Money(0).yuan_str(), _cell(f"{item.memo}（{item.paid_by}{item.amount}）")]
    return [Money(item.amount_fen).yuan_str(), _cell(item.memo)]


def _cell(text: str | None) -> str:
    text = text or ""
    return "'" + text if text.startswith(FORMULA_STARTS) else text
