"""Inheritance through the API on SQLite and PostgreSQL: a death recorded by staff, heirs with
shares, each heir's payout a posting, the parts adding up to the balance to the fen."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from stdnum import luhn

from api_support import SAMPLE_PDF, START, add_insured, add_staff_user, client_for, document_body, payee_body, person_token, security, staff_headers
from yibao.clock import FixedClock
from yibao.credit.reasons import Skip
from yibao.credit.run import run_month
from yibao.domain.resident_id import ResidentId
from yibao.errors import InvalidInput
from yibao.ledger.check import check_ledger
from yibao.ledger.kinds import TxKind
from yibao.security.staff import StaffRole
from yibao.store.models import accounts, death_records, heirs, ledger_transactions, persons, postings
from yibao.withdrawals import shares

BALANCE = 123_456
HEIR_IDS = [ResidentId.build("110105", date(1980 + n, 1, 1 + n), 100 + n, today=date(2025, 6, 15)) for n in range(3)]
CARDS = [first15 + luhn.calc_check_digit(first15) for first15 in ("622202020011220", "622202020011221", "622202020011222")]
HEIRS = [
    {"name": name, "id_number": heir_id.full, "share": share, "bank_name": "中国工商银行", "bank_account": card,
     "account_holder": name}
    for name, heir_id, share, card in zip(["张小明", "张小红", "张小刚"], HEIR_IDS, ["1/2", "1/3", "1/6"], CARDS)
]


# ---------------------------------------------------------------------------- shares (property-tested)


@st.composite
def weights_and_total(draw):
    weights = draw(st.lists(st.integers(1, 50), min_size=1, max_size=12))
    whole = sum(weights)
    return [Fraction(weight, whole) for weight in weights], draw(st.integers(0, 10**12))


@settings(max_examples=300, deadline=None)
@given(weights_and_total())
def test_largest_remainder_parts_add_up_to_the_balance_and_stay_within_a_fen(case):
    fractions, total = case
    parts = shares.split(total, fractions)
    assert sum(parts) == total
    for part, share in zip(parts, fractions):
        assert 0 <= part - share * total < 1 or 0 <= share * total - part < 1
    # Largest remainder: whoever got the extra fen lost at least as much in rounding down as anyone who did not.
    exact = [share * total for share in fractions]
    floors = [value.numerator // value.denominator for value in exact]
    bumped = [i for i, (part, floor) in enumerate(zip(parts, floors)) if part > floor]
    kept = [i for i in range(len(parts)) if i not in bumped]
    if bumped and kept:
        assert min(exact[i] - floors[i] for i in bumped) >= max(exact[i] - floors[i] for i in kept)


def test_split_examples_and_share_parsing():
    assert shares.split(100, [Fraction(1, 3)] * 3) == [34, 33, 33]
    assert shares.split(2, [Fraction(1, 3)] * 3) == [1, 1, 0]
    assert shares.split(BALANCE, [Fraction(1, 2), Fraction(1, 3), Fraction(1, 6)]) == [61_728, 41_152, 20_576]
    assert shares.parse_share(" 2 / 4 ") == Fraction(1, 2)
    assert shares.parse_share("0.25") == Fraction(1, 4) and shares.parse_share(".5") == Fraction(1, 2)
    assert shares.parse_share("1.0") == 1
    for bad in ("0", "3/2", "1/0", "half", "-1/2", "1/1001", "0.0", "1.5", "0.3333", "."):
        with pytest.raises(InvalidInput):
            shares.parse_share(bad)
    with pytest.raises(InvalidInput) as refused:
        shares.check_whole([Fraction(1, 2), Fraction(1, 3)])
    assert refused.value.code == "shares_not_whole" and "5/6" in refused.value.message


# ---------------------------------------------------------------------------- the workflow


@pytest.fixture
def counter(engine):
    """The counter's client signed in as agent1, who prepares; ``client.second`` are agent2's
    headers: agent2 confirms deaths and approves payouts (four eyes)."""
    clock = FixedClock(START)
    with client_for(engine, security(clock)) as client:
        add_staff_user(engine, "agent1", StaffRole.AGENT)
        add_staff_user(engine, "agent2", StaffRole.AGENT)
        client.headers.update(staff_headers(client, "agent1"))
        client.second = staff_headers(client, "agent2")
        yield client


def record_death(client, person_id: int, died_on: str = "2025-05-20", content: bytes = SAMPLE_PDF, *, confirm: bool = True):
    """Record a death (agent1) and, unless told not to, have agent2 confirm it; the last answer."""
    body = document_body("死亡证明", content, "死亡证明.pdf", person_id=person_id, died_on=died_on,
                         certificate_number="J110105202500123", reason="家属到窗口办理继承")
    body.pop("doc_type")
    recorded = client.post("/api/v1/staff/withdrawals/deaths", json=body)
    if not confirm or recorded.status_code != 201:
        return recorded
    return client.post(f"/api/v1/staff/withdrawals/deaths/{person_id}/confirm", json={"reason": "核对死亡证明原件"},
                       headers=client.second)


def test_death_heirs_and_payout_to_the_fen(engine, counter):
    a = add_insured(engine, 1, balance_fen=BALANCE)
    recorded = record_death(counter, a.person_id)
    assert recorded.status_code == 200, recorded.text
    case = recorded.json()["case"]
    assert case["applicant"] == "heir" and case["reason"] == "death" and case["status"] == "collecting"
    assert case["missing_documents"] == ["继承关系证明"]  # the certificate came with the death record
    with engine.connect() as conn:
        assert conn.execute(select(persons.c.died_on).where(persons.c.id == a.person_id)).scalar_one() == date(2025, 5, 20)
        assert conn.execute(select(accounts.c.status).where(accounts.c.id == a.account_id)).scalar_one() == "frozen"
        assert conn.execute(select(death_records.c.certificate_number)).scalar_one() == "J110105202500123"

    case_id = case["id"]
    assert counter.post(f"/api/v1/staff/withdrawals/{case_id}/submit", json={"reason": "提交"}).json()["error"]["code"] == "documents_missing"
    uploaded = counter.post(f"/api/v1/staff/withdrawals/{case_id}/documents", json=document_body("继承关系证明", reason="家属提交"))
    assert uploaded.status_code == 201, uploaded.text
    no_heirs = counter.post(f"/api/v1/staff/withdrawals/{case_id}/submit", json={"reason": "提交"})
    assert no_heirs.status_code == 422 and no_heirs.json()["error"]["code"] == "heirs_missing"
    listed = counter.put(f"/api/v1/staff/withdrawals/{case_id}/heirs", json={"heirs": HEIRS, "reason": "登记继承人"})
    assert listed.status_code == 200, listed.text
    assert [heir["share"] for heir in listed.json()["heirs"]] == ["1/2", "1/3", "1/6"]
    assert listed.json()["heirs"][0]["id_number_masked"] == HEIR_IDS[0].masked
    assert counter.post(f"/api/v1/staff/withdrawals/{case_id}/submit", json={"reason": "提交"}).status_code == 200

    paid = counter.post(f"/api/v1/staff/withdrawals/{case_id}/decision", json={"approve": True, "note": "继承材料齐全"},
                        headers=counter.second)
    assert paid.status_code == 200, paid.text
    assert paid.json()["paid_fen"] == BALANCE
    assert [heir["paid_fen"] for heir in paid.json()["case"]["heirs"]] == [61_728, 41_152, 20_576]
    with engine.connect() as conn:
        per_heir = conn.execute(
            select(postings.c.amount_fen, ledger_transactions.c.kind, ledger_transactions.c.reference)
            .join(ledger_transactions, ledger_transactions.c.id == postings.c.transaction_id)
            .join(heirs, heirs.c.transaction_id == ledger_transactions.c.id)
            .where(postings.c.account_id == a.account_id)
            .order_by(heirs.c.id)
        ).all()
        account = conn.execute(select(accounts).where(accounts.c.id == a.account_id)).mappings().one()
        assert check_ledger(conn).ok
    assert [row.amount_fen for row in per_heir] == [-61_728, -41_152, -20_576]
    assert {row.kind for row in per_heir} == {TxKind.WITHDRAWAL.value} and {row.reference for row in per_heir} == {f"WD{case_id}"}
    assert account["status"] == "closed" and account["balance_fen"] == 0


def test_shares_not_summing_to_one_are_refused(engine, counter):
    a = add_insured(engine, 1)
    case_id = record_death(counter, a.person_id).json()["case"]["id"]
    short = [dict(HEIRS[0]), dict(HEIRS[1])]
    answer = counter.put(f"/api/v1/staff/withdrawals/{case_id}/heirs", json={"heirs": short, "reason": "登记继承人"})
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "shares_not_whole"
    over = [dict(HEIRS[0], share="2/3"), dict(HEIRS[1], share="1/2")]
    assert counter.put(f"/api/v1/staff/withdrawals/{case_id}/heirs", json={"heirs": over, "reason": "登记"}).json()["error"]["code"] == "shares_not_whole"
    twice = [dict(HEIRS[0]), dict(HEIRS[0])]
    assert counter.put(f"/api/v1/staff/withdrawals/{case_id}/heirs", json={"heirs": twice, "reason": "登记"}).json()["error"]["code"] == "heir_duplicate"
    deceased = [dict(HEIRS[0], id_number=a.id_number, share="1")]
    assert counter.put(f"/api/v1/staff/withdrawals/{case_id}/heirs", json={"heirs": deceased, "reason": "登记"}).json()["error"]["code"] == "heir_duplicate"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(heirs)).scalar_one() == 0


def test_death_refusals_change_nothing(engine, counter):
    a = add_insured(engine, 1)
    future = record_death(counter, a.person_id, died_on="2025-07-01", confirm=False)
    assert future.status_code == 422 and future.json()["error"]["code"] == "died_on_range"
    text_file = record_death(counter, a.person_id, content=b"just some text", confirm=False)
    assert text_file.status_code == 422 and text_file.json()["error"]["code"] == "document_type"
    with engine.connect() as conn:
        assert conn.execute(select(persons.c.died_on).where(persons.c.id == a.person_id)).scalar_one() is None
        assert conn.execute(select(accounts.c.status).where(accounts.c.id == a.account_id)).scalar_one() == "active"
    assert record_death(counter, a.person_id, confirm=False).status_code == 201
    pending = record_death(counter, a.person_id, confirm=False)
    assert pending.status_code == 409 and pending.json()["error"]["code"] == "death_already_recorded"
    confirmed = counter.post(f"/api/v1/staff/withdrawals/deaths/{a.person_id}/confirm", json={"reason": "核对原件"},
                             headers=counter.second)
    assert confirmed.status_code == 200, confirmed.text
    again = record_death(counter, a.person_id, confirm=False)
    assert again.status_code == 409 and again.json()["error"]["code"] == "death_already_recorded"
    assert record_death(counter, 999_999, confirm=False).status_code == 404


def test_a_persons_own_open_application_ends_at_death(engine, counter):
    a = add_insured(engine, 1)
    own = counter.post("/api/v1/me/withdrawals", json={"reason": "emigration", **payee_body(a)}, headers=person_token(counter, a))
    assert own.status_code == 201
    recorded = record_death(counter, a.person_id)
    assert recorded.status_code == 200 and recorded.json()["case"]["applicant"] == "heir"
    mine = counter.get("/api/v1/me/withdrawals", headers=person_token(counter, a)).json()["items"]
    statuses = {item["applicant"]: item["status"] for item in mine}
    assert statuses == {"person": "rejected"}  # the heirs' case is not the person's own to see


def test_credits_stop_from_the_month_after_death(engine, counter):
    a = add_insured(engine, 1)
    record_death(counter, a.person_id, died_on="2025-05-20")
    may = run_month(engine, date(2025, 5, 1))
    assert may.credited == 1  # died during May: May is still credited, into the frozen account
    june = run_month(engine, date(2025, 6, 1))
    assert june.credited == 0 and june.skipped[Skip.DIED] == 1
    assert june.as_dict()["skipped_reasons"]["died"] == "参保人在本月之前已身故"
    with engine.connect() as conn:
        assert check_ledger(conn).ok
