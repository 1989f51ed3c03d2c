"""The web portal's pages through the test client: sign-in, forced password change, CSRF,
other people's ids, details and CSV, contributions, calculators, settings and the statement."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import pytest
from pypdf import PdfReader
from sqlalchemy import func, insert, select

from api_support import (
    NEW_PASSWORD,
    START,
    RecordingSender,
    add_app,
    add_insured,
    client_for,
    login,
    portal_form,
    portal_sign_in,
    security,
    token_in,
)
from yibao.clock import FixedClock
from yibao.domain.resident_id import ResidentId
from yibao.ledger.accounts import system_account
from yibao.ledger.kinds import AccountKind, TxKind
from yibao.ledger.ledger import Ledger
from yibao.policy.loading import load_book
from yibao.policy.service import ask
from yibao.security import phone_pin
from yibao.store.models import audit_log, contributions, evouchers, oauth_clients, oauth_grants

PERSONAL_PAGES = ["/portal", "/portal/details", "/portal/contributions", "/portal/settings", "/portal/evoucher"]
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


@pytest.fixture
def world(engine):
    sender = RecordingSender()
    alice, bob = add_insured(engine, 1), add_insured(engine, 2)
    with client_for(engine, security(FixedClock(START), sender)) as client:
        yield client, alice, bob, sender


def sign_in(client, person, password: str | None = None):
    return portal_sign_in(client, person, password)


def csrf_of(client, path: str = "/portal/settings") -> str:
    return CSRF.search(client.get(path).text).group(1)


def add_grant(engine, person_id: int, client_id: str = "mini-app") -> int:
    add_app(engine, client_id, ["balance:read", "details:read"])
    with engine.begin() as conn:
        client_pk = conn.execute(select(oauth_clients.c.id).where(oauth_clients.c.client_id == client_id)).scalar_one()
        return conn.execute(
            insert(oauth_grants).values(
                person_id=person_id, client_id=client_pk, scope="balance:read details:read", granted_at=START,
            ).returning(oauth_grants.c.id)
        ).scalar_one()


# ---------------------------------------------------------------------------- signing in


def test_password_sign_in_opens_the_home_page_with_my_balance(world):
    client, alice, _, _ = world
    assert client.get("/portal", follow_redirects=False).headers["location"] == "/portal/login?next=%2Fportal"
    answer = sign_in(client, alice)
    assert answer.status_code == 303 and answer.headers["location"] == "/portal"
    assert "httponly" in answer.headers["set-cookie"].lower() and "samesite=strict" in answer.headers["set-cookie"].lower()
    home = client.get("/portal")
    assert home.status_code == 200
    assert "1,234.56元" in home.text and alice.name in home.text
    assert alice.id_number not in home.text  # only the masked ID is shown
    assert "110.00元" in home.text  # Beijing retiree aged 70 or more: 110 yuan a month
    assert "仅供参考" in home.text


def test_sign_in_goes_back_to_the_page_asked_for_but_never_to_another_site(world):
    client, alice, _, _ = world
    for target, expected in [("/portal/details?kind=spending", "/portal/details?kind=spending"),
                             ("https://evil.example/x", "/portal"), ("//evil.example", "/portal")]:
        client.cookies.clear()
        answer = portal_sign_in(client, alice, next=target)
        assert answer.headers["location"] == expected


def test_a_wrong_detail_is_one_message_and_five_lock_sign_in(world):
    client, alice, _, _ = world
    wrong = sign_in(client, alice, "Wrong2025pw")
    assert wrong.status_code == 401 and "身份证号、社保卡号或密码不正确" in wrong.text
    # Nothing typed comes back: the next person at a shared computer sees neither ID nor card number
    assert alice.id_number not in wrong.text and alice.card_number not in wrong.text
    for _ in range(4):
        last = sign_in(client, alice, "Wrong2025pw")
    assert last.status_code == 423 and "锁定" in last.text
    assert sign_in(client, alice).status_code == 423  # even the right password waits


def test_a_malformed_id_number_is_shown_next_to_its_field(world):
    client, alice, _, _ = world
    answer = client.post("/portal/login", data=portal_form(client, id_number="12345", card_number=alice.card_number, password="x"))
    assert answer.status_code == 422
    assert 'id="id_number-error"' in answer.text and 'aria-invalid="true"' in answer.text


def test_an_id_number_without_a_phone_gets_a_code_notice_of_the_same_shape(world):
    client, alice, _, sender = world
    stranger = ResidentId.build("110105", date(1980, 1, 1), 99, today=date(2025, 6, 15)).full
    form = lambda id_number: portal_form(client, "/portal/login?method=sms", id_number=id_number)  # noqa: E731
    notices = [re.search(r"验证码已发送至 (\d{3}\*{4}\d{4})", client.post("/portal/login/sms-code", data=form(stranger)).text)
               for _ in range(2)]
    assert notices[0] and notices[1] and notices[0].group(1) == notices[1].group(1)  # asking again tells nothing
    assert sender.sent == []


def test_sms_code_sign_in(world):
    client, alice, _, sender = world
    sent = client.post("/portal/login/sms-code", data=portal_form(client, "/portal/login?method=sms", id_number=alice.id_number))
    assert sent.status_code == 200 and 'name="code"' in sent.text
    assert f"验证码已发送至 {alice.phone[:3]}****{alice.phone[-4:]}" in sent.text and alice.phone not in sent.text
    token = token_in(sent.text, "form_token")
    wrong = client.post("/portal/login/sms", data={"id_number": alice.id_number, "code": "000000", "form_token": token},
                        follow_redirects=False)
    assert wrong.status_code == 401 and 'id="code-error"' in wrong.text
    right = client.post(
        "/portal/login/sms", data={"id_number": alice.id_number, "code": sender.last_code(), "form_token": token},
        follow_redirects=False,
    )
    assert right.status_code == 303 and right.headers["location"] == "/portal"
    assert client.get("/portal").status_code == 200


def test_sign_in_pages_let_the_browser_remember_nothing_sensitive(world):
    client, _, _, _ = world
    inputs = re.compile(r"<input[^>]*>")
    for method in ("password", "sms"):
        page = client.get(f"/portal/login?method={method}").text
        for tag in inputs.findall(page):
            name = re.search(r'name="([^"]+)"', tag).group(1)
            if name in ("id_number", "card_number", "code") and 'type="hidden"' not in tag:
                assert 'autocomplete="off"' in tag, tag
            if name == "password":
                assert 'autocomplete="current-password"' in tag, tag


def test_sign_in_posted_from_another_site_is_refused(world):
    client, alice, _, _ = world
    answer = client.post(
        "/portal/login", headers={"Origin": "https://evil.example"}, follow_redirects=False,
        data=portal_form(client, id_number=alice.id_number, card_number=alice.card_number, password=alice.password),
    )
    assert answer.status_code == 403 and "yb_portal" not in answer.headers.get("set-cookie", "")


@pytest.mark.parametrize("path", ["/portal/login", "/portal/login/sms-code", "/portal/login/sms"])
def test_sign_in_forms_need_this_browsers_form_token(world, path):
    """Login CSRF: another site (or a sandboxed frame, whose Origin is "null") must not sign the
    browser in to the attacker's account. Each form carries a token bound to a per-browser cookie."""
    client, alice, _, sender = world
    fields = {"id_number": alice.id_number, "card_number": alice.card_number, "password": alice.password, "code": "123456"}
    token = portal_form(client)["form_token"]
    null_origin = {"Origin": "null"}
    refusals = [
        client.post(path, data=fields, follow_redirects=False),  # no token
        client.post(path, data=fields, headers=null_origin, follow_redirects=False),
        client.post(path, data=fields | {"form_token": "0" * 64}, headers=null_origin, follow_redirects=False),  # forged
    ]
    other_browser = client_for(client.app.state.engine, client.app.state.security)
    refusals.append(other_browser.post(path, data=fields | {"form_token": token}, follow_redirects=False))  # not its cookie
    for answer in refusals:
        assert answer.status_code == 403 and "页面已过期，请刷新后重试" in answer.text
        assert "yb_portal=" not in answer.headers.get("set-cookie", "")
    assert sender.sent == []  # no SMS code went out either
    assert client.get("/portal", follow_redirects=False).status_code == 303


