"""The region picker in a real browser: typing a name filters the grouped select."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from api_support import START, security
from browser_support import PHONE, browser, serve
from yibao.clock import FixedClock
from yibao.store.db import make_engine
from yibao.store.migrate import upgrade

pytestmark = pytest.mark.browser

VISIBLE_OPTIONS = "(select) => [...select.options].filter((o) => !o.hidden && o.value).map((o) => o.textContent)"


def test_typing_a_city_name_narrows_the_choices_and_picks_a_single_match(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'calc.sqlite3'}")
    upgrade(engine)
    with serve(engine, security(FixedClock(START))) as base, browser() as chromium:
        page = chromium.new_context(viewport=PHONE, locale="zh-CN").new_page()
        page.goto(f"{base}/calc/credit")
        select = page.locator("select#region")
        search = page.get_by_label("查找城市")
        expect(search).to_be_visible()
        assert len(select.evaluate(VISIBLE_OPTIONS)) > 300
        search.fill("石家庄")
        assert select.evaluate(VISIBLE_OPTIONS) == ["石家庄市"]
        expect(select).to_have_value("130100")
        search.fill("河北")  # a province name keeps the province and all its cities
        shown = select.evaluate(VISIBLE_OPTIONS)
        assert shown[0] == "河北省（全省）" and "唐山市" in shown and "北京市" not in shown
        search.fill("")
        assert len(select.evaluate(VISIBLE_OPTIONS)) > 300
    engine.dispose()
