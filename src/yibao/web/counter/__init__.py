"""The agency workbench pages (``/counter``): one router made of each area's pages."""

from fastapi import APIRouter

from yibao.web.counter import admin, audit, routes, supervision

router = APIRouter(include_in_schema=False)
router.include_router(routes.router)  # sign-in, start page, finding a person and their views
router.include_router(supervision.router)  # dashboard and daily settlement
router.include_router(audit.router)  # the audit log and its export
router.include_router(admin.router)  # institutions, apps and staff

__all__ = ["router"]
