"""The signed-in person's views: profile, accounts, details with filters and paging, contributions."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from api_support import START, add_insured, bearer, client_for, login, security
from yibao.clock import FixedClock
from yibao.store.models import persons


@pytest.fixture
def setup(engine):
    alice, bob = add_insured(engine, 1), add_insured(engine, 2, balance_fen=5_000)
    with client_for(engine, security(FixedClock(START))) as client:
        yield client, alice, bob, bearer(login(client, alice).json()["access_token"])


def test_profile_masks_the_id_number(setup):
    client, alice, _, auth = setup
    profile = client.get("/api/v1/me", headers=auth)
    assert profile.status_code == 200
    body = profile.json()
    assert body["id_number_masked"] == alice.id_number[:6] + "********" + alice.id_number[-4:]
    assert alice.id_number not in profile.text and alice.phone not in profile.text
    assert body["name"] == alice.name and body["region_name"] == "北京市"


def test_accounts_show_only_my_balance(setup):
    client, alice, bob, auth = setup
    body = client.get("/api/v1/me/accounts", headers=auth).json()
    assert [(a["id"], a["balance_fen"], a["balance"]) for a in body["accounts"]] == [(alice.account_id, 123_456, "1,234.56元")]
    assert body["total_balance_fen"] == 123_456


def test_details_filter_by_date_kind_and_page(setup):
    client, alice, bob, auth = setup
    every = client.get("/api/v1/me/details", headers=auth).json()
    assert every["total"] == 2 and [item["kind"] for item in every["items"]] == ["spending", "monthly_credit"]
    assert every["items"][0]["amount_fen"] == -1000 and every["items"][0]["kind_label"] == "消费支出"
    may_first_half = client.get("/api/v1/me/details", headers=auth, params={"date_from": "2025-05-01", "date_to": "2025-05-10"}).json()
    assert [item["kind"] for item in may_first_half["items"]] == ["monthly_credit"]
    spending = client.get("/api/v1/me/details", headers=auth, params={"kind": "spending"}).json()
    assert spending["total"] == 1
    second_page = client.get("/api/v1/me/details", headers=auth, params={"page": 2, "page_size": 1}).json()
    assert second_page["total"] == 2 and [item["kind"] for item in second_page["items"]] == ["monthly_credit"]
    mine = client.get("/api/v1/me/details", headers=auth, params={"account_id": alice.account_id}).json()
    assert mine["total"] == 2


def test_someone_elses_account_is_not_found(setup):
    client, _, bob, auth = setup
    answer = client.get("/api/v1/me/details", headers=auth, params={"account_id": bob.account_id})
    assert answer.status_code == 404 and answer.json()["error"]["field"] == "account_id"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"date_from": "2025-06-01", "date_to": "2025-05-01"}, "date_to"),
        ({"kind": "lottery"}, "kind"),
        ({"page_size": 1000}, "page_size"),
        ({"date_from": "2025-02-30"}, "date_from"),
    ],
)
def test_bad_filters_name_the_field(setup, params, field):
    client, _, _, auth = setup
    answer = client.get("/api/v1/me/details", headers=auth, params=params)
    assert answer.status_code == 422 and answer.json()["error"]["field"] == field


def test_contributions_with_continuity(setup):
    client, _, _, auth = setup
    body = client.get("/api/v1/me/contributions", headers=auth).json()
    assert [item["month"] for item in body["items"]] == ["2025-04-01", "2025-02-01", "2025-01-01"]
    assert body["items"][0]["account_fen"] == 16_000
    assert body["continuity"] == {
        "months_paid": 3, "first_month": "2025-01-01", "last_month": "2025-04-01",
        "missing_months": ["2025-03-01"], "continuous": False,
    }
    since_february = client.get("/api/v1/me/contributions", headers=auth, params={"month_from": "2025-02-10"}).json()
    assert since_february["total"] == 2 and since_february["continuity"]["missing_months"] == ["2025-03-01"]


def test_without_a_token_nothing_is_shown(setup):
    client, *_ = setup
    for path in ("/api/v1/me", "/api/v1/me/accounts", "/api/v1/me/details", "/api/v1/me/contributions"):
        answer = client.get(path)
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthenticated"
        assert client.get(path, headers=bearer("ybs_made-up")).status_code == 401


def test_contribution_years_count_the_whole_record_plus_deemed_months(setup, engine):
    client, person, _, auth = setup
    body = client.get("/api/v1/me/contributions", headers=auth, params={"month_from": "2025-04-01"}).json()
    assert body["years"] == {
        "paid_months": 3, "recorded_months": 3, "prior_months": 0, "deemed_months": 0, "actual_years": "0.25", "cumulative_years": "0.25",
    }
    with engine.begin() as conn:
        conn.execute(update(persons).where(persons.c.id == person.person_id).values(deemed_months=118, prior_paid_months=237))
    years = client.get("/api/v1/me/contributions", headers=auth).json()["years"]
    assert years == {  # months migrated from the previous system count as paid, beside the record
        "paid_months": 240, "recorded_months": 3, "prior_months": 237, "deemed_months": 118,
        "actual_years": "20.00", "cumulative_years": "29.83",
    }
