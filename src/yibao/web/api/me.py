"""The signed-in person's own data (or an authorized app's view of it, limited by scope).

``PersonData(scope)`` gives the person id the caller may read and audits app access; the
policy answers (``me_policy.py``), the statement PDF (``statements.py``), family sharing
(``family.py``) and withdrawals (``withdrawals.py``) use the same dependency.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from yibao.ledger.kinds import TxKind
from yibao.security import audit, evoucher, oauth
from yibao.security.principal import SCOPE_LABELS, Kind, Principal, Scope
from yibao.web.api import reads
from yibao.web.api.schemas import (
    Accounts,
    AuthorizedApp,
    AuthorizedApps,
    ContributionPage,
    DetailPage,
    IsoDate,
    Profile,
    VoucherAnswer,
    error_responses,
)
from yibao.web.deps import (
    PersonData,
    PersonRead,
    PersonReader,
    client_address,
    get_engine,
    get_security,
    own_session,
)

router = APIRouter(prefix="/api/v1/me", tags=["本人 / the signed-in person"], responses=error_responses(401, 403, 422, 429))


@router.get("", summary="本人基本信息（身份证号已脱敏）", response_model=Profile)
async def me(read: PersonReader = Depends(PersonRead(Scope.PROFILE))) -> Response:
    return await read.json(reads.profile)


@router.get("/accounts", summary="本人个人账户及余额", response_model=Accounts)
async def my_accounts(read: PersonReader = Depends(PersonRead(Scope.BALANCE))) -> Response:
    return await read.json(reads.account_list)


@router.get("/details", summary="个人账户收支明细", response_model=DetailPage, responses=error_responses(404))
async def my_details(
    read: PersonReader = Depends(PersonRead(Scope.DETAILS)),
    account_id: int | None = Query(None, ge=1, le=reads.MAX_ID, description="只看这个账户；默认本人全部个人账户"),
    date_from: IsoDate | None = Query(None, description="开始日期（含）"),
    date_to: IsoDate | None = Query(None, description="结束日期（含）"),
    kind: TxKind | None = Query(None, description="交易类型"),
    page: int = Query(1, ge=1, le=100_000),
    page_size: int = Query(20, ge=1, le=reads.MAX_PAGE_SIZE),
) -> DetailPage:
    return await read(lambda conn, person_id: reads.details(
        conn, person_id, account_id=account_id, date_from=date_from, date_to=date_to, kind=kind,
        page=page, page_size=page_size,
    ))


@router.get("/contributions", summary="缴费记录及连续缴费情况", response_model=ContributionPage)
async def my_contributions(
    read: PersonReader = Depends(PersonRead(Scope.CONTRIBUTIONS)),
    month_from: IsoDate | None = Query(None, description="开始月份（任一日期，按所在月）"),
    month_to: IsoDate | None = Query(None, description="结束月份（含）"),
    page: int = Query(1, ge=1, le=100_000),
    page_size: int = Query(24, ge=1, le=reads.MAX_PAGE_SIZE),
) -> ContributionPage:
    return await read(lambda conn, person_id: reads.contribution_page(
        conn, person_id, month_from=month_from, month_to=month_to, page=page, page_size=page_size
    ))


@router.post("/evoucher", summary="生成医保电子凭证二维码（60秒有效，仅可使用一次）", response_model=VoucherAnswer)
def my_evoucher(request: Request, principal: Principal = Depends(PersonData(Scope.EVOUCHER))) -> VoucherAnswer:
    sec = get_security(request)
    now = sec.now()
    issued_to = principal.client_id if principal.kind is Kind.THIRD_PARTY else "person"
    with get_engine(request).begin() as conn:
        voucher = evoucher.issue(
            conn, sec.key, person_id=principal.person_id, issued_to=issued_to, now=now,
            ttl_seconds=sec.settings.evoucher_ttl_seconds,
        )
    return VoucherAnswer(
        payload=voucher.payload, expires_at=voucher.expires_at, expires_in=int((voucher.expires_at - now).total_seconds())
    )


@router.get("/apps", summary="我授权的第三方应用", response_model=AuthorizedApps)
def my_apps(request: Request, principal: Principal = Depends(own_session)) -> AuthorizedApps:
    with get_engine(request).connect() as conn:
        rows = oauth.authorized_apps(conn, principal.person_id)
    apps = [
        AuthorizedApp(
            grant_id=row["id"], client_id=row["client_id"], name=row["name"], scopes=row["scope"].split(),
            scope_labels=[SCOPE_LABELS[Scope(scope)] for scope in row["scope"].split()],
            granted_at=row["granted_at"], last_used_at=row["last_used_at"],
        )
        for row in rows
    ]
    return AuthorizedApps(apps=apps)


@router.delete(
    "/apps/{grant_id}", summary="撤销对第三方应用的授权", status_code=204, response_class=Response,
    responses=error_responses(404),
)
def revoke_app(
    request: Request, grant_id: int = Path(ge=1, le=reads.MAX_ID), principal: Principal = Depends(own_session)
) -> Response:
    now = get_security(request).now()
    with get_engine(request).begin() as conn:
        oauth.revoke_grant(conn, principal.person_id, grant_id, now)
        audit.record(
            conn, actor=principal, action="app.grant_revoked", at=now, subject_person_id=principal.person_id,
            client=client_address(request), detail={"grant_id": grant_id},
        )
    return Response(status_code=204)