def test_the_sign_in_form_works_from_the_portals_own_page_whose_origin_is_null(world):
    """The pages send Referrer-Policy: no-referrer, so browsers post their forms with
    ``Origin: null`` (Chromium does); the form token, not the Origin, tells them apart."""
    client, alice, _, _ = world
    fields = portal_form(client, id_number=alice.id_number, card_number=alice.card_number, password=alice.password)
    answer = client.post("/portal/login", data=fields, headers={"Origin": "null"}, follow_redirects=False)
    assert answer.status_code == 303 and "yb_portal=" in answer.headers["set-cookie"]


def test_the_initial_password_must_be_changed_before_anything_else(engine):
    carol = add_insured(engine, 3, password="123456", must_change=True)
    with client_for(engine, security(FixedClock(START))) as client:
        assert sign_in(client, carol).headers["location"] == "/portal/password"
        for page in PERSONAL_PAGES:
            assert client.get(page, follow_redirects=False).headers["location"] == "/portal/password"
        form = client.get("/portal/password")
        assert "初始密码" in form.text
        token = CSRF.search(form.text).group(1)
        fields = {"csrf": token, "old_password": "123456", "new_password": "abcdefgh1", "confirm_password": "abcdefgh2"}
        mismatch = client.post("/portal/password", data=fields)
        assert mismatch.status_code == 422 and 'id="confirm_password-error"' in mismatch.text
        weak = client.post("/portal/password", data=fields | {"new_password": "12345678", "confirm_password": "12345678"})
        assert weak.status_code == 422 and 'id="new_password-error"' in weak.text
        refused = client.post("/portal/password", data=fields | {"csrf": "0" * 64, "new_password": NEW_PASSWORD,
                                                                 "confirm_password": NEW_PASSWORD})
        assert refused.status_code == 403
        done = client.post("/portal/password", data=fields | {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
                           follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"].startswith("/portal?")
        assert "密码已修改" in client.get(done.headers["location"]).text
        client.cookies.clear()
        assert sign_in(client, carol, "123456").status_code == 401
        assert sign_in(client, carol, NEW_PASSWORD).headers["location"] == "/portal"


def test_sign_out_needs_the_form_token_and_ends_the_session(world):
    client, alice, _, _ = world
    sign_in(client, alice)
    token = csrf_of(client)
    assert client.post("/portal/logout", data={"csrf": "nope"}, follow_redirects=False).status_code == 403
    assert client.get("/portal").status_code == 200
    cookie = client.cookies.get("yb_portal")
    out = client.post("/portal/logout", data={"csrf": token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/portal/login?notice=signed_out"
    client.cookies.set("yb_portal", cookie, domain="testserver.local")  # the old cookie no longer works either
    assert client.get("/portal", follow_redirects=False).status_code == 303


def test_personal_pages_need_the_portal_session(world):
    client, alice, _, _ = world
    for page in PERSONAL_PAGES + ["/portal/details.csv", "/portal/statement.pdf"]:
        answer = client.get(page, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/portal/login?next=")
    api_token = login(client, alice).json()["access_token"]
    client.cookies.set("yb_kiosk", api_token, domain="testserver.local")  # another channel's cookie opens nothing here
    assert client.get("/portal", follow_redirects=False).status_code == 303


def test_pages_are_not_in_the_api_document_and_carry_security_headers(world):
    client, alice, _, _ = world
    paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith(("/portal", "/calc"))]
    sign_in(client, alice)
    home = client.get("/portal")
    assert home.headers["cache-control"].startswith("no-store")
    assert "frame-ancestors 'none'" in home.headers["content-security-policy"]
    assert '<html lang="zh-CN">' in home.text


# ---------------------------------------------------------------------------- other people's ids


def test_another_persons_account_or_grant_is_not_found(world, engine):
    client, alice, bob, _ = world
    bobs_grant = add_grant(engine, bob.person_id)
    sign_in(client, alice)
    assert client.get("/portal/details", params={"account_id": bob.account_id}).status_code == 404
    assert client.get("/portal/details.csv", params={"account_id": bob.account_id}).status_code == 404
    statement = client.get(
        "/portal/statement.pdf", params={"account_id": bob.account_id, "date_from": "2025-01-01", "date_to": "2025-06-15"}
    )
    assert statement.status_code == 404 and "未找到该账户" in statement.text
    revoke = client.post(f"/portal/settings/apps/{bobs_grant}/revoke", data={"csrf": csrf_of(client)})
    assert revoke.status_code == 404
    with engine.connect() as conn:
        assert conn.execute(select(oauth_grants.c.revoked_at).where(oauth_grants.c.id == bobs_grant)).scalar() is None
    assert client.get("/portal/settings/apps/abc/revoke").status_code in (404, 405)


# ---------------------------------------------------------------------------- details and CSV


def test_details_filter_by_date_and_kind_and_page(world, engine):
    client, alice, _, _ = world
    pool = _pool(engine)
    ledger = Ledger(engine)
    for day in range(1, 26):
        ledger.transfer(kind=TxKind.MONTHLY_CREDIT, from_account=pool, to_account=alice.account_id, amount_fen=100 + day,
                        idempotency_key=f"page-{day}", business_date=date(2025, 3, day), memo=f"三月第{day}笔")
    sign_in(client, alice)
    first = client.get("/portal/details")
    assert "共 27 条" in first.text and "第 1 / 2 页" in first.text and "page=2" in first.text
    spending = client.get("/portal/details", params={"kind": "spending"})
    assert "共 1 条" in spending.text and "药店购药" in spending.text and "-10.00元" in spending.text
    march = client.get("/portal/details", params={"date_from": "2025-03-10", "date_to": "2025-03-12"})
    assert "共 3 条" in march.text and "三月第11笔" in march.text and "药店购药" not in march.text
    backwards = client.get("/portal/details", params={"date_from": "2025-05-01", "date_to": "2025-04-01"})
    assert backwards.status_code == 422 and 'id="date_to-error"' in backwards.text
    nonsense = client.get("/portal/details", params={"date_from": "2025-13-01", "kind": "lottery"})
    assert nonsense.status_code == 422 and 'id="date_from-error"' in nonsense.text and 'id="kind-error"' in nonsense.text


def test_csv_export_is_utf8_with_bom_and_follows_the_filters(world, engine):
    client, alice, _, _ = world
    Ledger(engine).transfer(kind=TxKind.REFUND, from_account=_pool(engine), to_account=alice.account_id, amount_fen=250,
                            idempotency_key="formula", business_date=date(2025, 5, 25), memo="=HYPERLINK(\"x\")")
    sign_in(client, alice)
    answer = client.get("/portal/details.csv", params={"date_from": "2025-05-01"})
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    assert answer.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0] == ["日期", "类型", "金额（元）", "摘要", "账户编号", "交易编号"]
    by_memo = {row[3]: row for row in rows[1:]}
    assert by_memo["药店购药"][:3] == ["2025-05-20", "消费支出", "-10.00"]
    assert by_memo["5月划入"][2] == "1244.56"
    assert by_memo["'=HYPERLINK(\"x\")"][1] == "退费"  # never a formula in Excel
    assert len(rows) == 4
    only_spending = client.get("/portal/details.csv", params={"kind": "spending"}).content.decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(only_spending)))) == 2


