"""A session works only on the channel it was opened on: web (API and portal), kiosk, counter.

A kiosk session comes from the card and its 6-digit service PIN: it skipped the password
and the forced change of an initial one, and it lives by the kiosk's idle and length limits.
Used as an API token or a portal cookie it would be a full web session without any of that.
"""

from __future__ import annotations

import pytest

from api_support import (
    CARD_PIN,
    STAFF_PASSWORD,
    START,
    add_insured,
    add_staff_user,
    bearer,
    client_for,
    kiosk_sign_in,
    later,
    login,
    security,
    set_card_pin,
    token_in,
)
from yibao.clock import FixedClock
from yibao.security.staff import StaffRole

ACCOUNTS = "/api/v1/me/accounts"


@pytest.fixture
def clock():
    return FixedClock(START)


@pytest.fixture
def world(engine, clock):
    alice = add_insured(engine, 1, password="123456", must_change=True)  # an initial password: web sign-in must change it
    set_card_pin(engine, alice.person_id)
    add_staff_user(engine, "agent1", StaffRole.AGENT)
    with client_for(engine, security(clock)) as client:
        yield client, alice


def kiosk_token(client, alice) -> str:
    assert kiosk_sign_in(client, alice.card_number, CARD_PIN).status_code == 303
    return client.cookies["yb_kiosk"]


def test_a_kiosk_session_is_no_api_token(world):
    client, alice = world
    token = kiosk_token(client, alice)
    assert client.get("/kiosk/home", follow_redirects=False).status_code == 200  # it works where it was opened
    for path in (ACCOUNTS, "/api/v1/me", "/api/v1/me/family"):
        answer = client.get(path, headers=bearer(token))
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "invalid_token", path
    assert client.post("/api/v1/auth/logout", headers=bearer(token)).status_code == 401


def test_a_kiosk_session_opens_no_portal_page(world):
    client, alice = world
    token = kiosk_token(client, alice)
    client.cookies.set("yb_portal", token)
    home = client.get("/portal", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"].startswith("/portal/login")


def test_a_web_session_opens_no_kiosk_screen(world):
    client, alice = world
    signed = login(client, alice, "123456")
    assert signed.status_code == 200
    client.cookies.set("yb_kiosk", signed.json()["access_token"])
    screen = client.get("/kiosk/home", follow_redirects=False)
    assert screen.status_code == 303 and screen.headers["location"].startswith("/kiosk")


def test_a_counter_session_is_no_api_token_and_an_api_session_opens_no_counter(world):
    client, _ = world
    page = client.get("/counter")
    client.post(
        "/counter/login", data={"username": "agent1", "password": STAFF_PASSWORD, "form_token": token_in(page.text, "form_token")},
        follow_redirects=False,
    )
    counter_token = client.cookies["yb_counter"]
    refused = client.post("/api/v1/staff/persons/search", json={"card_number": "A00000001", "reason": "核对"},
                          headers=bearer(counter_token))
    assert refused.status_code == 401
    api_token = client.post("/api/v1/staff/login", json={"username": "agent1", "password": STAFF_PASSWORD}).json()["access_token"]
    client.cookies.clear()
    client.cookies.set("yb_counter", api_token)
    assert "经办人员登录" in client.get("/counter", follow_redirects=False).text


def test_the_kiosk_ends_a_session_at_its_maximum_length_however_busy(world, clock):
    client, alice = world
    kiosk_token(client, alice)
    limit = client.app.state.security.settings.kiosk_session_max_seconds
    for _ in range(limit // 49):  # each step within the idle limit
        later(clock, seconds=49)
        assert client.get("/kiosk/home", follow_redirects=False).status_code == 200
    later(clock, seconds=49)
    ended = client.get("/kiosk/home", follow_redirects=False)
    assert ended.status_code == 303 and ended.headers["location"].startswith("/kiosk")
