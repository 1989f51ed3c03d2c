"""The client's address, on which lockouts, rate limits and the audit log key: the socket's peer,
unless that peer is a reverse proxy named in ``YIBAO_TRUSTED_PROXIES``; only then does
``X-Forwarded-For`` say who the client is.

Without this, anyone could send ``X-Forwarded-For: <another address>`` with each try and never
be locked out for their address (uvicorn itself trusts the header from 127.0.0.1 by default).
"""

from __future__ import annotations

import pytest
import uvicorn
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from api_support import START, add_insured, login, security, settings
from yibao import cli
from yibao.clock import FixedClock
from yibao.store.models import audit_log
from yibao.web.app import create_app

WRONG = "Wrong2025pw"


def lock_out(client: TestClient, person) -> None:
    for _ in range(5):
        login(client, person, WRONG)
    assert login(client, person).status_code == 423


def spoofed(client: TestClient, person, address: str):
    return client.post(
        "/api/v1/auth/login", headers={"X-Forwarded-For": address},
        json={"id_number": person.id_number, "card_number": person.card_number, "password": person.password},
    )


def test_the_served_app_does_not_take_a_forwarded_address_from_anyone(engine, monkeypatch):
    """``yibao serve`` as it runs the app: uvicorn's settings and middleware included."""
    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(app=app, options=options))
    cli._serve(engine, "127.0.0.1", 8000)
    app = served["app"]
    app.state.security = security(FixedClock(START))
    config = uvicorn.Config(app, **served["options"])
    config.load()
    alice, bob = add_insured(engine, 1), add_insured(engine, 2)
    # A local client (127.0.0.1 is the peer uvicorn trusts by default) that is not a proxy.
    client = TestClient(config.loaded_app, base_url="https://testserver", client=("127.0.0.1", 40000))
    lock_out(client, alice)
    answer = spoofed(client, bob, "198.51.100.23")
    assert answer.status_code == 423, answer.text  # the address stays locked, whatever the header says


def _client(engine, peer: str, **overrides) -> TestClient:
    app = create_app(engine)
    app.state.security = security(FixedClock(START), **overrides)
    return TestClient(app, base_url="https://testserver", client=(peer, 40000))


def test_a_spoofed_forwarded_for_does_not_reset_the_address_lockout(engine):
    alice, bob = add_insured(engine, 1), add_insured(engine, 2)
    client = _client(engine, "203.0.113.9", trusted_proxies="10.0.0.0/8")  # a proxy is configured, but not this peer
    lock_out(client, alice)
    assert spoofed(client, bob, "198.51.100.23").status_code == 423


def test_a_configured_proxy_names_the_client(engine):
    alice, bob = add_insured(engine, 1), add_insured(engine, 2)
    proxy = _client(engine, "10.1.2.3", trusted_proxies="127.0.0.1, 10.0.0.0/8")
    for _ in range(5):
        proxy.post("/api/v1/auth/login", headers={"X-Forwarded-For": "203.0.113.9"},
                   json={"id_number": alice.id_number, "card_number": alice.card_number, "password": WRONG})
    # Another client behind the same proxy is not locked out by the first one's tries...
    assert spoofed(proxy, bob, "198.51.100.23").status_code == 200
    # ...and the client the proxy named is: its own right password waits (per-address and per-ID lockout).
    assert spoofed(proxy, bob, "203.0.113.9").status_code == 423
    with engine.connect() as conn:
        clients = set(conn.execute(select(audit_log.c.client)).scalars())
    assert "198.51.100.23" in clients and "10.1.2.3" not in clients
    # The client's own address comes from the proxy's entry: what it prepended cannot be trusted.
    assert spoofed(proxy, bob, "10.9.9.9, 198.51.100.77, 10.0.0.1").status_code == 200
    with engine.connect() as conn:
        last = conn.execute(select(audit_log.c.client).order_by(audit_log.c.id.desc())).scalar()
    assert last == "198.51.100.77"


def test_a_malformed_proxy_setting_stops_the_server_from_starting():
    with pytest.raises(ValidationError, match="trusted_proxies"):
        settings(trusted_proxies="10.0.0.0/8, proxy.example")
