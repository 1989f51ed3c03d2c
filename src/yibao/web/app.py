"""The web application: liveness, readiness, a Chinese landing page and the API's error shape."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.concurrency import run_in_threadpool
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine, func, select, text
from starlette.exceptions import HTTPException as StarletteHTTPException

from yibao import __version__
from yibao.contributions.limits import MIB
from yibao.contributions.settings import get_import_settings
from yibao.domain.money import Money
from yibao.errors import InvalidInput, NotFound, YibaoError
from yibao.ledger.kinds import AccountKind
from yibao.collection.resume import collect_in_background
from yibao.payments.resume import resume_in_background
from yibao.policy.loading import load_book
from yibao.store.db import make_engine
from yibao.store.migrate import is_current
from yibao.store.models import accounts, persons
from yibao.web import counter, direct, error_pages, gateway_sim, kiosk
from yibao.web.api import http_error as api_http_error
from yibao.web.error_pages import is_api_path
from yibao.web.body_limit import BodyLimit, BodyTooLarge, limits_by_route, too_large_handler
from yibao.web.api import install_api
from yibao.web.api.imports import runner_for
from yibao.web.page_tools import secure_page
from yibao.web.proxies import TrustedProxies
from yibao.web.portal import router as portal_router
from yibao.policy.api import router as policy_router

templates = Jinja2Templates(directory=str(files("yibao.web") / "templates"))

STATUS_BY_ERROR = {InvalidInput: 422, NotFound: 404}


def create_app(engine: Engine | None = None) -> FastAPI:
    app = FastAPI(
        title="yibao 医保个人账户",
        version=__version__,
        description="医保个人账户：余额、明细、缴费记录与政策解答。Medical-insurance personal accounts.",
        lifespan=_lifespan,
    )
    app.state.engine = engine or make_engine()
    app.add_exception_handler(YibaoError, _yibao_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_exception_handler(BodyTooLarge, too_large_handler)
    # Every body bounded before anything parses it (413); the contribution upload has its own limit.
    app.add_middleware(BodyLimit, limit_for=limits_by_route(get_import_settings().import_max_upload_mb * MIB))
    app.add_middleware(TrustedProxies)  # the client's address: forwarded only by configured proxies
    install_api(app)  # before the service routes: API requests are far more frequent (routes are tried in order)
    # A browser never sees JSON: unknown paths and failures outside the API answer a Chinese page.
    app.add_exception_handler(StarletteHTTPException, _http_error)
    _add_service_routes(app)
    app.include_router(policy_router)
    app.include_router(kiosk.router)  # self-service kiosk pages
    app.include_router(gateway_sim.router)  # the payment gateway simulator's cashier (development only)
    app.include_router(counter.router)  # agency counter pages
    app.include_router(portal_router)  # the insured person's web portal and the calculators
    # Stylesheets, scripts and fonts of the pages: served from the package, no external network.
    app.mount("/static", StaticFiles(directory=str(files("yibao.web") / "static")), name="static")
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    runner = runner_for(app)  # import jobs: recovers what a stopped server left, runs what is queued
    runner.start()
    # Payments a crash left half-written are finished, stale pending ones dropped, beside serving.
    resuming = resume_in_background(app.state.engine, app.state.security)
    # Contributions paid online: paid orders a crash left unposted are posted, stale ones expired.
    collecting = collect_in_background(app.state.engine, app.state.security, getattr(app.state, "policy_book", None) or load_book())
    try:
        async with direct.lifespan(app):  # PostgreSQL: the pool of the direct reads
            _freeze_startup_objects()
            yield
    finally:
        runner.stop()  # a running import is stopped (nothing committed) and marked failed
        await run_in_threadpool(resuming.join)
        await run_in_threadpool(collecting.join)


_startup_frozen = False


def _freeze_startup_objects() -> None:
    """Once per process: what the server loaded at start (modules, routes, models, policy data)
    lives as long as the process, so it leaves the garbage collector's view (``gc.freeze``).

    A full collection otherwise walks all of it: pauses of about 145 ms every few seconds under
    load, which made the balance query's p99 latency 128 ms instead of 21 ms (docs/benchmarks.md).
    Garbage is collected first so that none of it is frozen.
    """
    global _startup_frozen
    if not _startup_frozen:
        gc.collect()
        gc.freeze()
        _startup_frozen = True


def _add_service_routes(app: FastAPI) -> None:
    @app.get("/health", tags=["service"], summary="存活检查 / liveness")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/ready", tags=["service"], summary="就绪检查 / readiness: database reachable, schema current")
    def ready(request: Request) -> JSONResponse:
        engine: Engine = request.app.state.engine
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            current = is_current(engine)
        except Exception:  # noqa: BLE001 - any failure means "not ready"; details stay in the log
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        if not current:
            return JSONResponse({"status": "unavailable", "database": "migrations_pending"}, status_code=503)
        return JSONResponse({"status": "ready", "database": "ok"})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request) -> HTMLResponse:
        return secure_page(templates.TemplateResponse(request, "home.html", {"stats": _stats(request.app.state.engine)}))


def _stats(engine: Engine) -> dict:
    with engine.connect() as conn:
        people = conn.execute(select(func.count()).select_from(persons)).scalar_one()
        personal = accounts.c.kind == AccountKind.PERSONAL.value
        count, total = conn.execute(
            select(func.count(), func.coalesce(func.sum(accounts.c.balance_fen), 0)).where(personal)
        ).one()
    return {"people": people, "accounts": count, "total_balance": Money(int(total)).format()}


def _yibao_error(request: Request, error: YibaoError) -> Response:
    status = getattr(error, "status_code", None) or next(
        (code for kind, code in STATUS_BY_ERROR.items() if isinstance(error, kind)), 409
    )
    if not is_api_path(request.url.path):
        return error_pages.page(request, status, "无法完成操作", error.message)
    return JSONResponse({"error": error.as_dict()}, status_code=status, headers=getattr(error, "headers", None))


def _http_error(request: Request, error: StarletteHTTPException) -> Response:
    if is_api_path(request.url.path):
        return api_http_error(request, error)
    return error_pages.for_status(request, error.status_code)


def _unexpected_error(request: Request, _error: Exception) -> Response:
    # Never a stack trace to clients; the server log has it.
    if not is_api_path(request.url.path):
        return error_pages.for_status(request, 500)
    return JSONResponse(
        {"error": {"code": "internal_error", "message": "系统繁忙，请稍后再试", "field": None}}, status_code=500
    )
