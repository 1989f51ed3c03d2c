"""Third-party apps, end to end: Authlib's own OAuth client against the app served by uvicorn.

Code flow with PKCE, the Chinese consent page, scope-limited tokens, refresh, revocation
by the app and by the person, and the refusals: denied consent, wrong redirect URI,
reused code, expired token, scope escalation.
"""

from __future__ import annotations

import html
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import uvicorn
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.base_client import OAuthError
from sqlalchemy import select

from api_support import START, add_app, add_insured, bearer, client_for, later, security
from yibao.clock import FixedClock
from yibao.security.oauth import RefreshGrant
from yibao.security.tokens import token_hash
from yibao.store.models import audit_log, oauth_tokens

REDIRECT = "http://127.0.0.1:9/callback"
ALLOWED = ["balance:read", "details:read", "evoucher"]


@pytest.fixture
def served(engine):
    """The app on a free loopback port, its clock, and two people."""
    clock = FixedClock(START)
    alice, bob = add_insured(engine, 1), add_insured(engine, 2, password="123456", must_change=True)
    add_app(engine, "miniapp", ALLOWED, REDIRECT)
    app = client_for(engine, security(clock)).app
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", clock, alice, bob
    server.should_exit = True
    thread.join(timeout=10)


def app_session(scope: str = "balance:read details:read") -> OAuth2Session:
    return OAuth2Session("miniapp", scope=scope, redirect_uri=REDIRECT, code_challenge_method="S256")


def consent(base: str, url: str, person, decision: str = "approve", password: str | None = None) -> requests.Response:
    """What the person's browser does: open the consent page, fill it in, submit."""
    page = requests.get(url, allow_redirects=False)
    assert page.status_code == 200, page.text
    fields = {name: html.unescape(value) for name, value in re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', page.text)}
    fields |= {"id_number": person.id_number, "card_number": person.card_number, "password": password or person.password}
    return requests.post(f"{base}/oauth/authorize", data=fields | {"decision": decision}, allow_redirects=False)


def authorize(base: str, person, scope: str = "balance:read details:read"):
    session = app_session(scope)
    verifier = generate_token(48)
    url, state = session.create_authorization_url(f"{base}/oauth/authorize", code_verifier=verifier)
    answer = consent(base, url, person)
    assert answer.status_code == 302, answer.text
    return session, verifier, answer.headers["Location"], state


def test_full_flow_gives_a_token_limited_to_the_granted_scopes(served, engine):
    base, _, alice, _ = served
    session = app_session()
    verifier = generate_token(48)
    url, state = session.create_authorization_url(f"{base}/oauth/authorize", code_verifier=verifier)
    page = requests.get(url)
    assert "「某某小程序」申请使用您的医保信息" in page.text
    assert "查看您的医保个人账户余额" in page.text and "查看您的个人账户收支明细" in page.text
    assert "缴费记录" not in page.text  # not asked for, not listed

    answer = consent(base, url, alice)
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT) and parse_qs(urlsplit(location).query)["state"] == [state]
    token = session.fetch_token(f"{base}/oauth/token", authorization_response=location, code_verifier=verifier)
    assert token["access_token"].startswith("yba_") and token["scope"] == "balance:read details:read"
    assert "refresh_token" in token

    accounts = session.get(f"{base}/api/v1/me/accounts")
    assert accounts.status_code == 200 and accounts.json()["accounts"][0]["balance_fen"] == 123_456
    assert session.get(f"{base}/api/v1/me/details").status_code == 200
    for path in ("/api/v1/me/contributions", "/api/v1/me"):
        refused = session.get(f"{base}{path}")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"
    for path in ("/api/v1/me/apps", "/api/v1/auth/password"):
        assert session.request("GET" if path.endswith("apps") else "POST", f"{base}{path}", json={}).status_code == 403

    with engine.connect() as conn:
        reads = conn.execute(select(audit_log).where(audit_log.c.actor_kind == "third_party")).mappings().all()
    assert {entry["action"] for entry in reads} == {"app.my_accounts", "app.my_details"}
    assert all(entry["subject_person_id"] == alice.person_id and entry["actor_id"].startswith("miniapp") for entry in reads)


