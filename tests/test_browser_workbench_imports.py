"""Contribution files and batch statements at the workbench in a real browser (Chromium, 1366x768):
an agent uploads a file with a bad row, reads the row-by-row report (nothing applied), uploads the
corrected file, reads the summary, and finds both in the history with their SHA-256 and the
agent's name; then prints two people's statements as one PDF. The imports run in the app's
background runner; the job's page reloads itself until they end. With
``YIBAO_SCREENSHOTS=docs/screenshots`` the pages (and a page of the PDF) are saved for the docs.
"""

from __future__ import annotations

import os
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader
from sqlalchemy import func, select

from api_support import add_insured, security
from browser_support import WORKBENCH, browser, screenshot, serve
from test_browser_portal import CONTRAST_FAILURES, UNLABELLED
from test_workbench_imports import bad_lines, csv_file, good_lines
from workbench_support import audit_of, browser_sign_in, ledger_clean
from yibao.clock import FixedClock
from yibao.security.staff import StaffRole, add_staff
from yibao.store.db import make_engine
from yibao.store.migrate import upgrade
from yibao.store.models import contributions, import_jobs

pytestmark = pytest.mark.browser

NOW = datetime(2025, 6, 16, 2, 0, tzinfo=timezone.utc)
PASSWORD = "Counter2025x"
IMPORT_REASON = "某某公司2025年5月缴费明细"
BATCH_REASON = "单位统一打印职工对账单"
JOB_PAGE = re.compile(r".*/counter/imports/\d+\?notice=uploaded$")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('imports') / 'imports.sqlite3'}")
    upgrade(engine)
    people = [add_insured(engine, 1), add_insured(engine, 2)]
    with engine.begin() as conn:
        add_staff(conn, username="clerk_bj", name="李经办", role=StaffRole.AGENT, password=PASSWORD, region_code="110000")
    with serve(engine, security(FixedClock(NOW))) as base, browser() as chromium:
        yield base, chromium, engine, people
    engine.dispose()


@pytest.fixture
def clerk(site):
    base, chromium, *_ = site
    context = chromium.new_context(viewport=WORKBENCH, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    browser_sign_in(page, base, "clerk_bj", PASSWORD)
    yield page
    context.close()


def check_workbench_page(page) -> None:
    """Labels on every field, readable contrast, nothing wider than 1366 px."""
    assert page.evaluate(UNLABELLED) == []
    assert page.evaluate(CONTRAST_FAILURES) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= WORKBENCH["width"]


def count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(contributions)).scalar_one()


def upload(page, base: str, path: Path) -> None:
    page.goto(f"{base}/counter/imports")
    page.get_by_label("缴费文件", exact=True).set_input_files(str(path))
    page.get_by_label("导入事由").fill(IMPORT_REASON)
    page.get_by_role("button", name="上传并导入").click()
    expect(page).to_have_url(JOB_PAGE)


