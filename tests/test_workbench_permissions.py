"""The permission matrix, derived from the routes themselves.

Every workbench route (under /counter) names exactly one permission code through its
``Requires`` dependency, except the short list of sign-in, sign-out and the start page. Each
such route is called as every role, on an object of the staff member's own region and on one
of another region, and ``ROLE_PERMISSIONS`` is the only source of what is allowed:

- a role without the code gets 403;
- a role with it gets 404 (or 403) for the other region's object, never the object;
- a role with it gets anything but 403 (and no server error) for its own region's object.

The same holds for the staff API: every ``/api/v1/staff/...`` route (and every other API route
asking for a staff permission) names one ``StaffPermission``, and each staff role lacking it
gets 403. Routes added later are covered without listing them here; a route with a path
parameter this test does not know fails until the world below gets an object of that kind.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from fastapi import APIRouter, Depends
from fastapi import routing as fastapi_routing
from fastapi.routing import APIRoute

from api_support import START, client_for, security, staff_headers
from oversight_support import ROLES, build_world, reuse_argon2_hashes  # noqa: F401 - autouse fixture
from workbench_support import csrf_of, workbench_sign_in
from yibao.clock import FixedClock
from yibao.security.permissions import ROLE_PERMISSIONS, Permission
from yibao.web.app import create_app
from yibao.web.counter.workbench import Requires
from yibao.web.deps import StaffPermission

# Workbench routes every visitor may reach: the sign-in page (or start page), signing in and out.
OPEN_ROUTES = {("GET", "/counter"), ("POST", "/counter/login"), ("POST", "/counter/logout")}
# Staff API routes without a permission: signing in.
OPEN_STAFF_API = {("POST", "/api/v1/staff/login")}
PATH_PARAMETER = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
REASON = {"X-Yibao-Reason": quote("核对权限矩阵", safe="")}
# Staff API objects the workbench has no page for yet: the refusal comes before any lookup, so
# any id serves for the roles lacking the permission.
API_ONLY = {"guardianship_id": 1}


def dependencies_of(dependant, kind: type) -> list:
    """Every dependency of ``kind`` in a route's dependency tree."""
    found = [dependant.call] if isinstance(dependant.call, kind) else []
    for sub in dependant.dependencies:
        found += dependencies_of(sub, kind)
    return found


def all_routes(app) -> list:
    """The app's routes, with those of included routers (which FastAPI may keep as one entry each)."""
    flatten = getattr(fastapi_routing, "_iter_included_route_candidates", None)
    return list(flatten(app.routes)) if flatten else list(app.routes)


def routes_under(app, prefix: str) -> list[tuple[str, APIRoute]]:
    return [(method, route) for route in all_routes(app) if isinstance(route, APIRoute) and route.path.startswith(prefix)
            for method in sorted(route.methods - {"HEAD", "OPTIONS"})]


def filled(path: str, objects: dict) -> str | None:
    """The path with its parameters filled from ``objects``; None when the kind has no such object."""
    names = PATH_PARAMETER.findall(path)
    unknown = [name for name in names if name not in objects]
    assert not unknown, f"{path}: no object for path parameter(s) {unknown}; add one to oversight_support.build_world"
    if any(objects[name] is None for name in names):
        return None
    return PATH_PARAMETER.sub(lambda match: str(objects[match.group(1)]), path)


def test_the_route_reader_finds_one_requirement_and_notices_a_missing_one():
    router = APIRouter()

    @router.get("/counter/with")
    def with_requirement(principal=Depends(Requires(Permission.AUDIT_VIEW))):
        return {}

    @router.get("/counter/without")
    def without_requirement():
        return {}

    found = {route.path: dependencies_of(route.dependant, Requires) for route in router.routes}
    assert [each.permission for each in found["/counter/with"]] == [Permission.AUDIT_VIEW]
    assert found["/counter/without"] == []
    with pytest.raises(AssertionError, match="no object for path parameter"):
        filled("/counter/things/{thing_id}", {"case_id": 1})


