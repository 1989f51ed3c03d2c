"""The agency workbench pages (``/counter``): one router made of each area's pages."""

from fastapi import APIRouter

from yibao.web.counter import collection, filings, imports, maintenance, oversight, routes, statements, transfers, withdrawals

router = APIRouter(include_in_schema=False)
router.include_router(routes.router)  # sign-in, start page, finding a person and their views
router.include_router(maintenance.router)  # a person's password, service PIN, mobile number, freeze, guardians
router.include_router(collection.router)  # a person's contributions paid online: orders at the window, receipts
router.include_router(withdrawals.router)  # withdrawal and inheritance cases, deaths
router.include_router(transfers.router)  # transfers between regions and emergency refunds
router.include_router(filings.router)  # out-of-area care filings waiting for confirmation
router.include_router(imports.router)  # contribution files: upload, progress, report, history
router.include_router(statements.router)  # statements of a list of ID numbers as one PDF
router.include_router(oversight.router)  # supervisors' dashboard and settlement, the audit log, administration

__all__ = ["router"]
