"""Withdrawals and emergency refunds on the portal, through the test client on both backends:
apply with a reason the region allows and a bank account in the person's name, upload,
submit, see the decision; apply for a refund with the receipt; nobody sees or adds to
another person's case; CSRF; bad input is a Chinese message at its field and changes nothing."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from api_support import PAYEE_CARD, SAMPLE_PDF, START, TODAY, RecordingSender, add_insured, client_for, portal_sign_in, security
from portal_case_support import SAMPLE_JPEG, csrf_of, staff_actor
from test_withdrawals import _book_where_abandon_is_refused
from yibao.clock import FixedClock
from yibao.security.staff import StaffRole
from yibao.store.models import audit_log, case_participants, documents, emergency_refunds, withdrawal_cases
from yibao.transfers import refunds
from yibao.transfers.refund_settings import RefundSettings
from yibao.withdrawals import approval

CASE_URL = re.compile(r"/portal/withdrawals/(\d+)")


@pytest.fixture
def world(engine):
    alice, bob = add_insured(engine, 1), add_insured(engine, 2)
    with client_for(engine, security(FixedClock(START), RecordingSender())) as client:
        yield client, alice, bob


def apply_form(client, person, **changes) -> dict:
    return {"csrf": csrf_of(client, "/portal/withdrawals"), "reason": "emigration", "bank_name": "中国工商银行",
            "bank_account": PAYEE_CARD, "account_holder": person.name, **changes}


def apply(client, person) -> int:
    answer = client.post("/portal/withdrawals", data=apply_form(client, person), follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return int(CASE_URL.search(answer.headers["location"]).group(1))


def upload(client, case_id: int, doc_type: str, name: str, content: bytes):
    csrf = csrf_of(client, f"/portal/withdrawals/{case_id}")
    return client.post(f"/portal/withdrawals/{case_id}/documents", data={"csrf": csrf, "doc_type": doc_type},
                       files={"file": (name, content, "application/octet-stream")}, follow_redirects=False)


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_apply_upload_submit_and_see_the_decision(world, engine):
    client, alice, _ = world
    portal_sign_in(client, alice)
    page = client.get("/portal/withdrawals")
    assert page.status_code == 200
    assert 'name="reason" value="emigration"' in page.text and "出国（境）定居证明、身份证件" in page.text
    assert "须经办机构核实" in page.text and "可信度" in page.text  # reasons the data cannot settle, with the rule's confidence
    case_id = apply(client, alice)
    case = client.get(f"/portal/withdrawals/{case_id}")
    assert "6222****5679" in case.text and PAYEE_CARD not in case.text  # the account is shown masked
    assert 'accept="application/pdf,image/jpeg,image/png" capture="environment"' in case.text
    assert upload(client, case_id, "出国（境）定居证明", "定居证明.pdf", SAMPLE_PDF).status_code == 303
    assert upload(client, case_id, "身份证件", "身份证.jpg", SAMPLE_JPEG).status_code == 303
    page = client.get(f"/portal/withdrawals/{case_id}")
    assert "定居证明.pdf" in page.text and "身份证.jpg" in page.text and "材料已齐全" in page.text
    submitted = client.post(f"/portal/withdrawals/{case_id}/submit", data={"csrf": csrf_of(client, f"/portal/withdrawals/{case_id}")},
                            follow_redirects=False)
    assert submitted.status_code == 303
    assert "等待经办机构审核" in client.get(f"/portal/withdrawals/{case_id}").text

    clerk = staff_actor(engine, "clerk_bj")
    with engine.begin() as conn:
        outcome = approval.decide(conn, case_id, clerk, approval.Decision(True, "材料齐全，同意提取"), threshold_fen=10_000_000,
                                  today=TODAY, now=START)
    assert outcome.paid_fen == 123_456
    decided = client.get(f"/portal/withdrawals/{case_id}").text
    assert "已支付" in decided and "1,234.56元" in decided and "中国工商银行 6222****5679" in decided
    with engine.connect() as conn:
        actions = conn.execute(select(audit_log.c.action).where(audit_log.c.action.like("withdrawal.%"))).scalars().all()
    assert sorted(actions) == ["withdrawal.apply", "withdrawal.document", "withdrawal.document", "withdrawal.submit"]


def test_a_refusal_shows_its_reason(world, engine):
    client, alice, _ = world
    portal_sign_in(client, alice)
    case_id = apply(client, alice)
    for doc_type in ("出国（境）定居证明", "身份证件"):
        upload(client, case_id, doc_type, "a.pdf", SAMPLE_PDF)
    client.post(f"/portal/withdrawals/{case_id}/submit", data={"csrf": csrf_of(client, f"/portal/withdrawals/{case_id}")})
    clerk = staff_actor(engine, "clerk_bj")
    with engine.begin() as conn:
        approval.decide(conn, case_id, clerk, approval.Decision(False, "定居证明未经公证"),
                        threshold_fen=10_000_000, today=TODAY, now=START)
    page = client.get(f"/portal/withdrawals/{case_id}").text
    assert "审核未通过" in page and "原因：定居证明未经公证" in page


def test_a_reason_the_region_does_not_allow_is_shown_but_not_offered(world, tmp_path):
    client, alice, _ = world
    client.app.state.policy_book = _book_where_abandon_is_refused(tmp_path)
    portal_sign_in(client, alice)
    page = client.get("/portal/withdrawals").text
    refused = re.search(r'data-testid="reason-abandon">(.*?)</details>', page, re.S).group(1)
    assert "当地不允许" in refused and 'type="radio"' not in refused


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"bank_account": "6222020200112345678"}, "bank_account", "银行卡号校验位不正确"),
    ({"bank_account": "12345"}, "bank_account", "银行账号应为12-30位数字"),
    ({"account_holder": "别人"}, "account_holder", "开户人姓名须与收款人姓名一致"),
    ({"bank_name": ""}, "bank_name", "请填写开户银行"),
    ({"reason": ""}, "reason", "请选择提取原因"),
])
def test_a_bad_bank_account_is_a_field_error_and_nothing_changes(world, engine, changes, field, message):
    client, alice, _ = world
    portal_sign_in(client, alice)
    answer = client.post("/portal/withdrawals", data=apply_form(client, alice, **changes))
    assert answer.status_code == 422
    assert message in answer.text and f'id="{field}-error"' in answer.text
    assert count(engine, withdrawal_cases) == 0


def test_another_persons_case_is_not_found_and_takes_no_upload(world, engine):
    client, alice, bob = world
    portal_sign_in(client, alice)
    case_id = apply(client, alice)
    client.cookies.clear()
    portal_sign_in(client, bob)
    assert client.get(f"/portal/withdrawals/{case_id}").status_code == 404
    assert upload_as(client, case_id).status_code == 404
    for action in ("submit", "bank-account"):
        answer = client.post(f"/portal/withdrawals/{case_id}/{action}",
                             data={"csrf": csrf_of(client, "/portal/withdrawals"), **payee(bob)})
        assert answer.status_code == 404
    assert count(engine, documents) == 0
    with engine.connect() as conn:
        assert conn.execute(select(withdrawal_cases.c.status)).scalar_one() == "collecting"


def upload_as(client, case_id: int):
    """An upload with the caller's own form token, to a case of someone else."""
    return client.post(f"/portal/withdrawals/{case_id}/documents",
                       data={"csrf": csrf_of(client, "/portal/withdrawals"), "doc_type": "身份证件"},
                       files={"file": ("a.pdf", SAMPLE_PDF, "application/pdf")})


