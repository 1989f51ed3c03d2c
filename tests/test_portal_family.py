"""Family sharing (家庭共济) on the portal through the test client, on SQLite and PostgreSQL:
bind, consent in the relative's own session, both directions, end, pay a premium, see what
was paid for whom; other people's bindings, CSRF and bad input; the same audit rows as the API."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import func, select

from api_support import START, RecordingSender, add_insured, add_resident, client_for, portal_sign_in, security, token_in
from yibao.clock import FixedClock
from yibao.family.relations import LABELS, allowed_relations
from yibao.policy.loading import load_book
from yibao.store.models import audit_log, family_bindings, family_payments, notifications

FAMILY = "/portal/family"


class Family:
    """One browser per person (each its own cookies), all on the same app."""

    def __init__(self, engine, sec):
        self.engine, self.sec = engine, sec
        self.clients = {}

    def as_(self, person):
        if person.person_id not in self.clients:
            client = client_for(self.engine, self.sec).__enter__()
            assert portal_sign_in(client, person).status_code == 303
            self.clients[person.person_id] = client
        return self.clients[person.person_id]

    def post(self, person, path: str, **fields):
        client = self.as_(person)
        csrf = token_in(client.get(FAMILY).text, "csrf")
        return client.post(path, data={"csrf": csrf, **fields}, follow_redirects=False)

    def page(self, person) -> str:
        answer = self.as_(person).get(FAMILY)
        assert answer.status_code == 200
        return answer.text

    def bind(self, holder, relative, relation: str):
        return self.post(holder, f"{FAMILY}/bind", id_number=relative.id_number, relation=relation)

    def binding_id(self, holder) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.max(family_bindings.c.id)).where(family_bindings.c.holder_person_id == holder.person_id)
            ).scalar_one()

    def close(self):
        for client in self.clients.values():
            client.__exit__(None, None, None)


@pytest.fixture
def family(engine):
    world = Family(engine, security(FixedClock(START), RecordingSender()))
    people = {"holder": add_insured(engine, 1), "spouse": add_insured(engine, 2), "child": add_resident(engine, 3),
              "stranger": add_insured(engine, 4)}
    yield world, people
    world.close()


def actions(engine) -> list[str]:
    with engine.connect() as conn:
        return conn.execute(
            select(audit_log.c.action).where(audit_log.c.action.like("family.%")).order_by(audit_log.c.id)
        ).scalars().all()


def test_the_relation_list_is_the_policy_set_in_force(family):
    world, people = family
    page = world.page(people["holder"])
    allowed = allowed_relations(load_book(), "110000", START.date())
    assert allowed  # the shipped data has the national set
    shown = re.findall(r'<option value="([a-z]+)"', page.split('id="relation"')[1].split("</select>")[0])
    assert shown == list(allowed)
    assert all(LABELS[relation] in page for relation in allowed)


def test_bind_consent_in_the_relatives_own_session_and_both_directions(family, engine):
    world, people = family
    holder, spouse = people["holder"], people["spouse"]
    asked = world.bind(holder, spouse, "spouse")
    assert asked.status_code == 303 and asked.headers["location"] == f"{FAMILY}?notice=requested"
    binding = world.binding_id(holder)
    holder_page = world.page(holder)
    assert "已向对方发送请求" in holder_page and spouse.name not in holder_page  # no name before consent
    assert spouse.id_number not in holder_page and spouse.id_number[:6] in holder_page  # masked ID only
    spouse_page = world.page(spouse)
    assert f'data-testid="consent-{binding}"' in spouse_page and "请求用其职工医保个人账户" in spouse_page
    assert "同意绑定" in spouse_page
    # The holder cannot consent for an adult relative.
    refused = world.post(holder, f"{FAMILY}/{binding}/consent")
    assert refused.status_code == 403 and "亲属本人" in refused.text
    consented = world.post(spouse, f"{FAMILY}/{binding}/consent")
    assert consented.status_code == 303
    holder_page = world.page(holder)
    assert f'data-testid="holder-{binding}"' in holder_page and "已生效" in holder_page
    assert spouse.name[0] + "*" in holder_page and "已同意与您家庭共济" in holder_page  # the holder's notice
    assert f'data-testid="member-{binding}"' in world.page(spouse)
    assert actions(engine) == ["family.binding_created", "family.binding_consented"]


def test_a_person_can_neither_see_consent_to_nor_end_anothers_binding(family, engine):
    world, people = family
    world.bind(people["holder"], people["spouse"], "spouse")
    binding = world.binding_id(people["holder"])
    stranger = people["stranger"]
    assert f"/portal/family/{binding}/" not in world.page(stranger)
    for action in ("consent", "end"):
        answer = world.post(stranger, f"{FAMILY}/{binding}/{action}")
        assert answer.status_code == 404 and "未找到该家庭共济绑定" in answer.text
        assert "<html" in answer.text and '{"error"' not in answer.text
    premium = world.post(stranger, f"{FAMILY}/{binding}/premium", year=str(START.year))
    assert premium.status_code == 404
    with engine.connect() as conn:
        assert conn.execute(select(family_bindings.c.status)).scalar_one() == "pending"
    assert actions(engine) == ["family.binding_created"]


def test_forms_need_the_sessions_csrf_token(family, engine):
    world, people = family
    client = world.as_(people["holder"])
    forged = client.post(f"{FAMILY}/bind", data={"id_number": people["spouse"].id_number, "relation": "spouse",
                                                "csrf": "0" * 64}, follow_redirects=False)
    assert forged.status_code == 403 and "页面已过期" in forged.text
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(family_bindings)).scalar_one() == 0


def test_bad_input_is_shown_next_to_its_field_and_changes_nothing(family, engine):
    world, people = family
    bad_id = world.post(people["holder"], f"{FAMILY}/bind", id_number="12345", relation="spouse")
    assert bad_id.status_code == 422 and 'id="id_number-error"' in bad_id.text
    no_relation = world.post(people["holder"], f"{FAMILY}/bind", id_number=people["spouse"].id_number, relation="")
    assert no_relation.status_code == 422 and 'id="relation-error"' in no_relation.text and "请选择亲属关系" in no_relation.text
    self_bind = world.post(people["holder"], f"{FAMILY}/bind", id_number=people["holder"].id_number, relation="spouse")
    assert self_bind.status_code == 422 and "不能与本人绑定" in self_bind.text
    world.bind(people["holder"], people["spouse"], "spouse")
    twice = world.bind(people["holder"], people["spouse"], "spouse")
    assert twice.status_code == 409 and "无需重复绑定" in twice.text
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(family_bindings)).scalar_one() == 1


def test_pay_a_relatives_premium_and_both_see_it_then_end(family, engine):
    world, people = family
    holder, child = people["holder"], people["child"]
    world.bind(holder, child, "child")
    binding = world.binding_id(holder)
    assert world.post(child, f"{FAMILY}/{binding}/consent").status_code == 303
    paid = world.post(holder, f"{FAMILY}/{binding}/premium", year=str(START.year))
    assert paid.status_code == 303 and paid.headers["location"] == f"{FAMILY}?notice=paid"
    holder_page = world.page(holder)
    assert f"为亲属{child.name[0]}*（子女）代缴{START.year}年度城乡居民医保费" in holder_page and "400.00元" in holder_page
    child_page = world.page(child)
    assert "不能用账户为亲属共济" in child_page and 'action="/portal/family/bind"' not in child_page  # no account to share
    assert f"代缴{START.year}年度城乡居民医保费" in child_page and "您本人账户未扣款" in child_page
    again = world.post(holder, f"{FAMILY}/{binding}/premium", year=str(START.year))
    assert again.status_code == 303  # the same payment answered again, not a second one
    refused = world.post(holder, f"{FAMILY}/{binding}/premium", year=str(START.year + 2))
    assert refused.status_code == 422 and "只能代缴" in refused.text
    by_member = world.post(child, f"{FAMILY}/{binding}/premium", year=str(START.year))
    assert by_member.status_code == 422 and "只有共济账户持有人" in by_member.text
    ended = world.post(child, f"{FAMILY}/{binding}/end")
    assert ended.status_code == 303
    assert "已解除" in world.page(holder) and "已解除与您的家庭共济绑定" in world.page(holder)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(family_payments)).scalar_one() == 1
        kinds = conn.execute(select(notifications.c.kind).where(notifications.c.person_id == child.person_id)
                             .order_by(notifications.c.id)).scalars().all()
    assert kinds == ["family.request", "family.premium"]
    assert actions(engine) == ["family.binding_created", "family.binding_consented", "family.premium_paid",
                               "family.premium_paid", "family.binding_ended"]


def test_signed_out_visitors_go_to_sign_in(family):
    world, _ = family
    with client_for(world.engine, world.sec) as client:
        answer = client.get(FAMILY, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/portal/login?next=")


def test_a_minor_is_confirmed_by_the_holder_as_guardian_only_after_the_counter_confirmed_it(family, engine):
    world, people = family
    minor = add_resident(engine, 5, birth=date(2015, 3, 1))
    world.bind(people["holder"], minor, "child")
    binding = world.binding_id(people["holder"])
    page = world.page(people["holder"])
    assert f'data-testid="consent-{binding}"' in page and "作为监护人确认" in page
    refused = world.post(people["holder"], f"{FAMILY}/{binding}/consent")
    assert refused.status_code == 403 and "柜台确认您与该未成年人的监护关系" in refused.text
    with engine.connect() as conn:
        assert conn.execute(select(family_bindings.c.status)).scalar_one() == "pending"
        told = conn.execute(select(func.count()).select_from(notifications)
                            .where(notifications.c.person_id == minor.person_id)).scalar_one()
    assert told == 0  # a minor is not sent binding requests
