"""Family sharing (家庭共济) on the portal: bind a close relative, consent to a relative's
request, see and end bindings in both directions, pay a bound relative's residents' premium,
and see what was paid for whom. The operations are ``yibao.family.service``'s, the same as the
API's (same checks, same audit rows, same notices).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse

from yibao import notifications
from yibao.errors import InvalidInput, NotFound, YibaoError
from yibao.family import bindings, service
from yibao.security.principal import Principal
from yibao.web.deps import client_address, get_engine, get_security, policy_book
from yibao.web.page_tools import today
from yibao.web.portal.forms import parse_id
from yibao.web.portal.pages import PageRoute, check_form, current_person, field_errors, redirect, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

FAMILY_PATH = "/portal/family"
NOTICES = {
    "requested": "已向亲属发送绑定请求。亲属登录后在“家庭共济”页面同意，绑定即生效。",
    "consented": "已同意，家庭共济绑定已生效。",
    "ended": "已解除绑定。",
    "paid": "代缴成功，已从您的个人账户扣款。",
}
SHOWN_NOTIFICATIONS = 10


@router.get(FAMILY_PATH)
def family_page(request: Request, principal: Principal = Depends(current_person), notice: str | None = None) -> HTMLResponse:
    return _page(request, principal, notice=NOTICES.get(notice or ""))


@router.post(FAMILY_PATH + "/bind")
def bind(
    request: Request, principal: Principal = Depends(current_person), csrf: str = Form(""),
    id_number: str = Form(""), relation: str = Form(""),
) -> Response:
    check_form(request, csrf)
    form = {"id_number": id_number, "relation": relation}
    try:
        service.bind(get_engine(request), get_security(request), policy_book(request), _acting(request, principal),
                     id_number=id_number, relation=relation)
    except InvalidInput as error:
        return _page(request, principal, form=form, errors=field_errors(error), status_code=422)
    except YibaoError as error:  # already bound, no account to share: shown above the form
        return _page(request, principal, form=form, errors={"id_number": error.message}, status_code=409)
    return redirect(FAMILY_PATH + "?notice=requested")


@router.post(FAMILY_PATH + "/{binding_id}/consent")
def consent(request: Request, binding_id: int, principal: Principal = Depends(current_person), csrf: str = Form("")) -> Response:
    check_form(request, csrf)
    service.consent(get_engine(request), get_security(request), _acting(request, principal), parse_id(str(binding_id), "binding_id"))
    return redirect(FAMILY_PATH + "?notice=consented")


@router.post(FAMILY_PATH + "/{binding_id}/end")
def end(request: Request, binding_id: int, principal: Principal = Depends(current_person), csrf: str = Form("")) -> Response:
    check_form(request, csrf)
    service.end(get_engine(request), get_security(request), _acting(request, principal), parse_id(str(binding_id), "binding_id"))
    return redirect(FAMILY_PATH + "?notice=ended")


@router.post(FAMILY_PATH + "/{binding_id}/premium")
def pay_premium(
    request: Request, binding_id: int, principal: Principal = Depends(current_person), csrf: str = Form(""),
    year: str = Form(""),
) -> Response:
    check_form(request, csrf)
    binding_id = parse_id(str(binding_id), "binding_id")
    if not year.isdigit() or len(year) != 4:
        return _page(request, principal, errors={"_form": "请选择缴费年度"}, status_code=422)
    try:
        service.pay_premium(get_engine(request), get_security(request), policy_book(request), _acting(request, principal),
                            binding_id, int(year))
    except NotFound:
        raise  # another person's binding: the "not found" page
    except YibaoError as error:
        return _page(request, principal, errors={"_form": error.message}, status_code=422)
    return redirect(FAMILY_PATH + "?notice=paid")


# ---------------------------------------------------------------------------- helpers


def _acting(request: Request, principal: Principal) -> service.Acting:
    return service.Acting(principal, client_address(request))


def _page(
    request: Request, principal: Principal, *, form: dict | None = None, errors: dict | None = None,
    notice: str | None = None, status_code: int = 200,
) -> HTMLResponse:
    day = today(request)
    with get_engine(request).connect() as conn:
        seen = service.bindings_of(conn, principal.person_id, day)
        context = {
            "to_consent": [each for each in seen if each.may_consent],
            "as_holder": [each for each in seen if each.role == "holder"],
            "as_member": [each for each in seen if each.role == "member"],
            "relations": service.relation_choices(conn, policy_book(request), principal.person_id, day),
            "payments": service.payments_of(conn, principal.person_id),
            "messages": notifications.for_person(conn, principal.person_id, SHOWN_NOTIFICATIONS),
            "can_hold": bindings.current_account(conn, principal.person_id) is not None,
        }
    context |= {
        "years": [day.year, day.year + 1], "form": form or {}, "errors": errors or {}, "notice": notice,
    }
    return render(request, "portal/family.html", context, status_code=status_code, principal=principal)
