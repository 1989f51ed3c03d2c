"""Browsers get Chinese error pages everywhere outside the API: unknown paths (404), refused
methods, unexpected errors (500) — in the kiosk's and the counter's own look on their paths —
never JSON and never a stack trace; the API keeps its JSON. An ended session on a portal page
goes to sign-in with "登录已过期，请重新登录"."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from api_support import START, add_insured, client_for, portal_sign_in, security
from yibao.clock import FixedClock
from yibao.store.models import auth_sessions

BROWSER_PATHS = {"/nope": "portal", "/portal/nope": "portal", "/calc/nope/deeper": "portal", "/kiosk/nope": "kiosk",
                 "/counter/nope": "counter"}
# Each part's own error template, told apart by its return link.
LOOKS = {"portal": 'href="/portal">返回首页', "kiosk": 'href="/kiosk">返回首页', "counter": 'href="/counter">返回工作台首页'}
PROGRAM_TEXT = ('{"error"', "Traceback", "Internal Server Error", "Not Found", "None", "boom")


def assert_chinese_page(answer, status: int, look: str) -> None:
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("text/html")
    assert LOOKS[look] in answer.text
    assert not [text for text in PROGRAM_TEXT if text in answer.text]
    assert answer.headers["x-frame-options"] == "DENY" and "no-store" in answer.headers["cache-control"]


@pytest.fixture
def client(engine):
    with client_for(engine, security(FixedClock(START))) as client:
        yield client


@pytest.mark.parametrize("path", sorted(BROWSER_PATHS))
def test_unknown_paths_answer_a_chinese_page(client, path):
    answer = client.get(path)
    assert_chinese_page(answer, 404, BROWSER_PATHS[path])
    assert "页面不存在" in answer.text


def test_a_refused_method_on_a_page_is_a_chinese_page(client):
    assert_chinese_page(client.put("/portal/login"), 405, "portal")


def test_the_api_keeps_its_json(client):
    for path in ("/api/v1/nope", "/oauth/nope"):
        answer = client.get(path)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
    assert client.get("/health").json() == {"status": "ok"}


def test_unexpected_errors_answer_a_chinese_page_and_json_on_the_api(engine):
    with client_for(engine, security(FixedClock(START))) as normal:
        app = normal.app

    def boom():
        raise RuntimeError("boom")

    paths = ("/portal/boom", "/calc/boom", "/boom", "/kiosk/boom", "/counter/boom", "/api/v1/boom")
    for path in paths:
        app.add_api_route(path, boom)
    # Ahead of the pages' own parameterised paths (``/calc/{name}`` and the like).
    app.router.routes[:0] = [app.router.routes.pop() for _ in paths]
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        for path, look in (("/portal/boom", "portal"), ("/calc/boom", "portal"), ("/boom", "portal"),
                           ("/kiosk/boom", "kiosk"), ("/counter/boom", "counter")):
            answer = client.get(path)
            assert_chinese_page(answer, 500, look)
            assert "系统繁忙" in answer.text
        api = client.get("/api/v1/boom")
        assert api.status_code == 500 and api.json()["error"]["code"] == "internal_error" and "boom" not in api.text


def test_an_error_inside_a_portal_page_is_a_chinese_page(engine, monkeypatch):
    alice = add_insured(engine, 1)
    with client_for(engine, security(FixedClock(START))) as normal:
        app = normal.app
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        assert portal_sign_in(client, alice).status_code == 303
        from yibao.family import service

        def broken(*_args, **_kwargs):
            raise RuntimeError("boom")

        monkeypatch.setattr(service, "bindings_of", broken)
        assert_chinese_page(client.get("/portal/family"), 500, "portal")


def test_an_ended_session_goes_to_sign_in_with_a_notice(client, engine):
    alice = add_insured(engine, 1)
    assert portal_sign_in(client, alice).status_code == 303
    with engine.begin() as conn:
        conn.execute(update(auth_sessions).values(revoked_at=START))
    answer = client.get("/portal/details?kind=spending", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/portal/login?next=%2Fportal%2Fdetails%3Fkind%3Dspending&notice=expired"
    page = client.get(answer.headers["location"])
    assert "登录已过期，请重新登录" in page.text
    # A browser that never signed in is not told its session expired.
    client.cookies.clear()
    fresh = client.get("/portal/details", follow_redirects=False)
    assert fresh.headers["location"] == "/portal/login?next=%2Fportal%2Fdetails"