def test_the_person_sees_and_revokes_the_app(served):
    base, _, alice, _ = served
    session, verifier, location, _ = authorize(base, alice)
    token = session.fetch_token(f"{base}/oauth/token", authorization_response=location, code_verifier=verifier)
    session.get(f"{base}/api/v1/me/accounts")
    own = bearer(requests.post(f"{base}/api/v1/auth/login", json={
        "id_number": alice.id_number, "card_number": alice.card_number, "password": alice.password}).json()["access_token"])
    [app] = requests.get(f"{base}/api/v1/me/apps", headers=own).json()["apps"]
    assert app["client_id"] == "miniapp" and app["scopes"] == ["balance:read", "details:read"]
    assert app["scope_labels"][0] == "查看您的医保个人账户余额" and app["last_used_at"] is not None

    assert requests.delete(f"{base}/api/v1/me/apps/{app['grant_id']}", headers=own).status_code == 204
    assert session.get(f"{base}/api/v1/me/accounts").status_code == 401
    with pytest.raises(OAuthError):
        session.refresh_token(f"{base}/oauth/token", refresh_token=token["refresh_token"])
    assert requests.get(f"{base}/api/v1/me/apps", headers=own).json()["apps"] == []
    assert requests.delete(f"{base}/api/v1/me/apps/{app['grant_id']}", headers=own).status_code == 404


def test_denied_consent_goes_back_with_access_denied(served):
    base, _, alice, _ = served
    session = app_session()
    url, state = session.create_authorization_url(f"{base}/oauth/authorize", code_verifier=generate_token(48))
    answer = consent(base, url, alice, decision="deny")
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert answer.status_code == 302 and query["error"] == ["access_denied"] and query["state"] == [state]
    assert "code" not in query


def test_a_wrong_redirect_uri_is_never_followed(served):
    base, *_ = served
    session = OAuth2Session("miniapp", scope="balance:read", redirect_uri="https://evil.example/cb", code_challenge_method="S256")
    url, _ = session.create_authorization_url(f"{base}/oauth/authorize", code_verifier=generate_token(48))
    answer = requests.get(url, allow_redirects=False)
    assert answer.status_code == 400 and "Location" not in answer.headers and "无法完成授权" in answer.text
    unknown = OAuth2Session("nobody", scope="balance:read", redirect_uri=REDIRECT, code_challenge_method="S256")
    url, _ = unknown.create_authorization_url(f"{base}/oauth/authorize", code_verifier=generate_token(48))
    assert requests.get(url, allow_redirects=False).status_code == 400


def test_a_reused_code_fails_and_revokes_what_it_gave(served):
    base, _, alice, _ = served
    session, verifier, location, _ = authorize(base, alice)
    session.fetch_token(f"{base}/oauth/token", authorization_response=location, code_verifier=verifier)
    assert session.get(f"{base}/api/v1/me/accounts").status_code == 200
    thief = app_session()
    with pytest.raises(OAuthError, match="invalid_grant"):
        thief.fetch_token(f"{base}/oauth/token", authorization_response=location, code_verifier=verifier)
    assert session.get(f"{base}/api/v1/me/accounts").status_code == 401


def test_pkce_is_required_and_checked(served):
    base, _, alice, _ = served
    session, _, location, _ = authorize(base, alice)
    with pytest.raises(OAuthError, match="invalid_grant"):
        session.fetch_token(f"{base}/oauth/token", authorization_response=location, code_verifier=generate_token(48))
    plain = OAuth2Session("miniapp", scope="balance:read", redirect_uri=REDIRECT)  # no code challenge
    url, _ = plain.create_authorization_url(f"{base}/oauth/authorize")
    answer = requests.get(url, allow_redirects=False)
    assert answer.status_code == 302 and "error=invalid_request" in answer.headers["Location"]


