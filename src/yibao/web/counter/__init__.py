"""The agency workbench pages (``/counter``): one router made of each area's pages."""

from fastapi import APIRouter

from yibao.web.counter import oversight, routes

router = APIRouter(include_in_schema=False)
router.include_router(routes.router)  # sign-in, start page, finding a person and their views
router.include_router(oversight.router)  # dashboard, settlement, audit log, administration

__all__ = ["router"]
