"""The administrators' pages: designated institutions and their API keys, third-party apps, and
staff accounts (roles and regions). No person's data appears on any of them.

Each change goes through the domain function the command line uses (``security.institutions``,
``security.oauth``, ``security.staff``, ``payments.institutions``), carries a reason and is
written to the audit log. A new institution key or app secret is shown once, on the answer to
the form, and never again (only its hash is stored). An administrator limited to some regions
sees and changes only the institutions and staff of those regions.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Path, Request, Response
from sqlalchemy import Connection, select

from yibao.domain.regions import regions as region_table
from yibao.errors import InvalidInput, NotFound
from yibao.payments.institutions import set_designated
from yibao.national.gateway import issue_tif_secret
from yibao.security.institutions import InstitutionKind, add_institution, rotate_key
from yibao.security.oauth import add_client, deactivate_client
from yibao.security.permissions import Permission, StaffScope
from yibao.security.principal import Principal, Scope
from yibao.security.staff import StaffRole, add_staff, change_staff, deactivate_staff, reset_staff_password
from yibao.store.models import audit_log, institutions, oauth_clients, staff_regions, staff_users
from yibao.web.api import reads
from yibao.web.counter.audit_labels import when
from yibao.security.audit import written_reason
from yibao.web.counter.workbench import HOME, Requires, audit_action, check_form, page, workbench_router
from yibao.web.deps import get_engine, get_security
from yibao.web.page_tools import redirect

router = workbench_router()
InstitutionId = Annotated[int, Path(ge=1, le=reads.MAX_ID)]
StaffId = Annotated[int, Path(ge=1, le=reads.MAX_ID)]
ClientId = Annotated[str, Path(min_length=1, max_length=64)]
INSTITUTIONS, APPS, STAFF = f"{HOME}/admin/institutions", f"{HOME}/admin/apps", f"{HOME}/admin/staff"
KIND_LABELS = {InstitutionKind.PHARMACY.value: "药店", InstitutionKind.HOSPITAL.value: "医院"}
NOTICES = {
    "designated": "已设为定点医药机构，可收取个人账户支付。", "undesignated": "已取消定点资格，该机构不能再收取个人账户支付。",
    "app_deactivated": "已停用该应用：不能再授权，已发放的凭证立即失效。", "staff_added": "已添加工作人员，可用初始密码登录工作台。",
    "staff_changed": "已保存岗位和负责地区，下次操作时生效。", "staff_deactivated": "已停用该账号，其登录已全部退出。",
    "password_reset": "已重置密码，请将新密码当面告知本人；其原有登录已全部退出。",
}
institution_admin = Requires(Permission.INSTITUTION_MANAGE)
app_admin = Requires(Permission.APP_MANAGE)
staff_admin = Requires(Permission.STAFF_MANAGE)


def admin_reason(text: str) -> str:
    return written_reason(text)


def region_choices(scope: StaffScope) -> list[tuple[str, str]]:
    return [(region.code, region.name) for region in region_table().pooling_regions() if scope.covers(region.code)]


def region_groups(scope: StaffScope) -> list[tuple[str, list[tuple[str, str]]]]:
    """The pooling regions of the scope grouped by province, for a long list of choices."""
    table, groups = region_table(), {}
    for code, name in region_choices(scope):
        province = table.get(code[:2] + "0000").name if code[:2] + "0000" in table else "其他"
        groups.setdefault(province, []).append((code, name))
    return list(groups.items())


def key_times(conn: Connection, rows) -> dict[str, object]:
    """When each institution's current API key was made: its last rotation or its registration at the
    workbench (the audit log), else when the institution was registered (by the command line)."""
    found = {row["code"]: row["created_at"] for row in rows}
    if not found:
        return found
    code = audit_log.c.detail["institution_code"].as_string()
    rotated = conn.execute(
        select(code.label("code"), audit_log.c.at).where(
            audit_log.c.action.in_(["admin.institution.add", "admin.institution.key"]), code.in_(sorted(found)))
        .order_by(audit_log.c.at, audit_log.c.id)
    ).all()
    for row in rotated:
        found[row.code] = row.at
    return found


def region_text(codes) -> str:
    return "全部地区" if not codes else "、".join(reads.region_name(code) or "未知地区" for code in sorted(codes))


def _error_context(error: InvalidInput | None) -> dict:
    return {"error": error.message if error else None, "error_field": error.field if error else None}


# ---------------------------------------------------------------------------- institutions


def _institution(conn: Connection, principal: Principal, institution_id: int):
    row = conn.execute(select(institutions).where(institutions.c.id == institution_id)).mappings().first()
    if row is None or not principal.scope.covers(row["region_code"]):
        raise NotFound("未找到该机构", field="institution", code="institution_not_found")
    return row


def _institutions_page(request: Request, principal: Principal, *, form: dict | None = None, error: InvalidInput | None = None,
                       new_key: dict | None = None, notice: str | None = None) -> Response:
    with get_engine(request).connect() as conn:
        rows = conn.execute(
            select(institutions).where(principal.scope.limit(institutions.c.region_code))
            .order_by(institutions.c.region_code, institutions.c.code)
        ).mappings().all()
        keys = key_times(conn, rows)
    context = {
        "rows": rows, "keys": keys, "kinds": KIND_LABELS, "regions": region_choices(principal.scope), "new_key": new_key,
        "form": form or {"code": "", "name": "", "kind": "pharmacy", "region_code": "", "reason": ""},
        "region_name": lambda code: reads.region_name(code) or "未知地区", "when": when, "notice": notice,
        **_error_context(error),
    }
    return page(request, "counter/admin/institutions.html", principal, context, nav="institutions",
                status_code=422 if error else 200)


@router.get(INSTITUTIONS)
def institution_list(request: Request, notice: str = "", principal: Principal = Depends(institution_admin)) -> Response:
    return _institutions_page(request, principal, notice=NOTICES.get(notice))


@router.post(INSTITUTIONS)
def institution_add(request: Request, principal: Principal = Depends(institution_admin), csrf: str = Form(""),
                    code: str = Form(""), name: str = Form(""), kind: str = Form(""), region_code: str = Form(""),
                    reason: str = Form("")) -> Response:
    check_form(request, csrf)
    form = {"code": code.strip()[:32], "name": name.strip()[:100], "kind": kind, "region_code": region_code,
            "reason": reason.strip()[:200]}
    try:
        why = admin_reason(reason)
        if kind not in KIND_LABELS:
            raise InvalidInput("请选择机构类型", field="kind", code="kind_unknown")
        if not region_code or not principal.scope.covers(region_code):
            raise InvalidInput("请选择本人负责的统筹区", field="region_code", code="region_required")
        if len(name.strip()) > 100:
            raise InvalidInput("机构名称不能超过100字", field="name", code="name_too_long")
        with get_engine(request).begin() as conn:
            institution_id, key = add_institution(conn, code=code, name=name, kind=InstitutionKind(kind), region_code=region_code)
            audit_action(conn, request, principal, "admin.institution.add", reason=why,
                         detail={"institution_code": form["code"], "kind": kind, "region_code": region_code})
    except InvalidInput as error:
        return _institutions_page(request, principal, form=form, error=error)
    return _institution_page(request, principal, institution_id, new_key={"key": key, "first": True})


def _institution_page(request: Request, principal: Principal, institution_id: int, *, new_key: dict | None = None,
                      error: InvalidInput | None = None, form: dict | None = None, notice: str | None = None) -> Response:
    with get_engine(request).connect() as conn:
        row = _institution(conn, principal, institution_id)
        key_made = key_times(conn, [row])[row["code"]]
    context = {
        "row": row, "key_made": key_made, "kinds": KIND_LABELS, "region": reads.region_name(row["region_code"]) or "未知地区", "when": when,
        "new_key": new_key, "notice": notice, "form": form or {"reason": "", "which": ""}, **_error_context(error),
    }
    return page(request, "counter/admin/institution.html", principal, context, nav="institutions",
                status_code=422 if error else 200)


@router.get(INSTITUTIONS + "/{institution_id}")
def institution_view(request: Request, institution_id: InstitutionId, notice: str = "",
                     principal: Principal = Depends(institution_admin)) -> Response:
    return _institution_page(request, principal, institution_id, notice=NOTICES.get(notice))


@router.post(INSTITUTIONS + "/{institution_id}/designate")
def institution_designate(request: Request, institution_id: InstitutionId, principal: Principal = Depends(institution_admin),
                          csrf: str = Form(""), designated: str = Form(""), reason: str = Form("")) -> Response:
    check_form(request, csrf)
    with get_engine(request).connect() as conn:
        row = _institution(conn, principal, institution_id)
    try:
        why = admin_reason(reason)
        if designated not in ("1", "0"):
            raise InvalidInput("请选择设为定点或取消定点", field="designated", code="designated_required")
    except InvalidInput as error:
        return _institution_page(request, principal, institution_id, error=error,
                                 form={"reason": reason.strip()[:200], "which": "designate"})
    on = designated == "1"
    with get_engine(request).begin() as conn:
        set_designated(conn, row["code"], on)
        audit_action(conn, request, principal, "admin.institution.designate" if on else "admin.institution.undesignate",
                     reason=why, detail={"institution_code": row["code"], "designated": on})
    return redirect(f"{INSTITUTIONS}/{institution_id}?notice={'designated' if on else 'undesignated'}")


@router.post(INSTITUTIONS + "/{institution_id}/key")
def institution_key(request: Request, institution_id: InstitutionId, principal: Principal = Depends(institution_admin),
                    csrf: str = Form(""), reason: str = Form("")) -> Response:
    return _new_secret(request, principal, institution_id, csrf, reason, which="key", action="admin.institution.key",
                       issue=lambda conn, row: rotate_key(conn, row["id"]))


@router.post(INSTITUTIONS + "/{institution_id}/tif-secret")
def institution_tif_secret(request: Request, institution_id: InstitutionId, principal: Principal = Depends(institution_admin),
                           csrf: str = Form(""), reason: str = Form("")) -> Response:
    """The national interface's signature secret (x-tif-* headers): shown once, the previous one retired."""
    key = get_security(request).key
    return _new_secret(request, principal, institution_id, csrf, reason, which="tif", action="admin.institution.tif_secret",
                       issue=lambda conn, row: issue_tif_secret(conn, key, row["code"]))