def test_an_expired_token_is_refused_and_refresh_rotates(served):
    base, clock, alice, _ = served
    session, verifier, location, _ = authorize(base, alice)
    first = session.fetch_token(f"{base}/oauth/token", authorization_response=location, code_verifier=verifier)
    later(clock, seconds=3601)
    expired = requests.get(f"{base}/api/v1/me/accounts", headers=bearer(first["access_token"]))
    assert expired.status_code == 401
    second = session.refresh_token(f"{base}/oauth/token", refresh_token=first["refresh_token"])
    assert second["access_token"] != first["access_token"] and second["refresh_token"] != first["refresh_token"]
    assert requests.get(f"{base}/api/v1/me/accounts", headers=bearer(second["access_token"])).status_code == 200
    with pytest.raises(OAuthError):  # the old refresh token was rotated away
        session.refresh_token(f"{base}/oauth/token", refresh_token=first["refresh_token"])


def test_scope_escalation_is_refused(served):
    base, _, alice, _ = served
    greedy = app_session("balance:read contributions:read")  # not among the app's registered scopes
    url, _ = greedy.create_authorization_url(f"{base}/oauth/authorize", code_verifier=generate_token(48))
    answer = requests.get(url, allow_redirects=False)
    assert answer.status_code == 302 and "error=invalid_scope" in answer.headers["Location"]

    session, verifier, location, _ = authorize(base, alice, scope="balance:read")
    token = session.fetch_token(f"{base}/oauth/token", authorization_response=location, code_verifier=verifier)
    with pytest.raises(OAuthError, match="invalid_scope"):
        session.refresh_token(f"{base}/oauth/token", refresh_token=token["refresh_token"], scope="balance:read details:read")
    assert requests.get(f"{base}/api/v1/me/details", headers=bearer(token["access_token"])).status_code == 403


def test_the_app_revokes_its_own_token(served):
    base, _, alice, _ = served
    session, verifier, location, _ = authorize(base, alice)
    token = session.fetch_token(f"{base}/oauth/token", authorization_response=location, code_verifier=verifier)
    assert session.revoke_token(f"{base}/oauth/revoke", token=token["access_token"]).status_code == 200
    assert requests.get(f"{base}/api/v1/me/accounts", headers=bearer(token["access_token"])).status_code == 401


def test_consent_needs_the_right_password_and_a_changed_initial_one(served):
    base, _, alice, bob = served
    session = app_session()
    url, _ = session.create_authorization_url(f"{base}/oauth/authorize", code_verifier=generate_token(48))
    wrong = consent(base, url, alice, password="Wrong12345x")
    assert wrong.status_code == 401 and "身份证号、社保卡号或密码不正确" in wrong.text
    initial = consent(base, url, bob)
    assert initial.status_code == 403 and "修改密码" in initial.text


def test_twenty_refreshes_at_once_give_one_pair_and_a_reused_token_revokes_its_family(served, engine, monkeypatch):
    base, _, alice, _ = served
    session, verifier, location, _ = authorize(base, alice)
    first = session.fetch_token(f"{base}/oauth/token", authorization_response=location, code_verifier=verifier)
    # Every request has found the token live before any of them stores a new pair.
    together = threading.Barrier(20)
    look_up = RefreshGrant.authenticate_refresh_token

    def looked_up_together(grant, refresh_token):
        token = look_up(grant, refresh_token)
        try:
            together.wait(timeout=20)
        except threading.BrokenBarrierError:
            pass
        return token

    monkeypatch.setattr(RefreshGrant, "authenticate_refresh_token", looked_up_together)

    def refresh(_: int) -> requests.Response:
        return requests.post(f"{base}/oauth/token", data={
            "grant_type": "refresh_token", "refresh_token": first["refresh_token"], "client_id": "miniapp",
        })

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(refresh, range(20)))
    pairs = [answer.json() for answer in answers if answer.status_code == 200]
    assert len(pairs) == 1
    assert {answer.json()["error"] for answer in answers if answer.status_code != 200} == {"invalid_grant"}
    with engine.connect() as conn:
        live = conn.execute(select(oauth_tokens.c.access_token_hash).where(oauth_tokens.c.revoked_at.is_(None))).scalars().all()
    assert live == [token_hash(pairs[0]["access_token"])]
    accounts = f"{base}/api/v1/me/accounts"
    assert requests.get(accounts, headers=bearer(pairs[0]["access_token"])).status_code == 200

    monkeypatch.undo()
    reused = refresh(0)  # the rotated token again, later: it was copied
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert requests.get(accounts, headers=bearer(pairs[0]["access_token"])).status_code == 401
    with pytest.raises(OAuthError, match="invalid_grant"):
        session.refresh_token(f"{base}/oauth/token", refresh_token=pairs[0]["refresh_token"])


