"""The agency workbench (经办工作台) at ``/counter``: staff sign in (every role), see the work
waiting in their regions, and an agent states a reason, finds a person by ID or card number
and sees what the person asks about: balance, details, contributions and their gaps, the
policy answers for the person's own record, and a printed statement.

Finding, scoping and auditing go through the same functions as the staff API
(``yibao.web.api.staff``): region-scoped agents see only people of their region, and every
search and every view is written to the audit log with the reason. Until a reason is given
for a person, the counter shows only the masked ID number.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Path, Request, Response

from yibao.domain.person import InsuranceType
from yibao.domain.resident_id import ResidentId
from yibao.errors import InvalidInput, NotFound
from yibao.policy import personal
from yibao.policy.render import render as answer_lines
from yibao.security.errors import AccessError
from yibao.security.principal import Principal
from yibao.security.permissions import Permission
from yibao.security.sessions import revoke_session
from yibao.security.staff import sign_in_staff
from yibao.web import page_session
from yibao.web.api import reads
from yibao.web.api.staff import find_person, open_person
from yibao.web.api.statements import pdf_download
from yibao.web.counter.case import (
    COMMON_REASONS,
    OTHER,
    Case,
    close_case,
    open_case,
    reason_for,
    stated_reason,
)
from yibao.web.counter import queues
from yibao.web.counter.maintenance import person_freeze
from yibao.web.counter.workbench import CHANNEL_DETAIL, HOME, Requires, check_form, page, signed_in_staff, workbench_router
from yibao.web.deps import client_address, get_engine, get_security
from yibao.web.page_session import Channel
from yibao.web.page_tools import (
    SignInRequired,
    check_signin_token,
    redirect,
    remember_nonce,
    render,
    signin_nonce,
    signin_token,
    optional_day,
    requested_period,
    statement_account,
    statement_period,
    today,
)

DETAILS_PER_PAGE = 20
CONTRIBUTIONS_PER_PAGE = 24
NOTICES = {"signed_out": "您已安全退出。", "expired": "登录已过期，请重新登录。"}
SEARCH_KEYS = {"id_number": "身份证号码", "card_number": "社会保障卡卡号"}
WITHDRAW_REASONS = personal.WITHDRAW_REASONS.split("|")
# Lines of a rendered policy answer that give its rule, confidence and sources (shown folded).
BASIS_PREFIXES = ("依据：", "可信度：", "来源：")

router = workbench_router()
PersonId = Annotated[int, Path(ge=1, le=reads.MAX_ID)]


class ReasonNeeded(Exception):
    """A view of a person was asked for before a reason was stated for that person."""


# ---------------------------------------------------------------------------- who is at the counter


person_viewer = Requires(Permission.PERSON_VIEW)
statement_printer = Requires(Permission.STATEMENT_PRINT)


def _page(request: Request, template: str, principal: Principal, context: dict, *, status_code: int = 200) -> Response:
    return page(request, template, principal, context, nav=context.get("nav", "home"), status_code=status_code)


# ---------------------------------------------------------------------------- signing in and out


@router.get(HOME)
def home(request: Request, notice: str | None = None) -> Response:
    try:
        principal = signed_in_staff(request)
    except SignInRequired:
        response = _login_page(request, notice=NOTICES.get(notice or ""))
        if page_session.token_of(request, Channel.COUNTER):
            page_session.end(response, Channel.COUNTER)
            close_case(response)
        return response
    return _start_page(request, principal)


@router.post(f"{HOME}/login")
def login(request: Request, username: str = Form(""), password: str = Form(""), form_token: str = Form("")) -> Response:
    engine, sec = get_engine(request), get_security(request)
    try:
        check_signin_token(request, Channel.COUNTER, form_token)
        signed = sign_in_staff(
            engine, sec, username=username.strip(), password=password, client=client_address(request),
            channel=Channel.COUNTER.session_channel,
        )
    except (InvalidInput, AccessError) as error:
        status = 422 if isinstance(error, InvalidInput) else error.status_code
        return _login_page(request, username=username.strip()[:40], error=error.message, status_code=status)
    response = redirect(HOME)
    page_session.start(request, response, Channel.COUNTER, signed.token, signed.expires_at)
    close_case(response)
    return response


@router.post(f"{HOME}/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    principal = page_session.principal(request, Channel.COUNTER)
    if principal is not None:
        check_form(request, csrf)
        with get_engine(request).begin() as conn:
            revoke_session(conn, principal.session_id, get_security(request).now())
    response = redirect(f"{HOME}?notice=signed_out")
    page_session.end(response, Channel.COUNTER)
    close_case(response)
    return response


def _login_page(request: Request, *, notice: str | None = None, username: str = "", error: str | None = None,
                status_code: int = 200) -> Response:
    nonce = signin_nonce(request)
    context = {"form_token": signin_token(request, Channel.COUNTER, nonce), "notice": notice, "error": error, "username": username}
    response = render(request, "counter/login.html", context, status_code=status_code)
    remember_nonce(request, response, nonce)
    return response


# ---------------------------------------------------------------------------- finding a person


@router.post(f"{HOME}/search")
def search(
    request: Request,
    principal: Principal = Depends(person_viewer),
    csrf: str = Form(""),
    key_kind: str = Form("id_number"),
    key: str = Form(""),
    reason_choice: str = Form(""),
    reason_other: str = Form(""),
) -> Response:
    check_form(request, csrf)
    form = {"key_kind": key_kind if key_kind in SEARCH_KEYS else "id_number", "key": key.strip()[:40],
            "reason_choice": reason_choice, "reason_other": reason_other.strip()[:200]}
    try:
        reason = stated_reason(reason_choice, reason_other)
        keys = {"id_number": None, "card_number": None, form["key_kind"]: form["key"]}
        row = find_person(
            get_engine(request), get_security(request), principal, **keys, reason=reason,
            client=client_address(request), detail=CHANNEL_DETAIL,
        )
    except (InvalidInput, NotFound) as error:
        status = 404 if isinstance(error, NotFound) else 422
        return _search_page(request, principal, form=form, error=error, status_code=status)
    response = redirect(f"{HOME}/persons/{row['id']}")
    open_case(request, response, Case(row["id"], reason))
    return response


def _search_page(request: Request, principal: Principal, *, form: dict | None = None, error: Exception | None = None,
                 status_code: int = 200) -> Response:
    return _start_page(request, principal, form=form, error=error, status_code=status_code)


def _start_page(request: Request, principal: Principal, *, form: dict | None = None, error: Exception | None = None,
                status_code: int = 200) -> Response:
    """The start page: the work waiting in the staff member's regions, and finding a person."""
    with get_engine(request).connect() as conn:
        waiting = queues.counts_for(conn, principal.scope, today(request), principal.may)
    context = {
        "queues": waiting, "may_search": principal.may(Permission.PERSON_VIEW),
        "form": form or {"key_kind": "id_number", "key": "", "reason_choice": "", "reason_other": ""},
        "error": error.message if error else None,
        "error_field": "reason" if getattr(error, "field", None) == "reason" else ("key" if error else None),
        "search_keys": SEARCH_KEYS, "reasons": COMMON_REASONS, "other": OTHER,
    }
    return _page(request, "counter/search.html", principal, context, status_code=status_code)


