"""The calculators offer every region of the region table, grouped province → city."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from yibao.domain.regions import regions
from yibao.web.app import create_app

OPTION = re.compile(r'<option value="(\d{6})"[^>]*>([^<]+)</option>')


def client() -> TestClient:
    # The calculators read no database; an empty in-memory one is enough.
    return TestClient(create_app(create_engine("sqlite://")), base_url="https://testserver")


def test_every_calculator_offers_every_region_under_its_province():
    with client() as browser:
        for question in ("credit", "lifetime", "withdraw"):
            page = browser.get(f"/calc/{question}").text
            offered = dict(OPTION.findall(page))
            assert set(offered) == {region.code for region in regions()}, question
            assert page.count("<optgroup") == len(regions().provinces())
            assert offered["130000"] == "河北省（全省）" and offered["130100"] == "石家庄市"
            assert offered["110000"] == "北京市"


def test_a_city_without_local_rules_gets_the_province_or_national_answer_and_stays_chosen():
    with client() as browser:
        answer = browser.get("/calc/credit", params={
            "region": "130100", "birth": "1990-01-01", "on": "2025-06-15", "insurance": "employee",
            "status": "working", "base": "8000",
        })
    assert answer.status_code == 200
    assert "结果（石家庄市）" in answer.text and "元" in answer.text
    assert re.search(r'<option value="130100"[^>]*selected', answer.text)
