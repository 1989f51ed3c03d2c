"""The web portal for insured people (``/portal``) and the calculators for anyone (``/calc``).

Server-rendered pages in Simplified Chinese, one module per page group; they call the same
functions as the JSON API (sign-in, read models, policy answers) and are not part of the
OpenAPI document.
"""

from __future__ import annotations

from fastapi import APIRouter

from yibao.web.portal import (
    auth,
    calc,
    cases,
    contributions,
    details,
    evoucher,
    family,
    filings,
    home,
    pay,
    recover,
    refunds,
    settings,
    transfers,
    withdrawals,
)

router = APIRouter(include_in_schema=False)
for module in (auth, recover, home, details, contributions, settings, evoucher, family, calc, cases, transfers, withdrawals, refunds, pay, filings):
    router.include_router(module.router)