def _new_secret(request: Request, principal: Principal, institution_id: int, csrf: str, reason: str, *, which: str,
                action: str, issue) -> Response:
    """Replace one of an institution's secrets (the API key, the TIF secret) and show the new one once."""
    check_form(request, csrf)
    with get_engine(request).connect() as conn:
        row = _institution(conn, principal, institution_id)
    try:
        why = admin_reason(reason)
    except InvalidInput as error:
        return _institution_page(request, principal, institution_id, error=error,
                                 form={"reason": reason.strip()[:200], "which": which})
    with get_engine(request).begin() as conn:
        secret = issue(conn, row)
        audit_action(conn, request, principal, action, reason=why, detail={"institution_code": row["code"]})
    return _institution_page(request, principal, institution_id, new_key={"key": secret, "first": False, "tif": which == "tif"})


# ---------------------------------------------------------------------------- third-party apps


def _app(conn: Connection, client_id: str):
    row = conn.execute(select(oauth_clients).where(oauth_clients.c.client_id == client_id)).mappings().first()
    if row is None:
        raise NotFound("未找到该应用", field="client_id", code="client_not_found")
    return row


def _scope_labels(text: str) -> list[str]:
    labels = []
    for value in (text or "").split():
        try:
            labels.append(Scope(value).label)
        except ValueError:
            labels.append("已停用的授权范围")
    return labels


