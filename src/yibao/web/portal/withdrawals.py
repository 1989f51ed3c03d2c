"""支取 on the portal: apply with a reason the person's region allows (each reason shown with its
rule, confidence and sources; reasons the region does not allow shown as such, not offered),
name the bank account to pay into, upload each document the policy data requires (a file or
the phone's camera), submit, and follow the case to its decision.

The same service functions as the person's API (``withdrawals.cases``), the same views
(``web.api.withdrawals.case_view``) and the same upload checks (``documents``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from fastapi.responses import HTMLResponse

from yibao import documents
from yibao.domain.regions import regions
from yibao.errors import InvalidInput
from yibao.filings.display import describe
from yibao.filings.service import long_term_in_force
from yibao.policy.withdrawal import REASONS, WithdrawalRequest, withdrawal_answer
from yibao.security.principal import Principal
from yibao.web.api import reads
from yibao.web.api.withdrawals import audit_action, case_view, person_actor
from yibao.web.deps import get_engine, get_security, policy_book
from yibao.web.page_tools import today
from yibao.web.portal.forms import parse_id
from yibao.web.portal.pages import PageRoute, check_form, current_person, field_errors, redirect, render
from yibao.withdrawals import cases

router = APIRouter(route_class=PageRoute, include_in_schema=False)

WITHDRAWALS_PATH = "/portal/withdrawals"
# Reasons a person does not apply for here: heirs apply at the counter, a refused balance is
# offered by the transfer itself.
NOT_APPLIED_HERE = ("death", "refused")
ACCEPT = "application/pdf,image/jpeg,image/png"
NOTICES = {
    "applied": "申请已创建。请上传所需材料，材料齐全后提交审核。",
    "uploaded": "材料已上传。",
    "bank_set": "收款账户已保存。",
    "submitted": "申请已提交，经办机构审核后将支付到您的收款账户。",
}
PAYEE_FIELDS = ("bank_name", "bank_account", "account_holder")
CASE_FIELDS = ("file", "documents", *PAYEE_FIELDS)  # the fields the case page shows a message at


def reason_choices(book, region_code: str, day) -> list[dict]:
    """Each reason the person may apply for, with the engine's answer for their region today."""
    region = regions().get(region_code)
    return [withdrawal_answer(book, WithdrawalRequest(region, reason, day)) for reason in REASONS
            if reason not in NOT_APPLIED_HERE]


@router.get(WITHDRAWALS_PATH)
def withdrawals_page(request: Request, principal: Principal = Depends(current_person), reason: str | None = None) -> HTMLResponse:
    return _index(request, principal, typed={"reason": reason or "", "bank_name": "", "bank_account": "", "account_holder": ""})


@router.post(WITHDRAWALS_PATH)
def apply(
    request: Request, principal: Principal = Depends(current_person), csrf: str = Form(""), reason: str = Form(""),
    bank_name: str = Form(""), bank_account: str = Form(""), account_holder: str = Form(""),
) -> Response:
    check_form(request, csrf)
    typed = {"reason": reason, "bank_name": bank_name, "bank_account": bank_account, "account_holder": account_holder}
    try:
        if not reason:
            raise InvalidInput("请选择提取原因", field="reason", code="reason_required")
        with get_engine(request).begin() as conn:
            case_id = cases.apply(conn, policy_book(request), person_id=principal.person_id, reason=reason,
                                  on=today(request), payee=cases.PayeeInput(bank_name, bank_account, account_holder))
            audit_action(conn, request, principal, "withdrawal.apply", person_id=principal.person_id, reason=None,
                         detail={"case_id": case_id, "reason": reason})
    except (InvalidInput, cases.CaseConflict) as error:  # shown on the page, at the field it concerns
        return _index(request, principal, typed=typed, errors=at_fields(field_errors(error), ("reason", *PAYEE_FIELDS)),
                      status_code=422)
    return redirect(f"{WITHDRAWALS_PATH}/{case_id}?notice=applied")


@router.get(WITHDRAWALS_PATH + "/{case_id}")
def case_page(request: Request, case_id: str, principal: Principal = Depends(current_person), notice: str | None = None) -> HTMLResponse:
    return _case(request, principal, parse_id(case_id, "case_id"), notice=NOTICES.get(notice or ""))


@router.post(WITHDRAWALS_PATH + "/{case_id}/documents")
def upload(
    request: Request, case_id: str, principal: Principal = Depends(current_person), csrf: str = Form(""),
    doc_type: str = Form(""), file: UploadFile | None = File(None),
) -> Response:
    check_form(request, csrf)
    number = parse_id(case_id, "case_id")
    try:
        name, content = read_upload(file)
        with get_engine(request).begin() as conn:
            case = cases.visible_case(conn, number, person_actor(principal), lock=True)
            stored = cases.add_document(conn, case, doc_type=doc_type, file_name=name, content=content,
                                        actor=person_actor(principal), at=get_security(request).now())
            audit_action(conn, request, principal, "withdrawal.document", person_id=principal.person_id, reason=None,
                         detail={"case_id": number, "document_id": stored.id, "sha256": stored.sha256})
    except (InvalidInput, cases.CaseConflict) as error:  # shown on the page, at the field it concerns
        return _case(request, principal, number, errors=at_fields(upload_errors(error), CASE_FIELDS), status_code=422)
    return redirect(f"{WITHDRAWALS_PATH}/{number}?notice=uploaded")


