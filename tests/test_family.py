"""Family sharing (家庭共济): binding close relatives, consent, ending, paying for them, their premiums, limits.

End to end through the API on SQLite and PostgreSQL; each scenario ends with the ledger's
invariant check clean.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from api_support import (
    START,
    add_designated_pharmacy,
    add_insured,
    add_resident,
    add_staff_user,
    bearer,
    client_for,
    login,
    reason_header,
    security,
    staff_headers,
)
from yibao.clock import FixedClock
from yibao.domain.resident_id import ResidentId
from yibao.security.staff import StaffRole
from yibao.family.relations import INVERSE, LABELS, allowed_relations
from yibao.ledger.check import check_ledger
from yibao.ledger.kinds import TxKind
from yibao.policy.loading import default_directory, load_book
from yibao.policy.rules import FAMILY_RELATIONS
from yibao.store.models import accounts, audit_log, notifications, persons, postings

FAMILY = "/api/v1/me/family"
PAYMENTS = "/api/v1/institution/payments"
GUARDIANSHIPS = "/api/v1/staff/guardianships"


class World:
    def __init__(self, engine, client, clock):
        self.engine, self.client, self.clock = engine, client, clock
        self.holder = add_insured(engine, 1, balance_fen=123_456)  # employee with a personal account
        self.spouse = add_insured(engine, 2, balance_fen=50_000)
        self.resident = add_resident(engine, 3)  # residents' insurance: no personal account
        self.pharmacy = {"X-Api-Key": add_designated_pharmacy(engine)}
        add_staff_user(engine, "agent1", StaffRole.AGENT)
        add_staff_user(engine, "agent_sh", StaffRole.AGENT, region_code="310000")
        self._receipts = 0

    def headers(self, person) -> dict:
        answer = login(self.client, person)
        assert answer.status_code == 200, answer.text
        return bearer(answer.json()["access_token"])

    def bind(self, holder, relative, relation: str):
        return self.client.post(FAMILY, headers=self.headers(holder), json={"id_number": relative.id_number, "relation": relation})

    def confirm_guardian(self, minor, guardian, relation: str = "parent", staff: str = "agent1"):
        """What the counter does after seeing the household register: a staff call with a reason."""
        body = {"minor_person_id": minor.person_id, "guardian_person_id": guardian.person_id, "relation": relation,
                "evidence": "户口簿 110105-0001", "reason": "办理家庭共济监护关系确认"}
        return self.client.post(GUARDIANSHIPS, headers=staff_headers(self.client, staff), json=body)

    def sms_to(self, person) -> list[str]:
        return [text for phone, text in self.client.app.state.security.sms.sent if phone == person.phone]

    def notices(self, person) -> list[str]:
        with self.engine.connect() as conn:
            return conn.execute(
                select(notifications.c.kind).where(notifications.c.person_id == person.person_id).order_by(notifications.c.id)
            ).scalars().all()

    def consent(self, person, binding_id: int):
        return self.client.post(f"{FAMILY}/{binding_id}/consent", headers=self.headers(person))

    def end(self, person, binding_id: int):
        return self.client.post(f"{FAMILY}/{binding_id}/end", headers=self.headers(person))

    def bound(self, holder, relative, relation: str) -> int:
        created = self.bind(holder, relative, relation)
        assert created.status_code == 201, created.text
        consented = self.consent(relative, created.json()["binding_id"])
        assert consented.status_code == 200, consented.text
        return created.json()["binding_id"]

    def pay(self, person, amount_fen: int, payer: str = "family", **extra):
        self._receipts += 1
        voucher = self.client.post("/api/v1/me/evoucher", headers=self.headers(person)).json()["payload"]
        body = {"payload": voucher, "amount_fen": amount_fen, "payer": payer, "receipt_no": f"F{self._receipts}",
                "idempotency_key": f"family-{self._receipts}"} | extra
        return self.client.post(PAYMENTS, headers=self.pharmacy, json=body)

    def details(self, person) -> list[dict]:
        answer = self.client.get("/api/v1/me/details", headers=self.headers(person))
        assert answer.status_code == 200, answer.text
        return answer.json()["items"]

    def balance(self, person) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(accounts.c.balance_fen).where(accounts.c.id == person.account_id)).scalar_one()


def _world(engine, at: datetime):
    clock = FixedClock(at)
    with client_for(engine, security(clock)) as client:
        yield World(engine, client, clock)
    with engine.connect() as conn:
        report = check_ledger(conn)
    assert report.ok, report.as_dict()  # `yibao db check` is clean after every scenario


@pytest.fixture
def world(engine):
    yield from _world(engine, START)


@pytest.fixture
def world_june_2024(engine):
    yield from _world(engine, datetime(2024, 6, 15, 2, 0, tzinfo=timezone.utc))


def error(answer) -> str:
    return answer.json()["error"]["code"]


# ---------------------------------------------------------------------------- binding


def test_a_binding_waits_for_the_relatives_own_consent(world):
    created = world.bind(world.holder, world.spouse, "spouse")
    assert created.status_code == 201, created.text
    binding = created.json()
    assert binding["status"] == "pending" and binding["role"] == "holder" and binding["relation_label"] == "配偶"
    # Until the relative consents the holder sees the ID number masked and no name.
    assert binding["other_name_masked"] is None and binding["status_label"] == "已向对方发送请求，对方同意后生效"
    assert binding["other_id_number_masked"] == ResidentId(world.spouse.id_number).masked
    assert world.spouse.id_number not in created.text and world.spouse.name not in created.text
    by_holder = world.consent(world.holder, binding["binding_id"])  # the holder cannot consent for an adult
    assert by_holder.status_code == 403 and error(by_holder) == "member_consent_required"
    stranger = world.consent(world.resident, binding["binding_id"])
    assert stranger.status_code == 404 and error(stranger) == "binding_not_found"
    consented = world.consent(world.spouse, binding["binding_id"])
    assert consented.status_code == 200 and consented.json()["status"] == "active"
    assert consented.json()["consented_by"] == "member" and consented.json()["role"] == "member"
    listed = world.client.get(FAMILY, headers=world.headers(world.spouse)).json()
    assert listed["as_holder"] == [] and [view["binding_id"] for view in listed["as_member"]] == [binding["binding_id"]]
    [seen] = world.client.get(FAMILY, headers=world.headers(world.holder)).json()["as_holder"]
    assert seen["status"] == "active" and seen["other_name_masked"] == world.spouse.name[0] + "*"  # named after consent
    assert world.client.get(FAMILY, headers=world.headers(world.resident)).json() == {"as_holder": [], "as_member": []}
    with world.engine.connect() as conn:
        actions = conn.execute(select(audit_log.c.action, audit_log.c.subject_person_id).where(audit_log.c.action.like("family.%"))).all()
    assert ("family.binding_created", world.spouse.person_id) in actions and ("family.binding_consented", world.holder.person_id) in actions


def test_the_relation_must_be_in_the_set_in_force(world):
    outside = world.bind(world.holder, world.spouse, "cousin")
    assert outside.status_code == 422 and error(outside) == "invalid_choice"
    assert world.bind(world.holder, world.spouse, "sibling").status_code == 201  # close relatives since 2024-07-01


def test_siblings_could_not_be_bound_before_july_2024(world_june_2024):
    world = world_june_2024
    refused = world.bind(world.holder, world.spouse, "sibling")
    assert refused.status_code == 422 and error(refused) == "relation_not_allowed"
    assert "配偶、父母、子女" in refused.json()["error"]["message"]
    assert world.bind(world.holder, world.spouse, "parent").status_code == 201


def test_binding_refusals(world):
    assert error(world.bind(world.holder, world.holder, "spouse")) == "binding_self"
    bad_id = world.client.post(FAMILY, headers=world.headers(world.holder), json={"id_number": "110105194912310021", "relation": "parent"})
    assert bad_id.status_code == 422
    assert world.bind(world.holder, world.spouse, "spouse").status_code == 201
    twice = world.bind(world.holder, world.spouse, "spouse")
    assert twice.status_code == 409 and error(twice) == "binding_exists"
    no_account = world.bind(world.resident, world.holder, "child")  # a residents'-insurance member has no account to share
    assert no_account.status_code == 422 and error(no_account) == "holder_has_no_account"


def test_a_minors_guardian_consents_for_the_minor(world, engine):
    minor = add_resident(engine, 5, birth=date(2015, 3, 1))
    created = world.bind(world.holder, minor, "child").json()
    by_minor = world.consent(minor, created["binding_id"])
    assert by_minor.status_code == 403 and error(by_minor) == "guardian_consent_required"
    unconfirmed = world.consent(world.holder, created["binding_id"])  # anyone can claim a child: the counter confirms
    assert unconfirmed.status_code == 403 and error(unconfirmed) == "guardianship_not_confirmed"
    assert "柜台" in unconfirmed.json()["error"]["message"]
    assert world.confirm_guardian(minor, world.holder).status_code == 201
    by_guardian = world.consent(world.holder, created["binding_id"])
    assert by_guardian.status_code == 200 and by_guardian.json()["status"] == "active"
    assert by_guardian.json()["consented_by"] == "guardian" and by_guardian.json()["consented_by_label"] == "监护人代为确认"
    # Only someone who can be the minor's guardian may consent for them.
    other_minor = add_resident(engine, 6, birth=date(2012, 1, 1))
    as_spouse = world.bind(world.holder, other_minor, "spouse").json()
    refused = world.consent(world.holder, as_spouse["binding_id"])
    assert refused.status_code == 403 and error(refused) == "not_guardian"


def test_either_side_ends_a_binding(world):
    first = world.bound(world.holder, world.spouse, "spouse")
    ended = world.end(world.spouse, first)
    assert ended.status_code == 200 and ended.json()["status"] == "ended" and ended.json()["ended_at"]
    assert world.end(world.holder, first).json()["status"] == "ended"  # ending twice changes nothing
    assert error(world.consent(world.spouse, first)) == "binding_ended"
    second = world.bound(world.holder, world.spouse, "spouse")  # a new binding after the old one ended
    assert world.end(world.holder, second).json()["status"] == "ended"
    assert world.end(world.resident, second).status_code == 404
    refused = world.pay(world.spouse, 100)
    assert refused.status_code == 422 and error(refused) == "no_family_binding"


# ---------------------------------------------------------------------------- paying for a relative


def test_a_family_payment_shows_in_both_peoples_details(world):
    world.bound(world.holder, world.resident, "parent")
    own = world.pay(world.resident, 3_000, payer="self")  # no personal account of their own
    assert own.status_code == 422 and error(own) == "no_personal_account"
    paid = world.pay(world.resident, 3_000)
    assert paid.status_code == 200, paid.text
    assert paid.json()["payer"] == "family" and paid.json()["paid_fen"] == 3_000
    assert paid.json()["name_masked"] == world.resident.name[0] + "*"  # the patient, never the holder
    assert world.balance(world.holder) == 123_456 - 3_000
    holder_line = world.details(world.holder)[0]
    assert holder_line["kind"] == TxKind.FAMILY_PAYMENT.value and holder_line["amount_fen"] == -3_000
    assert f"为亲属{world.resident.name[0]}*（父母）支付" in holder_line["memo"]
    member_lines = world.details(world.resident)
    assert len(member_lines) == 1 and member_lines[0]["transaction_id"] == holder_line["transaction_id"]
    assert f"由亲属{world.holder.name[0]}*（子女）的个人账户支付" in member_lines[0]["memo"]
    assert member_lines[0]["kind_label"] == "家庭共济支付"
    # A refund goes back to the holder's account and shows for both as well.
    refund = world.client.post("/api/v1/institution/refunds", headers=world.pharmacy,
                               json={"receipt_no": paid.json()["receipt_no"], "amount_fen": 1_000, "idempotency_key": "family-refund"})
    assert refund.status_code == 200, refund.text
    assert world.balance(world.holder) == 123_456 - 2_000
    # Neither moved the relative's own account: no sign, and who paid or got the money back instead.
    member_lines = world.details(world.resident)
    assert [line["amount_fen"] for line in member_lines] == [1_000, 3_000]
    holder_masked = world.holder.name[0] + "*"
    assert [line["paid_by"] for line in member_lines] == [f"已退回家人（{holder_masked}）的个人账户", f"由家人（{holder_masked}）的个人账户支付"]
    assert "退回" in world.details(world.resident)[0]["memo"] and world.details(world.holder)[0]["kind"] == "refund"
    with world.engine.connect() as conn:
        subjects = conn.execute(select(audit_log.c.subject_person_id).where(audit_log.c.action == "institution.payment")).scalars().all()
    assert set(subjects) == {world.resident.person_id, world.holder.person_id}


def test_a_family_payment_may_be_partial_and_never_reveals_the_holders_balance(world):
    world.bound(world.holder, world.resident, "parent")
    refused = world.pay(world.resident, 200_000)
    assert refused.status_code == 409 and error(refused) == "insufficient_balance"
    assert "1,234.56" not in refused.text
    partial = world.pay(world.resident, 200_000, allow_partial=True)
    assert partial.status_code == 200 and partial.json()["paid_fen"] == 123_456
    assert partial.json()["cash_due_fen"] == 200_000 - 123_456 and world.balance(world.holder) == 0


# ---------------------------------------------------------------------------- premiums


def test_the_holder_pays_a_relatives_residents_premium_into_the_pool(world, engine):
    binding = world.bound(world.holder, world.resident, "child")
    url = f"{FAMILY}/{binding}/premium"
    paid = world.client.post(url, headers=world.headers(world.holder), json={"year": 2025})
    assert paid.status_code == 200, paid.text
    assert paid.json()["amount_fen"] == 40_000 and paid.json()["amount"] == "400.00元"
    assert paid.json()["rule_id"] == "national:family.resident_premium@2025-01-01"
    assert world.balance(world.holder) == 123_456 - 40_000
    with engine.connect() as conn:
        legs = dict(conn.execute(
            select(accounts.c.code, postings.c.amount_fen).join(accounts, accounts.c.id == postings.c.account_id)
            .where(postings.c.transaction_id == paid.json()["transaction_id"])
        ).all())
    assert legs == {None: -40_000, "pool:110000": 40_000}
    again = world.client.post(url, headers=world.headers(world.holder), json={"year": 2025})
    assert again.status_code == 200 and again.json() == paid.json() and world.balance(world.holder) == 123_456 - 40_000
    member_line = world.details(world.resident)[0]
    assert member_line["kind"] == TxKind.FAMILY_PREMIUM.value and "代缴2025年度城乡居民医保费" in member_line["memo"]
    assert "为亲属" in world.details(world.holder)[0]["memo"]
    # A second holder cannot pay the same relative's same year again.
    other = world.bound(world.spouse, world.resident, "child")
    twice = world.client.post(f"{FAMILY}/{other}/premium", headers=world.headers(world.spouse), json={"year": 2025})
    assert twice.status_code == 409 and error(twice) == "premium_already_paid"
    assert world.balance(world.spouse) == 50_000


def test_premium_refusals(world):
    binding = world.bound(world.holder, world.resident, "child")
    url = f"{FAMILY}/{binding}/premium"
    unknown = world.client.post(url, headers=world.headers(world.holder), json={"year": 2026})
    assert unknown.status_code == 422 and error(unknown) == "premium_unknown"  # no 2026 standard in the data yet
    assert error(world.client.post(url, headers=world.headers(world.holder), json={"year": 2023})) == "premium_year"
    by_member = world.client.post(url, headers=world.headers(world.resident), json={"year": 2025})
    assert by_member.status_code == 403 and error(by_member) == "holder_only"
    assert world.client.post(url, headers=world.headers(world.spouse), json={"year": 2025}).status_code == 404
    employee = world.bound(world.holder, world.spouse, "spouse")
    not_resident = world.client.post(f"{FAMILY}/{employee}/premium", headers=world.headers(world.holder), json={"year": 2025})
    assert not_resident.status_code == 422 and error(not_resident) == "member_not_resident"
    world.end(world.resident, binding)
    ended = world.client.post(url, headers=world.headers(world.holder), json={"year": 2025})
    assert ended.status_code == 422 and error(ended) == "binding_not_active"
    assert world.balance(world.holder) == 123_456


# ---------------------------------------------------------------------------- limits


@pytest.fixture
def limited_book(tmp_path):
    """A test-only copy of the policy data in which Beijing limits family spending to 500 yuan a year."""
    directory = tmp_path / "policy"
    shutil.copytree(str(default_directory()), directory)
    beijing = directory / "110000.yaml"
    beijing.write_text(
        beijing.read_text(encoding="utf-8")
        + "  family.payment_limit:\n"
        "    description: 测试用家庭共济年度限额\n"
        "    values:\n"
        "      - from: 2025-01-01\n"
        "        confidence: stated\n"
        "        unit: 元/年\n"
        '        amount: "500"\n'
        "        sources: [国办发〔2021〕14号]\n"
        "        note: 仅用于测试。\n",
        encoding="utf-8",
    )
    return load_book(directory)


def test_a_regional_limit_is_enforced_when_the_data_gives_one(world, limited_book):
    assert load_book().resolve("family.payment_limit", load_book().regions.get("110000"), date(2025, 6, 15)).value.rule is None
    world.client.app.state.policy_book = limited_book
    binding = world.bound(world.holder, world.resident, "child")
    assert world.pay(world.resident, 30_000).status_code == 200
    over = world.pay(world.resident, 20_001)
    assert over.status_code == 422 and error(over) == "family_limit_exceeded" and "200.00元" in over.json()["error"]["message"]
    premium = world.client.post(f"{FAMILY}/{binding}/premium", headers=world.headers(world.holder), json={"year": 2025})
    assert premium.status_code == 422 and error(premium) == "family_limit_exceeded"
    refund = world.client.post("/api/v1/institution/refunds", headers=world.pharmacy,
                               json={"receipt_no": "F1", "amount_fen": 10_000, "idempotency_key": "limit-refund"})
    assert refund.status_code == 200
    assert world.pay(world.resident, 30_000).status_code == 200  # the refund gave room back
    assert world.pay(world.spouse, 40_000, payer="self").status_code == 200  # own spending is not limited


# ---------------------------------------------------------------------------- the data


def test_every_relation_in_the_policy_data_has_a_name_and_an_inverse():
    assert set(LABELS) == set(INVERSE) == set(FAMILY_RELATIONS)
    assert all(INVERSE[INVERSE[relation]] == relation for relation in FAMILY_RELATIONS)
    book = load_book()
    assert allowed_relations(book, "110000", date(2024, 6, 30)) == ("spouse", "parent", "child")
    assert set(allowed_relations(book, "110000", date(2024, 7, 1))) == set(FAMILY_RELATIONS)
    assert allowed_relations(book, "110000", date(2021, 1, 1)) == ()


# ---------------------------------------------------------------------------- what a request reveals, guardians


def test_a_request_answers_alike_whether_or_not_the_number_is_a_living_insured_persons(world, engine):
    never_insured = ResidentId.build("110105", date(1980, 5, 5), 99, today=START.date())
    deceased = add_insured(engine, 4)
    with engine.begin() as conn:
        conn.execute(persons.update().where(persons.c.id == deceased.person_id).values(died_on=date(2025, 1, 2)))
    answers = [
        world.client.post(FAMILY, headers=world.headers(world.holder), json={"id_number": id_number, "relation": "parent"})
        for id_number in (world.spouse.id_number, never_insured.full, deceased.id_number)
    ]
    assert [answer.status_code for answer in answers] == [201, 201, 201]
    views = [answer.json() for answer in answers]
    ignored = {"binding_id", "created_at", "other_id_number_masked"}
    assert len({tuple(sorted((k, str(v)) for k, v in view.items() if k not in ignored)) for view in views}) == 1
    assert views[1]["other_id_number_masked"] == never_insured.masked and views[1]["other_name_masked"] is None
    listed = world.client.get(FAMILY, headers=world.headers(world.holder)).json()["as_holder"]
    assert [view["status_label"] for view in listed] == ["已向对方发送请求，对方同意后生效"] * 3
    for view in views:  # the holder's consent, a second request and ending: the same answers too
        consent = world.consent(world.holder, view["binding_id"])
        assert consent.status_code == 403 and error(consent) == "member_consent_required"
    again = [world.client.post(FAMILY, headers=world.headers(world.holder), json={"id_number": number, "relation": "parent"})
             for number in (world.spouse.id_number, never_insured.full)]
    assert [(answer.status_code, error(answer)) for answer in again] == [(409, "binding_exists")] * 2
    assert world.end(world.holder, views[1]["binding_id"]).json()["status"] == "ended"
    # Nothing can pay for a number that no one consented for.
    assert world.pay(world.spouse, 100).status_code == 422


def test_a_minor_is_bound_only_by_a_confirmed_guardian_and_the_other_guardians_are_told(world, engine):
    minor = add_resident(engine, 5, birth=date(2015, 3, 1))
    stranger_binding = world.bind(world.spouse, minor, "child").json()  # claims the child; not a guardian
    assert world.consent(world.spouse, stranger_binding["binding_id"]).status_code == 403
    other_parent = add_insured(engine, 6)
    assert world.confirm_guardian(minor, other_parent).status_code == 201
    assert world.confirm_guardian(minor, world.holder).status_code == 201
    binding = world.bind(world.holder, minor, "child").json()
    assert world.consent(world.holder, binding["binding_id"]).status_code == 200
    assert world.notices(other_parent) == ["guardian.binding"] and world.notices(world.holder) == []
    [sms] = world.sms_to(other_parent)
    assert "监护人" in sms and minor.name not in sms and world.holder.name not in sms  # names masked in a text message
    assert world.consent(world.holder, binding["binding_id"]).status_code == 200  # consenting again tells no one again
    assert world.notices(other_parent) == ["guardian.binding"]
    # Paying for the minor at a pharmacy and paying the minor's premium: told each time.
    assert world.pay(minor, 1_500).status_code == 200
    paid = world.client.post(f"{FAMILY}/{binding['binding_id']}/premium", headers=world.headers(world.holder),
                             json={"year": START.year})
    assert paid.status_code == 200, paid.text
    again = world.client.post(f"{FAMILY}/{binding['binding_id']}/premium", headers=world.headers(world.holder),
                              json={"year": START.year})
    assert again.json()["transaction_id"] == paid.json()["transaction_id"]  # answered again: nobody told twice
    assert world.notices(other_parent) == ["guardian.binding", "guardian.payment", "guardian.payment"]
    assert len(world.sms_to(other_parent)) == 3 and "15.00元" in world.sms_to(other_parent)[1]
    assert world.notices(world.spouse) == []  # not a guardian: not told
    shown = world.client.get("/api/v1/me/notifications", headers=world.headers(other_parent)).json()["notifications"]
    assert [item["kind"] for item in shown] == ["guardian.payment", "guardian.payment", "guardian.binding"]  # newest first


def test_guardianships_are_confirmed_listed_and_ended_by_staff_with_a_reason(world, engine):
    minor = add_resident(engine, 5, birth=date(2015, 3, 1))
    adult = add_resident(engine, 7, birth=date(1990, 1, 1))
    agent = staff_headers(world.client, "agent1")
    assert world.confirm_guardian(minor, world.holder, staff="agent_sh").status_code == 404  # another region's minor
    assert error(world.confirm_guardian(adult, world.holder)) == "not_a_minor"
    assert error(world.confirm_guardian(world.holder, minor)) == "not_a_minor"
    confirmed = world.confirm_guardian(minor, world.holder)
    assert confirmed.status_code == 201 and confirmed.json()["current"] and confirmed.json()["relation_label"] == "父母"
    twice = world.confirm_guardian(minor, world.holder)
    assert twice.status_code == 409 and error(twice) == "guardianship_exists"
    no_reason = world.client.get(GUARDIANSHIPS, headers=agent, params={"minor_person_id": minor.person_id})
    assert no_reason.status_code == 422
    in_url = world.client.get(GUARDIANSHIPS, headers=agent, params={"minor_person_id": minor.person_id, "reason": "核对监护人"})
    assert in_url.status_code == 422 and error(in_url) == "reason_in_url"
    listed = world.client.get(GUARDIANSHIPS, headers=agent | reason_header("核对监护人"), params={"minor_person_id": minor.person_id})
    assert [item["guardian_person_id"] for item in listed.json()["guardianships"]] == [world.holder.person_id]
    binding = world.bind(world.holder, minor, "child").json()
    assert world.consent(world.holder, binding["binding_id"]).status_code == 200
    guardianship_id = confirmed.json()["guardianship_id"]
    ended = world.client.post(f"{GUARDIANSHIPS}/{guardianship_id}/end", headers=agent, json={"reason": "监护关系变更"})
    assert ended.status_code == 200 and ended.json()["current"] is False
    assert world.client.get(FAMILY, headers=world.headers(world.holder)).json()["as_holder"][0]["status"] == "ended"
    assert world.pay(minor, 100).status_code == 422  # the binding ended with the guardianship
    with engine.connect() as conn:
        rows = conn.execute(select(audit_log.c.action, audit_log.c.subject_person_id, audit_log.c.reason)
                            .where(audit_log.c.action.like("staff.guardianship.%"))).all()
    assert ("staff.guardianship.confirmed", minor.person_id, "办理家庭共济监护关系确认") in rows
    assert ("staff.guardianship.confirmed", world.holder.person_id, "办理家庭共济监护关系确认") in rows
    assert ("staff.guardianship.list", minor.person_id, "核对监护人") in rows
    assert ("staff.guardianship.ended", minor.person_id, "监护关系变更") in rows


def test_a_notification_sms_that_fails_undoes_nothing(world, engine):
    class Down:
        def send(self, phone, text):
            raise OSError("provider unreachable")

    minor, other_parent = add_resident(engine, 5, birth=date(2015, 3, 1)), add_insured(engine, 6)
    for guardian in (other_parent, world.holder):
        assert world.confirm_guardian(minor, guardian).status_code == 201
    world.client.app.state.security.__dict__["sms"] = Down()
    binding = world.bind(world.holder, minor, "child").json()
    assert world.consent(world.holder, binding["binding_id"]).json()["status"] == "active"
    assert world.notices(other_parent) == ["guardian.binding"]  # the record stays; the failure is logged