# ---------------------------------------------------------------------------- contributions


def test_contributions_mark_gaps_and_make_up_months(world, engine):
    client, alice, _, _ = world
    with engine.begin() as conn:
        conn.execute(insert(contributions).values(
            person_id=alice.person_id, month=date(2024, 12, 1), insurance_type="employee", base_fen=800_000,
            employer_rate_bp=800, individual_rate_bp=200, employer_fen=64_000, individual_fen=16_000, account_fen=16_000,
            employer_name="某某公司", paid_on=date(2025, 2, 10), is_makeup=True,
        ))
    sign_in(client, alice)
    page = client.get("/portal/contributions").text
    assert "2025年（已缴 3 个月）" in page
    assert re.search(r'<tr class="row-gap">\s*<th scope="row" data-label="月份">2025-03</th>', page)
    assert re.search(r'<tr class="row-gap">\s*<th scope="row" data-label="月份">2025-05</th>', page)  # unpaid since
    assert re.search(r'<tr class="row-paid">\s*<th scope="row" data-label="月份">2025-04</th>', page)
    assert "2025-07" not in page  # no future months
    previous = client.get("/portal/contributions", params={"year": "2024"}).text
    assert re.search(r'<tr class="row-makeup">\s*<th scope="row" data-label="月份">2024-12</th>', previous)
    assert "补缴" in previous and "160.00元" in previous