def _apps_page(request: Request, principal: Principal, *, form: dict | None = None, error: InvalidInput | None = None,
               secret: dict | None = None, notice: str | None = None, failed_client: str | None = None) -> Response:
    with get_engine(request).connect() as conn:
        rows = conn.execute(select(oauth_clients).order_by(oauth_clients.c.client_id)).mappings().all()
    context = {
        "rows": rows, "scope_labels": _scope_labels, "scopes": [(scope.value, scope.label) for scope in Scope],
        "form": form or {"client_id": "", "name": "", "redirect_uris": "", "scopes": [], "confidential": False, "reason": ""},
        "secret": secret, "notice": notice, "when": when, "failed_client": failed_client, **_error_context(error),
    }
    return page(request, "counter/admin/apps.html", principal, context, nav="apps", status_code=422 if error else 200)


@router.get(APPS)
def app_list(request: Request, notice: str = "", principal: Principal = Depends(app_admin)) -> Response:
    return _apps_page(request, principal, notice=NOTICES.get(notice))


@router.post(APPS)
async def app_add(request: Request, principal: Principal = Depends(app_admin), csrf: str = Form(""),
                  client_id: str = Form(""), name: str = Form(""), redirect_uris: str = Form(""),
                  confidential: str = Form(""), reason: str = Form("")) -> Response:
    check_form(request, csrf)
    scopes = [value for value in (await request.form()).getlist("scopes") if isinstance(value, str)][:10]
    uris = [line.strip() for line in redirect_uris.splitlines() if line.strip()][:10]
    form = {"client_id": client_id.strip()[:64], "name": name.strip()[:100], "redirect_uris": redirect_uris[:2000],
            "scopes": scopes, "confidential": confidential == "1", "reason": reason.strip()[:200]}
    try:
        why = admin_reason(reason)
        if not name.strip() or len(name.strip()) > 100:
            raise InvalidInput("请填写应用名称（不超过100字）", field="name", code="name_required")
        if any(len(uri) > 500 for uri in uris):
            raise InvalidInput("回调地址不能超过500个字符", field="redirect_uri", code="redirect_uri")
        if not scopes:
            raise InvalidInput("请至少选择一项授权范围", field="scope", code="scope_required")
        if set(scopes) - {scope.value for scope in Scope}:
            raise InvalidInput("请从列表中选择授权范围", field="scope", code="scope_unknown")
        with get_engine(request).begin() as conn:
            secret = add_client(conn, client_id=form["client_id"], name=form["name"], redirect_uris=uris, scopes=scopes,
                                confidential=form["confidential"])
            audit_action(conn, request, principal, "admin.app.add", reason=why,
                         detail={"client_id": form["client_id"], "confidential": form["confidential"]})
    except InvalidInput as error:
        return _apps_page(request, principal, form=form, error=error)
    return _apps_page(request, principal, secret={"client_id": form["client_id"], "name": form["name"], "secret": secret})


