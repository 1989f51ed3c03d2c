"""Schemathesis against the OpenAPI document: no 5xx, every answer matches its documented schema.

Runs as a person signed in with a full session (the other roles are the matrix test's
job). Generated inputs are mostly invalid on purpose: the API must answer them with a
documented 4xx in the one error shape, never a crash.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api_support import START, add_insured, bearer, client_for, login, security
from yibao.clock import FixedClock
from yibao.store.db import make_engine
from yibao.store.migrate import upgrade

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _serve() -> tuple:
    """Built at import: schemathesis needs the schema when tests are collected."""
    folder = Path(tempfile.mkdtemp(prefix="yibao-fuzz-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    engine = make_engine(f"sqlite:///{folder / 'api.sqlite3'}")
    upgrade(engine)
    person = add_insured(engine, 1)
    client = client_for(engine, security(FixedClock(START), login_max_failures=1_000_000))
    return client.app, bearer(login(client, person).json()["access_token"])


APP, AUTH = _serve()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_answers_match_the_schema(case):
    # Signing out or changing the password would end the shared session; their refusals are still checked.
    ends_session = case.path in ("/api/v1/auth/logout", "/api/v1/auth/password")
    case.call_and_validate(headers=None if ends_session else AUTH, checks=CHECKS)
