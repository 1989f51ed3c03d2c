"""Four eyes on every staff action that moves money, on SQLite and PostgreSQL.

One staff member alone can no longer enter and approve an emergency refund, record a death
and confirm it, prepare the heirs' case and approve its payout, upload a person's documents at
the counter and approve that withdrawal, or refuse a balance at transfer-in and approve its
payout. Refund amounts have limits; large refunds need a second supervisor; the database
refuses rows that break the rule; heirs' ID numbers and bank accounts are checked. Done
properly by two or three people, every flow still pays to the fen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from stdnum import luhn

from api_support import (
    payee_body,
    payee_of,
    SAMPLE_PDF,
    Insured,
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
from yibao.security.permissions import StaffScope
from yibao.clock import FixedClock
from yibao.domain.resident_id import ResidentId
from yibao.errors import YibaoError
from yibao.policy.loading import load_book
from yibao.security.staff import StaffRole, add_staff
from yibao.store.models import (
    accounts,
    case_participants,
    death_records,
    emergency_refunds,
    heirs,
    persons,
    staff_regions,
    staff_users,
)
from yibao.transfers import refunds
from yibao.transfers.refund_settings import RefundSettings
from yibao.withdrawals.cases import Actor

BALANCE = 123_456
# 2025-09-30, 10:00 in China: a working day.
NOW = datetime(2025, 9, 30, 2, 0, tzinfo=timezone.utc)
TODAY = date(2025, 9, 30)
STAFF = {"agent1": StaffRole.AGENT, "agent2": StaffRole.AGENT, "super1": StaffRole.SUPERVISOR,
         "super2": StaffRole.SUPERVISOR, "auditor1": StaffRole.AUDITOR, "agent_sh": StaffRole.AGENT}


def card_number(first15: str) -> str:
    """A 16-digit bank card number with a valid Luhn check digit."""
    return first15 + luhn.calc_check_digit(first15)


GOOD_CARD = card_number("622202020011223")
BAD_CARD = GOOD_CARD[:-1] + str((int(GOOD_CARD[-1]) + 1) % 10)


@dataclass
class World:
    engine: object
    client: TestClient
    clock: FixedClock
    a: Insured
    tokens: dict = field(default_factory=dict)

    def staff(self, username: str) -> dict:
        if username not in self.tokens:
            region = "310000" if username.endswith("_sh") else None
            add_staff_user(self.engine, username, STAFF[username], region_code=region)
            self.tokens[username] = staff_headers(self.client, username)
        return self.tokens[username]

    def person(self, who: Insured | None = None) -> dict:
        who = who or self.a
        key = f"person:{who.person_id}"
        if key not in self.tokens:
            self.tokens[key] = person_token(self.client, who)
        return self.tokens[key]

    def post(self, path: str, body: dict, who: str):
        return self.client.post(path, json=body, headers=self.staff(who))

    def put(self, path: str, body: dict, who: str):
        return self.client.put(path, json=body, headers=self.staff(who))


@pytest.fixture
def world(engine):
    clock = FixedClock(NOW)
    with client_for(engine, security(clock)) as client:
        yield World(engine, client, clock, add_insured(engine, 1, balance_fen=BALANCE))


def balance_of(engine, account_id: int) -> int:
    with engine.connect() as conn:
        return conn.execute(select(accounts.c.balance_fen).where(accounts.c.id == account_id)).scalar_one()


def error_of(answer) -> tuple[int, str, str | None]:
    error = answer.json()["error"]
    return answer.status_code, error["code"], error["field"]


# ---------------------------------------------------------------------------- emergency refunds

REFUNDS = "/api/v1/staff/transfers/emergency-refunds"


def enter_refund(world: World, who: str = "agent1", *, amount_fen: int = 35_000, receipt: str = "JZ2025092800017",
                 person: Insured | None = None, incurred_on: str = "2025-09-28"):
    body = document_body("急诊收费票据", SAMPLE_PDF, "票据.pdf", person_id=(person or world.a).person_id, amount_fen=amount_fen,
                         incurred_on=incurred_on, receipt_number=receipt, reason="参保人提交急诊垫付票据")
    body.pop("doc_type")
    return world.post(REFUNDS, body, who)


def refund_decision(world: World, refund_id: int, who: str, approve: bool = True):
    return world.post(f"{REFUNDS}/{refund_id}/decision", {"approve": approve, "note": "票据与病历相符" if approve else "票据不符"}, who)


def pay_refund(world: World, refund_id: int, who: str):
    return world.post(f"{REFUNDS}/{refund_id}/pay", {"note": "返还至个人账户"}, who)


def test_one_agent_alone_cannot_enter_approve_and_pay_a_refund(world):
    entered = enter_refund(world)
    assert entered.status_code == 201, entered.text
    refund = entered.json()
    assert refund["status"] == "entered" and refund["due_on"] == "2025-10-16"
    assert [d["doc_type"] for d in refund["documents"]] == ["急诊收费票据"]
    refund_id = refund["refund_id"]
    early = pay_refund(world, refund_id, "agent1")
    assert error_of(early)[:2] == (409, "refund_not_approved")
    alone = refund_decision(world, refund_id, "agent1")
    assert error_of(alone) == (409, "four_eyes", "refund_id")
    assert "同一人" in alone.json()["error"]["message"]
    assert balance_of(world.engine, world.a.account_id) == BALANCE  # nothing moved

    approved = refund_decision(world, refund_id, "agent2")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    paid = pay_refund(world, refund_id, "agent1")  # paying is the posting of what two people approved
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "paid"
    assert balance_of(world.engine, world.a.account_id) == BALANCE + 35_000
    ledger_clean(world.engine)


def test_a_refund_document_upload_makes_the_uploader_a_preparer(world):
    refund_id = enter_refund(world, "agent1").json()["refund_id"]
    uploaded = world.post(f"{REFUNDS}/{refund_id}/documents",
                          document_body("诊断证明或病历", reason="补充病历"), "agent2")
    assert uploaded.status_code == 201, uploaded.text
    assert [d["doc_type"] for d in uploaded.json()["documents"]] == ["急诊收费票据", "诊断证明或病历"]
    assert error_of(refund_decision(world, refund_id, "agent2"))[:2] == (409, "four_eyes")
    assert refund_decision(world, refund_id, "super1").json()["status"] == "approved"


def test_an_auditor_cannot_approve_a_refund(world):
    refund_id = enter_refund(world).json()["refund_id"]
    assert refund_decision(world, refund_id, "auditor1").status_code == 403


def test_above_the_threshold_a_different_supervisor_gives_the_second_approval(world):
    world.client.app.state.refund_settings = RefundSettings(refund_second_approval_above_fen=30_000)
    refund_id = enter_refund(world, "agent1", amount_fen=35_000).json()["refund_id"]
    first = refund_decision(world, refund_id, "super1")
    assert first.status_code == 200 and first.json()["status"] == "approved_once"
    assert first.json()["needs_second_approval"] is True
    assert error_of(pay_refund(world, refund_id, "agent2"))[:2] == (409, "refund_not_approved")
    assert error_of(refund_decision(world, refund_id, "super1"))[:2] == (409, "four_eyes")
    assert error_of(refund_decision(world, refund_id, "agent1"))[:2] == (409, "four_eyes")
    not_supervisor = refund_decision(world, refund_id, "agent2")
    assert error_of(not_supervisor)[:2] == (403, "supervisor_required")
    second = refund_decision(world, refund_id, "super2")
    assert second.status_code == 200 and second.json()["status"] == "approved"
    view = second.json()
    assert len({view["entered_by"], view["approved_by"], view["second_approved_by"]}) == 3
    assert pay_refund(world, refund_id, "agent2").json()["status"] == "paid"
    assert balance_of(world.engine, world.a.account_id) == BALANCE + 35_000
    ledger_clean(world.engine)


def test_a_refund_above_the_per_receipt_limit_is_refused(world):
    answer = enter_refund(world, amount_fen=10**12)  # the probe's amount
    assert error_of(answer) == (422, "refund_limit_exceeded", "amount_fen")
    world.client.app.state.refund_settings = RefundSettings(refund_max_per_receipt_fen=50_000)
    assert error_of(enter_refund(world, amount_fen=50_001))[:2] == (422, "refund_limit_exceeded")
    assert enter_refund(world, amount_fen=50_000).status_code == 201
    with world.engine.connect() as conn:
        assert conn.execute(select(emergency_refunds.c.amount_fen)).scalars().all() == [50_000]


def test_a_refund_above_the_per_person_year_limit_is_refused(world):
    world.client.app.state.refund_settings = RefundSettings(refund_max_per_person_year_fen=100_000)
    assert enter_refund(world, amount_fen=60_000, receipt="R1").status_code == 201
    over = enter_refund(world, amount_fen=40_001, receipt="R2")
    assert error_of(over) == (422, "refund_limit_exceeded", "amount_fen")
    assert "1,000.00元" in over.json()["error"]["message"]
    assert enter_refund(world, amount_fen=40_000, receipt="R3").status_code == 201
    # A receipt of another year counts against that year; a rejected refund counts for nothing.
    assert enter_refund(world, amount_fen=60_000, receipt="R4", incurred_on="2024-12-30").status_code == 201
    rejected = enter_refund(world, amount_fen=1, receipt="R5")
    assert error_of(rejected)[:2] == (422, "refund_limit_exceeded")
    first = 1
    assert refund_decision(world, first, "agent2", approve=False).json()["status"] == "rejected"
    assert enter_refund(world, amount_fen=60_000, receipt="R6").status_code == 201


def test_the_refund_limits_come_from_policy_data_once_it_gives_one():
    book = load_book()
    limits = refunds.limits(book, RefundSettings(), "110000", TODAY)
    assert limits.per_receipt.source == "setting" and limits.per_receipt.confidence == "unknown"
    assert limits.per_receipt.fen == RefundSettings().refund_max_per_receipt_fen
    assert limits.per_person_year.fen == RefundSettings().refund_max_per_person_year_fen


def test_open_steps_list_refunds_waiting_for_approval_and_payment(world):
    world.client.app.state.refund_settings = RefundSettings(refund_second_approval_above_fen=30_000)
    refund_id = enter_refund(world).json()["refund_id"]

    def step_of() -> list:
        answer = world.client.get("/api/v1/staff/transfers/open-steps", headers=world.staff("agent1") | reason_header("每日期限检查"))
        assert answer.status_code == 200, answer.text
        return [(s["kind"], s["id"], s["step"], s["due_on"]) for s in answer.json()["items"]]

    assert step_of() == [("emergency_refund", refund_id, "approve", "2025-10-16")]
    refund_decision(world, refund_id, "super1")
    assert step_of() == [("emergency_refund", refund_id, "second_approval", "2025-10-16")]
    refund_decision(world, refund_id, "super2")
    assert step_of() == [("emergency_refund", refund_id, "refund", "2025-10-16")]
    pay_refund(world, refund_id, "agent1")
    assert step_of() == []


def test_the_database_refuses_a_refund_approved_by_the_one_who_entered_it(world):
    refund_id = enter_refund(world).json()["refund_id"]
    world.staff("agent2"), world.staff("super1")
    with world.engine.connect() as conn:
        ids = dict(conn.execute(select(staff_users.c.username, staff_users.c.id)).all())
    with pytest.raises(IntegrityError), world.engine.begin() as conn:
        conn.execute(update(emergency_refunds).where(emergency_refunds.c.id == refund_id).values(approved_by=ids["agent1"]))
    with world.engine.begin() as conn:
        conn.execute(update(emergency_refunds).where(emergency_refunds.c.id == refund_id).values(approved_by=ids["agent2"]))
    with pytest.raises(IntegrityError), world.engine.begin() as conn:
        conn.execute(update(emergency_refunds).where(emergency_refunds.c.id == refund_id).values(second_approved_by=ids["agent2"]))
    with pytest.raises(IntegrityError), world.engine.begin() as conn:
        conn.execute(update(emergency_refunds).where(emergency_refunds.c.id == refund_id).values(second_approved_by=ids["agent1"]))
    with pytest.raises(IntegrityError), world.engine.begin() as conn:  # one staff member, one side of a case
        conn.execute(insert(case_participants).values(case_kind="refund", case_id=refund_id, staff_id=ids["agent1"],
                                                      side="approve", parts=["approved"], first_at=NOW, last_at=NOW))


# ---------------------------------------------------------------------------- deaths


def record_death(world: World, who: str = "agent1", person: Insured | None = None, died_on: str = "2025-09-20"):
    body = document_body("死亡证明", SAMPLE_PDF, "死亡证明.pdf", person_id=(person or world.a).person_id, died_on=died_on,
                         certificate_number="J110105202500123", reason="家属到窗口办理")
    body.pop("doc_type")
    return world.post("/api/v1/staff/withdrawals/deaths", body, who)


def death_step(world: World, step: str, who: str, person: Insured | None = None):
    return world.post(f"/api/v1/staff/withdrawals/deaths/{(person or world.a).person_id}/{step}",
                      {"reason": "核对死亡证明原件"}, who)


def died_on_of(engine, person_id: int):
    with engine.connect() as conn:
        return conn.execute(select(persons.c.died_on).where(persons.c.id == person_id)).scalar_one()


def account_status(engine, account_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(select(accounts.c.status).where(accounts.c.id == account_id)).scalar_one()


def test_one_agent_alone_cannot_record_a_death_and_confirm_it(world):
    recorded = record_death(world)
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["status"] == "pending" and recorded.json()["case"] is None
    # Provisionally frozen, nothing else decided yet.
    assert account_status(world.engine, world.a.account_id) == "frozen"
    assert died_on_of(world.engine, world.a.person_id) is None
    alone = death_step(world, "confirm", "agent1")
    assert error_of(alone) == (409, "four_eyes", "person_id")
    assert died_on_of(world.engine, world.a.person_id) is None
    assert error_of(death_step(world, "reject", "agent1"))[:2] == (409, "four_eyes")
    assert death_step(world, "confirm", "auditor1").status_code == 403

    waiting = world.client.get("/api/v1/staff/withdrawals/deaths", headers=world.staff("agent2") | reason_header("待复核的死亡登记"))
    assert [item["person_id"] for item in waiting.json()["items"]] == [world.a.person_id]
    assert world.client.get("/api/v1/staff/withdrawals/deaths", headers=world.staff("agent_sh") | reason_header("待复核的死亡登记")).json()["items"] == []  # another region's
    view = world.client.get(f"/api/v1/staff/withdrawals/deaths/{world.a.person_id}", headers=world.staff("agent2") | reason_header("复核死亡登记"))
    assert view.status_code == 200, view.text
    assert view.json()["status"] == "pending" and view.json()["certificate"]["media_type"] == "application/pdf"
    original = world.client.get(f"/api/v1/staff/withdrawals/deaths/{world.a.person_id}/certificate",
                                headers=world.staff("agent2") | reason_header("复核死亡证明原件"))
    assert original.status_code == 200 and original.content == SAMPLE_PDF

    confirmed = death_step(world, "confirm", "agent2")
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "confirmed"
    case = confirmed.json()["case"]
    assert case["applicant"] == "heir" and case["missing_documents"] == ["继承关系证明"]  # the certificate is on the case
    assert died_on_of(world.engine, world.a.person_id) == date(2025, 9, 20)
    assert account_status(world.engine, world.a.account_id) == "frozen"
    assert world.client.get("/api/v1/staff/withdrawals/deaths", headers=world.staff("agent2") | reason_header("待复核的死亡登记")).json()["items"] == []


def test_a_rejected_death_record_gives_the_account_back_and_changes_nothing_else(world):
    own = world.client.post("/api/v1/me/withdrawals", json={"reason": "emigration", **payee_body(world.a)}, headers=world.person())
    assert own.status_code == 201
    assert record_death(world).status_code == 201
    rejected = death_step(world, "reject", "agent2")
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    assert account_status(world.engine, world.a.account_id) == "active"
    assert died_on_of(world.engine, world.a.person_id) is None
    mine = world.client.get("/api/v1/me/withdrawals", headers=world.person()).json()["items"]
    assert [(item["reason"], item["status"]) for item in mine] == [("emigration", "collecting")]  # still the person's
    assert error_of(death_step(world, "confirm", "super1"))[:2] == (409, "death_not_pending")
    # Recorded again (the right person this time), it waits for a second person again.
    assert record_death(world, "agent2").json()["status"] == "pending"
    assert death_step(world, "confirm", "agent1").json()["status"] == "confirmed"


def test_the_database_refuses_a_death_confirmed_by_the_one_who_recorded_it(world):
    record_death(world)
    world.staff("agent2")
    with world.engine.connect() as conn:
        ids = dict(conn.execute(select(staff_users.c.username, staff_users.c.id)).all())
    with pytest.raises(IntegrityError), world.engine.begin() as conn:
        conn.execute(update(death_records).where(death_records.c.person_id == world.a.person_id)
                     .values(confirmed_by=ids["agent1"], status="confirmed"))
    with pytest.raises(IntegrityError), world.engine.begin() as conn:
        conn.execute(update(death_records).where(death_records.c.person_id == world.a.person_id)
                     .values(rejected_by=ids["agent1"], status="rejected"))
    with world.engine.begin() as conn:
        conn.execute(update(death_records).where(death_records.c.person_id == world.a.person_id)
                     .values(confirmed_by=ids["agent2"], status="confirmed"))


# ---------------------------------------------------------------------------- heirs

HEIR_ID = ResidentId.build("110105", date(1980, 1, 1), 100, today=TODAY).full  # not insured here
SECOND_HEIR_ID = ResidentId.build("110105", date(1982, 5, 1), 101, today=TODAY).full
WRONG_CHECK = HEIR_ID[:-1] + ("1" if HEIR_ID[-1] != "1" else "2")
OTHER_CARD = card_number("621700000000123")


def heir(name: str = "张小明", id_number: str = HEIR_ID, share: str = "1", **bank) -> dict:
    return {"name": name, "id_number": id_number, "share": share,
            "bank_name": "中国工商银行北京分行", "bank_account": GOOD_CARD, "account_holder": name} | bank


def confirmed_heirs_case(world: World, recorder: str = "agent1", confirmer: str = "agent2") -> int:
    assert record_death(world, recorder).status_code == 201
    confirmed = death_step(world, "confirm", confirmer)
    assert confirmed.status_code == 200, confirmed.text
    return confirmed.json()["case"]["id"]


def prepare_heirs_case(world: World, case_id: int, who: str, listed: list[dict]) -> None:
    named = world.put(f"/api/v1/staff/withdrawals/{case_id}/heirs", {"heirs": listed, "reason": "登记继承人"}, who)
    assert named.status_code == 200, named.text
    uploaded = world.post(f"/api/v1/staff/withdrawals/{case_id}/documents", document_body("继承关系证明", reason="家属提交"), who)
    assert uploaded.status_code == 201, uploaded.text
    assert world.post(f"/api/v1/staff/withdrawals/{case_id}/submit", {"reason": "材料齐全"}, who).status_code == 200


def approve_case(world: World, case_id: int, who: str):
    return world.post(f"/api/v1/staff/withdrawals/{case_id}/decision", {"approve": True, "note": "材料齐全，同意"}, who)


def test_whoever_prepared_the_heirs_case_cannot_approve_it(world):
    case_id = confirmed_heirs_case(world, "agent1", "agent2")
    prepare_heirs_case(world, case_id, "super1", [heir()])
    assert error_of(approve_case(world, case_id, "super1")) == (409, "four_eyes", "case_id")
    assert error_of(approve_case(world, case_id, "agent1"))[:2] == (409, "four_eyes")  # recorded the death
    assert balance_of(world.engine, world.a.account_id) == BALANCE
    paid = approve_case(world, case_id, "agent2")  # confirmed the death, prepared nothing of the payout
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "paid" and paid.json()["paid_fen"] == BALANCE
    ledger_clean(world.engine)


def test_heirs_with_an_invalid_id_or_a_bad_bank_account_are_refused_naming_the_field(world):
    case_id = confirmed_heirs_case(world)

    def name(listed: list[dict]) -> tuple[int, str, str | None]:
        return error_of(world.put(f"/api/v1/staff/withdrawals/{case_id}/heirs", {"heirs": listed, "reason": "登记"}, "agent1"))

    assert name([heir(id_number=WRONG_CHECK)]) == (422, "id_check_char", "heirs.0.id_number")
    assert name([heir(share="1/2"), heir("李四", SECOND_HEIR_ID, "1/2", bank_account=BAD_CARD, account_holder="李四")])[1:] == (
        "bank_account_checksum", "heirs.1.bank_account")
    assert name([heir(bank_account="6222-0202-abc")])[1:] == ("bank_account_format", "heirs.0.bank_account")
    assert name([heir(bank_account="12345678901")])[1:] == ("bank_account_format", "heirs.0.bank_account")
    assert name([heir(bank_account="1" * 31)])[1:] == ("bank_account_format", "heirs.0.bank_account")
    assert name([heir(account_holder="王五")])[1:] == ("account_holder_mismatch", "heirs.0.account_holder")
    assert name([heir(bank_name="")])[1:] == ("too_short", "heirs.0.bank_name")  # the schema says: not empty
    with world.engine.connect() as conn:
        assert conn.execute(select(heirs.c.id)).all() == []
    # A 12-30 digit account that is not a card number has no check digit to verify.
    named = world.put(f"/api/v1/staff/withdrawals/{case_id}/heirs",
                      {"heirs": [heir(bank_account="0200 0045 0902 1234 567 89")], "reason": "登记"}, "agent1")
    assert named.status_code == 200, named.text
    listed = named.json()["heirs"][0]
    assert listed["bank_account_masked"] == "0200****6789" and "0200004509" not in named.text


def test_heirs_are_shown_as_insured_here_or_not_and_paid_to_their_masked_bank_account(world):
    relative = add_insured(world.engine, 2, balance_fen=100)
    case_id = confirmed_heirs_case(world)
    listed = [heir(share="1/3"), heir("李四", relative.id_number, "2/3", bank_account=OTHER_CARD, account_holder="李四")]
    prepare_heirs_case(world, case_id, "agent1", listed)
    paid = approve_case(world, case_id, "super1")
    assert paid.status_code == 200, paid.text
    shown = paid.json()["case"]["heirs"]
    assert [(h["insured_here"], h["paid_fen"]) for h in shown] == [(False, 41_152), (True, 82_304)]
    assert shown[1]["bank_account_masked"] == OTHER_CARD[:4] + "****" + OTHER_CARD[-4:]
    from yibao.store.models import ledger_transactions

    with world.engine.connect() as conn:
        stored = conn.execute(select(heirs.c.insured_here, heirs.c.bank_account, ledger_transactions.c.memo)
                              .join(ledger_transactions, ledger_transactions.c.id == heirs.c.transaction_id)
                              .order_by(heirs.c.id)).all()
    assert [row.insured_here for row in stored] == [False, True]
    assert stored[0].bank_account == GOOD_CARD  # the payout needs the whole number; views and memos mask it
    assert GOOD_CARD[:4] + "****" + GOOD_CARD[-4:] in stored[0].memo and GOOD_CARD not in stored[0].memo
    assert balance_of(world.engine, world.a.account_id) == 0
    ledger_clean(world.engine)


# ---------------------------------------------------------------------------- a person's withdrawal at the counter


def test_whoever_uploads_a_persons_documents_at_the_counter_cannot_approve_that_withdrawal(world):
    case_id = world.client.post("/api/v1/me/withdrawals", json={"reason": "emigration", **payee_body(world.a)}, headers=world.person()).json()["id"]
    for doc_type in ("出国（境）定居证明", "身份证件"):
        uploaded = world.post(f"/api/v1/staff/withdrawals/{case_id}/documents", document_body(doc_type, reason="窗口代传"), "agent1")
        assert uploaded.status_code == 201, uploaded.text
    assert world.client.post(f"/api/v1/me/withdrawals/{case_id}/submit", headers=world.person()).status_code == 200
    assert error_of(approve_case(world, case_id, "agent1")) == (409, "four_eyes", "case_id")
    assert balance_of(world.engine, world.a.account_id) == BALANCE
    paid = approve_case(world, case_id, "agent2")
    assert paid.status_code == 200 and paid.json()["paid_fen"] == BALANCE
    ledger_clean(world.engine)


# ---------------------------------------------------------------------------- a balance refused at transfer-in


def test_whoever_refused_the_balance_at_transfer_in_cannot_approve_its_payout(world):
    h = world.person()
    transfer_id = world.client.post("/api/v1/me/transfers", json={"to_region": "310000"}, headers=h).json()["id"]
    assert world.post(f"/api/v1/staff/transfers/{transfer_id}/review", {"approve": True, "note": "通过"}, "agent1").status_code == 200
    assert world.post(f"/api/v1/staff/transfers/{transfer_id}/transfer-out", {"note": "转出"}, "agent1").status_code == 200
    refused = world.post(f"/api/v1/staff/transfers/{transfer_id}/transfer-in",
                         {"accept_balance": False, "note": "本地不接收个人账户余额"}, "agent_sh")
    assert refused.status_code == 200, refused.text
    case_id = refused.json()["withdrawal_case_id"]
    offered = world.client.get("/api/v1/me/withdrawals", headers=h).json()["items"][0]
    for doc_type in offered["policy"]["required_documents"]:
        world.client.post(f"/api/v1/me/withdrawals/{case_id}/documents", json=document_body(doc_type), headers=h)
    assert world.client.put(f"/api/v1/me/withdrawals/{case_id}/bank-account", json=payee_body(world.a), headers=h).status_code == 200
    assert world.client.post(f"/api/v1/me/withdrawals/{case_id}/submit", headers=h).status_code == 200
    # The refused balance is paid out by the old region; here one person works for both regions.
    with world.engine.begin() as conn:
        conn.execute(delete(staff_regions).where(staff_regions.c.staff_id == select(staff_users.c.id).where(staff_users.c.username == "agent_sh").scalar_subquery()))
    assert error_of(approve_case(world, case_id, "agent_sh")) == (409, "four_eyes", "case_id")
    paid = approve_case(world, case_id, "agent1")
    assert paid.status_code == 200 and paid.json()["paid_fen"] == BALANCE
    ledger_clean(world.engine)


# ---------------------------------------------------------------------------- any sequence of actions (property)

def _staff_member(engine, username: str, role: StaffRole) -> Actor:
    with engine.begin() as conn:
        found = conn.execute(select(staff_users.c.id).where(staff_users.c.username == username)).scalar()
        if found is None:
            found = add_staff(conn, username=username, name="工作人员", role=role, password="Counter2025x")
    return Actor("staff", found, StaffScope(None), role.value)


REFUND_ACTIONS = st.lists(
    st.tuples(st.sampled_from(["upload", "approve", "reject", "pay"]), st.sampled_from(["agent1", "agent2", "super1"])),
    max_size=8,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(enterer=st.sampled_from(["agent1", "agent2", "super1"]), actions=REFUND_ACTIONS, threshold=st.sampled_from([0, 10**9]))
def test_no_sequence_of_actions_lets_one_person_both_prepare_and_approve_a_refund(engine, enterer, actions, threshold):
    """Any actions, in any order, by three staff members on one refund: whoever entered it or
    uploaded to it never approves it, nobody approves twice, and a paid refund had its approvals."""
    book, limits = load_book(), RefundSettings(refund_second_approval_above_fen=threshold)
    staff = {username: _staff_member(engine, username, role)
             for username, role in (("agent1", StaffRole.AGENT), ("agent2", StaffRole.AGENT), ("super1", StaffRole.SUPERVISOR))}
    with engine.begin() as conn:  # one person for every example: the engine outlives them
        person = conn.execute(select(persons.c.id)).scalars().first()
    person = person or add_insured(engine, 1).person_id
    with engine.begin() as conn:
        receipt = f"P{len(conn.execute(select(emergency_refunds.c.id)).all())}"
        refund_id = refunds.enter(conn, book, limits, person_id=person, amount_fen=100, incurred_on=TODAY,
                                  receipt_number=receipt, file_name="r.pdf", content=SAMPLE_PDF, staff=staff[enterer],
                                  today=TODAY, now=NOW).id
    for action, who in actions:
        try:
            with engine.begin() as conn:
                if action == "upload":
                    refunds.add_document(conn, refund_id, staff[who], doc_type="其他材料", file_name="x.pdf",
                                         content=SAMPLE_PDF, now=NOW)
                elif action in ("approve", "reject"):
                    refunds.decide(conn, refund_id, staff[who], approve=action == "approve", note="审核",
                                   settings=limits, today=TODAY, now=NOW)
                else:
                    refunds.pay(conn, refund_id, staff[who], today=TODAY)
        except YibaoError:
            pass
    with engine.connect() as conn:
        row = conn.execute(select(emergency_refunds).where(emergency_refunds.c.id == refund_id)).mappings().one()
        sides = conn.execute(select(case_participants.c.staff_id, case_participants.c.side)
                             .where(case_participants.c.case_kind == "refund", case_participants.c.case_id == refund_id)).all()
    preparers = {staff_id for staff_id, side in sides if side == "prepare"}
    approvers = {staff_id for staff_id, side in sides if side == "approve"}
    assert not preparers & approvers
    assert row["entered_by"] in preparers
    for approver in (row["approved_by"], row["second_approved_by"]):
        assert approver is None or (approver in approvers and approver not in preparers)
    if row["status"] == "paid":
        assert row["approved_by"] is not None and row["approved_by"] != row["entered_by"]
        if threshold == 0:
            assert row["second_approved_by"] not in (None, row["approved_by"], row["entered_by"])


# ---------------------------------------------------------------------------- the migration and rows already there


def _migrate(engine, revision: str, *, down: bool = False) -> None:
    from alembic import command

    from yibao.store.migrate import alembic_config

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def test_migration_puts_refunds_one_person_approved_back_for_a_second_persons_approval(engine):
    from sqlalchemy import text

    from yibao.withdrawals import cases

    a = add_insured(engine, 1)
    add_staff_user(engine, "agent1", StaffRole.AGENT)
    with engine.begin() as conn:  # an open case whose documents staff uploaded at the counter
        staff_id = conn.execute(select(staff_users.c.id)).scalar_one()
        case_id = cases.apply(conn, load_book(), person_id=a.person_id, reason="emigration", on=TODAY, payee=payee_of(a))
        cases.add_document(conn, cases.case_row(conn, case_id), doc_type="身份证件", file_name="a.pdf", content=SAMPLE_PDF,
                           actor=Actor("staff", staff_id), at=NOW)
    _migrate(engine, "0010", down=True)
    with engine.begin() as conn:
        staff_id = conn.execute(text("SELECT id FROM staff_users")).scalar_one()
        for receipt, refunded_on in (("OPEN", None), ("PAID", TODAY)):
            conn.execute(text(
                "INSERT INTO emergency_refunds (person_id, account_id, amount_fen, incurred_on, receipt_number, approved_on,"
                " approved_by, due_on, refunded_on) VALUES (:p, :a, 100, :d, :r, :d, :s, :d, :paid)"
            ), {"p": a.person_id, "a": a.account_id, "d": TODAY, "r": receipt, "s": staff_id, "paid": refunded_on})
    _migrate(engine, "head")
    with engine.connect() as conn:
        rows = {row.receipt_number: row for row in conn.execute(select(emergency_refunds))}
        sides = conn.execute(select(case_participants.c.case_kind, case_participants.c.case_id, case_participants.c.staff_id,
                                    case_participants.c.side, case_participants.c.parts)
                             .order_by(case_participants.c.case_kind)).all()
    assert (rows["OPEN"].status, rows["OPEN"].entered_by, rows["OPEN"].approved_by) == ("entered", staff_id, None)
    assert (rows["PAID"].status, rows["PAID"].entered_by, rows["PAID"].approved_by) == ("paid", None, staff_id)
    assert [tuple(side) for side in sides] == [
        ("refund", rows["OPEN"].id, staff_id, "prepare", ["entered"]),
        ("withdrawal", case_id, staff_id, "prepare", ["uploaded_document"]),
    ]
    _migrate(engine, "0010", down=True)  # and back: the open refund is the one person's approval again
    _migrate(engine, "head")
