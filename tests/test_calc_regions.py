"""The calculators offer every region of the region table, grouped province → city."""

from __future__ import annotations

import re

from api_support import START, client_for, security
from yibao.clock import FixedClock
from yibao.domain.regions import regions

OPTION = re.compile(r'<option value="(\d{6})"[^>]*>([^<]+)</option>')


def client(engine):
    return client_for(engine, security(FixedClock(START)))


def test_every_calculator_offers_every_region_under_its_province(engine):
    with client(engine) as browser:
        for question in ("credit", "lifetime", "withdraw"):
            page = browser.get(f"/calc/{question}").text
            offered = dict(OPTION.findall(page))
            assert set(offered) == {region.code for region in regions()}, question
            assert page.count("<optgroup") == len(regions().provinces())
            assert offered["130000"] == "河北省（全省）" and offered["130100"] == "石家庄市"
            assert offered["110000"] == "北京市"


def test_a_city_without_local_rules_gets_the_province_or_national_answer_and_stays_chosen(engine):
    with client(engine) as browser:
        answer = browser.get("/calc/credit", params={
            "region": "130100", "birth": "1990-01-01", "on": "2025-06-15", "insurance": "employee",
            "status": "working", "base": "8000",
        })
    assert answer.status_code == 200
    assert "结果（石家庄市）" in answer.text and "元" in answer.text
    assert re.search(r'<option value="130100"[^>]*selected', answer.text)