def payee(person) -> dict:
    return {"bank_name": "中国工商银行", "bank_account": PAYEE_CARD, "account_holder": person.name}


def test_forms_without_the_page_token_are_refused(world, engine):
    client, alice, _ = world
    portal_sign_in(client, alice)
    case_id = apply(client, alice)
    form = apply_form(client, alice) | {"csrf": "0" * 64}
    assert client.post("/portal/withdrawals", data=form).status_code == 403
    refused = client.post(f"/portal/withdrawals/{case_id}/documents", data={"csrf": "", "doc_type": "身份证件"},
                          files={"file": ("a.pdf", SAMPLE_PDF, "application/pdf")})
    assert refused.status_code == 403 and "页面已过期" in refused.text
    assert client.post("/portal/refunds", data={"csrf": "", "amount": "1", "incurred_on": "2025-06-01", "receipt_number": "R"},
                       files={"file": ("r.pdf", SAMPLE_PDF, "application/pdf")}).status_code == 403
    assert count(engine, withdrawal_cases) == 1 and count(engine, documents) == 0 and count(engine, emergency_refunds) == 0


def test_a_file_of_another_type_is_refused_at_its_field(world, engine):
    client, alice, _ = world
    portal_sign_in(client, alice)
    case_id = apply(client, alice)
    answer = upload(client, case_id, "身份证件", "身份证.pdf", b"<html>not a pdf</html>")
    assert answer.status_code == 422
    assert 'id="file-error"' in answer.text and "只接受 PDF 或图片（JPEG、PNG）文件" in answer.text
    empty = client.post(f"/portal/withdrawals/{case_id}/documents",
                        data={"csrf": csrf_of(client, f"/portal/withdrawals/{case_id}"), "doc_type": "身份证件"})
    assert empty.status_code == 422 and "请选择要上传的文件或拍照" in empty.text
    assert count(engine, documents) == 0


