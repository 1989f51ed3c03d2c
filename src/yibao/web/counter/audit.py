"""The auditors' page: the audit log filtered by person, actor, action, channel and dates, in
Chinese, paged, and exported as a CSV file that Excel opens (UTF-8 with BOM).

Auditors read and never change: the only forms are the filters (GET). Every read of the log,
on the page or as a file, is itself written to the log (``audit.read``, ``audit.export``), as
the staff API does. Persons are shown by their masked ID number only.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from urllib.parse import urlencode

from fastapi import Depends, Request, Response
from sqlalchemy import Connection, select

from yibao.clock import CHINA
from yibao.domain.resident_id import ResidentId
from yibao.errors import InvalidInput
from yibao.security import audit
from yibao.security.permissions import Permission
from yibao.security.principal import Principal
from yibao.security.signin import parse_id_number
from yibao.store.models import institutions, oauth_clients, persons, staff_users
from yibao.web.api import reads
from yibao.web.counter.audit_labels import ACTIONS, ACTOR_KINDS, CHANNELS, action_label, detail_text, when
from yibao.web.counter.workbench import HOME, Requires, audit_action, page, workbench_router
from yibao.web.deps import get_engine, get_security
from yibao.web.page_tools import redirect

router = workbench_router()
PER_PAGE = 50
EXPORT_LIMIT = 10_000
CSV_HEADER = ["时间（北京时间）", "操作人类型", "操作人", "操作", "参保人（脱敏证件号）", "事由", "终端地址", "渠道", "详情"]


@dataclass
class Filters:
    person_id: int | None = None
    id_number: str = ""
    actor_kind: str = ""
    actor: str = ""
    action: str = ""
    channel: str = ""
    date_from: str = ""
    date_to: str = ""
    page: int = 1

    def query(self, **changes) -> str:
        values = {"person_id": self.person_id or "", "actor_kind": self.actor_kind, "actor": self.actor, "action": self.action,
                  "channel": self.channel, "date_from": self.date_from, "date_to": self.date_to, **changes}
        return urlencode({key: value for key, value in values.items()
                          if value not in ("", None) and not (key == "page" and value == 1)})

    def described(self) -> dict:
        """The filters as the audit row of this read records them (no personal data)."""
        values = {"actor_kind": self.actor_kind, "actor": self.actor, "action": self.action, "channel_filter": self.channel,
                  "date_from": self.date_from, "date_to": self.date_to}
        return {key: value for key, value in values.items() if value}


def _filters(request: Request) -> Filters:
    params = request.query_params

    def text(name: str, size: int) -> str:
        return (params.get(name) or "").strip()[:size]

    person = text("person_id", 12)
    page_text = text("page", 6)
    return Filters(
        person_id=int(person) if person.isdigit() and 1 <= int(person) <= reads.MAX_ID else None,
        id_number=text("id_number", 40), actor_kind=text("actor_kind", 16), actor=text("actor", 40),
        action=text("action", 64), channel=text("channel", 16), date_from=text("date_from", 10),
        date_to=text("date_to", 10), page=int(page_text) if page_text.isdigit() and 1 <= int(page_text) <= 100_000 else 1,
    )


def _day(text: str, field: str) -> date | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("日期格式应为 YYYY-MM-DD，如 2025-06-15", field=field, code="invalid_date") from None
    if not date(2000, 1, 1) <= day <= date(2999, 12, 31):
        raise InvalidInput("请填写2000年以后的日期", field=field, code="invalid_date")
    return day


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), CHINA).astimezone(timezone.utc)


def _person_in_scope(conn: Connection, principal: Principal, person_id: int) -> str | None:
    """The person's masked ID number when they are in the auditor's regions."""
    row = conn.execute(select(persons.c.id_number, persons.c.region_code).where(persons.c.id == person_id)).first()
    if row is None or not principal.scope.covers(row.region_code):
        return None
    return ResidentId(row.id_number).masked


def _where(conn: Connection, principal: Principal, filters: Filters) -> tuple[audit.AuditFilter, str | None]:
    """The filter for ``security.audit.read`` and the chosen person's masked ID number; bad input raises."""
    masked = None
    if filters.person_id is not None:
        masked = _person_in_scope(conn, principal, filters.person_id)
        if masked is None:
            raise InvalidInput("未找到该参保人", field="id_number", code="person_not_found")
    if filters.actor_kind and filters.actor_kind not in ACTOR_KINDS:
        raise InvalidInput("请从列表中选择操作人类型", field="actor_kind", code="actor_kind_unknown")
    if filters.channel and filters.channel not in CHANNELS:
        raise InvalidInput("请从列表中选择渠道", field="channel", code="channel_unknown")
    if filters.action and filters.action not in ACTIONS:
        raise InvalidInput("请从列表中选择操作", field="action", code="action_unknown")
    actor_kind, actor_id = filters.actor_kind or None, None
    if filters.actor:
        staff_id = conn.execute(select(staff_users.c.id).where(staff_users.c.username == filters.actor)).scalar()
        if staff_id is None:
            raise InvalidInput("未找到该用户名的工作人员", field="actor", code="staff_not_found")
        actor_kind, actor_id = "staff", str(staff_id)
    start, end = _day(filters.date_from, "date_from"), _day(filters.date_to, "date_to")
    if start and end and start > end:
        raise InvalidInput("开始日期不能晚于结束日期", field="date_from", code="invalid_range")
    where = audit.AuditFilter(
        subject_person_id=filters.person_id, actor_kind=actor_kind, actor_id=actor_id, action=filters.action or None,
        since=_midnight(start) if start else None, until=_midnight(end + timedelta(days=1)) if end else None,
        channel=filters.channel or None,
    )
    return where, masked


