"""异地就医备案 on the portal: file a long-term or temporary out-of-area care filing (kind and
reason, place, dates, the documents the policy data lists), see every filing with its status and
validity, change one (the old one is kept as 已变更) or cancel it.

The same service functions as the person's API (``filings.service``) and the same words
(``filings.display``); the form works without JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse

from yibao.errors import InvalidInput
from yibao.filings import service
from yibao.filings.display import describe
from yibao.filings.rules import earliest_end
from yibao.filings.service import Actor, FilingConflict, FilingInput
from yibao.security.principal import Principal
from yibao.web.api.withdrawals import audit_action
from yibao.web.deps import get_engine, get_security, policy_book
from yibao.web.page_tools import today
from yibao.web.portal.forms import parse_day, parse_id
from yibao.web.portal.pages import PageRoute, check_form, current_person, field_errors, redirect, render
from yibao.web.portal.region_picker import region_groups
from yibao.web.portal.withdrawals import at_fields

router = APIRouter(route_class=PageRoute, include_in_schema=False)

FILINGS_PATH = "/portal/filings"
FIELDS = ("choice", "place", "starts_on", "ends_on")
NOTICES = {
    "filed": "备案已提交。",
    "changed": "备案已变更，原备案记为“已变更”。",
    "cancelled": "备案已取消。",
}
# The service names kind and reason separately; the form offers them as one choice.
FIELD_OF = {"kind": "choice", "reason": "choice"}


@dataclass(frozen=True)
class Typed:
    """The form as typed: ``choice`` is "kind/reason"."""

    choice: str = ""
    place: str = ""
    starts_on: str = ""
    ends_on: str = ""

    def filing(self) -> FilingInput:
        kind, _, reason = self.choice.partition("/")
        if not kind or not reason:
            raise InvalidInput("请选择备案类型和原因", field="choice", code="filing_choice_required")
        starts = parse_day(self.starts_on.strip(), "starts_on") if self.starts_on.strip() else None
        ends = parse_day(self.ends_on.strip(), "ends_on") if self.ends_on.strip() else None
        return FilingInput(kind, self.place.strip(), reason, starts, ends)


def typed_form(choice: str, place: str, starts_on: str, ends_on: str, kinds) -> Typed:
    """What was typed; an end date typed for a long-term filing is dropped (the field is for temporary ones)."""
    kind = choice.partition("/")[0]
    until_cancelled = any(each.key == kind and each.until_cancelled for each in kinds)
    return Typed(choice[:60], place[:6], starts_on[:10], "" if until_cancelled else ends_on[:10])


@router.get(FILINGS_PATH)
def filings_page(request: Request, principal: Principal = Depends(current_person), notice: str | None = None,
                 change: str | None = None) -> HTMLResponse:
    changing = parse_id(change, "filing_id") if change else None
    return _page(request, principal, notice=NOTICES.get(notice or ""), changing=changing)


@router.post(FILINGS_PATH)
def file_filing(request: Request, principal: Principal = Depends(current_person), csrf: str = Form(""),
                choice: str = Form(""), place: str = Form(""), starts_on: str = Form(""),
                ends_on: str = Form("")) -> Response:
    check_form(request, csrf)
    actor = Actor("person", principal.person_id)
    typed = None
    try:
        with get_engine(request).begin() as conn:
            kinds = service.rules_for(policy_book(request), conn, principal.person_id, today(request)).kinds
            typed = typed_form(choice, place, starts_on, ends_on, kinds)
            filing_id = service.file(conn, policy_book(request), person_id=principal.person_id, typed=typed.filing(),
                                     today=today(request), actor=actor, now=get_security(request).now())
            audit_action(conn, request, principal, "filing.file", person_id=principal.person_id, reason=None,
                         detail={"filing_id": filing_id, "place": typed.place})
    except (InvalidInput, FilingConflict) as error:
        return _page(request, principal, typed=typed or Typed(choice[:60], place[:6]), errors=_errors(error),
                     status_code=422)
    return redirect(f"{FILINGS_PATH}?notice=filed")


@router.post(FILINGS_PATH + "/{filing_id}/change")
def change_filing(request: Request, filing_id: str, principal: Principal = Depends(current_person), csrf: str = Form(""),
                  choice: str = Form(""), place: str = Form(""), starts_on: str = Form(""),
                  ends_on: str = Form("")) -> Response:
    check_form(request, csrf)
    number = parse_id(filing_id, "filing_id")
    actor = Actor("person", principal.person_id)
    typed = None
    try:
        with get_engine(request).begin() as conn:
            row = service.visible_filing(conn, number, actor, lock=True)  # NotFound: not the person's
            kinds = service.rules_for(policy_book(request), conn, principal.person_id, today(request)).kinds
            typed = typed_form(choice, place, starts_on, ends_on, kinds)
            new_id = service.change(conn, policy_book(request), row, typed=typed.filing(), today=today(request),
                                    actor=actor, now=get_security(request).now())
            audit_action(conn, request, principal, "filing.change", person_id=principal.person_id, reason=None,
                         detail={"filing_id": new_id, "replaces_id": number, "place": typed.place})
    except (InvalidInput, FilingConflict) as error:
        return _page(request, principal, typed=typed or Typed(choice[:60], place[:6]), errors=_errors(error),
                     changing=number, status_code=422)
    return redirect(f"{FILINGS_PATH}?notice=changed")


@router.post(FILINGS_PATH + "/{filing_id}/cancel")
def cancel_filing(request: Request, filing_id: str, principal: Principal = Depends(current_person),
                  csrf: str = Form("")) -> Response:
    check_form(request, csrf)
    number = parse_id(filing_id, "filing_id")
    try:
        with get_engine(request).begin() as conn:
            row = service.visible_filing(conn, number, Actor("person", principal.person_id), lock=True)
            service.cancel(conn, row, today=today(request))
            audit_action(conn, request, principal, "filing.cancel", person_id=principal.person_id, reason=None,
                         detail={"filing_id": number})
    except FilingConflict as error:
        return _page(request, principal, errors={"_form": error.message}, status_code=409)
    return redirect(f"{FILINGS_PATH}?notice=cancelled")


def _errors(error) -> dict[str, str]:
    found = {FIELD_OF.get(field, field): message for field, message in field_errors(error).items()}
    return at_fields(found, FIELDS)


def _page(request: Request, principal: Principal, *, notice: str | None = None, typed: Typed | None = None,
          errors: dict | None = None, changing: int | None = None, status_code: int = 200) -> HTMLResponse:
    day, book = today(request), policy_book(request)
    with get_engine(request).connect() as conn:
        rows = service.filings_of(conn, principal.person_id)
        rules = service.rules_for(book, conn, principal.person_id, day)
        changed_row = service.visible_filing(conn, changing, Actor("person", principal.person_id)) if changing else None
    lines = [describe(book, row, day) for row in rows]
    if changed_row is not None and not service.is_open(changed_row, day):
        changed_row = None  # a closed filing is not changed: the page offers a new one instead
    context = {
        "filings": lines, "kinds": [_kind_view(kind, day) for kind in rules.kinds],
        "needs_confirmation": rules.needs_confirmation, "region_groups": region_groups(pooling_only=True),
        "typed": typed or _prefill(changed_row, day), "errors": errors or {}, "notice": notice,
        "changing": changed_row["id"] if changed_row is not None else None, "today": day.isoformat(),
        "can_file": changed_row is not None or not any(line.open for line in lines),
    }
    return render(request, "portal/filings.html", context, status_code=status_code, principal=principal)


def _kind_view(kind, day: date) -> dict:
    if kind.until_cancelled:
        length = "长期有效，直至本人取消"
    else:
        length = f"有效期至少{kind.minimum_months}个月（如今天开始，结束日期不早于 {earliest_end(day, kind.minimum_months).isoformat()}）"
    return {"key": kind.key, "name": kind.name, "length": length, "until_cancelled": kind.until_cancelled,
            "reasons": kind.reasons, "documents": kind.documents}


def _prefill(row, day: date) -> Typed:
    """A change starts from the filing as it is (from today at the earliest: a change takes effect ahead)."""
    if row is None:
        return Typed(starts_on=day.isoformat())
    return Typed(f"{row['kind']}/{row['reason']}", row["place_code"], max(row["starts_on"], day).isoformat(),
                 row["ends_on"].isoformat() if row["ends_on"] else "")