def test_a_password_change_revokes_every_app_authorization(served, engine):
    base, _, alice, _ = served
    session, verifier, location, _ = authorize(base, alice)
    token = session.fetch_token(f"{base}/oauth/token", authorization_response=location, code_verifier=verifier)
    assert session.get(f"{base}/api/v1/me/accounts").status_code == 200
    own = bearer(requests.post(f"{base}/api/v1/auth/login", json={
        "id_number": alice.id_number, "card_number": alice.card_number, "password": alice.password}).json()["access_token"])
    changed = requests.post(f"{base}/api/v1/auth/password", headers=own,
                            json={"old_password": alice.password, "new_password": "Changed2025pw"})
    assert changed.status_code == 200
    assert session.get(f"{base}/api/v1/me/accounts").status_code == 401
    with pytest.raises(OAuthError):
        session.refresh_token(f"{base}/oauth/token", refresh_token=token["refresh_token"])
    fresh = bearer(changed.json()["access_token"])
    assert requests.get(f"{base}/api/v1/me/apps", headers=fresh).json()["apps"] == []  # authorized again from scratch
    with engine.connect() as conn:
        [detail] = conn.execute(select(audit_log.c.detail).where(audit_log.c.action == "auth.password_changed")).scalars().all()
    assert detail["apps_revoked"] == 1


def test_the_consent_page_cannot_be_framed_cached_or_leak_its_address(engine):
    """Every answer of the consent page: the 200 page, the page again after a wrong password,
    the refusal page. The page itself keeps to its policy: no inline style or script."""
    alice = add_insured(engine, 1)
    add_app(engine, "miniapp", ALLOWED, REDIRECT)
    with client_for(engine, security(FixedClock(START))) as client:
        url, _ = app_session().create_authorization_url("https://testserver/oauth/authorize", code_verifier=generate_token(48))
        page = client.get(url)
        fields = dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', page.text))
        wrong = client.post("/oauth/authorize", data={**{k: html.unescape(v) for k, v in fields.items()}, "decision": "approve",
                                                      "id_number": alice.id_number, "card_number": alice.card_number,
                                                      "password": "Wrong2025pw"})
        refusal = client.get("/oauth/authorize?response_type=code&client_id=nobody")
        assert (page.status_code, wrong.status_code, refusal.status_code) == (200, 401, 400)
        for answer in (page, wrong, refusal):
            policy = answer.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy and "style-src 'self'" in policy
            assert answer.headers["x-frame-options"] == "DENY"
            assert answer.headers["referrer-policy"] == "no-referrer"
            assert answer.headers["cache-control"].startswith("no-store")
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert "<style" not in answer.text and "<script" not in answer.text and " style=" not in answer.text
        # The decision's redirect back to the app is a form submission's target: the policy allows that origin.
        assert "form-action 'self' http://127.0.0.1:9" in page.headers["content-security-policy"]
        stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', page.text).group(1)
        assert client.get(stylesheet).status_code == 200
