"""The signed-in person's account statement (对账单) as a PDF download.

Staff get the same document through ``/api/v1/staff/persons/{person_id}/statement``; both
answer with :func:`pdf_download`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import Connection

from yibao.security.principal import Principal, Scope
from yibao.statements import check_owner, statement_pdf, validate_period
from yibao.statements.data import MAX_PERIOD_YEARS
from yibao.web.api import reads
from yibao.web.api.schemas import IsoDate, error_responses
from yibao.web.deps import PersonData, get_engine, get_security

router = APIRouter(prefix="/api/v1/me", tags=["本人 / the signed-in person"], responses=error_responses(401, 403, 404, 422, 429))

# The route's response_class stays the plain Response (no media type), so that only 200 is
# documented as PDF and the errors keep their JSON body in the OpenAPI document.
PDF_RESPONSE = {
    200: {
        "description": "对账单 PDF / the statement as PDF",
        "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
    }
}
AccountId = Annotated[int, Query(ge=1, le=reads.MAX_ID, description="个人账户编号（见 /me/accounts）")]
DateFrom = Annotated[IsoDate, Query(description="开始日期（含）")]
DateTo = Annotated[IsoDate, Query(description=f"结束日期（含），期间最长 {MAX_PERIOD_YEARS} 年")]


@router.get("/statement", summary="下载个人账户对账单（PDF）", response_class=Response, responses=PDF_RESPONSE)
def my_statement(
    request: Request,
    account_id: AccountId,
    date_from: DateFrom,
    date_to: DateTo,
    principal: Principal = Depends(PersonData(Scope.DETAILS)),
) -> Response:
    validate_period(date_from, date_to)
    with get_engine(request).connect() as conn:
        check_owner(conn, account_id=account_id, person_id=principal.person_id)
        return pdf_download(request, conn, account_id=account_id, date_from=date_from, date_to=date_to)


def pdf_download(request: Request, conn: Connection, *, account_id: int, date_from: date, date_to: date) -> Response:
    """The statement as an attachment; never cached, it holds personal data."""
    content = statement_pdf(
        conn, account_id=account_id, date_from=date_from, date_to=date_to, generated_at=get_security(request).now()
    )
    period = f"{date_from:%Y%m%d}-{date_to:%Y%m%d}"
    ascii_name = f"statement-{account_id}-{period}.pdf"
    chinese_name = quote(f"医保个人账户对账单-{account_id}-{period}.pdf")
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{chinese_name}",
            "Cache-Control": "no-store",
        },
    )
