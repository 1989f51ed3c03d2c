"""Transfer between pooling regions and emergency refunds through the API, on SQLite and
PostgreSQL: working-day deadlines across National Day 2025, money through clearing with the
total unchanged, overdue steps flagged, a refused balance offered for withdrawal."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import func, select

from api_support import (
    payee_body,
    SAMPLE_PDF,
    add_insured,
    add_staff_user,
    client_for,
    document_body,
    person_token,
    reason_header,
    security,
    staff_headers,
)
from ledger_support import ledger_clean
from yibao.clock import FixedClock
from yibao.errors import InvalidInput
from yibao.ledger.accounts import system_account
from yibao.ledger.kinds import AccountKind
from yibao.ledger.ledger import posted_balance
from yibao.security.staff import StaffRole
from yibao.store.models import accounts, contributions, ledger_transactions, persons, postings, withdrawal_cases
from yibao.workdays import add_working_days, is_provisional, is_working_day, working_days_between

BALANCE = 123_456
# 2025-09-30, a Tuesday, 10:00 in China: the day before the National Day holiday (Oct 1-8),
# with make-up workdays on Sunday Sep 28 and Saturday Oct 11.
EVE_OF_NATIONAL_DAY = datetime(2025, 9, 30, 2, 0, tzinfo=timezone.utc)


# ---------------------------------------------------------------------------- working days


def test_working_days_follow_the_official_holidays_and_make_up_days():
    assert not is_working_day(date(2025, 10, 1)) and not is_working_day(date(2025, 10, 8))
    assert is_working_day(date(2025, 9, 28)) and is_working_day(date(2025, 10, 11))  # make-up Sunday, Saturday
    assert not is_working_day(date(2025, 10, 12))
    # Transfer out: 10 working days from Sep 30 = Oct 9, 10, 11 (Sat), 13-17, 20, 21.
    assert add_working_days(date(2025, 9, 30), 10) == date(2025, 10, 21)
    # Transfer in: 5 working days = Oct 9, 10, 11, 13, 14.
    assert add_working_days(date(2025, 9, 30), 5) == date(2025, 10, 14)
    # Emergency refund: 7 working days.
    assert add_working_days(date(2025, 9, 30), 7) == date(2025, 10, 16)
    assert add_working_days(date(2025, 9, 26), 1) == date(2025, 9, 28)  # Friday → the make-up Sunday
    assert working_days_between(date(2025, 9, 30), date(2025, 10, 9)) == 1
    assert working_days_between(date(2025, 10, 9), date(2025, 10, 9)) == 0


def test_a_year_the_calendar_does_not_know_counts_weekdays_and_is_marked_provisional():
    # 2031-01-01 is a Wednesday: Thursday, Friday, then Monday.
    assert add_working_days(date(2031, 1, 1), 3) == date(2031, 1, 6)
    assert is_provisional(date(2031, 1, 6)) and not is_provisional(date(2025, 10, 21))
    with pytest.raises(InvalidInput):
        add_working_days(date(2025, 1, 1), 0)


# ---------------------------------------------------------------------------- the workflow


@pytest.fixture
def setting(engine):
    clock = FixedClock(EVE_OF_NATIONAL_DAY)
    with client_for(engine, security(clock)) as client:
        a = add_insured(engine, 1, balance_fen=BALANCE)
        add_staff_user(engine, "agent_bj", StaffRole.AGENT, region_code="110000")
        add_staff_user(engine, "agent_sh", StaffRole.AGENT, region_code="310000")
        add_staff_user(engine, "agent_bj2", StaffRole.AGENT, region_code="110000")
        add_staff_user(engine, "agent_sh2", StaffRole.AGENT, region_code="310000")
        yield client, clock, a, sign_in(client, a)


def sign_in(client, a) -> dict:
    """The person and two staff members in each region (four eyes: one prepares, the other approves)."""
    return {"person": person_token(client, a), "bj": staff_headers(client, "agent_bj"), "sh": staff_headers(client, "agent_sh"),
            "bj2": staff_headers(client, "agent_bj2"), "sh2": staff_headers(client, "agent_sh2")}


def move_clock(setting, when: datetime) -> None:
    """Days later every session has expired: sign everyone in again."""
    client, clock, a, h = setting
    clock.at = when
    h.update(sign_in(client, a))


def total_money(engine, person_id: int) -> int:
    """The person's personal balances plus both regions' clearing accounts."""
    with engine.begin() as conn:
        personal = conn.execute(
            select(func.coalesce(func.sum(accounts.c.balance_fen), 0)).where(accounts.c.person_id == person_id)
        ).scalar_one()
        clearing = sum(
            posted_balance(conn, system_account(conn, AccountKind.CLEARING, region, opened_on=date(2025, 9, 30)))
            for region in ("110000", "310000")
        )
    return int(personal) + clearing


def steps(client, headers, **params):
    answer = client.get("/api/v1/staff/transfers/open-steps", params=params, headers=headers | reason_header("每日期限检查"))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_transfer_out_and_in_moves_the_money_through_clearing_with_deadlines_across_national_day(engine, setting):
    client, clock, a, h = setting
    before = total_money(engine, a.person_id)
    with engine.connect() as conn:
        months_before = conn.execute(select(func.count()).select_from(contributions).where(contributions.c.person_id == a.person_id)).scalar_one()

    requested = client.post("/api/v1/me/transfers", json={"to_region": "310101"}, headers=h["person"])
    assert requested.status_code == 201, requested.text
    transfer = requested.json()
    assert transfer["to_region"] == "310000" and transfer["to_region_name"] == "上海市"  # a district moves to its pooling region
    assert transfer["requested_on"] == "2025-09-30" and transfer["out_due"] == "2025-10-21"
    transfer_id = transfer["id"]
    open_now = steps(client, h["bj"])["items"]
    assert [(s["step"], s["due_on"], s["overdue"]) for s in open_now] == [("review", "2025-10-21", False)]
    assert steps(client, h["sh"])["items"] == []  # the new region has nothing to do yet

    assert client.post(f"/api/v1/staff/transfers/{transfer_id}/review", json={"approve": True, "note": "审核通过"}, headers=h["sh"]).status_code == 404
    reviewed = client.post(f"/api/v1/staff/transfers/{transfer_id}/review", json={"approve": True, "note": "审核通过"}, headers=h["bj"])
    assert reviewed.status_code == 200 and reviewed.json()["status"] == "approved"
    out = client.post(f"/api/v1/staff/transfers/{transfer_id}/transfer-out", json={"note": "办理转出"}, headers=h["bj"])
    assert out.status_code == 200, out.text
    assert out.json()["amount_fen"] == BALANCE and out.json()["in_due"] == "2025-10-14"
    with engine.connect() as conn:
        assert conn.execute(select(accounts.c.status).where(accounts.c.id == a.account_id)).scalar_one() == "closed"
    assert total_money(engine, a.person_id) == before  # in flight: clearing holds it
    assert [(s["step"], s["region_code"]) for s in steps(client, h["sh"])["items"]] == [("transfer_in", "310000")]

    move_clock(setting, datetime(2025, 10, 14, 2, 0, tzinfo=timezone.utc))
    done = client.post(f"/api/v1/staff/transfers/{transfer_id}/transfer-in",
                       json={"accept_balance": True, "note": "办理转入"}, headers=h["sh"])
    assert done.status_code == 200, done.text
    assert done.json()["transfer"]["status"] == "completed" and done.json()["withdrawal_case_id"] is None
    assert total_money(engine, a.person_id) == before
    with engine.connect() as conn:
        person = conn.execute(select(persons.c.region_code).where(persons.c.id == a.person_id)).scalar_one()
        new_account = conn.execute(
            select(accounts).where(accounts.c.person_id == a.person_id, accounts.c.status == "active")
        ).mappings().one()
        months_after = conn.execute(select(func.count()).select_from(contributions).where(contributions.c.person_id == a.person_id)).scalar_one()
        kinds = conn.execute(
            select(ledger_transactions.c.kind).where(ledger_transactions.c.reference == f"TR{transfer_id}").order_by(ledger_transactions.c.id)
        ).scalars().all()
        clearing = system_account(conn, AccountKind.CLEARING, "110000", opened_on=date(2025, 9, 30))
        assert posted_balance(conn, clearing) == 0
    assert person == "310000" and new_account["region_code"] == "310000" and new_account["balance_fen"] == BALANCE
    assert months_after == months_before  # contribution years stay with the person
    assert kinds == ["transfer_out", "transfer_in"]
    assert steps(client, h["bj"])["items"] == [] and steps(client, h["sh"])["items"] == []
    mine = client.get("/api/v1/me/transfers", headers=h["person"]).json()["items"]
    assert mine[0]["status"] == "completed" and mine[0]["in_on"] == "2025-10-14"
    ledger_clean(engine)


def test_a_death_recorded_while_the_money_is_in_flight_freezes_the_new_account_for_the_heirs(engine, setting):
    client, clock, a, h = setting
    transfer_id = client.post("/api/v1/me/transfers", json={"to_region": "310000"}, headers=h["person"]).json()["id"]
    client.post(f"/api/v1/staff/transfers/{transfer_id}/review", json={"approve": True, "note": "审核通过"}, headers=h["bj"])
    assert client.post(f"/api/v1/staff/transfers/{transfer_id}/transfer-out", json={"note": "办理转出"}, headers=h["bj"]).status_code == 200
    death = document_body("死亡证明", SAMPLE_PDF, "死亡证明.pdf", person_id=a.person_id, died_on="2025-09-30",
                          certificate_number="J1", reason="家属办理")
    death.pop("doc_type")
    assert client.post("/api/v1/staff/withdrawals/deaths", json=death, headers=h["bj"]).status_code == 201
    confirmed = client.post(f"/api/v1/staff/withdrawals/deaths/{a.person_id}/confirm", json={"reason": "核对死亡证明"},
                            headers=h["bj2"])
    assert confirmed.status_code == 200 and confirmed.json()["case"] is None  # no account is open to freeze now
    done = client.post(f"/api/v1/staff/transfers/{transfer_id}/transfer-in",
                       json={"accept_balance": True, "note": "办理转入"}, headers=h["sh"])
    assert done.status_code == 200, done.text
    with engine.connect() as conn:
        new_account = conn.execute(
            select(accounts.c.id, accounts.c.status, accounts.c.balance_fen)
            .where(accounts.c.person_id == a.person_id, accounts.c.status != "closed")
        ).one()
        case = conn.execute(select(withdrawal_cases.c.reason, withdrawal_cases.c.account_id)
                            .where(withdrawal_cases.c.person_id == a.person_id)).one()
    assert new_account.status == "frozen" and new_account.balance_fen == BALANCE
    assert (case.reason, case.account_id) == ("death", new_account.id)
    again = client.post("/api/v1/me/transfers", json={"to_region": "320100"}, headers=h["person"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "person_deceased"
    ledger_clean(engine)


def test_overdue_steps_are_flagged_to_staff(engine, setting):
    client, clock, a, h = setting
    transfer_id = client.post("/api/v1/me/transfers", json={"to_region": "310000"}, headers=h["person"]).json()["id"]
    move_clock(setting, datetime(2025, 10, 21, 2, 0, tzinfo=timezone.utc))  # the due day itself: not late yet
    assert steps(client, h["bj"])["items"][0]["overdue"] is False
    move_clock(setting, datetime(2025, 10, 22, 2, 0, tzinfo=timezone.utc))
    listed = steps(client, h["bj"])
    assert listed["overdue"] == 1
    expected = {"kind": "transfer", "id": transfer_id, "step": "review", "overdue": True, "working_days_overdue": 1}
    assert listed["items"][0].items() >= expected.items()
    assert steps(client, h["bj"], overdue_only=True)["items"][0]["id"] == transfer_id


def test_refusals_along_the_way(engine, setting):
    client, clock, a, h = setting
    same = client.post("/api/v1/me/transfers", json={"to_region": "110000"}, headers=h["person"])
    assert same.status_code == 422 and same.json()["error"]["code"] == "same_region"
    unknown = client.post("/api/v1/me/transfers", json={"to_region": "999999"}, headers=h["person"])
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_region"
    transfer_id = client.post("/api/v1/me/transfers", json={"to_region": "310000"}, headers=h["person"]).json()["id"]
    twice = client.post("/api/v1/me/transfers", json={"to_region": "310000"}, headers=h["person"])
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "transfer_already_open"
    withdrawal = client.post("/api/v1/me/withdrawals", json={"reason": "emigration", **payee_body(a)}, headers=h["person"])
    assert withdrawal.status_code == 409 and withdrawal.json()["error"]["code"] == "transfer_in_progress"
    early_in = client.post(f"/api/v1/staff/transfers/{transfer_id}/transfer-in", json={"accept_balance": True, "note": "转入"}, headers=h["sh"])
    assert early_in.status_code == 409 and early_in.json()["error"]["code"] == "transfer_wrong_status"
    early_out = client.post(f"/api/v1/staff/transfers/{transfer_id}/transfer-out", json={"note": "转出"}, headers=h["bj"])
    assert early_out.status_code == 409
    rejected = client.post(f"/api/v1/staff/transfers/{transfer_id}/review", json={"approve": False, "note": "资料不全"}, headers=h["bj"])
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    after = client.post(f"/api/v1/staff/transfers/{transfer_id}/transfer-out", json={"note": "转出"}, headers=h["bj"])
    assert after.status_code == 409
    with engine.connect() as conn:
        assert conn.execute(select(accounts.c.balance_fen).where(accounts.c.id == a.account_id)).scalar_one() == BALANCE
    ledger_clean(engine)


def test_new_region_refusing_the_balance_offers_withdrawal_of_it(engine, setting):
    client, clock, a, h = setting
    before = total_money(engine, a.person_id)
    transfer_id = client.post("/api/v1/me/transfers", json={"to_region": "310000"}, headers=h["person"]).json()["id"]
    client.post(f"/api/v1/staff/transfers/{transfer_id}/review", json={"approve": True, "note": "通过"}, headers=h["bj"])
    client.post(f"/api/v1/staff/transfers/{transfer_id}/transfer-out", json={"note": "转出"}, headers=h["bj"])
    refused = client.post(f"/api/v1/staff/transfers/{transfer_id}/transfer-in",
                          json={"accept_balance": False, "note": "本地不接收个人账户余额"}, headers=h["sh"])
    assert refused.status_code == 200, refused.text
    case_id = refused.json()["withdrawal_case_id"]
    assert case_id is not None and refused.json()["transfer"]["balance_accepted"] is False
    with engine.connect() as conn:
        assert conn.execute(select(persons.c.region_code).where(persons.c.id == a.person_id)).scalar_one() == "310000"
        new_account = conn.execute(
            select(accounts.c.id, accounts.c.balance_fen).where(accounts.c.person_id == a.person_id, accounts.c.status == "active")
        ).one()
    assert new_account.balance_fen == 0
    assert total_money(engine, a.person_id) == before  # the balance waits in clearing

    offered = client.get("/api/v1/me/withdrawals", headers=h["person"]).json()["items"]
    assert [(c["id"], c["reason"], c["status"], c["transfer_id"]) for c in offered] == [(case_id, "refused", "collecting", transfer_id)]
    for doc_type in offered[0]["policy"]["required_documents"]:
        uploaded = client.post(f"/api/v1/me/withdrawals/{case_id}/documents", json=document_body(doc_type, SAMPLE_PDF), headers=h["person"])
        assert uploaded.status_code == 201, uploaded.text
    unpaid = client.post(f"/api/v1/me/withdrawals/{case_id}/submit", headers=h["person"])
    assert unpaid.status_code == 422 and unpaid.json()["error"]["field"] == "bank_account"  # paid to whose account?
    named = client.put(f"/api/v1/me/withdrawals/{case_id}/bank-account", json=payee_body(a), headers=h["person"])
    assert named.status_code == 200 and named.json()["bank_account_masked"] == "6222****5679"
    assert client.post(f"/api/v1/me/withdrawals/{case_id}/submit", headers=h["person"]).status_code == 200
    paid = client.post(f"/api/v1/staff/withdrawals/{case_id}/decision", json={"approve": True, "note": "同意提取"}, headers=h["bj"])
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "paid" and paid.json()["paid_fen"] == BALANCE
    with engine.connect() as conn:
        clearing = system_account(conn, AccountKind.CLEARING, "110000", opened_on=date(2025, 9, 30))
        assert posted_balance(conn, clearing) == 0
        still_open = conn.execute(select(accounts.c.status).where(accounts.c.id == new_account.id)).scalar_one()
    assert still_open == "active"  # the new region's account is the person's from now on
    ledger_clean(engine)


# ---------------------------------------------------------------------------- emergency refunds


def refund_body(person_id: int, amount_fen: int, receipt_number: str) -> dict:
    body = document_body("急诊收费票据", SAMPLE_PDF, "票据.pdf", person_id=person_id, amount_fen=amount_fen,
                         incurred_on="2025-09-28", receipt_number=receipt_number, reason="参保人提交急诊垫付票据")
    body.pop("doc_type")
    return body


def approve_refund(client, refund_id: int, headers: dict) -> None:
    approved = client.post(f"/api/v1/staff/transfers/emergency-refunds/{refund_id}/decision",
                           json={"approve": True, "note": "票据相符"}, headers=headers)
    assert approved.status_code == 200 and approved.json()["status"] == "approved", approved.text


def test_emergency_refund_is_due_in_seven_working_days_and_paid_once(engine, setting):
    client, clock, a, h = setting
    body = refund_body(a.person_id, 35_000, "JZ2025092800017")
    entered = client.post("/api/v1/staff/transfers/emergency-refunds", json=body, headers=h["bj"])
    assert entered.status_code == 201, entered.text
    refund_id = entered.json()["refund_id"]
    assert entered.json()["due_on"] == "2025-10-16"
    approve_refund(client, refund_id, h["bj2"])
    duplicate = client.post("/api/v1/staff/transfers/emergency-refunds", json=body, headers=h["bj"])
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "receipt_already_refunded"
    other_region = client.post("/api/v1/staff/transfers/emergency-refunds", json=body | {"receipt_number": "X1"}, headers=h["sh"])
    assert other_region.status_code == 404

    move_clock(setting, datetime(2025, 10, 17, 2, 0, tzinfo=timezone.utc))
    late = steps(client, h["bj"])["items"]
    assert [(s["kind"], s["id"], s["due_on"], s["overdue"]) for s in late] == [("emergency_refund", refund_id, "2025-10-16", True)]
    paid = client.post(f"/api/v1/staff/transfers/emergency-refunds/{refund_id}/pay", json={"note": "返还"}, headers=h["bj"])
    assert paid.status_code == 200, paid.text
    with engine.connect() as conn:
        balance = conn.execute(select(accounts.c.balance_fen).where(accounts.c.id == a.account_id)).scalar_one()
        kind = conn.execute(
            select(ledger_transactions.c.kind).join(postings, postings.c.transaction_id == ledger_transactions.c.id)
            .where(ledger_transactions.c.id == paid.json()["transaction_id"], postings.c.account_id == a.account_id)
        ).scalar_one()
    assert balance == BALANCE + 35_000 and kind == "refund"
    again = client.post(f"/api/v1/staff/transfers/emergency-refunds/{refund_id}/pay", json={"note": "返还"}, headers=h["bj"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "refund_already_paid"
    assert steps(client, h["bj"])["items"] == []
    future = client.post("/api/v1/staff/transfers/emergency-refunds", json=body | {"receipt_number": "F1", "incurred_on": "2025-12-01"}, headers=h["bj"])
    assert future.status_code == 422 and future.json()["error"]["code"] == "incurred_on_future"
    ledger_clean(engine)


def test_a_refund_approved_before_a_move_is_paid_into_the_new_account(engine, setting):
    client, clock, a, h = setting
    body = refund_body(a.person_id, 12_000, "JZ20250928009")
    refund_id = client.post("/api/v1/staff/transfers/emergency-refunds", json=body, headers=h["bj"]).json()["refund_id"]
    approve_refund(client, refund_id, h["bj2"])
    transfer_id = client.post("/api/v1/me/transfers", json={"to_region": "310000"}, headers=h["person"]).json()["id"]
    client.post(f"/api/v1/staff/transfers/{transfer_id}/review", json={"approve": True, "note": "审核通过"}, headers=h["bj"])
    assert client.post(f"/api/v1/staff/transfers/{transfer_id}/transfer-out", json={"note": "办理转出"}, headers=h["bj"]).status_code == 200
    in_flight = client.post(f"/api/v1/staff/transfers/emergency-refunds/{refund_id}/pay", json={"note": "返还"}, headers=h["bj"])
    assert in_flight.status_code == 409 and in_flight.json()["error"]["code"] == "no_open_account"
    assert client.post(f"/api/v1/staff/transfers/{transfer_id}/transfer-in",
                       json={"accept_balance": True, "note": "办理转入"}, headers=h["sh"]).status_code == 200
    paid = client.post(f"/api/v1/staff/transfers/emergency-refunds/{refund_id}/pay", json={"note": "返还"}, headers=h["bj"])
    assert paid.status_code == 200, paid.text
    with engine.connect() as conn:
        new_balance = conn.execute(
            select(accounts.c.balance_fen).where(accounts.c.person_id == a.person_id, accounts.c.status == "active")
        ).scalar_one()
    assert new_balance == BALANCE + 12_000
    ledger_clean(engine)
