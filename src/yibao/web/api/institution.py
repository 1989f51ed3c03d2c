"""Designated institutions (pharmacies, hospitals): balance check of a person who shows an e-voucher.

The answer is the least the counter needs: the masked name and ID number (to match the
person in front of them), the account status and the balance. Each check is audited.
Only designated institutions (定点) may check, as only they may take payments; another
institution is refused before the voucher is read, so the voucher stays usable.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from yibao.domain.money import Money
from yibao.domain.resident_id import ResidentId
from yibao.payments.errors import NotDesignated
from yibao.payments.institutions import institution_row, require_designated
from yibao.security import audit, evoucher
from yibao.security.principal import Principal
from yibao.web.api import reads
from yibao.web.api.schemas import BalanceCheck, error_responses
from yibao.web.deps import client_address, get_engine, get_security, institution

router = APIRouter(prefix="/api/v1/institution", tags=["定点机构 / designated institutions"])


class VoucherScan(BaseModel):
    payload: str = Field(min_length=1, max_length=evoucher.MAX_PAYLOAD_LENGTH, description="扫描到的医保电子凭证二维码内容")


@router.post(
    "/balance-check",
    summary="扫医保电子凭证查询个人账户余额",
    response_model=BalanceCheck,
    responses=error_responses(401, 403, 404, 422, 429),
)
def balance_check(body: VoucherScan, request: Request, principal: Principal = Depends(institution)) -> BalanceCheck:
    sec = get_security(request)
    now = sec.now()
    _require_designated(request, principal)
    with get_engine(request).begin() as conn:
        person_id = evoucher.redeem(conn, sec.key, body.payload, institution_id=principal.subject_id, now=now)
        person = reads.person_row(conn, person_id)
        status, balance_fen = reads.balance_of(conn, person_id)
        audit.record(
            conn, actor=principal, action="institution.balance_check", at=now, subject_person_id=person_id,
            client=client_address(request),
        )
    return BalanceCheck(
        name_masked=reads.mask_name(person["name"]),
        id_number_masked=ResidentId(person["id_number"]).masked,
        account_status=status,
        balance_fen=balance_fen,
        balance=Money(balance_fen).format(),
    )


def _require_designated(request: Request, principal: Principal) -> None:
    """Refuse (and audit) an institution that is not designated, before any voucher is read."""
    with get_engine(request).connect() as conn:
        payee = institution_row(conn, principal.subject_id)
    try:
        require_designated(payee, "该机构不是定点医药机构，不能查询医保个人账户余额")
    except NotDesignated as refusal:
        with get_engine(request).begin() as conn:
            audit.record(
                conn, actor=principal, action="institution.balance_check_refused", at=get_security(request).now(),
                client=client_address(request), detail={"code": refusal.code},
            )
        raise
