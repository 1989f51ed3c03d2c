"""Agency staff upload contribution files (缴费记录): the same importer as ``yibao import contributions``.

The file is applied whole or not at all. A rejected file answers 422 with the usual error
object and, beside it, the row-by-row report (row, column, code, Chinese reason). Every
upload is written to the audit log with the file's SHA-256, so an auditor can tell which
file changed the records. Staff scoped to a pooling region may only import records of
people insured there, and may only enrol new people there.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from yibao.clock import CHINA
from yibao.contributions.importer import ImportOptions, import_contributions
from yibao.errors import InvalidInput
from yibao.security import audit
from yibao.security.principal import Principal
from yibao.security.staff import StaffRole as Role
from yibao.web.api.schemas import error_responses
from yibao.web.deps import StaffRole, client_address, get_engine, get_security

router = APIRouter(prefix="/api/v1/staff/imports", tags=["经办人员 / agency staff"])
agent = StaffRole(Role.AGENT.value)

# A service limit, not policy: a million-row CSV is about 120 MB.
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024


@router.post(
    "/contributions",
    summary="导入缴费记录文件（CSV：UTF-8 或 GB18030；Excel .xlsx）：整份文件全部导入或全部不导入",
    responses={
        **error_responses(401, 403, 429),
        422: {"description": "文件有误，未做任何更改；`report.errors` 逐行列出每处错误"},
    },
)
async def import_contribution_file(
    request: Request,
    file: Annotated[UploadFile, File(description="缴费记录文件")],
    create_people_in: Annotated[str | None, Form(max_length=6, description="为文件中尚未登记的人员在此统筹区建档（需“姓名”列）")] = None,
    principal: Principal = Depends(agent),
) -> dict[str, Any]:
    region = principal.region_code
    if region is not None and create_people_in not in (None, region):
        raise InvalidInput("只能在您所属的统筹区为新参保人建档", field="create_people_in", code="region_not_allowed")
    sec = get_security(request)
    options = ImportOptions(today=sec.now().astimezone(CHINA).date(), create_people_in=create_people_in, only_region=region)
    with tempfile.TemporaryDirectory(prefix="yibao-import-") as folder:
        path = Path(folder) / _safe_name(file.filename)
        digest = await _save(file, path)
        report = await run_in_threadpool(import_contributions, get_engine(request), path, options)
    report.file = _safe_name(file.filename)
    with get_engine(request).begin() as conn:
        audit.record(
            conn, actor=principal, action="staff.import_contributions", at=sec.now(), client=client_address(request),
            detail={"file": report.file, "sha256": digest, "rows": report.rows, "added": report.added,
                    "applied": report.applied, "errors": report.error_count},
        )
    body = report.as_dict()
    if not report.applied:
        error = {"code": "import_rejected", "message": report.summary(), "field": "file"}
        return JSONResponse({"error": error, "report": body}, status_code=422)
    return body


def _safe_name(filename: str | None) -> str:
    """The uploaded name without any folder part (the reader tells the format by the content)."""
    return Path(filename or "").name[:120] or "upload"


async def _save(upload: UploadFile, path: Path) -> str:
    digest, size = hashlib.sha256(), 0
    with open(path, "wb") as out:
        while chunk := await upload.read(CHUNK_BYTES):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                raise InvalidInput("文件过大（上限 512 MB），请拆分后分别导入", field="file", code="file_too_large")
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()

