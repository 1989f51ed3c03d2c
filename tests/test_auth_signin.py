"""Sign-in: password and SMS code, the forced password change, lockout, expiry, sign-out, rate limits."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from api_support import (
    NEW_PASSWORD,
    START,
    RecordingSender,
    add_insured,
    bearer,
    client_for,
    later,
    login,
    security,
)
from yibao.clock import FixedClock
from yibao.domain.resident_id import ResidentId
from yibao.security.counters import MemoryCounters
from yibao.security.errors import LockedOut
from yibao.security import signin
from yibao.security.lockout import Lockout
from test_security_counters import wait_until


@pytest.fixture
def clock():
    return FixedClock(START)


@pytest.fixture
def sender():
    return RecordingSender()


@pytest.fixture
def client(engine, clock, sender):
    with client_for(engine, security(clock, sender)) as client:
        yield client


@pytest.fixture
def alice(engine):
    return add_insured(engine, 1)


def test_password_sign_in_gives_a_token_that_reads_the_accounts(client, alice):
    answer = login(client, alice)
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "bearer" and body["password_change_required"] is False and body["expires_in"] == 1800
    accounts = client.get("/api/v1/me/accounts", headers=bearer(body["access_token"])).json()["accounts"]
    assert [account["balance_fen"] for account in accounts] == [123_456]


@pytest.mark.parametrize("change", ["password", "card_number", "id_number"])
def test_every_wrong_detail_gets_the_same_answer(client, alice, engine, change):
    other = add_insured(engine, 2)
    details = {"id_number": alice.id_number, "card_number": alice.card_number, "password": alice.password}
    details[change] = {"password": "Wrong12345x", "card_number": "X99999999", "id_number": other.id_number}[change]
    answer = client.post("/api/v1/auth/login", json=details)
    assert answer.status_code == 401
    assert answer.json()["error"] == {"code": "bad_credentials", "message": "身份证号、社保卡号或密码不正确", "field": None}


def test_malformed_input_names_the_field(client, alice):
    answer = client.post("/api/v1/auth/login", json={"id_number": "123", "card_number": alice.card_number, "password": "x"})
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "id_number"
    answer = client.post("/api/v1/auth/login", json={"id_number": alice.id_number, "card_number": alice.card_number})
    assert answer.status_code == 422 and answer.json()["error"] == {
        "code": "missing_field", "message": "缺少必填项：password", "field": "password",
    }


def test_initial_password_gives_a_token_that_can_only_change_it(client, engine):
    bob = add_insured(engine, 2, password="123456", must_change=True)
    answer = login(client, bob).json()
    assert answer["password_change_required"] is True
    limited = bearer(answer["access_token"])
    for path in ("/api/v1/me", "/api/v1/me/accounts", "/api/v1/me/details", "/api/v1/me/contributions", "/api/v1/me/apps"):
        refused = client.get(path, headers=limited)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "password_change_required", path

    weak = client.post("/api/v1/auth/password", headers=limited, json={"old_password": "123456", "new_password": "88888888"})
    assert weak.status_code == 422 and weak.json()["error"]["field"] == "new_password"
    wrong_old = client.post("/api/v1/auth/password", headers=limited, json={"old_password": "654321", "new_password": NEW_PASSWORD})
    assert wrong_old.status_code == 422 and wrong_old.json()["error"]["field"] == "old_password"

    changed = client.post("/api/v1/auth/password", headers=limited, json={"old_password": "123456", "new_password": NEW_PASSWORD})
    assert changed.status_code == 200 and changed.json()["password_change_required"] is False
    assert client.get("/api/v1/me/accounts", headers=bearer(changed.json()["access_token"])).status_code == 200
    assert client.get("/api/v1/me/accounts", headers=limited).status_code == 401  # the old session ended
    assert login(client, bob).status_code == 401
    assert login(client, bob, NEW_PASSWORD).json()["password_change_required"] is False


def test_a_weak_password_without_the_flag_is_also_limited(client, engine):
    carol = add_insured(engine, 3, password="12345678")
    assert login(client, carol).json()["password_change_required"] is True


def test_five_wrong_tries_lock_the_id_for_fifteen_minutes(client, alice, clock):
    for attempt in range(4):
        assert login(client, alice, "Wrong12345x").status_code == 401, attempt
    fifth = login(client, alice, "Wrong12345x")
    assert fifth.status_code == 423 and fifth.json()["error"]["code"] == "locked_out"
    assert int(fifth.headers["Retry-After"]) == 900
    assert login(client, alice).status_code == 423  # even the right password
    later(clock, minutes=14)
    assert login(client, alice).status_code == 423
    later(clock, minutes=1, seconds=1)
    assert login(client, alice).status_code == 200


def test_five_wrong_tries_from_one_address_lock_that_address(client, engine):
    people = [add_insured(engine, n) for n in range(1, 4)]
    for n in range(5):
        login(client, people[n % 2], "Wrong12345x")
    assert login(client, people[2]).status_code == 423  # a third person, same client address


def test_a_right_password_clears_the_count_of_the_id_but_not_of_the_address(clock):
    lockout = Lockout(MemoryCounters(clock), b"k" * 32, scope="web", max_failures=5, seconds=900)
    identity, address = lockout.identity("11010519510301011X"), lockout.address("10.0.0.1")
    wrong, right = (lambda: False), (lambda: True)
    for _ in range(4):
        assert lockout.verify([identity, address], wrong) is False
        lockout.check([identity, address])
    assert lockout.verify([identity, address], right) is True
    assert lockout.verify([identity], wrong) is False  # the identity starts again from one
    with pytest.raises(LockedOut):
        lockout.verify([address], wrong)  # the address kept its four
    with pytest.raises(LockedOut):
        lockout.check([identity, address])
    lockout.check([identity])
    assert "11010519510301011X" not in identity


def test_sessions_expire_and_sign_out_ends_them(client, alice, clock):
    token = login(client, alice).json()["access_token"]
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    later(clock, minutes=30, seconds=1)
    expired = client.get("/api/v1/me", headers=bearer(token))
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "invalid_token"

    token = login(client, alice).json()["access_token"]
    assert client.post("/api/v1/auth/logout", headers=bearer(token)).status_code == 204
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_sms_code_signs_in_once_within_five_minutes(client, alice, sender, clock):
    sent = client.post("/api/v1/auth/sms-code", json={"id_number": alice.id_number})
    assert sent.status_code == 202 and sender.sent[-1][0] == alice.phone
    code = sender.last_code()
    answer = client.post("/api/v1/auth/login/sms", json={"id_number": alice.id_number, "code": code})
    assert answer.status_code == 200 and answer.json()["password_change_required"] is False
    reused = client.post("/api/v1/auth/login/sms", json={"id_number": alice.id_number, "code": code})
    assert reused.status_code == 401 and reused.json()["error"]["code"] == "bad_sms_code"

    client.post("/api/v1/auth/sms-code", json={"id_number": alice.id_number})
    later(clock, minutes=5, seconds=1)
    late = client.post("/api/v1/auth/login/sms", json={"id_number": alice.id_number, "code": sender.last_code()})
    assert late.status_code == 401


def test_sms_sends_are_limited_per_hour_and_unknown_ids_get_the_same_answer(client, alice, engine, sender, clock):
    for _ in range(5):
        assert client.post("/api/v1/auth/sms-code", json={"id_number": alice.id_number}).status_code == 202
    too_many = client.post("/api/v1/auth/sms-code", json={"id_number": alice.id_number})
    assert too_many.status_code == 429 and len(sender.sent) == 5
    later(clock, hours=1, seconds=1)
    assert client.post("/api/v1/auth/sms-code", json={"id_number": alice.id_number}).status_code == 202

    stranger = add_insured(engine, 2)
    unknown = ResidentId.build("110105", ResidentId(stranger.id_number).birth_date, 777).full
    before = len(sender.sent)
    answer = client.post("/api/v1/auth/sms-code", json={"id_number": unknown})
    assert answer.status_code == 202 and len(sender.sent) == before


def test_requests_are_limited_per_client_and_per_account(engine, clock):
    alice = add_insured(engine, 1)
    with client_for(engine, security(clock, rate_limit_per_minute=3)) as client:
        token = login(client, alice).json()["access_token"]
        answers = [client.get("/api/v1/me", headers=bearer(token)).status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429]
        later(clock, seconds=61)
        assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200


def test_thirty_concurrent_wrong_passwords_get_five_checked_and_a_right_one_in_the_burst_is_refused(
    client, alice, monkeypatch
):
    # Every wrong password waits inside the hash check until the burst has been answered, so all
    # thirty are in flight together; the right one comes while five of them are being checked.
    checked, answered, release = [], [], threading.Event()
    real_verify = signin.verify_stored

    def counting_verify(stored, password):
        checked.append(password)
        if password != alice.password:
            release.wait(timeout=30)
        return real_verify(stored, password)

    monkeypatch.setattr(signin, "verify_stored", counting_verify)

    def wrong(_: int) -> int:
        status = login(client, alice, "Wrong12345x").status_code
        answered.append(status)
        return status

    with ThreadPoolExecutor(max_workers=30) as pool:
        statuses = pool.map(wrong, range(30))
        wait_until(lambda: len(answered) >= 25)
        right = login(client, alice).status_code
        release.set()
        statuses = list(statuses)
    assert right == 423 and alice.password not in checked
    assert len(checked) == 5
    # 25 refused unchecked, told to retry shortly; of the five checked the fifth wrong one locks.
    assert statuses.count(401) == 4 and statuses.count(423) == 26
    assert login(client, alice).headers["Retry-After"] == "900"  # locked now, even the right password
