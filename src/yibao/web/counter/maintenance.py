"""The 账户维护 tab of a person at the workbench: what staff change after checking the person's
identity document in person — a one-time sign-in password, the service PIN cleared, the
registered mobile number, a freeze of the personal account and its lifting, and a minor's
guardians.

Each form carries the session's CSRF token, the tick "identity document checked in person"
and a reason for the audit log, and calls the same domain functions as the staff API
(``yibao.counter_service``, ``yibao.family.guardianships``), which check the staff member's
regions and write the audit rows; the workbench adds its channel to each row. A form with bad
input is shown again with the message beside the field and what was typed; nothing changes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Form, Path, Request, Response
from sqlalchemy import select

from yibao import notifications
from yibao.clock import CHINA
from yibao.counter_service import check_request, person_for_staff
from yibao.counter_service.freeze import FreezeConflict, freeze, freezes_of, open_freeze, unfreeze
from yibao.counter_service.password import reset_password
from yibao.counter_service.phone import change_phone
from yibao.counter_service.pin import reset_pin
from yibao.domain.person import mask_name
from yibao.errors import InvalidInput, NotFound, YibaoError
from yibao.family import guardianships
from yibao.security.permissions import Permission
from yibao.security.phone_pin import has_phone_pin
from yibao.security.principal import Principal
from yibao.security.signin import parse_id_number
from yibao.store.models import GUARDIAN_RELATIONS, persons
from yibao.web.api import reads
from yibao.web.api.staff import open_person
from yibao.web.counter.case import reason_for
from yibao.web.counter.workbench import CHANNEL_DETAIL, HOME, Requires, audit_action, check_form, page, workbench_router
from yibao.web.deps import client_address, get_engine, get_security
from yibao.web.page_tools import redirect, status_of, today

router = workbench_router()
PersonId = Annotated[int, Path(ge=1, le=reads.MAX_ID)]

IDENTITY_TICK = "已核验本人身份证件原件"
EVIDENCE_KINDS = ("户口簿", "出生医学证明", "监护证明")
GUARDIAN_NOTICE = "counter.guardian_confirmed"
NOTICES = {
    "pin_reset": "服务密码已清除，服务密码错误次数已清零。请告知参保人登录网上服务大厅重新设置6位服务密码。",
    "phone_changed": "手机号码已变更，今后短信验证码和通知将发送到新号码。",
    "frozen": "个人账户已冻结。冻结期间不能支付，入账不受影响。",
    "unfrozen": "个人账户已解除冻结。",
    "guardian_confirmed": "监护关系已确认。",
    "guardian_ended": "监护关系已终止，该监护人为其办理的家庭共济绑定随之解除。",
}


def _url(person_id: int, notice: str | None = None) -> str:
    return f"{HOME}/persons/{person_id}/maintenance" + (f"?notice={notice}" if notice else "")


def _ticked(value: str) -> bool:
    return value == "yes"


# ---------------------------------------------------------------------------- the tab


@router.get(HOME + "/persons/{person_id}/maintenance")
def maintenance(request: Request, person_id: PersonId, notice: str = "",
                principal: Principal = Depends(Requires(Permission.PERSON_VIEW))) -> Response:
    reason = reason_for(request, person_id)
    if reason is None:
        return redirect(f"{HOME}/persons/{person_id}")
    return _tab(request, principal, person_id, reason, notice=NOTICES.get(notice))


def _tab(request: Request, principal: Principal, person_id: int, reason: str, *, notice: str | None = None,
         form: str | None = None, error: YibaoError | None = None, typed: dict | None = None) -> Response:
    """The tab, audited as a view of the person with the stated reason; with a form's error, 422 or 409."""
    open_person(
        get_engine(request), get_security(request), principal, person_id, reason=reason, action="staff.person.maintenance",
        client=client_address(request), detail=CHANNEL_DETAIL,
    )
    day = today(request)
    with get_engine(request).connect() as conn:
        profile = reads.staff_profile(conn, person_id)
        balances = reads.account_list(conn, person_id)
        minor = guardianships.is_minor(conn, person_id, day)
        context = {
            "person_id": person_id, "reason": reason, "profile": profile, "tab": "maintenance", "notice": notice,
            "freeze": freeze_view(open_freeze(conn, person_id)),
            "freezes": [freeze_view(item) for item in freezes_of(conn, person_id)],
            "account": balances.accounts[0] if balances.accounts else None,
            "has_pin": has_phone_pin(conn, person_id), "minor": minor,
            "guardians": _guardians(conn, person_id) if minor else [],
            "relations": [(relation, guardianships.RELATION_LABELS[relation]) for relation in GUARDIAN_RELATIONS],
            "evidence_kinds": EVIDENCE_KINDS, "identity_tick": IDENTITY_TICK,
            "form": form, "error": error.message if error else None, "error_field": error.field if error else None,
            "typed": typed or {},
        }
    status = status_of(error) if error else 200
    return page(request, "counter/maintenance/index.html", principal, context, nav="home", status_code=status)