@router.post(WITHDRAWALS_PATH + "/{case_id}/bank-account")
def set_payee(
    request: Request, case_id: str, principal: Principal = Depends(current_person), csrf: str = Form(""),
    bank_name: str = Form(""), bank_account: str = Form(""), account_holder: str = Form(""),
) -> Response:
    check_form(request, csrf)
    number = parse_id(case_id, "case_id")
    try:
        with get_engine(request).begin() as conn:
            case = cases.visible_case(conn, number, person_actor(principal), lock=True)
            cases.set_payee(conn, case, cases.PayeeInput(bank_name, bank_account, account_holder))
            audit_action(conn, request, principal, "withdrawal.bank_account", person_id=principal.person_id, reason=None,
                         detail={"case_id": number})
    except (InvalidInput, cases.CaseConflict) as error:  # shown on the page, at the field it concerns
        typed = {"bank_name": bank_name, "bank_account": bank_account, "account_holder": account_holder}
        return _case(request, principal, number, errors=at_fields(field_errors(error), CASE_FIELDS), typed=typed,
                     status_code=422)
    return redirect(f"{WITHDRAWALS_PATH}/{number}?notice=bank_set")


@router.post(WITHDRAWALS_PATH + "/{case_id}/submit")
def submit(request: Request, case_id: str, principal: Principal = Depends(current_person), csrf: str = Form("")) -> Response:
    check_form(request, csrf)
    number = parse_id(case_id, "case_id")
    try:
        with get_engine(request).begin() as conn:
            case = cases.visible_case(conn, number, person_actor(principal), lock=True)
            cases.submit(conn, case, today(request))
            audit_action(conn, request, principal, "withdrawal.submit", person_id=principal.person_id, reason=None,
                         detail={"case_id": number})
    except (InvalidInput, cases.CaseConflict) as error:  # shown on the page, at the field it concerns
        return _case(request, principal, number, errors=at_fields(field_errors(error), CASE_FIELDS), status_code=422)
    return redirect(f"{WITHDRAWALS_PATH}/{number}?notice=submitted")


# ---------------------------------------------------------------------------- shared with the refunds page


def read_upload(file: UploadFile | None) -> tuple[str, bytes]:
    """The chosen file's name and bytes, at most one byte over the limit (``documents`` refuses it)."""
    if file is None or not file.filename:
        raise InvalidInput("请选择要上传的文件或拍照", field="file", code="file_required")
    return file.filename, file.file.read(documents.MAX_DOCUMENT_BYTES + 1)


def upload_errors(error: InvalidInput) -> dict[str, str]:
    """A document's refusal shown next to the file input, whichever field the check named."""
    found = field_errors(error)
    return {("file" if field in ("content_base64", "file_name") else field): message for field, message in found.items()}


def at_fields(errors: dict[str, str], shown: tuple[str, ...]) -> dict[str, str]:
    """Messages of fields the form shows at their input; any other (the case, the person) above the form."""
    return {(field if field in shown else "_form"): message for field, message in errors.items()}


# ---------------------------------------------------------------------------- pages


def _index(request: Request, principal: Principal, *, typed: dict, errors: dict | None = None,
           status_code: int = 200) -> HTMLResponse:
    day = today(request)
    with get_engine(request).connect() as conn:
        person = reads.person_row(conn, principal.person_id)
        mine = [case_view(conn, row) for row in cases.cases_of(conn, principal.person_id)]
        open_case = cases.has_open_case(conn, principal.person_id)
        filing = long_term_in_force(conn, principal.person_id, day)
    context = {
        # "Long-term residence elsewhere" needs a long-term filing in force where the region allows it.
        "remote_filing": describe(policy_book(request), filing, day) if filing is not None else None,
        "cases": mine, "choices": reason_choices(policy_book(request), person["region_code"], day),
        "can_apply": not open_case, "typed": typed, "errors": errors or {}, "person_name": person["name"],
    }
    return render(request, "portal/withdrawals.html", context, status_code=status_code, principal=principal)


def _case(request: Request, principal: Principal, case_id: int, *, notice: str | None = None, errors: dict | None = None,
          typed: dict | None = None, status_code: int = 200) -> HTMLResponse:
    with get_engine(request).connect() as conn:
        view = case_view(conn, cases.visible_case(conn, case_id, person_actor(principal)))  # NotFound: not the person's
        name = reads.person_row(conn, principal.person_id)["name"]
    context = {
        "case": view, "notice": notice, "errors": errors or {}, "accept": ACCEPT,
        "typed": typed or {"bank_name": view.bank_name or "", "bank_account": "", "account_holder": name},
        "max_mb": documents.MAX_DOCUMENT_BYTES // (1024 * 1024),
    }
    return render(request, "portal/withdraw_case.html", context, status_code=status_code, principal=principal)