# ---------------------------------------------------------------------------- calculators


def test_calculators_answer_like_the_policy_engine_without_sign_in(world):
    client, _, _, _ = world
    raw = {"region": "110000", "birth": "1951-03-01", "on": "2025-06-01", "insurance": "employee", "status": "retired"}
    expected = ask(load_book(), "credit", raw, date(2025, 6, 15))
    page = client.get("/calc/credit", params=raw)
    assert page.status_code == 200
    assert "每月 <span class=\"figure\">110.00元</span>" in page.text
    assert expected["rule"] in page.text and expected["confidence_label"] in page.text
    assert all(source["title"] in page.text for source in expected["sources"])
    lifetime_raw = {"region": "110000", "sex": "F", "cumulative_years": "21", "actual_years": "21",
                    "retire_on": "2030-01-01", "on": "2025-06-15"}
    lifetime = ask(load_book(), "lifetime", lifetime_raw, date(2025, 6, 15))
    assert lifetime["eligible"] is True
    assert "能终身享受" in client.get("/calc/lifetime", params=lifetime_raw).text
    withdraw = client.get("/calc/withdraw", params={"region": "110000", "reason": "death"}).text
    assert "参保人死亡：可以申请提取" in withdraw and "死亡证明" in withdraw
    assert client.get("/calc/nothing").status_code == 404


