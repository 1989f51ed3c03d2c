"""The administrators' workbench pages: institutions (register, designate, rotate the API key),
third-party apps (register, deactivate) and staff (add, change role and regions, deactivate,
reset a password); each change audited with its reason, bad input said next to the field."""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import select

from api_support import START, client_for, security
from oversight_support import OTHER, OWN, build_world, reuse_argon2_hashes  # noqa: F401 - autouse fixture
from workbench_support import audit_of, post_form, workbench_sign_in
from yibao.clock import FixedClock
from yibao.security.institutions import find_by_key
from yibao.security.staff import regions_of
from yibao.store.models import institutions

REASON = "新签定点协议"
KEY = re.compile(r'id="new-key">([^<]+)<')


@pytest.fixture
def world(engine):
    with client_for(engine, security(FixedClock(START))) as client:
        built = build_world(engine, client, deaths=False)
        workbench_sign_in(client, "admin1")
        yield built


def key_of(engine, key: str):
    with engine.connect() as conn:
        return find_by_key(conn, key)


def test_the_admin_registers_an_institution_sees_its_key_once_and_rotates_it(world):
    page = world.client.get("/counter/admin/institutions")
    assert page.status_code == 200 and "某某大药房" in page.text and "上海某某医院" not in page.text
    added = post_form(world.client, "/counter/admin/institutions", {
        "code": "YF-0001", "name": "某某社区药房", "kind": "pharmacy", "region_code": OWN, "reason": REASON})
    assert added.status_code == 200, added.text
    first_key = KEY.search(added.text).group(1)
    assert key_of(world.engine, first_key) is not None
    listed = world.client.get("/counter/admin/institutions").text
    assert "某某社区药房" in listed and first_key not in listed  # shown once
    institution_id = key_of(world.engine, first_key).id
    rotated = post_form(world.client, f"/counter/admin/institutions/{institution_id}/key", {"reason": "密钥疑似泄露"})
    second_key = KEY.search(rotated.text).group(1)
    assert second_key != first_key and "原密钥已立即失效" in rotated.text
    assert key_of(world.engine, first_key) is None and key_of(world.engine, second_key) is not None
    designated = post_form(world.client, f"/counter/admin/institutions/{institution_id}/designate",
                           {"designated": "1", "reason": REASON})
    assert designated.status_code == 303
    assert "定点医药机构，可收取个人账户支付" in world.client.get(designated.headers["location"]).text
    actions = [(row["action"], row["reason"], row["detail"]["channel"]) for row in audit_of(world.engine)
               if row["action"].startswith("admin.institution")]
    assert actions == [("admin.institution.add", REASON, "counter"), ("admin.institution.key", "密钥疑似泄露", "counter"),
                       ("admin.institution.designate", REASON, "counter")]


def test_the_admin_issues_the_national_interface_signature_secret_and_it_signs_requests(world):
    institution_id = world.own.values["institution_id"]
    page = world.client.get(f"/counter/admin/institutions/{institution_id}")
    assert "未生成，只能以接口密钥接入" in page.text
    refused = post_form(world.client, f"/counter/admin/institutions/{institution_id}/tif-secret", {"reason": "好"})
    assert refused.status_code == 422 and re.search(r'id="tif_reason"[^>]*aria-invalid="true"', refused.text)
    issued = post_form(world.client, f"/counter/admin/institutions/{institution_id}/tif-secret", {"reason": "接入签名网关"})
    secret = KEY.search(issued.text).group(1)
    assert "国家医保接口签名密钥" in issued.text and "已生成签名密钥（第1次）" in issued.text
    assert secret not in world.client.get(f"/counter/admin/institutions/{institution_id}").text  # shown once
    with world.engine.connect() as conn:
        code = conn.execute(select(institutions.c.code).where(institutions.c.id == institution_id)).scalar_one()
    stamp, nonce = str(int(START.timestamp())), "wb-1"
    headers = {"x-tif-paasid": code, "x-tif-timestamp": stamp, "x-tif-nonce": nonce,
               "x-tif-signature": hashlib.sha256(f"{stamp}{secret}{nonce}{stamp}".encode()).hexdigest()}
    body = {"infno": "9001", "msgid": f"{code}-wb-1", "mdtrtarea_admvs": OWN, "recer_sys_code": "SY", "infver": "V1.0",
            "opter_type": "1", "opter": "1", "opter_name": "收银员", "inf_time": "2025-06-15 10:00:00", "fixmedins_code": code,
            "fixmedins_name": "某某大药房", "sign_no": "", "input": {"signIn": {"opter_no": "1", "mac": "m", "ip": "i"}}}
    answer = world.client.post("/fsi/api/rsfComIfsService/callService", json=body, headers=headers).json()
    assert answer["infcode"] == 0 and len(answer["output"]["signinoutb"]["sign_no"]) == 30, answer
    assert [row["reason"] for row in audit_of(world.engine, "admin.institution.tif_secret")] == ["接入签名网关"]


