"""Contribution files (缴费文件) at the workbench: the history of a clerk's regions, the upload
form, and one import's progress and report.

The upload goes the staff API's way (``web.api.imports.accept_upload``): the same region rule,
the file streamed to the data directory with its SHA-256, the same import job run by the app's
background runner, the same audit row (here with the clerk's reason and the channel). One bad
row rejects the whole file; the job's page then lists every fault row by row, in Chinese.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from fastapi import Depends, File, Form, Path, Query, Request, Response, UploadFile
from sqlalchemy import Row, func, select

from yibao.clock import CHINA
from yibao.contributions import jobs
from yibao.contributions.importer import MAX_REPORTED_ERRORS
from yibao.domain.regions import regions as region_table
from yibao.errors import InvalidInput, NotFound
from yibao.security.permissions import Permission
from yibao.security.principal import Principal
from yibao.store.models import import_jobs, staff_users
from yibao.web.api import reads
from yibao.web.api.imports import accept_upload, job_view, job_visible
from yibao.security.audit import MAX_REASON, written_reason
from yibao.web.counter.workbench import HOME, Requires, audit_action, check_form, page, workbench_router
from yibao.web.deps import get_engine
from yibao.web.page_tools import redirect

router = workbench_router()
IMPORTS = f"{HOME}/imports"
JobId = Annotated[int, Path(ge=1, le=reads.MAX_ID)]
JOBS_PER_PAGE = 20
REFRESH_SECONDS = 3

STATUS_LABELS = {
    jobs.QUEUED: "排队中",
    jobs.RUNNING: "导入中",
    jobs.APPLIED: "已导入",
    jobs.REJECTED: "已拒绝（未做任何更改）",
    jobs.FAILED: "导入失败（未做任何更改）",
}
# In the history list the outcome column already says "未导入".
SHORT_LABELS = {**STATUS_LABELS, jobs.REJECTED: "已拒绝", jobs.FAILED: "导入失败"}
NOTICES = {"uploaded": "文件已上传，正在后台导入。本页会自动刷新，也可点击“刷新”查看进度。"}

viewer = Requires(Permission.IMPORT_VIEW)
uploader = Requires(Permission.IMPORT_UPLOAD)


# ---------------------------------------------------------------------------- the history and the upload form


@router.get(IMPORTS)
def history(request: Request, page_number: Annotated[int, Query(alias="page")] = 1, principal: Principal = Depends(viewer)) -> Response:
    return _history_page(request, principal, page_number=page_number)


@router.post(IMPORTS)
async def upload(
    request: Request,
    principal: Principal = Depends(uploader),
    csrf: str = Form(""),
    file: UploadFile | None = File(None),
    region: str = Form(""),
    create_people: str = Form(""),
    reason: str = Form(""),
) -> Response:
    check_form(request, csrf)
    form = {"region": region.strip()[:6], "create_people": bool(create_people), "reason": reason.strip()[:MAX_REASON]}
    try:
        stated = _reason(reason)
        if file is None or not (file.filename or "").strip():
            raise InvalidInput("请选择要导入的缴费文件（CSV 或 xlsx）", field="file", code="file_missing")
        picked = _picked_region(principal, form["region"])
        if form["create_people"] and picked is None:
            picked = _enrolment_region(principal)
        job_id = await accept_upload(
            request, principal, file, picked if form["create_people"] else None,
            region=None if form["create_people"] else picked, reason=stated, detail={"channel": "counter"},
        )
    except InvalidInput as error:
        return _history_page(request, principal, form=form, error=error, status_code=422)
    return redirect(f"{IMPORTS}/{job_id}?notice=uploaded")


def _reason(text: str) -> str:
    return written_reason(text, what="导入事由")


def _picked_region(principal: Principal, code: str) -> str | None:
    """The region picked on the form (checked against the clerk's regions by ``import_region``)."""
    if not code:
        return None
    if code not in {region.code for region in _region_choices(principal)}:
        raise InvalidInput("只能选择您所属的统筹区", field="region", code="region_not_allowed")
    return code


def _enrolment_region(principal: Principal) -> str:
    """Where new people are enrolled when no region was picked: the clerk's one region."""
    regions = principal.scope.regions
    if regions is not None and len(regions) == 1:
        return next(iter(regions))
    raise InvalidInput("请选择为新参保人建档的统筹区", field="region", code="region_required")


def _region_choices(principal: Principal) -> list:
    """The pooling regions the clerk may pick: their own, or every pooling region."""
    table = region_table()
    if principal.scope.regions is None:
        return sorted(table.pooling_regions(), key=lambda region: region.code)
    return [table.get(code) for code in sorted(principal.scope.regions)]


def _history_page(request: Request, principal: Principal, *, page_number: int = 1, form: dict | None = None,
                  error: InvalidInput | None = None, status_code: int = 200) -> Response:
    page_number = page_number if 1 <= page_number <= 100_000 else 1
    scope = principal.scope.limit(import_jobs.c.region_code)
    with get_engine(request).connect() as conn:
        total = conn.execute(select(func.count()).select_from(import_jobs).where(scope)).scalar_one()
        rows = conn.execute(
            select(import_jobs, staff_users.c.name.label("uploader_name"))
            .join(staff_users, staff_users.c.id == import_jobs.c.uploaded_by)
            .where(scope).order_by(import_jobs.c.id.desc())
            .limit(JOBS_PER_PAGE).offset((page_number - 1) * JOBS_PER_PAGE)
        ).all()
    choices = _region_choices(principal)
    context = {
        "jobs": [_summary(row) for row in rows], "page": page_number, "pages": max(1, -(-total // JOBS_PER_PAGE)),
        "base": IMPORTS, "may_upload": principal.may(Permission.IMPORT_UPLOAD), "regions": choices,
        "must_pick": principal.scope.regions is None or len(principal.scope.regions) > 1,
        "all_regions": principal.scope.regions is None,
        "form": form or {"region": "", "create_people": False, "reason": ""},
        "error": error.message if error else None, "error_field": _form_field(error),
    }
    return page(request, "counter/imports/history.html", principal, context, nav="imports", status_code=status_code)


def _form_field(error: InvalidInput | None) -> str | None:
    if error is None:
        return None
    if error.field in ("reason", "file"):
        return error.field
    return "region"


# ---------------------------------------------------------------------------- one import


@router.get(IMPORTS + "/{job_id}")
def job_page(request: Request, job_id: JobId, notice: str = "", principal: Principal = Depends(viewer)) -> Response:
    with get_engine(request).begin() as conn:
        job = conn.execute(
            select(import_jobs, staff_users.c.name.label("uploader_name"))
            .join(staff_users, staff_users.c.id == import_jobs.c.uploaded_by).where(import_jobs.c.id == job_id)
        ).first()
        if job is None or not job_visible(principal, job):
            raise NotFound("未找到该导入记录", field="job_id", code="import_job_not_found")
        # The same audit row as the staff API's read of a job.
        audit_action(conn, request, principal, "staff.import_job.read", reason=None,
                     detail={"job_id": job.id, "status": job.status})
    report = job.report or {}
    context = {
        "job": _summary(job), "message": job_view(job).message, "notice": NOTICES.get(notice),
        "running": job.status in jobs.UNFINISHED, "refresh_seconds": REFRESH_SECONDS,
        "report": report, "errors": report.get("errors") or [], "error_limit": MAX_REPORTED_ERRORS,
        "file_error": (job.error or {}).get("message") if not report else None,
    }
    return page(request, "counter/imports/job.html", principal, context, nav="imports")


def _summary(job: Row) -> dict:
    """What a list row and a job's page say about the job, all in Chinese."""
    report = job.report or {}
    if job.status == jobs.APPLIED:
        outcome = f"新增 {report.get('added', 0):,} 条，已存在 {report.get('unchanged', 0):,} 条"
    elif job.status == jobs.REJECTED:
        outcome = f"{report['error_count']:,} 处错误，未导入" if report else "文件无法读取，未导入"
    elif job.status == jobs.FAILED:
        outcome = "未导入"
    else:
        outcome = f"已读取 {job.rows_done:,} 行"
    return {
        "id": job.id, "file": job.file_name, "size": _size(job.size_bytes), "sha256": job.sha256,
        "uploader": job.uploader_name, "created": _when(job.created_at), "finished": _when(job.finished_at),
        "region": "全部地区" if job.region_code is None else (reads.region_name(job.region_code) or job.region_code),
        "create_people_in": reads.region_name(job.create_people_in) if job.create_people_in else None,
        "status": job.status, "status_label": STATUS_LABELS.get(job.status, "未知状态"),
        "short_label": SHORT_LABELS.get(job.status, "未知状态"), "outcome": outcome,
        "rows_done": job.rows_done, "rows_total": job.rows_total,
    }


def _size(size_bytes: int) -> str:
    if size_bytes < 1024:
        return f"{size_bytes} 字节"
    if size_bytes < 1024 * 1024:
        return f"{size_bytes / 1024:.1f} KB"
    return f"{size_bytes / 1024 / 1024:.1f} MB"


def _when(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # SQLite gives back the UTC time without its zone
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