# ---------------------------------------------------------------------------- one person's views


def _opened(request: Request, principal: Principal, person_id: int, action: str, detail: dict | None = None) -> str:
    """The reason stated for this person; the view is checked against the region and audited."""
    reason = reason_for(request, person_id)
    if reason is None:
        raise ReasonNeeded()
    open_person(
        get_engine(request), get_security(request), principal, person_id, reason=reason, action=action,
        client=client_address(request), detail={**CHANNEL_DETAIL, **(detail or {})},
    )
    return reason


@router.get(HOME + "/persons/{person_id}")
def person(request: Request, person_id: PersonId, principal: Principal = Depends(person_viewer)) -> Response:
    try:
        reason = _opened(request, principal, person_id, "staff.person.profile")
    except ReasonNeeded:
        return _masked_person(request, principal, person_id)
    _opened(request, principal, person_id, "staff.person.accounts")
    with get_engine(request).connect() as conn:
        profile = reads.staff_profile(conn, person_id)
        balances = reads.account_list(conn, person_id)
    context = {
        "person_id": person_id, "reason": reason, "profile": profile, "balances": balances,
        "insurance_label": InsuranceType(profile.insurance_type).label, "tab": "overview",
        "freeze": person_freeze(request, person_id),
        "statement_period": statement_period(today(request)),
    }
    return _page(request, "counter/person.html", principal, context)


def _masked_person(request: Request, principal: Principal, person_id: int, *, error: str | None = None,
                   form: dict | None = None) -> Response:
    """Before a reason: only the masked ID number, so the agent can confirm whom to open."""
    open_person(
        get_engine(request), get_security(request), principal, person_id, reason=None, action="staff.person.masked",
        client=client_address(request), detail=CHANNEL_DETAIL,
    )
    with get_engine(request).connect() as conn:
        row = reads.person_row(conn, person_id)
    context = {
        "person_id": person_id, "id_masked": ResidentId(row["id_number"]).masked, "name_masked": reads.mask_name(row["name"]),
        "reasons": COMMON_REASONS, "other": OTHER, "error": error,
        "form": form or {"reason_choice": "", "reason_other": ""},
    }
    return _page(request, "counter/reason.html", principal, context, status_code=422 if error else 200)