def freeze_view(item) -> dict | None:
    """A freeze as the pages show it: dates in China's calendar, never an instant."""
    if item is None:
        return None
    return {"reason": item.reason, "frozen_by_name": item.frozen_by_name, "frozen_on": _day(item.frozen_at),
            "unfrozen_on": _day(item.unfrozen_at) if item.unfrozen_at else None, "unfreeze_reason": item.unfreeze_reason}


def person_freeze(request: Request, person_id: int) -> dict | None:
    """The counter's freeze in force on the person's account, for the person's pages."""
    with get_engine(request).connect() as conn:
        return freeze_view(open_freeze(conn, person_id))


def _guardians(conn, minor_id: int) -> list[dict]:
    found = guardianships.of_minor(conn, minor_id)
    wanted = sorted({item.guardian_person_id for item in found})
    names = dict(conn.execute(select(persons.c.id, persons.c.name).where(persons.c.id.in_(wanted))).all()) if wanted else {}
    return [
        {"id": item.id, "name": mask_name(names.get(item.guardian_person_id, "")),
         "relation": guardianships.RELATION_LABELS[item.relation], "evidence": item.evidence,
         "confirmed_on": _day(item.confirmed_at), "ended_on": _day(item.ended_at) if item.ended_at else None}
        for item in found
    ]


def _day(moment: datetime) -> str:
    return moment.astimezone(CHINA).date().isoformat() if moment.tzinfo else moment.date().isoformat()


def _opened_reason(request: Request, principal: Principal, person_id: int) -> str:
    """The reason stated for the person on this browser; without one the action is refused."""
    reason = reason_for(request, person_id)
    if reason is None:
        raise NotFound("请先查找该参保人并填写查询事由", field="person_id", code="reason_needed")
    return reason


def _refused(request: Request, principal: Principal, person_id: int, form: str, error: YibaoError, typed: dict) -> Response:
    if isinstance(error, NotFound) and error.field == "person_id":
        raise error
    return _tab(request, principal, person_id, _opened_reason(request, principal, person_id), form=form, error=error,
                typed={"reason": typed.get("reason", "")[:200], **typed})


# ---------------------------------------------------------------------------- password


@router.post(HOME + "/persons/{person_id}/maintenance/password-reset")
def password_reset(
    request: Request, person_id: PersonId, principal: Principal = Depends(Requires(Permission.PERSON_PASSWORD_RESET)),
    csrf: str = Form(""), identity_checked: str = Form(""), reason: str = Form(""),
) -> Response:
    check_form(request, csrf)
    _opened_reason(request, principal, person_id)
    try:
        done = reset_password(
            get_engine(request), get_security(request), principal, person_id, identity_checked=_ticked(identity_checked),
            reason=reason, client=client_address(request), detail=CHANNEL_DETAIL,
        )
    except (InvalidInput, NotFound) as error:
        return _refused(request, principal, person_id, "password", error, {"reason": reason})
    with get_engine(request).connect() as conn:
        profile = reads.staff_profile(conn, person_id)
    context = {"person_id": person_id, "profile": profile, "password": done.password, "apps_revoked": done.apps_revoked,
               "issued_on": today(request).isoformat(), "reason": reason_for(request, person_id), "tab": "maintenance",
               "groups": [done.password[i:i + 4] for i in range(0, len(done.password), 4)]}
    response = page(request, "counter/maintenance/password.html", principal, context, nav="home")
    response.headers["Cache-Control"] = "no-store"
    return response


