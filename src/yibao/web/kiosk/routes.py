"""The self-service kiosk (自助服务一体机): insert the card, type the PIN on the screen, see the
balance, details and contribution records, print a statement, take the card back.

The session ends on "退卡", after ``kiosk_idle_seconds`` without a touch (counted in the
browser, which shows a warning, and on the server, which refuses an idle session), and at
most ``kiosk_session_max_seconds`` after the card went in. Every answer forbids caching,
so after the end neither the screen nor the back button shows anything of the person.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request, Response
from sqlalchemy import and_, select

from yibao.domain.card import CardNumber
from yibao.errors import InvalidInput
from yibao.policy.personal import person_answers, years_breakdown
from yibao.security.errors import AccessError
from yibao.security.phone_pin import PHONE_PIN
from yibao.security.principal import Kind, Principal
from yibao.security.sessions import revoke_session
from yibao.store.models import credentials, persons
from yibao.web import page_session
from yibao.web.api import reads
from yibao.web.api.statements import pdf_download
from yibao.web.deps import client_address, get_engine, get_security
from yibao.security.idle import KIOSK as idle
from yibao.web.kiosk.card_signin import sign_in_with_card
from yibao.web.page_session import Channel
from yibao.web.page_tools import (
    SignInRequired,
    check_signin_token,
    page_route,
    redirect,
    remember_nonce,
    render,
    signin_nonce,
    signin_token,
    statement_account,
    statement_period,
    today,
)

HOME = "/kiosk"
DETAILS_PER_PAGE = 20
CONTRIBUTIONS_PER_PAGE = 12
DEMO_CARDS = 6
NOTICES = {
    "idle": "长时间未操作，已自动退卡。",
    "card": "已退卡，请取走您的社保卡。",
    "expired": "本次服务已结束，请重新插卡。",
}

router = APIRouter(route_class=page_route(HOME, "kiosk/error.html"), include_in_schema=False)


# ---------------------------------------------------------------------------- who is at the kiosk


def kiosk_person(request: Request) -> Principal:
    """The person whose card is in, while the session lives; each request counts as a touch."""
    sec = get_security(request)
    principal = page_session.principal(request, Channel.KIOSK)
    if principal is None or principal.kind is not Kind.PERSON or principal.limited:
        raise SignInRequired("expired" if page_session.token_of(request, Channel.KIOSK) else None)
    if not idle.is_alive(sec, principal.session_id):
        _end_session(request, principal)
        raise SignInRequired("idle")
    idle.touch(sec, principal.session_id)
    return principal


def _end_session(request: Request, principal: Principal) -> None:
    sec = get_security(request)
    with get_engine(request).begin() as conn:
        revoke_session(conn, principal.session_id, sec.now())
    idle.forget(sec, principal.session_id)


def _screen(request: Request, template: str, principal: Principal, context: dict) -> Response:
    """A page shown while a card is in: the layout needs the CSRF token and the idle timeout."""
    values = {
        "csrf": page_session.csrf_token(request, Channel.KIOSK),
        "idle_seconds": get_security(request).settings.kiosk_idle_seconds,
        **context,
    }
    with get_engine(request).connect() as conn:
        values["holder"] = _holder(conn, principal.person_id)
    return render(request, template, values)


def _holder(conn, person_id: int) -> dict:
    row = reads.person_row(conn, person_id)
    return {
        "name": reads.mask_name(row["name"]),
        "card": CardNumber(row["card_number"]).masked if row["card_number"] else "",
        "region": reads.region_name(row["region_code"]) or row["region_code"],
    }


# ---------------------------------------------------------------------------- inserting the card


@router.get(HOME)
def start(request: Request, notice: str | None = None) -> Response:
    principal = page_session.principal(request, Channel.KIOSK)
    if principal is not None:
        if principal.kind is Kind.PERSON and idle.is_alive(get_security(request), principal.session_id):
            return redirect(f"{HOME}/home")
        _end_session(request, principal)
    response = _start_page(request, notice=NOTICES.get(notice or ""))
    if page_session.token_of(request, Channel.KIOSK):
        page_session.end(response, Channel.KIOSK)  # a session that ended: forget its cookie too
    return response


@router.post(f"{HOME}/signin")
def sign_in(request: Request, card_number: str = Form(""), pin: str = Form(""), form_token: str = Form("")) -> Response:
    try:
        check_signin_token(request, Channel.KIOSK, form_token)
        signed = sign_in_with_card(
            get_engine(request), get_security(request), card_number=card_number, pin=pin, client=client_address(request)
        )
    except (InvalidInput, AccessError) as error:
        status = 422 if isinstance(error, InvalidInput) else error.status_code
        step = "card" if isinstance(error, InvalidInput) and error.field == "card_number" else "pin"
        return _start_page(request, card_number=card_number.strip()[:20], error=error.message, step=step, status_code=status)
    previous = page_session.principal(request, Channel.KIOSK)
    if previous is not None:  # a card left in: its session ends before the next one starts
        _end_session(request, previous)
    idle.touch(get_security(request), _session_id_of(request, signed.token))
    response = redirect(f"{HOME}/home")
    page_session.start(request, response, Channel.KIOSK, signed.token, signed.expires_at)
    return response


def _session_id_of(request: Request, token: str) -> int:
    with get_engine(request).connect() as conn:
        principal = page_session.session_principal(conn, token, get_security(request), Channel.KIOSK.session_channel)
    return principal.session_id


def _start_page(
    request: Request, *, notice: str | None = None, card_number: str = "", error: str | None = None,
    step: str = "card", status_code: int = 200,
) -> Response:
    nonce = signin_nonce(request)
    context = {
        "form_token": signin_token(request, Channel.KIOSK, nonce), "notice": notice, "error": error,
        "card_number": card_number, "step": step if card_number else "card", "demo_cards": _demo_cards(request),
    }
    response = render(request, "kiosk/start.html", context, status_code=status_code)
    remember_nonce(request, response, nonce)
    return response


def _demo_cards(request: Request) -> list[dict]:
    """Cards of a few people who have a service password, for demonstrations without a card reader."""
    if not get_security(request).settings.kiosk_demo_cards:
        return []
    with get_engine(request).connect() as conn:
        rows = conn.execute(
            select(persons.c.card_number, persons.c.name, persons.c.region_code)
            .select_from(persons.join(
                credentials, and_(credentials.c.person_id == persons.c.id, credentials.c.kind == PHONE_PIN)
            ))
            .where(persons.c.card_number.is_not(None))
            .order_by(persons.c.id)
            .limit(DEMO_CARDS)
        ).all()
    return [
        {"card_number": row.card_number, "name": reads.mask_name(row.name), "region": reads.region_name(row.region_code) or ""}
        for row in rows
    ]


# ---------------------------------------------------------------------------- while the card is in


@router.get(f"{HOME}/home")
def home(request: Request, principal: Principal = Depends(kiosk_person)) -> Response:
    day = today(request)
    with get_engine(request).connect() as conn:
        balances = reads.account_list(conn, principal.person_id)
        answers = person_answers(conn, principal.person_id, day)
    return _screen(request, "kiosk/home.html", principal, {"balances": balances, **answers})


@router.get(f"{HOME}/details")
def details(request: Request, page: int = 1, principal: Principal = Depends(kiosk_person)) -> Response:
    with get_engine(request).connect() as conn:
        found = reads.details(
            conn, principal.person_id, account_id=None, date_from=None, date_to=None, kind=None,
            page=_page(page), page_size=DETAILS_PER_PAGE,
        )
    return _screen(request, "kiosk/details.html", principal, {"found": found, "pages": _pages(found.total, DETAILS_PER_PAGE)})


@router.get(f"{HOME}/contributions")
def contributions(request: Request, page: int = 1, principal: Principal = Depends(kiosk_person)) -> Response:
    with get_engine(request).connect() as conn:
        found = reads.contribution_page(
            conn, principal.person_id, month_from=None, month_to=None, page=_page(page), page_size=CONTRIBUTIONS_PER_PAGE
        )
    context = {"found": found, "pages": _pages(found.total, CONTRIBUTIONS_PER_PAGE), "years_text": _years_text(found)}
    return _screen(request, "kiosk/contributions.html", principal, context)


def _years_text(found) -> str | None:
    """Employee-insurance years, record and migrated totals apart; residents have none to count."""
    years = found.years.model_dump()
    return years_breakdown(years) if years["paid_months"] or years["deemed_months"] else None


@router.get(f"{HOME}/statement.pdf")
def statement(request: Request, principal: Principal = Depends(kiosk_person)) -> Response:
    date_from, date_to = statement_period(today(request))
    with get_engine(request).connect() as conn:
        account_id = statement_account(conn, principal.person_id)
        return pdf_download(request, conn, account_id=account_id, date_from=date_from, date_to=date_to)


@router.post(f"{HOME}/touch")
def keep_alive(request: Request, csrf: str = Form("")) -> Response:
    """The screen was touched without leaving the page: the server's idle clock starts again."""
    sec = get_security(request)
    principal = page_session.principal(request, Channel.KIOSK)
    if principal is None or not idle.is_alive(sec, principal.session_id):
        return Response(status_code=401)
    page_session.check_csrf(request, Channel.KIOSK, csrf)
    idle.touch(sec, principal.session_id)
    return Response(status_code=204)


@router.post(f"{HOME}/exit")
def take_card_back(request: Request, csrf: str = Form(""), why: str = Form("card")) -> Response:
    """退卡, or the browser's idle countdown ran out: the session ends either way."""
    principal = page_session.principal(request, Channel.KIOSK)
    if principal is not None:
        page_session.check_csrf(request, Channel.KIOSK, csrf)
        _end_session(request, principal)
    response = redirect(f"{HOME}?notice={'idle' if why == 'idle' else 'card'}")
    page_session.end(response, Channel.KIOSK)
    return response


def _page(page: int) -> int:
    return page if 1 <= page <= 100_000 else 1


def _pages(total: int, per_page: int) -> int:
    return max(1, -(-total // per_page))