@router.post(HOME + "/persons/{person_id}/reason")
def give_reason(
    request: Request,
    person_id: PersonId,
    principal: Principal = Depends(person_viewer),
    csrf: str = Form(""),
    reason_choice: str = Form(""),
    reason_other: str = Form(""),
) -> Response:
    check_form(request, csrf)
    try:
        reason = stated_reason(reason_choice, reason_other)
    except InvalidInput as error:
        form = {"reason_choice": reason_choice, "reason_other": reason_other.strip()[:200]}
        return _masked_person(request, principal, person_id, error=error.message, form=form)
    response = redirect(f"{HOME}/persons/{person_id}")
    open_case(request, response, Case(person_id, reason))
    return response


@router.get(HOME + "/persons/{person_id}/details")
def details(request: Request, person_id: PersonId, page: int = 1, principal: Principal = Depends(person_viewer)) -> Response:
    page = page if 1 <= page <= 100_000 else 1
    try:
        reason = _opened(request, principal, person_id, "staff.person.details", {"page": page})
    except ReasonNeeded:
        return redirect(f"{HOME}/persons/{person_id}")
    with get_engine(request).connect() as conn:
        found = reads.details(conn, person_id, account_id=None, date_from=None, date_to=None, kind=None, page=page,
                              page_size=DETAILS_PER_PAGE)
        profile = reads.staff_profile(conn, person_id)
    context = {"person_id": person_id, "reason": reason, "profile": profile, "found": found, "tab": "details",
               "pages": max(1, -(-found.total // DETAILS_PER_PAGE))}
    return _page(request, "counter/details.html", principal, context)


@router.get(HOME + "/persons/{person_id}/contributions")
def contributions(request: Request, person_id: PersonId, page: int = 1,
                  principal: Principal = Depends(person_viewer)) -> Response:
    page = page if 1 <= page <= 100_000 else 1
    try:
        reason = _opened(request, principal, person_id, "staff.person.contributions", {"page": page})
    except ReasonNeeded:
        return redirect(f"{HOME}/persons/{person_id}")
    with get_engine(request).connect() as conn:
        found = reads.contribution_page(conn, person_id, month_from=None, month_to=None, page=page,
                                        page_size=CONTRIBUTIONS_PER_PAGE)
        profile = reads.staff_profile(conn, person_id)
    context = {"person_id": person_id, "reason": reason, "profile": profile, "found": found, "tab": "contributions",
               "pages": max(1, -(-found.total // CONTRIBUTIONS_PER_PAGE))}
    return _page(request, "counter/contributions.html", principal, context)


@router.get(HOME + "/persons/{person_id}/policy")
def policy(request: Request, person_id: PersonId, retire_on: str = "", principal: Principal = Depends(person_viewer)) -> Response:
    try:
        reason = _opened(request, principal, person_id, "staff.person.policy")
    except ReasonNeeded:
        return redirect(f"{HOME}/persons/{person_id}")
    day = today(request)
    with get_engine(request).connect() as conn:
        profile = reads.staff_profile(conn, person_id)
        context = {
            "person_id": person_id, "reason": reason, "profile": profile, "tab": "policy", "retire_on": retire_on.strip()[:10],
            "credit": _answer(lambda: personal.credit_answer(conn, person_id, month=day, today=day)),
            "lifetime": _answer(lambda: personal.lifetime_answer(
                conn, person_id, today=day, retire_on=optional_day(retire_on, "retire_on"))),
            "years_text": personal.years_breakdown(personal.contribution_years(conn, person_id)),
            "resident": personal.resident_answer(conn, person_id, today=day) if profile.insurance_type == "resident" else None,
            "continuity": _answer(lambda: personal.continuity_answer(conn, person_id, today=day)),
            "withdrawals": [_answer(lambda each=each: personal.withdraw_answer(conn, person_id, reason=each, today=day))
                            for each in WITHDRAW_REASONS],
        }
    return _page(request, "counter/policy.html", principal, context)


def _answer(ask) -> dict:
    """An answer with its lines for people, or the engine's message when it cannot answer."""
    try:
        answer = ask()
    except InvalidInput as error:
        return {"error": error.message, "field": error.field}
    # The page header names the region and the footer carries the disclaimer: once is enough.
    lines = [line for line in answer_lines(answer, technical=False) if line != answer.get("disclaimer") and not line.startswith("地区：")]
    basis = [line for line in lines if line.startswith(BASIS_PREFIXES)]
    return {"answer": answer, "lines": [line for line in lines if line not in basis], "basis": basis}


@router.get(HOME + "/persons/{person_id}/statement.pdf")
def statement(request: Request, person_id: PersonId, date_from: str = "", date_to: str = "",
              principal: Principal = Depends(statement_printer)) -> Response:
    start, end = requested_period(today(request), date_from, date_to)
    period = {"date_from": start.isoformat(), "date_to": end.isoformat()}
    try:
        _opened(request, principal, person_id, "staff.person.statement", period)
    except ReasonNeeded:
        return redirect(f"{HOME}/persons/{person_id}")
    with get_engine(request).connect() as conn:
        account_id = statement_account(conn, person_id)
        return pdf_download(request, conn, account_id=account_id, date_from=start, date_to=end)