def test_a_rejected_then_an_applied_contribution_file(site, clerk, tmp_path):
    base, _, engine, people = site
    page = clerk
    before = count(engine)
    bad = tmp_path / "五月缴费.csv"
    bad.write_bytes(csv_file(bad_lines(people[0].id_number)))
    upload(page, base, bad)
    # The page reloads itself (a script in a static file) until the background import ends.
    expect(page.locator("#job-status")).to_have_text("已拒绝（未做任何更改）", timeout=60_000)
    report = page.locator("table.im-errors")
    expect(report).to_contain_text("第 4 行")
    expect(report).to_contain_text("身份证号码校验位不正确")
    expect(report).to_contain_text("缴费基数")
    expect(page.get_by_role("alert")).to_contain_text("未做任何更改")
    assert count(engine) == before
    check_workbench_page(page)
    screenshot(page, "workbench-import-rejected")

    good = tmp_path / "五月缴费（改正）.csv"
    good.write_bytes(csv_file(good_lines(people[0].id_number)))
    upload(page, base, good)
    expect(page.locator("#job-status")).to_have_text("已导入", timeout=60_000)
    expect(page.locator(".im-summary")).to_contain_text("960.00元")
    assert count(engine) == before + 2
    check_workbench_page(page)
    screenshot(page, "workbench-import-applied")

    page.get_by_role("link", name="返回导入记录").click()
    history = page.locator("table.im-table")
    with engine.connect() as conn:
        digests = conn.execute(select(import_jobs.c.sha256).order_by(import_jobs.c.id.desc())).scalars().all()
    assert len(digests) == 2
    for digest in digests:
        expect(history).to_contain_text(digest)
    expect(history.locator("tbody tr").first).to_contain_text("五月缴费（改正）.csv")
    expect(history.locator("tbody tr").first).to_contain_text("已导入")
    expect(history.locator("tbody tr").nth(1)).to_contain_text("已拒绝")
    expect(history.get_by_role("cell", name="李经办")).to_have_count(2)
    check_workbench_page(page)
    screenshot(page, "workbench-imports")

    ledger_clean(engine)
    uploads = audit_of(engine, "staff.import_contributions")
    assert len(uploads) == 2 and all(row["reason"] == IMPORT_REASON and row["detail"]["channel"] == "counter" for row in uploads)
    assert [row["detail"]["sha256"] for row in uploads] == digests[::-1]
    assert len(audit_of(engine, "staff.import_contributions.rejected")) == 1
    assert len(audit_of(engine, "staff.import_contributions.applied")) == 1


def test_two_peoples_statements_as_one_pdf(site, clerk, tmp_path):
    base, _, engine, people = site
    page = clerk
    page.get_by_role("navigation", name="工作台菜单").get_by_role("link", name="批量打印对账单").click()
    expect(page.get_by_role("heading", name="批量打印对账单")).to_be_visible()
    wrong = people[1].id_number[:-1] + ("0" if people[1].id_number[-1] != "0" else "1")
    page.get_by_label("身份证号码（每行一个）").fill(f"{people[0].id_number}\n{wrong}")
    page.get_by_label("常用事由").select_option("打印个人账户对账单")
    page.get_by_label("或填写事由").fill(BATCH_REASON)
    page.get_by_role("button", name="核对并生成对账单（PDF）").click()
    expect(page.get_by_role("alert")).to_contain_text("第 2 行")
    expect(page.get_by_role("alert")).to_contain_text("未打印任何对账单")
    assert audit_of(engine, "staff.person.statement") == []
    check_workbench_page(page)
    screenshot(page, "workbench-statements-batch-errors")
    page.get_by_label("身份证号码（每行一个）").fill(f"{people[0].id_number}\n{people[1].id_number}")
    expect(page.get_by_label("或填写事由")).to_have_value(BATCH_REASON)  # kept from the first try
    check_workbench_page(page)
    screenshot(page, "workbench-statements-batch")
    with page.expect_download() as download:
        page.get_by_role("button", name="核对并生成对账单（PDF）").click()
    pdf = tmp_path / "statements.pdf"
    download.value.save_as(pdf)
    pages = [each.extract_text() for each in PdfReader(pdf).pages]
    starts = [index for index, text in enumerate(pages) if "交易明细" in text]
    assert len(starts) == 2 and starts[0] == 0
    assert people[0].name in pages[0] and people[1].name in pages[starts[1]]
    assert people[1].name not in "".join(pages[:starts[1]])
    folder = os.environ.get("YIBAO_SCREENSHOTS")
    if folder:  # the second person's first page, as the clerk's printer gets it
        subprocess.run(["pdftoppm", "-r", "60", "-png", "-singlefile", "-f", str(starts[1] + 1), "-l", str(starts[1] + 1),
                        str(pdf), str(Path(folder) / "workbench-statements-batch-pdf")], check=True)

    ledger_clean(engine)
    rows = audit_of(engine, "staff.person.statement")
    assert [row["subject_person_id"] for row in rows] == [people[0].person_id, people[1].person_id]
    assert all(row["reason"] == BATCH_REASON and row["detail"]["channel"] == "counter" and row["detail"]["batch_size"] == 2
               for row in rows)