# ---------------------------------------------------------------------------- service PIN


@router.post(HOME + "/persons/{person_id}/maintenance/pin-reset")
def pin_reset(
    request: Request, person_id: PersonId, principal: Principal = Depends(Requires(Permission.PERSON_PIN_RESET)),
    csrf: str = Form(""), identity_checked: str = Form(""), reason: str = Form(""),
) -> Response:
    check_form(request, csrf)
    _opened_reason(request, principal, person_id)
    try:
        reset_pin(get_engine(request), get_security(request), principal, person_id,
                  identity_checked=_ticked(identity_checked), reason=reason, client=client_address(request),
                  detail=CHANNEL_DETAIL)
    except (InvalidInput, NotFound) as error:
        return _refused(request, principal, person_id, "pin", error, {"reason": reason})
    return redirect(_url(person_id, "pin_reset"))


# ---------------------------------------------------------------------------- mobile number


@router.post(HOME + "/persons/{person_id}/maintenance/phone")
def phone(
    request: Request, person_id: PersonId, principal: Principal = Depends(Requires(Permission.PERSON_PHONE_CHANGE)),
    csrf: str = Form(""), identity_checked: str = Form(""), reason: str = Form(""), new_phone: str = Form(""),
) -> Response:
    check_form(request, csrf)
    _opened_reason(request, principal, person_id)
    try:
        change_phone(get_engine(request), get_security(request), principal, person_id, phone=new_phone,
                     identity_checked=_ticked(identity_checked), reason=reason, client=client_address(request),
                     detail=CHANNEL_DETAIL)
    except (InvalidInput, NotFound) as error:
        return _refused(request, principal, person_id, "phone", error, {"reason": reason, "new_phone": new_phone.strip()[:20]})
    return redirect(_url(person_id, "phone_changed"))


# ---------------------------------------------------------------------------- freeze


@router.post(HOME + "/persons/{person_id}/maintenance/freeze")
def freeze_account(
    request: Request, person_id: PersonId, principal: Principal = Depends(Requires(Permission.ACCOUNT_FREEZE)),
    csrf: str = Form(""), identity_checked: str = Form(""), reason: str = Form(""), action: str = Form("freeze"),
) -> Response:
    """One form for both: ``action`` is ``freeze`` or ``unfreeze`` (the page shows the one that applies)."""
    check_form(request, csrf)
    _opened_reason(request, principal, person_id)
    step = unfreeze if action == "unfreeze" else freeze
    try:
        step(get_engine(request), get_security(request), principal, person_id, identity_checked=_ticked(identity_checked),
             reason=reason, today=today(request), client=client_address(request), detail=CHANNEL_DETAIL)
    except (InvalidInput, NotFound, FreezeConflict) as error:
        return _refused(request, principal, person_id, "freeze", error, {"reason": reason})
    return redirect(_url(person_id, "unfrozen" if action == "unfreeze" else "frozen"))


# ---------------------------------------------------------------------------- guardians