@router.post(APPS + "/{client_id}/deactivate")
def app_deactivate(request: Request, client_id: ClientId, principal: Principal = Depends(app_admin), csrf: str = Form(""),
                   reason: str = Form("")) -> Response:
    check_form(request, csrf)
    with get_engine(request).connect() as conn:
        _app(conn, client_id)
    try:
        why = admin_reason(reason)
    except InvalidInput as error:
        return _apps_page(request, principal, error=error, failed_client=client_id)
    with get_engine(request).begin() as conn:
        deactivate_client(conn, client_id)
        audit_action(conn, request, principal, "admin.app.deactivate", reason=why, detail={"client_id": client_id})
    return redirect(f"{APPS}?notice=app_deactivated")


# ---------------------------------------------------------------------------- staff


def _regions_by_staff(conn: Connection, ids) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for row in conn.execute(select(staff_regions.c.staff_id, staff_regions.c.region_code).where(
            staff_regions.c.staff_id.in_(sorted(ids)))):
        found.setdefault(row.staff_id, []).append(row.region_code)
    return found


def _manages(principal: Principal, codes) -> bool:
    """An administrator manages a staff member whose regions all lie within their own."""
    if principal.scope.regions is None:
        return True
    return bool(codes) and set(codes) <= principal.scope.regions


def _staff_member(conn: Connection, principal: Principal, staff_id: int) -> dict:
    row = conn.execute(select(staff_users.c.id, staff_users.c.username, staff_users.c.name, staff_users.c.role,
                              staff_users.c.active, staff_users.c.created_at).where(staff_users.c.id == staff_id)).mappings().first()
    codes = _regions_by_staff(conn, [staff_id]).get(staff_id, []) if row else []
    if row is None or not _manages(principal, codes):
        raise NotFound("未找到该工作人员", field="staff", code="staff_not_found")
    return {**row, "regions": codes, "role_label": StaffRole(row["role"]).label}


