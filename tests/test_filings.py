"""Out-of-area care filing (异地就医备案) on SQLite and PostgreSQL: filing through the API with the
policy data's kinds, reasons and minimum length; changing with history; cancelling; another
person's filing is not found; staff confirmation; and the "long-term residence elsewhere"
withdrawal that needs a long-term filing in force."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from api_support import (
    START, Insured, add_insured, add_staff_user, client_for, later, payee_body, person_token, portal_sign_in, security,
)
from portal_case_support import csrf_of
from workbench_support import audit_of, post_form, workbench_sign_in
from yibao.clock import FixedClock
from yibao.errors import InvalidInput
from yibao.filings import service
from yibao.filings.rules import earliest_end, filing_rules
from yibao.filings.service import Actor, FilingInput
from yibao.policy.loading import default_directory, load_book
from yibao.security.staff import StaffRole
from yibao.store.models import accounts, audit_log, care_filings, notifications, persons
from yibao.web.counter.audit_labels import action_label

TODAY = date(2025, 6, 15)  # START in China
FILINGS = "/api/v1/me/filings"
LONG_TERM = {"kind": "long_term", "place": "440300", "reason": "long_residence", "starts_on": "2025-06-20"}
TEMPORARY = {"kind": "temporary", "place": "310000", "reason": "referral", "starts_on": "2025-07-01",
             "ends_on": "2025-12-31"}


@dataclass
class World:
    engine: object
    client: TestClient
    clock: FixedClock
    a: Insured
    b: Insured
    tokens: dict = field(default_factory=dict)

    def person(self, who: Insured | None = None) -> dict:
        who = who or self.a
        if who.person_id not in self.tokens:
            self.tokens[who.person_id] = person_token(self.client, who)
        return self.tokens[who.person_id]

    def file(self, body: dict, who: Insured | None = None):
        return self.client.post(FILINGS, json=body, headers=self.person(who))

    def confirm(self, filing_id: int, approve: bool = True) -> None:
        with self.engine.begin() as conn:
            row = service.visible_filing(conn, filing_id, Actor("staff", 1))
            service.decide(conn, row, staff_id=None, approve=approve, note="材料齐全，予以确认" if approve else "材料不全",
                           now=START, place_name="深圳市", kind_name="长期异地居住")


@pytest.fixture
def world(engine):
    clock = FixedClock(START)
    with client_for(engine, security(clock)) as client:
        yield World(engine, client, clock, add_insured(engine, 1), add_insured(engine, 2))


def error_code(answer) -> str:
    return answer.json()["error"]["code"]


# ---------------------------------------------------------------------------- policy data


def test_the_data_gives_the_kinds_reasons_documents_and_confirmation():
    rules = filing_rules(load_book(), "110000", TODAY)
    long_term, temporary = rules.kind("long_term"), rules.kind("temporary")
    assert (long_term.name, long_term.until_cancelled, long_term.minimum_months) == ("长期异地居住", True, None)
    assert (temporary.name, temporary.until_cancelled, temporary.minimum_months) == ("临时外出就医", False, 6)
    assert [r.name for r in long_term.reasons] == ["异地安置退休", "异地长期居住", "常驻异地工作"]
    assert long_term.documents and temporary.documents
    # Nationally the data says nothing on confirmation (unknown): staff confirm.
    assert rules.needs_confirmation is True and len(rules.rule_ids) == 2


def test_earliest_end_is_the_day_before_the_same_day_months_later():
    assert earliest_end(date(2025, 7, 1), 6) == date(2025, 12, 31)
    assert earliest_end(date(2025, 6, 15), 6) == date(2025, 12, 14)
    assert earliest_end(date(2025, 8, 31), 6) == date(2026, 2, 27)  # February has no 31st


# ---------------------------------------------------------------------------- filing


def test_a_person_files_and_sees_the_filing_waiting_for_confirmation(world):
    answer = world.file(LONG_TERM)
    assert answer.status_code == 201, answer.text
    filed = answer.json()
    assert (filed["status"], filed["status_label"], filed["kind_label"]) == ("pending", "待确认", "长期异地居住")
    assert (filed["place_name"], filed["reason_label"]) == ("深圳市", "异地长期居住")
    assert filed["validity"] == "2025-06-20 起，长期有效（至取消）" and filed["ends_on"] is None
    assert filed["required_documents"] and filed["open"] and not filed["in_force"]
    listed = world.client.get(FILINGS, headers=world.person()).json()
    assert [item["id"] for item in listed["items"]] == [filed["id"]]
    assert listed["needs_confirmation"] is True and [k["key"] for k in listed["kinds"]] == ["long_term", "temporary"]
    with world.engine.connect() as conn:
        row = conn.execute(select(care_filings)).mappings().one()
        logged = conn.execute(select(audit_log.c.action).where(audit_log.c.action == "filing.file")).scalars().all()
    assert (row["region_code"], row["place_code"], row["created_by"]) == ("110000", "440300", f"person:{world.a.person_id}")
    assert logged == ["filing.file"]


@pytest.mark.parametrize(("change", "code", "field_name"), [
    ({"place": "110000"}, "filing_place_home", "place"),  # the person's own pooling region
    ({"place": "999999"}, "unknown_region", "place"),
    ({"kind": "forever"}, "filing_kind_unknown", "kind"),
    ({"reason": "referral"}, "filing_reason_unknown", "reason"),  # a temporary reason for a long-term filing
    ({"starts_on": "2025-06-14"}, "filing_start_past", "starts_on"),
    ({"ends_on": "2026-06-20"}, "filing_end_not_allowed", "ends_on"),
])
def test_bad_filings_are_refused_and_change_nothing(world, change, code, field_name):
    answer = world.file(LONG_TERM | change)
    assert answer.status_code == 422 and error_code(answer) == code
    assert answer.json()["error"]["field"] == field_name
    with world.engine.connect() as conn:
        assert conn.execute(select(care_filings.c.id)).first() is None


def test_a_temporary_filing_lasts_at_least_the_months_the_data_gives(world):
    short = world.file(TEMPORARY | {"ends_on": "2025-12-30"})
    assert short.status_code == 422 and error_code(short) == "filing_too_short"
    assert "6个月" in short.json()["error"]["message"] and "2025-12-31" in short.json()["error"]["message"]
    missing = world.file({k: v for k, v in TEMPORARY.items() if k != "ends_on"})
    assert missing.status_code == 422 and error_code(missing) == "filing_end_required"
    ok = world.file(TEMPORARY)
    assert ok.status_code == 201 and ok.json()["validity"] == "2025-07-01 至 2025-12-31"


def test_one_open_filing_at_a_time_and_a_temporary_one_ends_by_itself(world):
    filed = world.file(TEMPORARY).json()
    second = world.file(LONG_TERM)
    assert second.status_code == 409 and error_code(second) == "filing_already_open"
    world.confirm(filed["id"])
    later(world.clock, days=200)  # 2026-01-01: past the end date
    world.tokens.clear()  # a new sign-in on that day
    listed = world.client.get(FILINGS, headers=world.person()).json()["items"]
    assert (listed[0]["status_label"], listed[0]["in_force"], listed[0]["open"]) == ("已到期", False, False)
    assert world.file(LONG_TERM | {"starts_on": "2026-01-05"}).status_code == 201


def test_a_change_keeps_the_old_filing_as_changed_and_starts_a_new_one(world):
    old = world.file(LONG_TERM).json()
    world.confirm(old["id"])
    changed = world.client.post(f"{FILINGS}/{old['id']}/change", headers=world.person(),
                                json=LONG_TERM | {"place": "330100", "reason": "posted_worker", "starts_on": "2025-07-01"})
    assert changed.status_code == 201, changed.text
    new = changed.json()
    assert (new["status_label"], new["place_name"], new["replaces_id"]) == ("待确认", "杭州市", old["id"])
    items = {item["id"]: item for item in world.client.get(FILINGS, headers=world.person()).json()["items"]}
    assert items[old["id"]]["status_label"] == "已变更" and items[old["id"]]["validity"] == "原定2025-06-20 起，2025-06-15 变更"
    again = world.client.post(f"{FILINGS}/{old['id']}/change", headers=world.person(), json=LONG_TERM)
    assert again.status_code == 409 and error_code(again) == "filing_wrong_status"


def test_cancel_ends_a_filing_once(world):
    filed = world.file(LONG_TERM).json()
    cancelled = world.client.post(f"{FILINGS}/{filed['id']}/cancel", headers=world.person())
    assert cancelled.status_code == 200 and cancelled.json()["status_label"] == "已取消"
    twice = world.client.post(f"{FILINGS}/{filed['id']}/cancel", headers=world.person())
    assert twice.status_code == 409 and error_code(twice) == "filing_wrong_status"
    assert world.file(LONG_TERM).status_code == 201  # a new filing after cancelling


def test_another_persons_filing_is_not_found(world):
    filed = world.file(LONG_TERM).json()
    for path, body in ((f"{FILINGS}/{filed['id']}/cancel", None), (f"{FILINGS}/{filed['id']}/change", LONG_TERM)):
        answer = world.client.post(path, json=body, headers=world.person(world.b))
        assert answer.status_code == 404 and error_code(answer) == "filing_not_found"
    assert world.client.get(FILINGS, headers=world.person(world.b)).json()["items"] == []


def test_staff_decision_is_told_to_the_person_and_only_once(world):
    filed = world.file(LONG_TERM).json()
    world.confirm(filed["id"], approve=False)
    with world.engine.connect() as conn:
        told = conn.execute(select(notifications.c.text).where(notifications.c.person_id == world.a.person_id)).scalars().all()
        row = service.visible_filing(conn, filed["id"], Actor("person", world.a.person_id))
    assert any("未通过" in text and "材料不全" in text for text in told)
    with pytest.raises(service.FilingConflict), world.engine.begin() as conn:
        service.decide(conn, row, staff_id=None, approve=True, note="再次确认", now=START, place_name="深圳市",
                       kind_name="长期异地居住")
    with pytest.raises(InvalidInput), world.engine.begin() as conn:
        service.decide(conn, row, staff_id=None, approve=True, note=" ", now=START, place_name="深圳市", kind_name="x")


def test_where_the_data_needs_no_confirmation_a_filing_takes_effect_at_once(world, tmp_path):
    target = tmp_path / "policy"
    shutil.copytree(Path(str(default_directory())), target)
    path = target / "national.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["parameters"]["filing.staff_confirmation"]["values"][0].update(confidence="range", value=False)
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    book = load_book(target)
    typed = FilingInput("long_term", "440300", "long_residence", TODAY)
    with world.engine.begin() as conn:
        filing_id = service.file(conn, book, person_id=world.a.person_id, typed=typed, today=TODAY,
                                 actor=Actor("person", world.a.person_id), now=START)
        row = service.visible_filing(conn, filing_id, Actor("person", world.a.person_id))
        assert service.in_force(row, TODAY) and service.long_term_in_force(conn, world.a.person_id, TODAY) is not None


# ---------------------------------------------------------------------------- the withdrawal it opens


def move_to_shanghai(world: World) -> None:
    """Shanghai allows "long-term residence elsewhere" after a long-term filing (先办理长期异地就医确认)."""
    with world.engine.begin() as conn:
        conn.execute(update(accounts).where(accounts.c.id == world.a.account_id).values(region_code="310000"))
        conn.execute(update(persons).where(persons.c.id == world.a.person_id).values(region_code="310000"))


def apply_remote(world: World):
    return world.client.post("/api/v1/me/withdrawals", json={"reason": "remote", **payee_body(world.a)},
                             headers=world.person())


def test_remote_withdrawal_needs_a_long_term_filing_in_force(world):
    move_to_shanghai(world)
    refused = apply_remote(world)
    assert refused.status_code == 422 and error_code(refused) == "remote_filing_required"
    assert refused.json()["error"]["field"] == "reason" and "异地就医备案" in refused.json()["error"]["message"]
    filed = world.file(LONG_TERM | {"starts_on": "2025-06-15"}).json()
    assert error_code(apply_remote(world)) == "remote_filing_required"  # waiting for confirmation
    world.confirm(filed["id"])
    opened = apply_remote(world)
    assert opened.status_code == 201, opened.text


def test_a_temporary_filing_does_not_open_the_remote_withdrawal(world):
    move_to_shanghai(world)
    filed = world.file(TEMPORARY | {"place": "440300", "starts_on": "2025-06-15", "ends_on": "2025-12-31"}).json()
    world.confirm(filed["id"])
    assert error_code(apply_remote(world)) == "remote_filing_required"


def test_where_the_region_says_nothing_the_remote_case_opens_flagged_without_a_filing(world):
    # Beijing's data says nothing on "remote" (unknown nationally): staff check, no filing required.
    opened = apply_remote(world)
    assert opened.status_code == 201 and opened.json()["policy"]["flagged"] is True


# ---------------------------------------------------------------------------- the portal page


def portal_post(world: World, path: str, **form):
    return world.client.post(path, data={"csrf": csrf_of(world.client, "/portal/filings"), **form}, follow_redirects=False)


def test_portal_files_shows_changes_and_cancels(world):
    portal_sign_in(world.client, world.a)
    page = world.client.get("/portal/filings").text
    assert "长期异地居住" in page and "有效期至少6个月" in page and "异地安置退休" in page
    refused = portal_post(world, "/portal/filings", choice="long_term/long_residence", place="110000", starts_on="2025-06-20")
    assert refused.status_code == 422 and "备案地是您参保的统筹区" in refused.text
    filed = portal_post(world, "/portal/filings", choice="long_term/long_residence", place="440300",
                        starts_on="2025-06-20", ends_on="2026-01-01")  # an end date typed for long-term is dropped
    assert filed.status_code == 303 and filed.headers["location"] == "/portal/filings?notice=filed"
    page = world.client.get("/portal/filings?notice=filed").text
    assert "备案已提交" in page and "长期异地居住 · 深圳市" in page and "待确认" in page and "长期有效（至取消）" in page
    with world.engine.connect() as conn:
        filing_id = conn.execute(select(care_filings.c.id)).scalar_one()
    change_page = world.client.get(f"/portal/filings?change={filing_id}").text
    assert "变更备案" in change_page and 'value="long_term/long_residence" checked' in change_page
    changed = portal_post(world, f"/portal/filings/{filing_id}/change", choice="temporary/referral", place="310000",
                          starts_on="2025-07-01", ends_on="2025-12-31")
    assert changed.status_code == 303, changed.text
    page = world.client.get("/portal/filings").text
    assert "已变更" in page and "临时外出就医 · 上海市" in page and "2025-07-01 至 2025-12-31" in page
    new_id = filing_id + 1
    assert portal_post(world, f"/portal/filings/{new_id}/cancel").status_code == 303
    assert "已取消" in world.client.get("/portal/filings").text
    assert "异地就医备案" in world.client.get("/portal/cases").text


def test_portal_hides_other_peoples_filings_and_shows_no_program_text(world):
    filed = world.file(LONG_TERM, who=world.b).json()
    portal_sign_in(world.client, world.a)
    assert world.client.get(f"/portal/filings?change={filed['id']}").status_code == 404
    assert portal_post(world, f"/portal/filings/{filed['id']}/cancel").status_code == 404
    refused = portal_post(world, "/portal/filings", choice="", place="", starts_on="")
    assert refused.status_code == 422 and "请选择备案类型和原因" in refused.text
    for text in ("None", "long_term", "filing_", "Traceback"):
        assert text not in re.sub(r'value="[^"]*"|id="[^"]*"|for="[^"]*"|data-testid="[^"]*"|name="[^"]*"', "", refused.text)


def test_portal_withdrawal_page_says_a_filing_is_needed_or_exists(world):
    move_to_shanghai(world)
    portal_sign_in(world.client, world.a)
    page = world.client.get("/portal/withdrawals").text
    assert "须先办理长期异地居住的异地就医备案" in page and 'href="/portal/filings"' in page
    filed = world.file(LONG_TERM | {"starts_on": "2025-06-15"}).json()
    world.confirm(filed["id"])
    assert "已有生效的长期异地居住备案（深圳市" in world.client.get("/portal/withdrawals").text


# ---------------------------------------------------------------------------- the workbench


def staff_client(world: World, username: str, region: str | None) -> TestClient:
    """A second browser, signed in at the workbench (same app and clock as the person's)."""
    add_staff_user(world.engine, username, StaffRole.AGENT, region_code=region)
    client = TestClient(world.client.app, base_url="https://testserver")
    assert workbench_sign_in(client, username).status_code == 303
    return client


def test_staff_confirm_and_reject_at_the_workbench_within_their_region(world):
    first = world.file(LONG_TERM).json()
    second = world.file(LONG_TERM, who=world.b).json()
    clerk = staff_client(world, "agent_bj", "110000")
    queue = clerk.get("/counter/filings").text
    assert f"第{first['id']}号" in queue and f"第{second['id']}号" in queue and "异地长期居住" in queue
    assert world.a.name not in queue  # masked: 张* and the ID number's middle hidden
    page = clerk.get(f"/counter/filings/{first['id']}").text
    assert "确认备案" in page and "深圳市" in page and "有效身份证件或社会保障卡" in page
    empty = post_form(clerk, f"/counter/filings/{first['id']}/decision", {"decision": "reject", "note": ""})
    assert empty.status_code == 422 and "请填写确认意见或不予通过的原因" in empty.text
    done = post_form(clerk, f"/counter/filings/{first['id']}/decision", {"decision": "confirm", "note": "材料齐全，予以确认"})
    assert done.status_code == 303 and done.headers["location"].endswith("?notice=confirmed")
    assert "已生效" in clerk.get(done.headers["location"]).text
    rejected = post_form(clerk, f"/counter/filings/{second['id']}/decision", {"decision": "reject", "note": "居住证明不全"})
    assert rejected.status_code == 303
    again = post_form(clerk, f"/counter/filings/{second['id']}/decision", {"decision": "confirm", "note": "再次确认"})
    assert again.status_code == 409
    listed = {item["id"]: item for item in world.client.get(FILINGS, headers=world.person(world.b)).json()["items"]}
    assert listed[second["id"]]["status_label"] == "未通过" and listed[second["id"]]["decision_note"] == "居住证明不全"
    with world.engine.connect() as conn:
        told = conn.execute(select(notifications.c.text).where(notifications.c.person_id == world.a.person_id)).scalars().all()
    assert any("已确认生效" in text for text in told)
    actions = [row["action"] for row in audit_of(world.engine, person_id=world.a.person_id) if row["actor_kind"] == "staff"]
    assert "staff.filing.view" in actions and "staff.filing.decision" in actions
    decision = audit_of(world.engine, "staff.filing.decision")[0]
    assert decision["reason"] == "材料齐全，予以确认" and decision["detail"]["channel"] == "counter"
    assert all(action_label(row["action"]) != f"其他操作（{row['action']}）" for row in audit_of(world.engine))


def test_a_clerk_of_another_region_does_not_find_the_filing(world):
    filed = world.file(LONG_TERM).json()
    clerk = staff_client(world, "agent_sh", "310000")
    assert f"第{filed['id']}号" not in clerk.get("/counter/filings").text
    assert clerk.get(f"/counter/filings/{filed['id']}").status_code == 404
    refused = post_form(clerk, f"/counter/filings/{filed['id']}/decision", {"decision": "confirm", "note": "材料齐全"})
    assert refused.status_code == 404
    with world.engine.connect() as conn:
        assert conn.execute(select(care_filings.c.status)).scalar_one() == "pending"


def test_the_workbench_start_page_counts_filings_waiting(world):
    world.file(LONG_TERM)
    clerk = staff_client(world, "agent_bj", "110000")
    page = clerk.get("/counter").text
    assert "待确认的异地就医备案" in page and 'href="/counter/filings"' in page
