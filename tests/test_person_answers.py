"""The person's answers are the same on the portal, the kiosk, the counter and the phone line:
each case reads all four from one engine, on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import update

from api_support import (
    START,
    STAFF_PASSWORD,
    add_insured,
    add_resident,
    add_staff_user,
    client_for,
    kiosk_sign_in,
    portal_sign_in,
    security,
    token_in,
)
from ivr_support import IVR_SECRET, PIN, Phone, give_pin
from yibao.clock import FixedClock
from yibao.domain.resident_id import ResidentId
from yibao.family import bindings, premium
from yibao.ivr import speech
from yibao.policy.loading import load_book
from yibao.security.staff import StaffRole
from yibao.store.models import persons

RETIRED = "已办理退休，享受退休人员医保待遇，无需继续缴费"
_TAGS = re.compile(r"<[^>]+>")


@dataclass
class Channels:
    engine: object
    sec: object

    def all_four(self, person, *, retire_on: str | None = None) -> dict[str, str]:
        """What each channel shows or says to (or about) ``person``, as plain text.

        The portal and the counter can ask for an expected retirement date; the kiosk and the
        phone line cannot and answer by the rule in force today.
        """
        asked = f"?retire_on={retire_on}" if retire_on else ""
        return {
            "portal": _text(_section(self.portal_page(person, f"/portal{asked}"), 'aria-labelledby="lifetime-heading"')),
            "kiosk": self.kiosk(person, "/kiosk/home"),
            "counter": self.counter(person, f"policy{asked}"), "phone": self.phone(person),
        }

    def portal(self, person, path: str) -> str:
        return _text(self.portal_page(person, path))

    def portal_page(self, person, path: str) -> str:
        with client_for(self.engine, self.sec) as client:
            assert portal_sign_in(client, person).status_code == 303
            return _ok(client.get(path))

    def kiosk(self, person, path: str) -> str:
        with client_for(self.engine, self.sec) as client:
            assert kiosk_sign_in(client, person.card_number, PIN).status_code == 303
            return _text(_ok(client.get(path)))

    def counter(self, person, tab: str) -> str:
        with client_for(self.engine, self.sec) as client:
            page = client.get("/counter")
            client.post("/counter/login", data={
                "username": "agent1", "password": STAFF_PASSWORD, "form_token": token_in(page.text, "form_token"),
            })
            csrf = token_in(client.get("/counter").text, "csrf")
            client.post("/counter/search", data={
                "csrf": csrf, "key_kind": "id_number", "key": person.id_number, "reason_choice": "个人账户余额异议处理", "reason_other": "",
            })
            page = _ok(client.get(f"/counter/persons/{person.person_id}/{tab}"))
        # The policy tab also answers withdrawals and credit: only its lifetime card is compared.
        return _text(_section(page, 'id="lifetime"') if tab.startswith("policy") else page)

    def phone(self, person) -> str:
        with client_for(self.engine, self.sec) as client:
            call = Phone(client).call(f"call-{person.person_id}")
            call.sign_in(person)
            return call.press("4")


def _ok(response):
    assert response.status_code == 200, response.text[:500]
    return response.text


def _section(page: str, marker: str) -> str:
    """The card that ``marker`` opens (the pages also answer other questions, e.g. continuity)."""
    if marker not in page:  # a resident's home has no lifetime card: the whole page is compared
        return page
    start = page.index(marker)
    return page[start:page.index("</section>", start)]


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(_TAGS.sub(" ", page)))


@pytest.fixture
def channels(engine, tmp_path):
    add_staff_user(engine, "agent1", StaffRole.AGENT)
    return Channels(engine, security(FixedClock(START), ivr_secret=IVR_SECRET, data_dir=tmp_path))


def _set(engine, person, **values) -> None:
    with engine.begin() as conn:
        conn.execute(update(persons).where(persons.c.id == person.person_id).values(**values))


def _without_spaces(text: str) -> str:
    return text.replace(" ", "")


def test_a_retiree_is_told_retirement_settles_it_everywhere(engine, channels):
    retiree = add_insured(engine, 1)  # retired with employee insurance, three months on record
    give_pin(engine, retiree)
    _set(engine, retiree, retired_on=date(2011, 3, 1))
    for channel, text in channels.all_four(retiree).items():
        assert RETIRED in text, channel
        for wrong in ("无法确定", "补缴", "补足", "还差", "实际缴费 0.00 年", "请填写预计退休日期"):
            assert wrong not in text, (channel, wrong)


def test_a_date_before_the_earliest_rule_is_said_plainly_not_as_a_shortfall(engine, channels):
    # Guangzhou decides by the enrolment date; its data starts on 1998-12-14.
    worker = add_insured(engine, 2)
    give_pin(engine, worker)
    _set(engine, worker, region_code="440100", employment="in_service", enrolled_on=date(1995, 1, 1))
    seen = channels.all_four(worker, retire_on="2032-03-01")
    for channel in ("portal", "kiosk", "counter"):
        text = seen[channel]
        assert "本平台资料中没有1995-01-01时有效的规定（已知最早的规定自1998-12-14起）" in text, channel
        assert "已知最早的规定：广州市（1998-12-14至2013-12-31）：累计缴费满10年" in text, channel
    assert "本平台资料中没有一九九五年一月一日时有效的规定" in seen["phone"]
    assert "已知最早的规定：广州市" in seen["phone"] and "累计缴费满十年" in seen["phone"]
    for channel, text in seen.items():
        for wrong in ("还差", "补缴", "补足", "尚未缴够"):
            assert wrong not in text, (channel, wrong)


def test_years_migrated_from_the_previous_system_count_and_are_shown_apart(engine, channels):
    worker = add_insured(engine, 3)
    give_pin(engine, worker)
    _set(engine, worker, employment="in_service", prior_paid_months=237, deemed_months=24)
    seen = channels.all_four(worker, retire_on="2032-03-01")
    expected = "实际缴费20.00年（本平台缴费记录3个月、原系统迁移的缴费237个月），另有视同缴费24个月（原系统迁移），累计缴费22.00年"
    for channel in ("portal", "kiosk", "counter"):
        assert expected in _without_spaces(seen[channel]), channel
    assert "实际缴费年限为二十年，其中原系统迁移的缴费二百三十七个月，含视同缴费的累计缴费年限为二十二年" in seen["phone"]
    pages = [channels.portal(worker, "/portal/contributions"), channels.kiosk(worker, "/kiosk/contributions"),
             channels.counter(worker, "policy")]
    assert all(expected in _without_spaces(page) for page in pages)


def test_a_resident_sees_the_premium_and_family_sharing_not_credit_or_retirement(engine, channels):
    elder = add_resident(engine, 1, birth=date(1942, 5, 1))  # 83
    give_pin(engine, elder)
    seen = channels.all_four(elder)
    status = "本平台暂无您2025年度居民医保费的缴费记录，请按当地通知缴费（全国标准：每人每年400.00元）"
    for channel in ("portal", "kiosk", "counter"):
        assert status in seen[channel] and "已绑定的家人可用其职工医保个人账户为您支付" in seen[channel], channel
    spoken = seen["phone"].removesuffix(speech.AFTER_ANSWER)
    assert "本平台暂无您二零二五年度居民医保费的缴费记录" in spoken and not re.search(r"[0-9]", spoken)
    assert "四百元" in seen["phone"] and "已绑定的家人可用其职工医保个人账户为您支付" in seen["phone"]
    for wrong in ("退休日期", "本月划入", "终身医保缴费年限", "个人账户划入"):
        assert wrong not in seen["portal"] and wrong not in seen["kiosk"], wrong


@pytest.fixture
def family(engine):
    """A holder with employee insurance who paid her resident mother's 2025 premium."""
    holder = add_insured(engine, 4)  # 张三's account pays
    mother = add_resident(engine, 2, birth=date(1950, 2, 1))
    give_pin(engine, mother)
    book, now, today = load_book(), START, START.date()
    with engine.begin() as conn:
        made = bindings.create(conn, book, holder_id=holder.person_id, relative=ResidentId(mother.id_number),
                               relation="parent", now=now, today=today)
        bindings.consent(conn, binding_id=made.id, person_id=mother.person_id, now=now, today=today)
    premium.pay_premium(engine, book, holder_id=holder.person_id, binding_id=made.id, year=2025, today=today)
    return holder, mother


