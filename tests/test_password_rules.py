"""Web passwords: the shipped common-password list (with Chinese favourites) and the person's own data."""

from __future__ import annotations

import pytest

from api_support import START, add_insured, bearer, client_for, login, security
from yibao.clock import FixedClock
from yibao.security.passwords import common_passwords, is_weak_password


@pytest.mark.parametrize("password", [
    "password1", "iloveyou2", "1qaz2wsx", "Trustno1", "qwerty123", "abcd1234",  # from the shipped list (part 1)
    "woaini1314", "WoAiNi1314", "qq123456", "5201314abc", "a1234567", "zhangwei520", "wangfang123",  # Chinese favourites
])
def test_common_passwords_are_weak_whatever_their_case(password):
    assert is_weak_password(password)


@pytest.mark.parametrize("password", ["Yb83626471q", "Better2025pw", "zheng7HUA3xin"])
def test_uncommon_passwords_pass(password):
    assert not is_weak_password(password)


def test_the_list_has_thousands_of_entries_that_the_other_rules_would_pass():
    entries = common_passwords()
    assert 5_000 < len(entries) < 20_000
    assert "#1stunna" in entries  # a password that starts with "#" is an entry, not a comment
    assert not any(line.startswith("# ") for line in entries)


@pytest.mark.parametrize("make", [
    lambda person: f"ab{person.id_number[-6:]}cd",  # the ID number's last six
    lambda person: f"x{person.id_number[6:14]}y",  # the birth date (yyyymmdd)
    lambda person: f"Tel{person.phone}",  # the phone number
    lambda person: f"pw{person.phone[-6:]}q",  # its last six digits
])
def test_a_new_password_may_not_carry_the_persons_own_numbers(engine, make):
    alice = add_insured(engine, 1)
    with client_for(engine, security(FixedClock(START))) as client:
        token = login(client, alice).json()["access_token"]
        answer = client.post("/api/v1/auth/password", headers=bearer(token),
                             json={"old_password": alice.password, "new_password": make(alice)})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "password_personal" and error["field"] == "new_password" and "身份证号" in error["message"]


def test_a_common_password_is_refused_on_change_with_the_field_named(engine):
    alice = add_insured(engine, 1)
    with client_for(engine, security(FixedClock(START))) as client:
        token = login(client, alice).json()["access_token"]
        answer = client.post("/api/v1/auth/password", headers=bearer(token),
                             json={"old_password": alice.password, "new_password": "Woaini1314"})
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "password_weak"