def test_calculator_errors_are_shown_next_to_their_fields(world):
    client, _, _, _ = world
    page = client.get("/calc/credit", params={"region": "", "birth": "1990-02-30", "insurance": "employee", "status": "working"})
    assert page.status_code == 422
    for field in ("region", "birth"):
        assert f'id="{field}-error"' in page.text


def test_calculators_are_prefilled_from_my_record_when_signed_in(world):
    client, alice, _, _ = world
    assert 'value="1951-03-01"' not in client.get("/calc/credit").text
    sign_in(client, alice)
    credit = client.get("/calc/credit").text
    assert "已按您的参保信息填好" in credit
    assert '<option value="110000" selected' in credit and 'value="1951-03-01"' in credit
    assert '<option value="retired" selected>' in credit
    lifetime = client.get("/calc/lifetime").text
    assert 'value="0.25"' in lifetime  # three months on record


# ---------------------------------------------------------------------------- settings, e-voucher, statement


def test_revoking_an_app_needs_the_form_token_and_is_audited(world, engine):
    client, alice, _, _ = world
    grant = add_grant(engine, alice.person_id)
    sign_in(client, alice)
    settings = client.get("/portal/settings").text
    assert "某某小程序" in settings and "从未使用" in settings and "查看您的医保个人账户余额" in settings
    assert client.post(f"/portal/settings/apps/{grant}/revoke", data={"csrf": ""}).status_code == 403
    done = client.post(f"/portal/settings/apps/{grant}/revoke", data={"csrf": csrf_of(client)}, follow_redirects=False)
    assert done.status_code == 303
    after = client.get(done.headers["location"]).text
    assert "已撤销授权" in after and "某某小程序" not in after
    with engine.connect() as conn:
        assert conn.execute(select(oauth_grants.c.revoked_at).where(oauth_grants.c.id == grant)).scalar() is not None
        actions = conn.execute(select(audit_log.c.action).where(audit_log.c.subject_person_id == alice.person_id)).scalars().all()
    assert "app.grant_revoked" in actions