def test_a_case_the_transfer_opened_gets_its_bank_account_on_the_page(world, engine):
    client, alice, _ = world
    portal_sign_in(client, alice)
    case_id = apply(client, alice)
    csrf = csrf_of(client, f"/portal/withdrawals/{case_id}")
    bad = client.post(f"/portal/withdrawals/{case_id}/bank-account", data={"csrf": csrf, **payee(alice), "bank_account": "1234"})
    assert bad.status_code == 422 and "银行账号应为12-30位数字" in bad.text
    changed = client.post(f"/portal/withdrawals/{case_id}/bank-account",
                          data={"csrf": csrf, **payee(alice), "bank_name": "中国银行", "bank_account": "6217 0000 1000 0000 003"},
                          follow_redirects=False)
    assert changed.status_code == 303
    with engine.connect() as conn:
        assert conn.execute(select(withdrawal_cases.c.bank_name, withdrawal_cases.c.bank_account)).one() == (
            "中国银行", "6217000010000000003")


# ---------------------------------------------------------------------------- emergency refunds


def refund_form(client, **changes) -> dict:
    return {"csrf": csrf_of(client, "/portal/refunds"), "amount": "350.00", "incurred_on": "2025-06-01",
            "receipt_number": "JZ20250601", **changes}


def apply_refund(client, content: bytes = SAMPLE_JPEG, **changes):
    return client.post("/portal/refunds", data=refund_form(client, **changes),
                       files={"file": ("票据.jpg", content, "image/jpeg")}, follow_redirects=False)


