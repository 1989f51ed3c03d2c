"""Supervisors' workbench pages: the dashboard of open and overdue work per clerk and kind, and
the institutions' daily settlement beside the ledger; scoped to the supervisor's regions."""

from __future__ import annotations

import pytest

from api_support import START, client_for, later, security
from oversight_support import build_world, reuse_argon2_hashes  # noqa: F401 - autouse fixture
from workbench_support import workbench_sign_in
from yibao.clock import FixedClock
from yibao.withdrawals.settings import WithdrawalSettings


@pytest.fixture
def world(engine):
    clock = FixedClock(START)
    with client_for(engine, security(clock)) as client:
        built = build_world(engine, client)
        built.clock = clock
        yield built


def test_the_dashboard_counts_open_work_per_clerk_and_kind_within_the_supervisors_regions(world):
    later(world.clock, days=40)  # past the refund's and the transfer's due dates
    workbench_sign_in(world.client, "supervisor1")
    board = world.client.get("/counter/dashboard")
    assert board.status_code == 200, board.text
    text = board.text
    assert "工作看板" in text and "未分配" in text
    # Beijing's refund was entered by agent1, the death recorded by agent2; the transfer waits for a first step.
    assert "工作人员（agent1）" in text and "工作人员（agent2）" in text
    assert "工作人员（agent_sh）" not in text  # Shanghai's clerk and work are not this supervisor's
    assert f'/counter/refunds/{world.own.values["refund_id"]}' in text
    assert f'/counter/transfers/{world.own.values["transfer_id"]}' in text
    assert f'/counter/refunds/{world.other.values["refund_id"]}' not in text
    assert f'/counter/transfers/{world.other.values["transfer_id"]}' not in text
    # The refund, the transfer and the submitted withdrawal (its review period is 10 working days).
    assert f'/counter/withdrawals/{world.own.values["case_id"]}' in text
    assert "逾期事项（3件）" in text


def test_the_dashboard_shows_no_overdue_items_before_their_due_dates(world):
    workbench_sign_in(world.client, "supervisor1")
    text = world.client.get("/counter/dashboard").text
    assert "逾期事项（0件）" in text and "暂无逾期事项" in text


@pytest.mark.parametrize("role", ["agent", "auditor", "admin"])
def test_the_dashboard_is_refused_to_roles_without_it(world, role):
    workbench_sign_in(world.client, f"{role}1")
    refused = world.client.get("/counter/dashboard")
    assert refused.status_code == 403 and "查看工作看板" in refused.text


def test_the_settlement_shows_each_designated_institution_beside_the_ledger(world):
    workbench_sign_in(world.client, "supervisor1")
    page = world.client.get("/counter/settlement")
    assert page.status_code == 200
    assert "某某大药房" in page.text and "上海某某医院" not in page.text
    assert "全部一致" in page.text
    # add_insured's purchases moved the pharmacy's account on 2025-05-20 without a payment record: a difference.
    may = world.client.get("/counter/settlement?day=2025-05-20")
    assert may.status_code == 200 and "不一致" in may.text and "3家不一致" not in may.text


@pytest.mark.parametrize("day", ["2025-13-01", "昨天", "2030-01-01"])
def test_a_bad_settlement_day_is_said_in_chinese_next_to_the_field(world, day):
    workbench_sign_in(world.client, "auditor1")
    page = world.client.get("/counter/settlement", params={"day": day})
    assert page.status_code == 422 and 'aria-invalid="true"' in page.text
    assert "日期" in page.text and day in page.text


def test_a_settlement_day_with_a_payment_agrees_with_the_ledger(world):
    later(world.clock, days=1)
    workbench_sign_in(world.client, "supervisor1")
    from api_support import CARD_PIN, set_card_pin

    set_card_pin(world.engine, world.people["a"].person_id)
    paid = world.client.post("/api/v1/institution/payments", headers={"X-Api-Key": world.pharmacy_key}, json={
        "card_number": world.people["a"].card_number, "pin": CARD_PIN, "amount_fen": 2_350, "receipt_no": "R0001",
        "idempotency_key": "settle-1"})
    assert paid.status_code in (200, 201), paid.text
    text = world.client.get("/counter/settlement").text
    assert "23.50元" in text and "全部一致" in text


def test_withdrawal_cases_become_overdue_after_the_agencys_review_period(world):
    """The review period for withdrawals is an agency setting (working days from submission)."""
    world.client.app.state.withdrawal_settings = WithdrawalSettings(withdrawal_review_working_days=60)
    later(world.clock, days=40)
    workbench_sign_in(world.client, "supervisor1")
    text = world.client.get("/counter/dashboard").text
    assert f'/counter/withdrawals/{world.own.values["case_id"]}' not in text  # 40 days are not yet 60 working days
    assert "逾期事项（2件）" in text