def test_the_evoucher_is_a_qr_code_issued_only_with_the_form_token(world, engine):
    client, alice, _, _ = world
    sign_in(client, alice)
    assert client.post("/portal/evoucher", data={"csrf": "x"}).status_code == 403
    page = client.post("/portal/evoucher", data={"csrf": csrf_of(client, "/portal/evoucher")})
    assert page.status_code == 200
    assert '<svg role="img" aria-label="医保电子凭证二维码"' in page.text and 'data-countdown="60"' in page.text
    with engine.connect() as conn:
        issued = conn.execute(select(func.count()).select_from(evouchers).where(evouchers.c.person_id == alice.person_id)).scalar()
    assert issued == 1


def test_the_statement_pdf_has_my_totals(world):
    client, alice, _, _ = world
    sign_in(client, alice)
    answer = client.get("/portal/statement.pdf", params={"date_from": "2025-05-01", "date_to": "2025-05-31"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(answer.content)).pages)
    for amount in ("1,244.56元", "10.00元", "1,234.56元"):  # in, out, closing
        assert amount in text
    backwards = client.get("/portal/statement.pdf", params={"date_from": "2025-06-01", "date_to": "2025-05-01"})
    assert backwards.status_code == 422 and 'id="statement_to-error"' in backwards.text
    missing = client.get("/portal/statement.pdf", params={"date_from": "2025-06-01"})
    assert missing.status_code == 422 and "请选择日期" in missing.text


def _pool(engine) -> int:
    with engine.begin() as conn:
        return system_account(conn, AccountKind.POOL, "110000", opened_on=date(2020, 1, 1))


# ---------------------------------------------------------------------------- phone password


def test_the_phone_password_is_set_in_settings_and_then_opens_the_phone_line(world, engine):
    client, alice, _, _ = world
    sign_in(client, alice)
    assert "您尚未设置" in client.get("/portal/settings").text
    weak = client.post("/portal/settings/phone-pin", data={"csrf": csrf_of(client), "new_pin": "123456", "new_pin_again": "123456"})
    assert weak.status_code == 422 and "过于简单" in weak.text
    typo = client.post("/portal/settings/phone-pin", data={"csrf": csrf_of(client), "new_pin": "730418", "new_pin_again": "730481"})
    assert typo.status_code == 422 and "不一致" in typo.text
    forged = client.post("/portal/settings/phone-pin", data={"csrf": "x", "new_pin": "730418", "new_pin_again": "730418"})
    assert forged.status_code == 403
    with engine.connect() as conn:
        assert not phone_pin.has_phone_pin(conn, alice.person_id)
    done = client.post(
        "/portal/settings/phone-pin", data={"csrf": csrf_of(client), "new_pin": "730418", "new_pin_again": "730418"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"].endswith("notice=pin_set")
    with engine.begin() as conn:
        assert phone_pin.verify_phone_pin(conn, alice.person_id, "730418")
    page = client.get("/portal/settings").text
    assert "原电话查询密码" in page
    no_old = client.post("/portal/settings/phone-pin", data={"csrf": csrf_of(client), "new_pin": "582913", "new_pin_again": "582913"})
    assert no_old.status_code == 422 and "请输入原电话查询密码" in no_old.text