def _resolve_id_number(request: Request, principal: Principal, filters: Filters) -> int:
    """The person id of a typed ID number, within the auditor's regions."""
    resident = parse_id_number(get_security(request), filters.id_number)
    with get_engine(request).connect() as conn:
        row = conn.execute(select(persons.c.id, persons.c.region_code).where(persons.c.id_number == resident.full)).first()
    if row is None or not principal.scope.covers(row.region_code):
        raise InvalidInput("未找到该参保人", field="id_number", code="person_not_found")
    return row.id


class Readable:
    """Turns audit rows into what an auditor reads: names, masked ID numbers, Chinese labels."""

    def __init__(self, conn: Connection, rows: list[dict]):
        staff_ids = {int(row["actor_id"]) for row in rows if row["actor_kind"] == "staff" and row["actor_id"].isdigit()}
        self.staff = {row.id: f"{row.name}（{row.username}）" for row in conn.execute(
            select(staff_users.c.id, staff_users.c.name, staff_users.c.username).where(staff_users.c.id.in_(sorted(staff_ids)))
        )} if staff_ids else {}
        person_ids = sorted({row["subject_person_id"] for row in rows if row["subject_person_id"]})
        self.persons = {row.id: ResidentId(row.id_number).masked for row in conn.execute(
            select(persons.c.id, persons.c.id_number).where(persons.c.id.in_(person_ids))
        )} if person_ids else {}
        codes = sorted({row["actor_id"] for row in rows if row["actor_kind"] == "institution"})
        self.institutions = {row.code: row.name for row in conn.execute(
            select(institutions.c.code, institutions.c.name).where(institutions.c.code.in_(codes))
        )} if codes else {}
        clients = sorted({row["actor_id"].split(":")[0] for row in rows if row["actor_kind"] == "third_party"})
        self.apps = {row.client_id: row.name for row in conn.execute(
            select(oauth_clients.c.client_id, oauth_clients.c.name).where(oauth_clients.c.client_id.in_(clients))
        )} if clients else {}

    def actor(self, row: dict) -> str:
        kind, actor_id = row["actor_kind"], row["actor_id"]
        if kind == "staff":
            return self.staff.get(int(actor_id), "已删除的工作人员") if actor_id.isdigit() else "工作人员"
        if kind == "person":
            return "参保人本人"
        if kind == "institution":
            return self.institutions.get(actor_id, "未登记的机构")
        if kind == "third_party":
            return self.apps.get(actor_id.split(":")[0], "未登记的应用")
        if kind == "phone":
            return "电话服务来电"
        return "系统"

    def entry(self, row: dict, *, short: bool = False) -> dict:
        detail = row["detail"] or {}
        reason = row["reason"] or ("未填写" if row["actor_kind"] == "staff" else "无")
        return {
            "at": when(row["at"]), "actor_kind": ACTOR_KINDS.get(row["actor_kind"], "其他"), "actor": self.actor(row),
            "action": action_label(row["action"]),
            "person": self.persons.get(row["subject_person_id"], "无") if row["subject_person_id"] else "无",
            "reason": reason, "client": row["client"] or "未记录",
            "channel": CHANNELS["counter"] if detail.get("channel") == "counter" else CHANNELS["other"],
            "detail": detail_text({key: value for key, value in detail.items() if key != "channel"}, short=short),
        }