def test_a_person_applies_for_a_refund_and_staff_approve_it(world, engine):
    client, alice, bob = world
    portal_sign_in(client, alice)
    answer = apply_refund(client)
    assert answer.status_code == 303, answer.text
    refund_id = int(answer.headers["location"].split("/")[-1].split("?")[0])
    page = client.get(answer.headers["location"]).text
    assert "待审核" in page and "350.00元" in page and "本人申请" in page and "急诊收费票据：票据.jpg" in page
    with engine.connect() as conn:
        row = conn.execute(select(emergency_refunds)).mappings().one()
        assert conn.execute(select(func.count()).select_from(case_participants)).scalar_one() == 0  # no staff prepared it
    assert row["applied_by_person"] and row["entered_by"] is None and row["status"] == "entered"

    clerk, cashier = staff_actor(engine, "clerk_bj"), staff_actor(engine, "cashier_bj")
    with engine.begin() as conn:
        assert refunds.decide(conn, refund_id, clerk, approve=True, note="票据无误", settings=RefundSettings(), today=TODAY,
                              now=START) == refunds.RefundStatus.APPROVED
        refunds.pay(conn, refund_id, cashier, today=TODAY)
    assert "已返还到个人账户" in client.get(f"/portal/refunds/{refund_id}").text
    assert "JZ20250601" in client.get("/portal/refunds").text

    client.cookies.clear()
    portal_sign_in(client, bob)
    assert client.get(f"/portal/refunds/{refund_id}").status_code == 404
    assert "JZ20250601" not in client.get("/portal/refunds").text


def test_a_refund_above_the_threshold_still_needs_a_supervisors_second_approval(world, engine):
    client, alice, _ = world
    portal_sign_in(client, alice)
    answer = apply_refund(client, amount="6000.00")
    refund_id = int(answer.headers["location"].split("/")[-1].split("?")[0])
    clerk, supervisor = staff_actor(engine, "clerk_bj"), staff_actor(engine, "super_bj", StaffRole.SUPERVISOR)
    with engine.begin() as conn:
        first = refunds.decide(conn, refund_id, clerk, approve=True, note="初审", settings=RefundSettings(), today=TODAY, now=START)
    assert first == refunds.RefundStatus.APPROVED_ONCE
    assert "等待复核" in client.get(f"/portal/refunds/{refund_id}").text
    with engine.begin() as conn:
        second = refunds.decide(conn, refund_id, supervisor, approve=True, note="复核", settings=RefundSettings(), today=TODAY,
                                now=START)
    assert second == refunds.RefundStatus.APPROVED


@pytest.mark.parametrize(("changes", "content", "field", "message"), [
    ({"amount": "abc"}, SAMPLE_JPEG, "amount", "金额格式不正确"),
    ({"amount": "30000.00"}, SAMPLE_JPEG, "amount", "每张票据返还金额不能超过"),
    ({"incurred_on": "2025-12-01"}, SAMPLE_JPEG, "incurred_on", "费用发生日期不能晚于今天"),
    ({"receipt_number": ""}, SAMPLE_JPEG, "receipt_number", "请填写票据号"),
    ({}, b"GIF89a", "file", "只接受 PDF 或图片"),
])
def test_a_bad_refund_application_is_a_field_error_and_nothing_is_stored(world, engine, changes, content, field, message):
    client, alice, _ = world
    portal_sign_in(client, alice)
    answer = apply_refund(client, content, **changes)
    assert answer.status_code == 422
    assert message in answer.text and f'id="{field}-error"' in answer.text
    assert count(engine, emergency_refunds) == 0 and count(engine, documents) == 0


def test_the_same_receipt_is_refunded_once(world, engine):
    client, alice, _ = world
    portal_sign_in(client, alice)
    assert apply_refund(client).status_code == 303
    again = apply_refund(client)
    assert again.status_code == 422 and "该票据已登记过返还" in again.text
    assert count(engine, emergency_refunds) == 1


def test_the_calculators_yes_links_to_the_application(world):
    client, alice, _ = world
    query = "/calc/withdraw?region=110000&reason=emigration&on=2025-06-15"
    signed_out = client.get(query).text
    assert 'href="/portal/login?next=%2Fportal%2Fwithdrawals%3Freason%3Demigration"' in signed_out
    portal_sign_in(client, alice)
    assert 'href="/portal/withdrawals?reason=emigration"' in client.get(query).text
    assert 'value="emigration" checked' in client.get("/portal/withdrawals?reason=emigration").text
    assert "apply-link" not in client.get("/calc/withdraw?region=110000&reason=abandon&on=2025-06-15").text
