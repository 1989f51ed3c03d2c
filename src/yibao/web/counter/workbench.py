"""The agency workbench's frame: who is signed in, what their role lets them do, the menu.

Every workbench page asks for one permission code with ``Depends(Requires(Permission.X))``;
the page is refused (a Chinese page, HTTP 403) when the staff member's role does not hold it.
Every form that changes something sends the session's CSRF token (``check_form``), and every
action is written to the audit log with the staff member, the reason and the channel
(``audit_action``) by the same domain functions the staff API uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import Connection, Row, select

from yibao.security import audit
from yibao.security.errors import Forbidden
from yibao.security.permissions import Permission
from yibao.security.principal import Kind, Principal
from yibao.security.staff import StaffRole
from yibao.store.models import staff_users
from yibao.web import page_session
from yibao.web.api import reads
from yibao.web.deps import client_address, get_engine, get_security
from yibao.web.page_session import Channel
from yibao.web.page_tools import SignInRequired, page_route, render

HOME = "/counter"
CHANNEL = "counter"
CHANNEL_DETAIL = {"channel": CHANNEL}


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str
    url: str
    permission: Permission | None


# The workbench menu, in the order shown; an item appears only to roles holding its permission.
NAV = (
    NavItem("home", "工作台首页", HOME, None),
    NavItem("withdrawals", "提取与继承", f"{HOME}/withdrawals", Permission.WITHDRAWAL_VIEW),
    NavItem("transfers", "转移接续", f"{HOME}/transfers", Permission.TRANSFER_VIEW),
    NavItem("refunds", "急诊垫付返还", f"{HOME}/refunds", Permission.REFUND_VIEW),
    NavItem("filings", "异地就医备案", f"{HOME}/filings", Permission.FILING_VIEW),
    NavItem("imports", "缴费文件", f"{HOME}/imports", Permission.IMPORT_VIEW),
    NavItem("statements", "批量打印对账单", f"{HOME}/statements", Permission.STATEMENT_BATCH),
    NavItem("dashboard", "工作看板", f"{HOME}/dashboard", Permission.DASHBOARD_VIEW),
    NavItem("settlement", "机构日结", f"{HOME}/settlement", Permission.SETTLEMENT_VIEW),
    NavItem("audit", "审计日志", f"{HOME}/audit", Permission.AUDIT_VIEW),
    NavItem("institutions", "定点机构", f"{HOME}/admin/institutions", Permission.INSTITUTION_MANAGE),
    NavItem("apps", "第三方应用", f"{HOME}/admin/apps", Permission.APP_MANAGE),
    NavItem("staff", "工作人员", f"{HOME}/admin/staff", Permission.STAFF_MANAGE),
)


def workbench_router() -> APIRouter:
    """A router for one area's workbench pages: errors become the workbench's Chinese page."""
    return APIRouter(route_class=page_route(HOME, "counter/error.html"), include_in_schema=False)


def signed_in_staff(request: Request) -> Principal:
    """The staff member signed in at the workbench on this browser, or back to the sign-in page."""
    principal = page_session.principal(request, Channel.COUNTER)
    if principal is None or principal.kind is not Kind.STAFF:
        raise SignInRequired("expired" if page_session.token_of(request, Channel.COUNTER) else None)
    return principal


class Requires:
    """A page dependency: the signed-in staff member, whose role must hold ``permission``.

    The permission-matrix test reads ``permission`` off every workbench route.
    """

    def __init__(self, permission: Permission):
        self.permission = permission

    def __call__(self, request: Request) -> Principal:
        principal = signed_in_staff(request)
        if not principal.may(self.permission):
            raise Forbidden(f"您的岗位没有“{self.permission.label}”的权限，如需办理请联系系统管理员", code="permission_denied")
        return principal


def check_form(request: Request, csrf: str | None) -> None:
    """Every workbench form that changes something sends the session's CSRF token back."""
    page_session.check_csrf(request, Channel.COUNTER, csrf)


def staff_header(conn: Connection, principal: Principal) -> dict:
    row = conn.execute(select(staff_users.c.name, staff_users.c.username).where(staff_users.c.id == principal.subject_id)).one()
    regions = principal.scope.regions
    region_text = "全部地区" if regions is None else "、".join(reads.region_name(code) for code in sorted(regions))
    return {"name": row.name, "username": row.username, "region": region_text, "role": StaffRole(principal.role).label}


def staff_names(conn: Connection, ids: Iterable[int | None], show: Callable[[Row], str] = lambda row: row.name) -> dict[int, str]:
    """Staff members by id, each as ``show`` names them (from name, username and role); None ids skipped."""
    wanted = sorted({staff_id for staff_id in ids if staff_id is not None})
    if not wanted:
        return {}
    rows = conn.execute(
        select(staff_users.c.id, staff_users.c.name, staff_users.c.username, staff_users.c.role).where(staff_users.c.id.in_(wanted))
    )
    return {row.id: show(row) for row in rows}


def menu(principal: Principal) -> list[NavItem]:
    return [item for item in NAV if item.permission is None or principal.may(item.permission)]


def page(request: Request, template: str, principal: Principal, context: dict[str, Any], *, nav: str | None = None,
         status_code: int = 200) -> Response:
    """A workbench page: the template with the staff member, the menu and the form token."""
    with get_engine(request).connect() as conn:
        staff = staff_header(conn, principal)
    values = {
        "csrf": page_session.csrf_token(request, Channel.COUNTER), "staff": staff, "menu": menu(principal),
        "nav": nav, "may": principal.may, "Permission": Permission, **context,
    }
    return render(request, template, values, status_code=status_code)


def audit_action(conn: Connection, request: Request, principal: Principal, action: str, *, reason: str | None,
                 person_id: int | None = None, detail: dict | None = None) -> None:
    """One audit row for a workbench action: who, whom, what, why, from where, on which channel."""
    audit.record(
        conn, actor=principal, action=action, at=get_security(request).now(), subject_person_id=person_id,
        reason=reason, client=client_address(request), detail={**CHANNEL_DETAIL, **(detail or {})},
    )