@router.post(HOME + "/persons/{person_id}/maintenance/guardians")
def guardian_confirm(
    request: Request, person_id: PersonId, principal: Principal = Depends(Requires(Permission.GUARDIAN_CONFIRM)),
    csrf: str = Form(""), identity_checked: str = Form(""), reason: str = Form(""), guardian_id_number: str = Form(""),
    relation: str = Form(""), evidence_kind: str = Form(""), evidence_text: str = Form(""),
) -> Response:
    check_form(request, csrf)
    _opened_reason(request, principal, person_id)
    typed = {"reason": reason, "guardian_id_number": guardian_id_number.strip()[:18], "relation": relation,
             "evidence_kind": evidence_kind, "evidence_text": evidence_text.strip()[:120]}
    sec = get_security(request)
    now = sec.now()
    try:
        stated = check_request(identity_checked=_ticked(identity_checked), reason=reason)
        resident_id = parse_id_number(sec, guardian_id_number)
        if relation not in GUARDIAN_RELATIONS:
            raise InvalidInput("请选择监护人与未成年人的关系", field="relation", code="relation_required")
        if evidence_kind not in EVIDENCE_KINDS:
            raise InvalidInput("请选择已核验的证明材料", field="evidence_kind", code="evidence_required")
        evidence = f"{evidence_kind}（{evidence_text.strip()}）" if evidence_text.strip() else evidence_kind
        if len(evidence) > 200:
            raise InvalidInput("材料说明过长，请控制在100字以内", field="evidence_text", code="evidence_too_long")
        with get_engine(request).begin() as conn:
            person_for_staff(conn, principal, person_id, lock=True)
            guardian_id = conn.execute(select(persons.c.id).where(persons.c.id_number == resident_id.full)).scalar()
            if guardian_id is None:
                raise InvalidInput("未找到该身份证号码的参保人，监护人须已在本系统参保登记", field="guardian_id_number",
                                   code="guardian_not_found")
            item = guardianships.confirm(
                conn, minor_id=person_id, guardian_id=guardian_id, relation=relation, evidence=evidence,
                staff_id=principal.subject_id, now=now, today=today(request),
            )
            _audit_guardianship(conn, request, principal, "staff.guardianship.confirmed", item, stated)
            minor_name = conn.execute(select(persons.c.name).where(persons.c.id == person_id)).scalar_one()
            told = notifications.notify(
                conn, guardian_id, kind=GUARDIAN_NOTICE, now=now,
                text=f"经办机构已确认您为未成年人{mask_name(minor_name)}的监护人（{guardianships.RELATION_LABELS[relation]}），"
                     "您可在网上服务大厅为其办理家庭共济。如非本人办理，请尽快联系经办机构。",
            )
    except (InvalidInput, guardianships.GuardianshipExists) as error:
        if error.field in ("guardian_person_id", "id_number", "minor_person_id"):
            error.field = "guardian_id_number"
        return _refused(request, principal, person_id, "guardian", error, typed)
    notifications.send(sec, [told])
    return redirect(_url(person_id, "guardian_confirmed"))


@router.post(HOME + "/persons/{person_id}/maintenance/guardians/end")
def guardian_end(
    request: Request, person_id: PersonId, principal: Principal = Depends(Requires(Permission.GUARDIAN_CONFIRM)),
    csrf: str = Form(""), identity_checked: str = Form(""), reason: str = Form(""), guardianship_id: str = Form(""),
) -> Response:
    check_form(request, csrf)
    _opened_reason(request, principal, person_id)
    sec = get_security(request)
    try:
        stated = check_request(identity_checked=_ticked(identity_checked), reason=reason)
        with get_engine(request).begin() as conn:
            person_for_staff(conn, principal, person_id, lock=True)
            wanted = int(guardianship_id) if guardianship_id.isdigit() and len(guardianship_id) <= 12 else 0
            current = guardianships.get(conn, wanted) if wanted else None
            if current is None or current.minor_person_id != person_id:
                raise guardianships.GuardianshipNotFound(field="guardianship_id")
            ended = guardianships.end(conn, guardianship_id=wanted, staff_id=principal.subject_id, now=sec.now())
            _audit_guardianship(conn, request, principal, "staff.guardianship.ended", ended, stated)
    except (InvalidInput, guardianships.GuardianshipNotFound) as error:
        return _refused(request, principal, person_id, f"end-{guardianship_id[:12]}", error, {"reason": reason})
    return redirect(_url(person_id, "guardian_ended"))


def _audit_guardianship(conn, request: Request, principal: Principal, action: str, item: guardianships.Guardianship,
                        reason: str) -> None:
    """As the staff API does: one row for the minor and one for the guardian."""
    for subject in (item.minor_person_id, item.guardian_person_id):
        audit_action(conn, request, principal, action, reason=reason, person_id=subject,
                     detail={"guardianship_id": item.id, "relation": item.relation})