def _form_page(request: Request, principal: Principal, filters: Filters, *, masked: str | None = None,
               entries: list | None = None, total: int = 0, error: InvalidInput | None = None) -> Response:
    pages = max(1, -(-total // PER_PAGE))
    context = {
        "filters": filters, "masked": masked, "entries": entries or [], "total": total, "pages": pages,
        "error": error.message if error else None, "error_field": error.field if error else None,
        "actions": sorted(ACTIONS.items(), key=lambda pair: pair[0]), "actor_kinds": ACTOR_KINDS, "channels": CHANNELS,
        "prev_url": f"{HOME}/audit?{filters.query(page=filters.page - 1)}" if filters.page > 1 else None,
        "next_url": f"{HOME}/audit?{filters.query(page=filters.page + 1)}" if filters.page < pages else None,
        "export_url": f"{HOME}/audit.csv?{filters.query()}", "may_export": principal.may(Permission.AUDIT_EXPORT),
        "clear_person_url": f"{HOME}/audit?{filters.query(person_id='')}",
    }
    return page(request, "counter/audit/log.html", principal, context, nav="audit", status_code=422 if error else 200)


@router.get(f"{HOME}/audit")
def audit_log(request: Request, principal: Principal = Depends(Requires(Permission.AUDIT_VIEW))) -> Response:
    filters = _filters(request)
    if filters.id_number:
        # A typed ID number is looked up once; the page's address then names the person by number only.
        try:
            filters.person_id = _resolve_id_number(request, principal, filters)
        except InvalidInput as error:
            return _form_page(request, principal, filters, error=error)
        return redirect(f"{HOME}/audit?{filters.query()}")
    engine = get_engine(request)
    try:
        with engine.connect() as conn:
            where, masked = _where(conn, principal, filters)
    except InvalidInput as error:
        return _form_page(request, principal, filters, error=error)
    with engine.begin() as conn:
        total, rows = audit.read(conn, where, offset=(filters.page - 1) * PER_PAGE, limit=PER_PAGE)
        readable = Readable(conn, rows) if rows else None
        entries = [readable.entry(row, short=True) for row in rows] if rows else []
        audit_action(conn, request, principal, "audit.read", reason=None, person_id=filters.person_id,
                     detail={**filters.described(), "page": filters.page})
    return _form_page(request, principal, filters, masked=masked, entries=entries, total=total)


@router.get(f"{HOME}/audit.csv")
def audit_export(request: Request, principal: Principal = Depends(Requires(Permission.AUDIT_EXPORT))) -> Response:
    filters = _filters(request)
    if filters.id_number:
        try:
            filters.person_id = _resolve_id_number(request, principal, filters)
        except InvalidInput as error:
            return _form_page(request, principal, filters, error=error)
    engine = get_engine(request)
    try:
        with engine.connect() as conn:
            where, _ = _where(conn, principal, filters)
    except InvalidInput as error:
        return _form_page(request, principal, filters, error=error)
    with engine.begin() as conn:
        total, rows = audit.read(conn, where, offset=0, limit=EXPORT_LIMIT)
        entries = [Readable(conn, rows).entry(row) for row in rows] if rows else []
        audit_action(conn, request, principal, "audit.export", reason=None, person_id=filters.person_id,
                     detail={**filters.described(), "rows": len(entries)})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for entry in entries:
        writer.writerow([entry["at"], entry["actor_kind"], entry["actor"], entry["action"], entry["person"], entry["reason"],
                         entry["client"], entry["channel"], entry["detail"]])
    name = f"audit-{get_security(request).now().astimezone(CHINA):%Y%m%d-%H%M%S}.csv"
    return Response(
        ("\ufeff" + out.getvalue()).encode("utf-8"), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store",
                 "X-Yibao-Rows": f"{len(entries)}/{total}"},
    )
