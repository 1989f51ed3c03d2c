"""The application ``bench/api.py`` serves: the real app plus bare baseline routes.

    uvicorn --app-dir bench --factory api_app:create --workers 2

``create()`` builds ``yibao.web.app.create_app()`` from the environment (``YIBAO_DATABASE_URL``
and so on) and adds two routes that return a constant without touching the database or
authentication. They run behind the same middleware, exception handlers and server as the
API, so the benchmark's baseline differs from the measured route only by what the route does:

- ``GET /bench/constant`` is a plain ``def`` like most API routes of the app, so Starlette
  runs it in its thread pool (the goal's baseline since the benchmark was written, when the
  balance route was a ``def`` too);
- ``GET /bench/constant-async`` is an ``async def``, which skips the thread pool: the
  cheapest request the framework can serve. The balance route is an ``async def`` now (on
  PostgreSQL it never leaves the event loop), so this is the like-for-like baseline for it;
  the benchmark reports the ratio to both.

Both are left out of the OpenAPI document. This module is never imported by the project.
"""

from __future__ import annotations

from fastapi import FastAPI

from yibao.web.app import create_app

CONSTANT = {"ok": True}


def create() -> FastAPI:
    app = create_app()

    @app.get("/bench/constant", include_in_schema=False)
    def constant() -> dict:
        return CONSTANT

    @app.get("/bench/constant-async", include_in_schema=False)
    async def constant_async() -> dict:
        return CONSTANT

    # First in the routing table, so the baseline does not pay for matching the app's other routes.
    routes = app.router.routes
    routes[:0] = [routes.pop(), routes.pop()]
    return app