def _chosen_regions(principal: Principal, codes: list[str]) -> list[str]:
    codes = sorted({code.strip() for code in codes if code.strip()})[:400]
    if any(not principal.scope.covers(code) for code in codes):
        raise InvalidInput("只能选择本人负责的地区", field="regions", code="region_out_of_scope")
    if principal.scope.regions is not None and not codes:
        raise InvalidInput("请至少选择一个负责地区", field="regions", code="regions_required")
    return codes


def _role(value: str) -> StaffRole:
    try:
        return StaffRole(value)
    except ValueError:
        raise InvalidInput("请选择岗位", field="role", code="role_unknown") from None


def _staff_page(request: Request, principal: Principal, *, form: dict | None = None, error: InvalidInput | None = None,
                notice: str | None = None) -> Response:
    with get_engine(request).connect() as conn:
        rows = conn.execute(select(staff_users.c.id, staff_users.c.username, staff_users.c.name, staff_users.c.role,
                                   staff_users.c.active).order_by(staff_users.c.username)).mappings().all()
        by_staff = _regions_by_staff(conn, [row["id"] for row in rows])
    members = [{**row, "regions": region_text(by_staff.get(row["id"])), "role_label": StaffRole(row["role"]).label}
               for row in rows if _manages(principal, by_staff.get(row["id"], []))]
    context = {
        "members": members, "roles": [(role.value, role.label) for role in StaffRole], "region_groups": region_groups(principal.scope),
        "form": form or {"username": "", "name": "", "role": "agent", "regions": [], "reason": ""},
        "all_regions_allowed": principal.scope.regions is None, "notice": notice, **_error_context(error),
    }
    return page(request, "counter/admin/staff.html", principal, context, nav="staff", status_code=422 if error else 200)


@router.get(STAFF)
def staff_list(request: Request, notice: str = "", principal: Principal = Depends(staff_admin)) -> Response:
    return _staff_page(request, principal, notice=NOTICES.get(notice))


@router.post(STAFF)
async def staff_add(request: Request, principal: Principal = Depends(staff_admin), csrf: str = Form(""),
                    username: str = Form(""), name: str = Form(""), role: str = Form(""), password: str = Form(""),
                    reason: str = Form("")) -> Response:
    check_form(request, csrf)
    chosen = [value for value in (await request.form()).getlist("regions") if isinstance(value, str)]
    form = {"username": username.strip()[:40], "name": name.strip()[:40], "role": role, "regions": chosen[:400],
            "reason": reason.strip()[:200]}
    try:
        why = admin_reason(reason)
        staff_role = _role(role)
        codes = _chosen_regions(principal, chosen)
        if len(name.strip()) > 40:
            raise InvalidInput("姓名不能超过40字", field="name", code="name_too_long")
        if len(password) > 64:
            raise InvalidInput("密码不能超过64位", field="password", code="password_too_long")
        with get_engine(request).begin() as conn:
            staff_id = add_staff(conn, username=username, name=name, role=staff_role, password=password, regions=codes)
            audit_action(conn, request, principal, "admin.staff.add", reason=why,
                         detail={"staff_id": staff_id, "role": staff_role.value, "regions": codes})
    except InvalidInput as error:
        return _staff_page(request, principal, form=form, error=error)
    return redirect(f"{STAFF}/{staff_id}?notice=staff_added")


def _member_page(request: Request, principal: Principal, staff_id: int, *, error: InvalidInput | None = None,
                 form: dict | None = None, notice: str | None = None) -> Response:
    with get_engine(request).connect() as conn:
        member = _staff_member(conn, principal, staff_id)
    context = {
        "member": member, "member_regions": region_text(member["regions"]), "roles": [(role.value, role.label) for role in StaffRole],
        "region_groups": region_groups(principal.scope), "all_regions_allowed": principal.scope.regions is None,
        "form": form or {"role": member["role"], "regions": member["regions"], "reason": "", "which": ""},
        "is_self": staff_id == principal.subject_id, "notice": notice, **_error_context(error),
    }
    return page(request, "counter/admin/member.html", principal, context, nav="staff", status_code=422 if error else 200)