def test_every_workbench_route_asks_for_exactly_one_permission(engine):
    app = create_app(engine)
    missing = []
    for method, route in routes_under(app, "/counter"):
        if (method, route.path) in OPEN_ROUTES:
            continue
        count = len(dependencies_of(route.dependant, Requires))
        if count != 1:
            missing.append(f"{method} {route.path}: {count} Requires dependencies")
    assert not missing, missing
    paths = {(method, route.path) for method, route in routes_under(app, "/counter")}
    assert OPEN_ROUTES <= paths  # the open list names routes that exist


def _call(client, method: str, url: str, csrf: str, *, follow: bool = False):
    if method == "GET":
        return client.get(url, follow_redirects=follow)
    return client.request(method, url, data={"csrf": csrf}, follow_redirects=False)


def test_each_role_gets_exactly_what_its_permissions_allow_on_every_workbench_route(engine):
    sec = security(FixedClock(START))
    with client_for(engine, sec) as setup:
        world = build_world(engine, setup)
    clients, tokens = {}, {}
    for role in ROLES:
        clients[role] = client_for(engine, sec).__enter__()
        assert workbench_sign_in(clients[role], f"{role}1").status_code == 303
        tokens[role] = csrf_of(clients[role])
    app = clients[ROLES[0]].app
    failures, checked = [], 0
    try:
        # Reads first: a form below may change what a read finds (it never should, with empty fields).
        routes = sorted(routes_under(app, "/counter"), key=lambda pair: (pair[0] != "GET", pair[1].path))
        for method, route in routes:
            if (method, route.path) in OPEN_ROUTES:
                continue
            (requirement,) = dependencies_of(route.dependant, Requires)
            has_parameters = bool(PATH_PARAMETER.search(route.path))
            for role in ROLES:
                allowed = requirement.permission in ROLE_PERMISSIONS[role]
                for region, objects in (("own", world.own.values), ("other", world.other.values)):
                    if region == "other" and not has_parameters:
                        continue
                    url = filled(route.path, objects)
                    if url is None:
                        continue
                    # Another region's object: where a read sends the staff member (a redirect to the
                    # person's page, say), it must end in a refusal, never in the object.
                    status = _call(clients[role], method, url, tokens[role], follow=region == "other").status_code
                    checked += 1
                    if not allowed:
                        ok = status == 403
                    elif region == "other":
                        ok = status in (403, 404)
                    else:
                        ok = status != 403 and status < 500
                    if not ok:
                        failures.append(f"{role} {method} {url} ({region} region, {requirement.permission}): {status}")
    finally:
        for client in clients.values():
            client.__exit__(None, None, None)
    assert checked > 0
    assert not failures, "\n".join(failures)


def test_every_staff_api_route_refuses_the_staff_roles_lacking_its_permission(engine):
    sec = security(FixedClock(START))
    with client_for(engine, sec) as client:
        world = build_world(engine, client, deaths=False)
        headers = {role: {**staff_headers(client, f"{role}1"), **REASON} for role in ROLES}
        failures, checked = [], 0
        for method, route in routes_under(client.app, "/api/v1"):
            found = dependencies_of(route.dependant, StaffPermission)
            if not route.path.startswith("/api/v1/staff") and not found:
                continue
            if (method, route.path) in OPEN_STAFF_API:
                continue
            if len(found) != 1:
                failures.append(f"{method} {route.path}: {len(found)} StaffPermission dependencies")
                continue
            permission = found[0].permission
            url = filled(route.path, {**world.own.values, **API_ONLY})
            for role in ROLES:
                if permission in ROLE_PERMISSIONS[role]:
                    continue
                body = {} if method in ("POST", "PUT", "PATCH") else None
                status = client.request(method, url, json=body, headers=headers[role]).status_code
                checked += 1
                if status != 403:
                    failures.append(f"{role} {method} {url} ({permission}): {status}")
    assert checked > 0
    assert not failures, "\n".join(failures)