def test_a_payment_by_a_relative_shows_as_paid_by_the_relative_without_a_minus(engine, channels, family):
    holder, mother = family
    paid_by = "由家人（张*）的个人账户支付"
    seen = {
        "portal": channels.portal(mother, "/portal/details"), "kiosk": channels.kiosk(mother, "/kiosk/details"),
        "counter": channels.counter(mother, "details"),
    }
    for channel, text in seen.items():
        assert paid_by in text and "400.00元" in text, channel
        assert "-400.00" not in text and "−400.00" not in text, channel
    status = "2025年度居民医保费已由家人（张*）的个人账户代缴400.00元"
    assert status in channels.portal(mother, "/portal") and status in channels.kiosk(mother, "/kiosk/home")
    assert "二零二五年度居民医保费已由家人（张*）的个人账户代缴四百元" in channels.phone(mother)


def test_a_region_without_local_data_is_not_said_to_have_no_rule(engine, channels):
    worker = add_insured(engine, 5)
    give_pin(engine, worker)
    _set(engine, worker, region_code="420100", employment="in_service")  # Wuhan: no local file in the data
    seen = channels.all_four(worker, retire_on="2032-03-01")
    for channel, text in seen.items():
        assert "本平台暂无武汉市的本地规定资料，以下按全国范围的一般规定" in text, channel
        assert "没有本地规定" not in text, channel


def test_a_month_without_a_contribution_yet_is_not_asked_of_the_person(engine, channels):
    worker = add_insured(engine, 6)  # April paid; the month of START has no contribution on record yet
    give_pin(engine, worker)
    _set(engine, worker, employment="in_service")
    portal = channels.portal(worker, "/portal")
    assert "2025年6月的缴费记录还没有到账，到账后按缴费基数计算" in portal
    seen = {"portal": portal, "kiosk": channels.kiosk(worker, "/kiosk/home"), "counter": channels.counter(worker, "policy")}
    for channel, text in seen.items():
        assert "请提供" not in text and "缴费基数（" not in text, channel
    with client_for(channels.engine, channels.sec) as client:
        call = Phone(client).call(f"call-credit-{worker.person_id}")
        call.sign_in(worker)
        assert "您二零二五年六月的缴费记录还没有到账，到账后按缴费基数计算" in call.press("2")