@router.get(STAFF + "/{staff_id}")
def staff_view(request: Request, staff_id: StaffId, notice: str = "", principal: Principal = Depends(staff_admin)) -> Response:
    return _member_page(request, principal, staff_id, notice=NOTICES.get(notice))


@router.post(STAFF + "/{staff_id}")
async def staff_change(request: Request, staff_id: StaffId, principal: Principal = Depends(staff_admin), csrf: str = Form(""),
                       role: str = Form(""), reason: str = Form("")) -> Response:
    check_form(request, csrf)
    chosen = [value for value in (await request.form()).getlist("regions") if isinstance(value, str)]
    with get_engine(request).connect() as conn:
        _staff_member(conn, principal, staff_id)
    try:
        why = admin_reason(reason)
        staff_role = _role(role)
        codes = _chosen_regions(principal, chosen)
        if staff_id == principal.subject_id and staff_role is not StaffRole(principal.role):
            raise InvalidInput("不能变更本人的岗位，请由其他系统管理员办理", field="role", code="own_role")
        with get_engine(request).begin() as conn:
            change_staff(conn, staff_id, role=staff_role, regions=codes)
            audit_action(conn, request, principal, "admin.staff.change", reason=why,
                         detail={"staff_id": staff_id, "role": staff_role.value, "regions": codes})
    except InvalidInput as error:
        form = {"role": role, "regions": chosen[:400], "reason": reason.strip()[:200], "which": "change"}
        return _member_page(request, principal, staff_id, error=error, form=form)
    return redirect(f"{STAFF}/{staff_id}?notice=staff_changed")


@router.post(STAFF + "/{staff_id}/deactivate")
def staff_deactivate(request: Request, staff_id: StaffId, principal: Principal = Depends(staff_admin), csrf: str = Form(""),
                     reason: str = Form("")) -> Response:
    check_form(request, csrf)
    with get_engine(request).connect() as conn:
        member = _staff_member(conn, principal, staff_id)
    try:
        why = admin_reason(reason)
        if staff_id == principal.subject_id:
            raise InvalidInput("不能停用本人的账号", field="reason", code="own_account")
        if not member["active"]:
            raise InvalidInput("该账号已停用", field="reason", code="already_inactive")
    except InvalidInput as error:
        return _member_page(request, principal, staff_id, error=error,
                            form={"role": member["role"], "regions": member["regions"], "reason": reason.strip()[:200],
                                  "which": "deactivate"})
    with get_engine(request).begin() as conn:
        deactivate_staff(conn, staff_id, get_security(request).now())
        audit_action(conn, request, principal, "admin.staff.deactivate", reason=why, detail={"staff_id": staff_id})
    return redirect(f"{STAFF}/{staff_id}?notice=staff_deactivated")


@router.post(STAFF + "/{staff_id}/password")
def staff_password(request: Request, staff_id: StaffId, principal: Principal = Depends(staff_admin), csrf: str = Form(""),
                   password: str = Form(""), reason: str = Form("")) -> Response:
    check_form(request, csrf)
    with get_engine(request).connect() as conn:
        member = _staff_member(conn, principal, staff_id)
    try:
        why = admin_reason(reason)
        if len(password) > 64:
            raise InvalidInput("密码不能超过64位", field="password", code="password_too_long")
        with get_engine(request).begin() as conn:
            reset_staff_password(conn, staff_id, password, get_security(request).now())
            audit_action(conn, request, principal, "admin.staff.password", reason=why, detail={"staff_id": staff_id})
    except InvalidInput as error:
        return _member_page(request, principal, staff_id, error=error,
                            form={"role": member["role"], "regions": member["regions"], "reason": reason.strip()[:200],
                                  "which": "password"})
    if staff_id == principal.subject_id:
        return redirect(f"{HOME}?notice=signed_out")  # their own sessions ended with the reset
    return redirect(f"{STAFF}/{staff_id}?notice=password_reset")
