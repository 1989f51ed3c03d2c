"""The workbench's oversight pages as one router: supervisors' dashboard and daily settlement
(``supervision``), auditors' audit log (``audit``), administrators' pages (``admin``)."""

from fastapi import APIRouter

from yibao.web.counter import admin, audit, supervision

router = APIRouter(include_in_schema=False)
router.include_router(supervision.router)
router.include_router(audit.router)
router.include_router(admin.router)
