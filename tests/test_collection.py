"""Paying contributions online, on SQLite and PostgreSQL: a resident's premium through the
gateway simulator (order, cashier, signed notice, posting, receipt), a repeated notice and a
second payment, an expired order, a refund, a guardian paying for a minor, a gap year's waiting
period, a flexible employee's months, a forged notice, and the resume step after a crash
between the notice and the posting. ``yibao db check`` is clean after each."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import func, insert, select

from api_support import add_staff_user
from collection_support import IN_WINDOW, Payments, add_insured, add_minor, add_resident, make_flexible
from ledger_support import ledger_clean
from workbench_support import audit_of, post_form, workbench_sign_in
from yibao.collection import orders, resume
from yibao.ledger.kinds import TxKind
from yibao.security.staff import StaffRole
from yibao.store.models import (
    accounts,
    audit_log,
    contribution_orders,
    contributions,
    gateway_notices,
    ledger_transactions,
    monthly_credits,
    notifications,
)


@pytest.fixture
def pay(engine, tmp_path):
    payments = Payments(engine, tmp_path)
    yield payments
    payments.close()


def order_of(engine, order_no: str) -> orders.Order:
    with engine.connect() as conn:
        return orders.find(conn, order_no)


def count(engine, table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def test_resident_pays_the_year_and_gets_a_receipt(engine, pay):
    resident = add_resident(engine, 1)
    page = pay.as_(resident).get("/portal/pay").text
    assert "2026年度" in page and "410.00元" in page and "演示用虚构标准" in page
    assert "2025年9月1日至2026年2月28日" in page and "2026年1月1日起享受待遇" in page

    order_no = pay.order_premium(resident, resident.person_id)
    assert pay.order_premium(resident, resident.person_id) == order_no  # one order per person and year
    order_page = pay.as_(resident).get(f"/portal/pay/orders/{order_no}").text
    assert "待支付" in order_page and f"/gateway-sim/pay/{order_no}" in order_page and "<svg" in order_page

    pay.pay_at_cashier(resident, order_no)
    assert order_of(engine, order_no).status is orders.Status.OPEN  # the notice has not arrived yet
    pay.deliver_all()
    order = order_of(engine, order_no)
    assert order.status is orders.Status.POSTED and order.amount_fen == 41_000
    assert order.benefit_starts_on == date(2026, 1, 1) and order.waiting_months == 0

    # The gateway sends the same notice again: acknowledged, nothing changes.
    trade_no = order.trade_no
    assert pay.platform.deliver(trade_no)
    assert count(engine, gateway_notices) == 1
    assert count(engine, ledger_transactions, ledger_transactions.c.kind == TxKind.RESIDENT_PREMIUM.value) == 1

    shown = pay.as_(resident).get(f"/portal/pay/orders/{order_no}").text
    assert "缴费成功" in shown and "2026年1月1日" in shown
    pdf = pay.as_(resident).get(f"/portal/pay/orders/{order_no}/receipt.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "城乡居民基本医疗保险个人缴费凭证" in text and "410.00元" in text and "肆佰壹拾元整" in text
    assert resident.id_number not in text and trade_no in text
    assert count(engine, notifications, notifications.c.person_id == resident.person_id) == 1
    assert "已缴费" in pay.as_(resident).get("/portal/pay").text
    ledger_clean(engine)


def test_a_second_payment_of_the_same_order_goes_back(engine, pay):
    resident = add_resident(engine, 1)
    order_no = pay.order_premium(resident, resident.person_id)
    pay.pay_at_cashier(resident, order_no)
    pay.deliver_all()
    pay.pay_at_cashier(resident, order_no, action="pay_again")
    pay.deliver_all()
    trades = pay.platform.trades(order_no)
    assert len(trades) == 2
    assert [pay.platform.refunded(trade.trade_no) for trade in trades] == [False, True]
    assert count(engine, gateway_notices, gateway_notices.c.outcome == "refunded") == 1
    assert count(engine, ledger_transactions, ledger_transactions.c.kind == TxKind.RESIDENT_PREMIUM.value) == 1
    ledger_clean(engine)


def test_an_unpaid_order_expires_and_the_gateway_takes_no_payment(engine, pay):
    resident = add_resident(engine, 1)
    order_no = pay.order_premium(resident, resident.person_id)
    pay.clock.at += timedelta(minutes=11)
    page = pay.as_(resident).get(f"/portal/pay/orders/{order_no}").text
    assert "已过期" in page and "没有扣款" in page
    refused = pay.as_(resident).post(f"/gateway-sim/pay/{order_no}", data={"action": "pay"})
    assert refused.status_code == 409 and "已关闭" in refused.text
    again = pay.order_premium(resident, resident.person_id)
    assert again != order_no and order_of(engine, again).status is orders.Status.OPEN
    ledger_clean(engine)


def test_a_paid_premium_is_refunded_before_coverage_starts(engine, pay):
    resident = add_resident(engine, 1)
    order_no = pay.order_premium(resident, resident.person_id)
    pay.pay_at_cashier(resident, order_no)
    pay.deliver_all()
    missing = pay.form(resident, f"/portal/pay/orders/{order_no}/refund", page=f"/portal/pay/orders/{order_no}", reason="")
    assert missing.status_code == 422 and "请填写退费原因" in missing.text
    too_long = pay.form(resident, f"/portal/pay/orders/{order_no}/refund", page=f"/portal/pay/orders/{order_no}",
                        reason="原" * 201)
    assert too_long.status_code == 422 and order_of(engine, order_no).status is orders.Status.POSTED
    answer = pay.form(resident, f"/portal/pay/orders/{order_no}/refund", page=f"/portal/pay/orders/{order_no}",
                      reason="已在外地参保")
    assert answer.status_code == 303
    order = order_of(engine, order_no)
    assert order.status is orders.Status.REFUNDED and pay.platform.refunded(order.trade_no)
    assert "已退款" in pay.as_(resident).get(f"/portal/pay/orders/{order_no}").text
    assert pay.order_premium(resident, resident.person_id) != order_no  # the year may be paid again
    with engine.connect() as conn:
        actions = set(conn.execute(select(audit_log.c.action).where(audit_log.c.subject_person_id == resident.person_id)).scalars())
    assert {"collection.order_created", "collection.posted", "collection.refunded"} <= actions
    ledger_clean(engine)


def test_a_guardian_pays_for_a_minor_and_nobody_else_may(engine, pay):
    guardian, stranger = add_insured(engine, 1), add_insured(engine, 2)
    minor = add_minor(engine, 3, guardian)
    page = pay.as_(guardian).get(f"/portal/pay?person={minor.person_id}").text
    assert "被监护人" in page and "410.00元" in page
    order_no = pay.order_premium(guardian, minor.person_id)
    pay.pay_at_cashier(guardian, order_no)
    pay.deliver_all()
    order = order_of(engine, order_no)
    assert order.payer_role == "guardian" and order.person_id == minor.person_id and order.status is orders.Status.POSTED
    refused = pay.form(stranger, "/portal/pay/premium", person_id=str(minor.person_id), year="2026")
    assert refused.status_code == 404
    assert pay.as_(stranger).get(f"/portal/pay/orders/{order_no}").status_code == 404
    assert pay.as_(minor).get(f"/portal/pay/orders/{order_no}").status_code == 200  # the insured sees it
    ledger_clean(engine)


def test_a_gap_in_the_record_brings_a_waiting_period(engine, pay):
    resident = add_resident(engine, 1)

    def paid_online(year: int, status: str) -> None:
        with engine.begin() as conn:  # an earlier year's order, as this platform recorded it
            conn.execute(insert(contribution_orders).values(
                order_no=f"{year - 1}11010000000000{len(status):02d}01", purpose="resident_premium",
                person_id=resident.person_id, payer_person_id=resident.person_id, payer_role="self", region_code="110000",
                live_key=f"premium:{year}" if status == "posted" else None, funding_year=year, amount_fen=38_000,
                rule_ids=[], gateway="simulator", channel="portal", status=status, created_at=IN_WINDOW, expires_at=IN_WINDOW))

    paid_online(2022, "refunded")  # a refunded year is not a paid one: the register still covers every year
    assert "按时缴费，2026年1月1日起享受待遇" in pay.as_(resident).get("/portal/pay").text
    paid_online(2023, "posted")  # 2023 paid here, then nothing for 2024 and 2025: a gap of two years
    assert "等待期5个月（固定3个月+断缴2年各1个月）" in pay.as_(resident).get("/portal/pay").text
    order_no = pay.order_premium(resident, resident.person_id)
    pay.pay_at_cashier(resident, order_no)
    pay.deliver_all()
    order = order_of(engine, order_no)
    assert order.waiting_months == 5 and order.benefit_starts_on > date(2026, 1, 1)
    assert "等待期5个月" in pay.as_(resident).get(f"/portal/pay/orders/{order_no}").text


def test_a_flexible_employee_pays_months_and_the_account_is_credited(engine, pay):
    person = add_insured(engine, 1, balance_fen=0)
    make_flexible(engine, person)
    page = pay.as_(person).get("/portal/pay").text
    assert "灵活就业人员医保缴费" in page and "100%档" in page and "补缴后多久恢复待遇" in page
    answer = pay.form(person, "/portal/pay/flexible", tier="100", months=["2025-10", "2025-11"])
    assert answer.status_code == 303, answer.text
    order_no = answer.headers["location"].rsplit("/", 1)[1]
    assert "灵活就业人员医保缴费" in pay.as_(person).get(answer.headers["location"]).text
    pay.pay_at_cashier(person, order_no)
    pay.deliver_all()
    order = order_of(engine, order_no)
    assert order.status is orders.Status.POSTED and len(order.lines) == 2
    with engine.connect() as conn:
        rows = conn.execute(select(contributions).where(contributions.c.person_id == person.person_id,
                                                        contributions.c.flexible.is_(True))).mappings().all()
        credited = conn.execute(select(monthly_credits).where(monthly_credits.c.account_id == person.account_id)).mappings().all()
        balance = conn.execute(select(accounts.c.balance_fen).where(accounts.c.id == person.account_id)).scalar_one()
    assert sorted(row["month"] for row in rows) == [date(2025, 10, 1), date(2025, 11, 1)]
    assert [row["is_makeup"] for row in sorted(rows, key=lambda row: row["month"])] == [True, False]
    assert len(credited) == 2 and balance == sum(line["account_fen"] for line in order.lines)
    bad = pay.form(person, "/portal/pay/flexible", tier="100", months=["2020-01"])
    assert bad.status_code == 422 and "这些月份现在不能缴费" in bad.text
    ledger_clean(engine)


def test_a_forged_notice_is_refused_and_records_nothing(engine, pay):
    resident = add_resident(engine, 1)
    order_no = pay.order_premium(resident, resident.person_id)
    pay.pay_at_cashier(resident, order_no)
    url, headers, body = pay.platform.notice(pay.platform.trades(order_no)[0].trade_no)
    forged = pay._notice_client.post("/api/v1/gateway/notify/simulator", content=body.replace(b"41000", b"1"), headers=headers)
    assert forged.status_code == 401 and count(engine, gateway_notices) == 0


def test_a_crash_between_notice_and_posting_is_finished_once(engine, pay):
    resident = add_resident(engine, 1)
    order_no = pay.order_premium(resident, resident.person_id)
    pay.pay_at_cashier(resident, order_no)
    trade = pay.platform.trades(order_no)[0]
    with engine.begin() as conn:  # what the notice's first transaction leaves when the process dies right after it
        conn.execute(insert(gateway_notices).values(
            gateway="simulator", trade_no=trade.trade_no, order_no=order_no, amount_fen=trade.amount_fen,
            paid_at=trade.paid_at, received_at=trade.paid_at, outcome="accepted"))
        orders.mark_paid(conn, orders.find(conn, order_no), trade_no=trade.trade_no, paid_at=trade.paid_at)
    report = resume.collect(engine, pay.sec, pay.book)
    assert report.posted == [order_no]
    pay.deliver_all()  # the gateway's notice arrives after all: nothing more
    assert resume.collect(engine, pay.sec, pay.book).posted == []
    assert count(engine, ledger_transactions, ledger_transactions.c.kind == TxKind.RESIDENT_PREMIUM.value) == 1
    ledger_clean(engine)


def test_the_api_creates_reads_and_checks_an_order(engine, pay):
    resident = add_resident(engine, 1)
    client = pay.as_(resident)
    token = client.post("/api/v1/auth/login", json={"id_number": resident.id_number, "card_number": resident.card_number,
                                                    "password": resident.password}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    payable = client.get("/api/v1/me/pay", headers=headers).json()
    years = {year["year"]: year for year in payable[0]["premium_years"]}
    assert years[2026]["premium"]["amount_fen"] == 41_000 and years[2026]["payable"]
    assert years[2025]["state"] == "registered" and not years[2025]["payable"]  # on the register: nothing to pay
    created = client.post("/api/v1/me/pay/orders", json={"purpose": "resident_premium", "year": 2026}, headers=headers)
    assert created.status_code == 201 and created.json()["pay_url"].endswith(created.json()["order_no"])
    order_no = created.json()["order_no"]
    pay.pay_at_cashier(resident, order_no)
    checked = client.post(f"/api/v1/me/pay/orders/{order_no}/check", headers=headers).json()  # no notice yet: ask
    assert checked["status"] == "posted"
    missing = client.post("/api/v1/me/pay/orders", json={"purpose": "resident_premium"}, headers=headers)
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "year"
    ledger_clean(engine)


def test_at_the_counter_the_clerk_makes_the_order_the_person_pays_by_phone(engine, pay):
    resident = add_resident(engine, 1)
    add_staff_user(engine, "clerk", StaffRole.AGENT, "110000")
    clerk = pay._client()
    assert workbench_sign_in(clerk, "clerk").status_code == 303
    found = post_form(clerk, "/counter/search", {"key_kind": "id_number", "key": resident.id_number,
                                                  "reason_choice": "参保人本人到柜台查询"})
    assert found.status_code == 303
    tab = clerk.get(f"/counter/persons/{resident.person_id}/pay")
    assert tab.status_code == 200 and "生成2026年度缴费订单" in tab.text
    made = post_form(clerk, f"/counter/persons/{resident.person_id}/pay/premium", {"year": "2026"},
                     csrf_from=f"/counter/persons/{resident.person_id}/pay")
    assert made.status_code == 303
    shown = clerk.get(made.headers["location"]).text
    assert "<svg" in shown and "请参保人扫码支付" in shown
    order_no = made.headers["location"].rsplit("=", 1)[1]
    order = order_of(engine, order_no)
    assert order.channel == "counter" and order.payer_person_id == resident.person_id and order.payer_role == "self"
    pay.pay_at_cashier(resident, order_no)  # on the person's own phone
    checked = post_form(clerk, f"/counter/persons/{resident.person_id}/pay/orders/{order_no}/check",
                        csrf_from=f"/counter/persons/{resident.person_id}/pay")
    assert checked.status_code == 303 and order_of(engine, order_no).status is orders.Status.POSTED
    printed = clerk.get(f"/counter/persons/{resident.person_id}/pay/orders/{order_no}/receipt.pdf")
    assert printed.headers["content-type"] == "application/pdf"
    assert audit_of(engine, "collection.order_created")[0]["detail"]["channel"] == "counter"
    assert audit_of(engine, "collection.receipt")[0]["actor_kind"] == "staff"
    ledger_clean(engine)


def test_no_program_text_on_any_page_of_paying_online(engine, pay):
    """The persona sweep's check on every page and state of paying online, the receipt's text included."""
    from test_persona_sweep import program_text, visible_text

    resident, flexible_employee, guardian = add_resident(engine, 1), add_insured(engine, 2), add_insured(engine, 3)
    make_flexible(engine, flexible_employee)
    minor = add_minor(engine, 4, guardian)
    found: dict[str, list[str]] = {}

    def look(who, url: str, client=None) -> str:
        answer = (client or pay.as_(who)).get(url)
        text = ("".join(page.extract_text() for page in PdfReader(io.BytesIO(answer.content)).pages)
                if answer.headers["content-type"] == "application/pdf" else visible_text(answer.text))
        if program_text(text):
            found[url] = program_text(text)
        return text

    for who, url in ((resident, "/portal/pay"), (flexible_employee, "/portal/pay"), (guardian, "/portal/pay"),
                     (guardian, f"/portal/pay?person={minor.person_id}"), (flexible_employee, "/portal/contributions")):
        look(who, url)
    expired = pay.order_premium(resident, resident.person_id)
    pay.clock.at += timedelta(minutes=11)
    look(resident, f"/portal/pay/orders/{expired}")
    order_no = pay.order_premium(resident, resident.person_id)
    look(resident, f"/gateway-sim/pay/{order_no}")
    pay.pay_at_cashier(resident, order_no)
    look(resident, f"/gateway-sim/pay/{order_no}")
    pay.deliver_all()
    for url in (f"/portal/pay/orders/{order_no}", f"/portal/pay/orders/{order_no}/receipt.pdf", "/portal/pay"):
        look(resident, url)
    pay.form(resident, f"/portal/pay/orders/{order_no}/refund", page=f"/portal/pay/orders/{order_no}", reason="重复参保")
    for url in (f"/portal/pay/orders/{order_no}", f"/portal/pay/orders/{order_no}/receipt.pdf"):
        look(resident, url)
    refused = pay.form(flexible_employee, "/portal/pay/flexible", tier="", months=[])
    if program_text(visible_text(refused.text)):
        found["refused flexible form"] = program_text(visible_text(refused.text))
    assert found == {}