@pytest.mark.parametrize("fields, field", [
    ({"code": "药房1"}, "code"), ({"name": ""}, "name"), ({"kind": "clinic"}, "kind"),
    ({"region_code": OTHER}, "region_code"), ({"reason": "好"}, "add_reason"), ({"code": "P001"}, "code"),
])
def test_a_bad_institution_form_changes_nothing_and_keeps_what_was_typed(world, fields, field):
    form = {"code": "YF-0002", "name": "某某药房", "kind": "pharmacy", "region_code": OWN, "reason": REASON, **fields}
    before = world.client.get("/counter/admin/institutions").text.count("<tr>")
    answer = post_form(world.client, "/counter/admin/institutions", form)
    assert answer.status_code == 422 and 'role="alert"' in answer.text
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', answer.text), field
    assert world.client.get("/counter/admin/institutions").text.count("<tr>") == before
    assert not audit_of(world.engine, "admin.institution.add")


def test_institutions_of_other_regions_are_not_found(world):
    other = world.other.values["institution_id"]
    assert world.client.get(f"/counter/admin/institutions/{other}").status_code == 404
    assert post_form(world.client, f"/counter/admin/institutions/{other}/key", {"reason": REASON}).status_code == 404


def test_forms_without_the_session_token_are_refused(world):
    institution = world.own.values["institution_id"]
    refused = world.client.post(f"/counter/admin/institutions/{institution}/key", data={"csrf": "x", "reason": REASON})
    assert refused.status_code == 403 and not audit_of(world.engine, "admin.institution.key")


def test_the_admin_registers_an_app_with_a_secret_shown_once_and_deactivates_it(world):
    added = post_form(world.client, "/counter/admin/apps", {
        "client_id": "clinic-app", "name": "某某诊所小程序", "redirect_uris": "https://clinic.example.cn/cb",
        "scopes": ["profile:read", "balance:read"], "confidential": "1", "reason": "签订数据使用协议"})
    assert added.status_code == 200, added.text
    assert 'id="new-secret"' in added.text and "查看您的医保个人账户余额" in added.text
    assert 'id="new-secret"' not in world.client.get("/counter/admin/apps").text
    bad = post_form(world.client, "/counter/admin/apps", {
        "client_id": "x2", "name": "某应用", "redirect_uris": "http://evil.example/cb", "scopes": ["profile:read"],
        "reason": "签订数据使用协议"})
    assert bad.status_code == 422 and "回调地址" in bad.text
    short = post_form(world.client, "/counter/admin/apps/clinic-app/deactivate", {"reason": "到"})
    assert short.status_code == 422 and 'aria-describedby="row-error"' in short.text and "使用中" in short.text
    gone = post_form(world.client, "/counter/admin/apps/clinic-app/deactivate", {"reason": "协议到期"})
    assert gone.status_code == 303 and "已停用" in world.client.get(gone.headers["location"]).text
    assert post_form(world.client, "/counter/admin/apps/no-such-app/deactivate", {"reason": "协议到期"}).status_code == 404
    assert [row["reason"] for row in audit_of(world.engine, "admin.app.deactivate")] == ["协议到期"]


def test_the_admin_adds_staff_with_two_regions_who_then_signs_in(world):
    added = post_form(world.client, "/counter/admin/staff", {
        "username": "clerk_new", "name": "新同事", "role": "agent", "regions": [OWN], "password": "Newclerk2025",
        "reason": "新入职经办人员"})
    assert added.status_code == 303, added.text
    assert "新同事（clerk_new）" in world.client.get(added.headers["location"]).text
    with client_for(world.engine, security(FixedClock(START))) as other:
        assert workbench_sign_in(other, "clerk_new", "Newclerk2025").status_code == 303
    row = audit_of(world.engine, "admin.staff.add")[-1]
    assert row["reason"] == "新入职经办人员" and row["detail"]["regions"] == [OWN]


