"""Agency staff upload contribution files (缴费记录): the same importer as ``yibao import contributions``.

The upload only stores the file (streamed to the data directory, never held in memory) and
answers 202 with an import job; a worker process of its own, under a memory limit, imports
it (``yibao.contributions.runner``), so no file can take the web server down.
``GET /api/v1/staff/imports/{job_id}`` gives the job's status, progress and, once it ends, the
report: applied (whole file), or rejected with the row-by-row report (row, column, code,
Chinese reason) and nothing changed, or failed with a Chinese reason and nothing changed.
Every upload and every read of a job is written to the audit log (the upload with the
file's SHA-256), and so is each job's outcome. Staff scoped to a pooling region may only
import records of people insured there, enrol new people only there, and see only their
region's jobs.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, File, Form, Path, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Row

from yibao.clock import CHINA
from yibao.contributions import jobs
from yibao.contributions.limits import MIB
from yibao.contributions.runner import ImportRunner
from yibao.contributions.settings import get_import_settings
from yibao.errors import InvalidInput, NotFound
from yibao.security import audit
from yibao.security.permissions import Permission
from yibao.security.principal import Principal
from yibao.web.api.reads import MAX_ID
from yibao.web.api.schemas import ErrorBody, ErrorDetail, error_responses
from yibao.web.deps import StaffPermission, client_address, get_engine, get_security

router = APIRouter(prefix="/api/v1/staff/imports", tags=["经办人员 / agency staff"])
uploader = StaffPermission(Permission.IMPORT_UPLOAD)
import_reader = StaffPermission(Permission.IMPORT_VIEW)
CHUNK_BYTES = 1024 * 1024
JobId = Annotated[int, Path(ge=1, le=MAX_ID, description="导入任务编号")]


class ImportJobAccepted(BaseModel):
    job_id: int
    status: Literal["queued"]
    status_url: str = Field(description="查询导入进度与结果 / where to read the job")


class ImportJobView(BaseModel):
    job_id: int
    status: Literal["queued", "running", "applied", "rejected", "failed"] = Field(
        description="queued 排队中；running 导入中；applied 已导入；rejected 文件有误，未做任何更改；failed 导入失败，未做任何更改"
    )
    message: str = Field(description="中文说明")
    file: str
    sha256: str
    size_bytes: int
    rows_done: int = Field(description="已读取的行数")
    rows_total: int | None = Field(description="文件的总行数（读完后才知道）")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: ErrorDetail | None = Field(description="rejected 或 failed 时的原因")
    report: dict[str, Any] | None = Field(description="逐行报告：rows、added、unchanged、errors（行、列、代码、原因）…")


def runner_for(app: FastAPI) -> ImportRunner:
    """The app's runner, made on first use with the app's database and data directory."""
    state = app.state
    if getattr(state, "import_runner", None) is None:
        state.import_runner = ImportRunner(
            state.engine, state.security.settings.data_dir, get_import_settings().import_memory_limit_mb
        )
    return state.import_runner


@router.post(
    "/contributions",
    summary="上传缴费记录文件（CSV：UTF-8 或 GB18030；Excel .xlsx），后台导入：整份文件全部导入或全部不导入",
    status_code=202,
    response_model=ImportJobAccepted,
    responses={
        **error_responses(401, 403, 422, 429),
        413: {"model": ErrorBody, "description": "文件过大 / body too large"},
    },
)
async def import_contribution_file(
    request: Request,
    file: Annotated[UploadFile, File(description="缴费记录文件")],
    create_people_in: Annotated[str | None, Form(max_length=6, description="为文件中尚未登记的人员在此统筹区建档（需“姓名”列）")] = None,
    principal: Principal = Depends(uploader),
) -> JSONResponse:
    job_id = await accept_upload(request, principal, file, create_people_in)
    status_url = f"{router.prefix}/{job_id}"
    return JSONResponse({"job_id": job_id, "status": jobs.QUEUED, "status_url": status_url}, status_code=202,
                        headers={"Location": status_url})


@router.get(
    "/{job_id}",
    summary="导入任务的状态、进度与逐行报告",
    response_model=ImportJobView,
    responses=error_responses(401, 403, 404, 422, 429),
)
def import_job(job_id: JobId, request: Request, principal: Principal = Depends(import_reader)) -> ImportJobView:
    sec = get_security(request)
    with get_engine(request).begin() as conn:
        job = jobs.get(conn, job_id)
        if job is None or not job_visible(principal, job):
            raise NotFound("未找到该导入任务", field="job_id", code="import_job_not_found")
        audit.record(conn, actor=principal, action="staff.import_job.read", at=sec.now(), client=client_address(request),
                     detail={"job_id": job.id, "status": job.status})
    return job_view(job)


async def accept_upload(request: Request, principal: Principal, file: UploadFile, create_people_in: str | None, *,
                        region: str | None = None, reason: str | None = None, detail: dict | None = None) -> int:
    """Store an uploaded contribution file (streamed, with its SHA-256) and queue its import job.

    The staff API and the workbench's upload form both come here: the region rule, the file
    saved in the runner's folder, the job row and its audit row (with the staff member's
    ``reason`` and the channel's ``detail`` when given), then the runner is woken.
    """
    region = import_region(principal, create_people_in, region)
    sec, runner = get_security(request), runner_for(request.app)
    stored_as = secrets.token_hex(16)
    path = runner.folder / stored_as
    size, digest = await _save(file, path)
    job = jobs.NewJob(
        file_name=_safe_name(file.filename), stored_as=stored_as, size_bytes=size, sha256=digest,
        uploaded_by=principal.subject_id, region_code=region, create_people_in=create_people_in,
        import_today=sec.now().astimezone(CHINA).date(),
    )
    try:
        job_id = await run_in_threadpool(_queue, request, principal, job, reason, detail)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    runner.submit()
    return job_id


def import_region(principal: Principal, create_people_in: str | None, region: str | None = None) -> str | None:
    """The region an import is limited to: the staff member's one region, or the region new people
    are enrolled in (or, at the workbench, the region picked for the file); None (all regions) only
    for staff who work for every region."""
    regions = principal.scope.regions
    if create_people_in is not None and not principal.scope.covers(create_people_in):
        raise InvalidInput("只能在您所属的统筹区为新参保人建档", field="create_people_in", code="region_not_allowed")
    if region is not None and not principal.scope.covers(region):
        raise InvalidInput("只能导入您所属统筹区的缴费记录", field="create_people_in", code="region_not_allowed")
    if create_people_in is not None and region is not None and region != create_people_in:
        raise InvalidInput("新参保人只能在本文件所属的统筹区建档", field="create_people_in", code="region_mismatch")
    if regions is None:
        return None
    if create_people_in is not None or region is not None:
        return create_people_in or region
    if len(regions) == 1:
        return next(iter(regions))
    raise InvalidInput("您负责多个统筹区，请选择本文件所属的统筹区", field="create_people_in", code="region_required")


def job_visible(principal: Principal, job: Row) -> bool:
    return principal.scope.regions is None or job.region_code in principal.scope.regions


def job_view(job: Row) -> ImportJobView:
    return ImportJobView(
        job_id=job.id, status=job.status, message=_message(job), file=job.file_name, sha256=job.sha256,
        size_bytes=job.size_bytes, rows_done=job.rows_done, rows_total=job.rows_total, created_at=job.created_at,
        started_at=job.started_at, finished_at=job.finished_at, error=job.error, report=job.report,
    )


def _message(job: Row) -> str:
    if job.status == jobs.QUEUED:
        return "已收到文件，正在排队等待导入"
    if job.status == jobs.RUNNING:
        checking = "，正在与已有记录核对" if job.rows_total is not None else ""
        return f"正在导入：已读取 {job.rows_done:,} 行{checking}"
    if job.report is not None:
        return job.report["message"]
    return job.error["message"]


def _queue(request: Request, principal: Principal, job: jobs.NewJob, reason: str | None, detail: dict | None) -> int:
    sec = get_security(request)
    with get_engine(request).begin() as conn:
        job_id = jobs.create(conn, job, sec.now())
        audit.record(
            conn, actor=principal, action=jobs.AUDIT_ACTION, at=sec.now(), client=client_address(request), reason=reason,
            detail={**(detail or {}), "job_id": job_id, "file": job.file_name, "sha256": job.sha256, "size_bytes": job.size_bytes},
        )
    return job_id


def _safe_name(filename: str | None) -> str:
    """The uploaded name without any folder part (the reader tells the format by the content)."""
    return FilePath(filename or "").name[:120] or "upload"


async def _save(upload: UploadFile, path: FilePath) -> tuple[int, str]:
    """Stream the upload to ``path``: its size and SHA-256. An empty file is refused here."""
    limit = get_import_settings().import_max_upload_mb * MIB
    digest, size = hashlib.sha256(), 0
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "wb") as out:
            while chunk := await upload.read(CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    raise InvalidInput(f"文件过大（上限 {limit // MIB} MB），请拆分后分别导入", field="file", code="file_too_large")
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise InvalidInput("文件是空的", field="file", code="file_empty")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return size, digest.hexdigest()