def test_a_region_scoped_admin_cannot_give_another_region_nor_see_its_staff(world):
    listed = world.client.get("/counter/admin/staff").text
    assert "agent_sh" not in listed and "agent1" in listed
    answer = post_form(world.client, "/counter/admin/staff", {
        "username": "clerk_sh", "name": "外地同事", "role": "agent", "regions": [OWN, OTHER], "password": "Newclerk2025",
        "reason": "新入职经办人员"})
    assert answer.status_code == 422 and "本人负责的地区" in answer.text and "外地同事" in answer.text
    assert world.client.get(f"/counter/admin/staff/{world.staff_ids['agent_sh']}").status_code == 404


def test_changing_deactivating_and_resetting_staff(world):
    agent = world.staff_ids["agent2"]
    with client_for(world.engine, security(FixedClock(START))) as theirs:
        assert workbench_sign_in(theirs, "agent2").status_code == 303
        changed = post_form(world.client, f"/counter/admin/staff/{agent}", {"role": "supervisor", "regions": [OWN],
                                                                           "reason": "岗位调整"})
        assert changed.status_code == 303
        assert "工作看板" in theirs.get("/counter").text  # the new role applies at their next step
        reset = post_form(world.client, f"/counter/admin/staff/{agent}/password", {"password": "short", "reason": "忘记密码"})
        assert reset.status_code == 422 and "密码过于简单" in reset.text
        reset = post_form(world.client, f"/counter/admin/staff/{agent}/password", {"password": "Another2025x",
                                                                                  "reason": "忘记密码"})
        assert reset.status_code == 303
        assert "经办人员登录" in theirs.get("/counter").text  # their session ended
        assert workbench_sign_in(theirs, "agent2").status_code != 303
        assert workbench_sign_in(theirs, "agent2", "Another2025x").status_code == 303
        gone = post_form(world.client, f"/counter/admin/staff/{agent}/deactivate", {"reason": "调离本单位"})
        assert gone.status_code == 303 and "已停用" in world.client.get(gone.headers["location"]).text
        assert "经办人员登录" in theirs.get("/counter").text
        assert workbench_sign_in(theirs, "agent2", "Another2025x").status_code != 303
    with world.engine.connect() as conn:
        assert regions_of(conn, agent) == frozenset({OWN})
    assert [row["action"] for row in audit_of(world.engine) if row["action"].startswith("admin.staff")] == [
        "admin.staff.change", "admin.staff.password", "admin.staff.deactivate"]


def test_an_admin_cannot_deactivate_themself(world):
    me = world.staff_ids["admin1"]
    answer = post_form(world.client, f"/counter/admin/staff/{me}/deactivate", {"reason": "测试本人停用"})
    assert answer.status_code == 422 and "不能停用本人的账号" in answer.text
    assert 'id="staff-deactivate"' not in world.client.get(f"/counter/admin/staff/{me}").text
    assert "工作人员" in world.client.get("/counter").text  # still signed in


@pytest.mark.parametrize("path", [
    "/counter/admin/institutions", "/counter/admin/institutions/{institution_id}/designate",
    "/counter/admin/institutions/{institution_id}/key", "/counter/admin/apps", "/counter/admin/apps/health-app/deactivate",
    "/counter/admin/staff", "/counter/admin/staff/{staff_id}", "/counter/admin/staff/{staff_id}/deactivate",
    "/counter/admin/staff/{staff_id}/password",
])
def test_every_admin_form_needs_the_sessions_token(world, path):
    url = path.format(**world.own.values)
    form = {"reason": REASON, "designated": "1", "code": "YF-0003", "name": "某药房", "kind": "pharmacy", "region_code": OWN,
            "client_id": "x-app", "redirect_uris": "https://x.example.cn/cb", "scopes": ["profile:read"],
            "username": "clerk_x", "role": "agent", "regions": [OWN], "password": "Newclerk2025"}
    before = len(audit_of(world.engine))
    for token in ("", "0" * 32):
        refused = world.client.post(url, data={"csrf": token, **form}, follow_redirects=False)
        assert refused.status_code == 403, (url, refused.status_code)
    assert len(audit_of(world.engine)) == before
