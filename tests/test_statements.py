"""Account statements (对账单): figures from the ledger, the PDF, the API endpoints and the command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from io import BytesIO
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import Engine, func, insert, select

from api_support import START, add_insured, add_staff_user, bearer, client_for, login, reason_header, security, staff_token
from yibao.clock import FixedClock
from yibao.config import Settings
from yibao.domain.money import Money
from yibao.domain.resident_id import ResidentId
from yibao.errors import InvalidInput, NotFound
from yibao.ledger.accounts import open_personal_account, system_account
from yibao.ledger.kinds import AccountKind, TxKind
from yibao.ledger.ledger import Ledger
from yibao.security.staff import StaffRole
from yibao.statements import FontMissing, build_statement, statement_pdf, statements_pdf, validate_period
from yibao.statements import fonts
from yibao.store.models import audit_log, persons

REGION = "110000"
GENERATED_AT = datetime(2025, 6, 15, 2, 30, tzinfo=timezone.utc)  # 10:30 in Beijing
PDFTOPPM = shutil.which("pdftoppm")


@dataclass
class Holder:
    person_id: int
    account_id: int
    id_number: ResidentId
    pool: int
    pharmacy: int


def add_holder(engine: Engine, n: int = 1) -> Holder:
    resident_id = ResidentId.build("110105", date(1960, 5, 1), 100 + n, today=date(2025, 6, 15))
    with engine.begin() as conn:
        person_id = conn.execute(
            insert(persons).values(
                id_number=resident_id.full, name="欧阳明", sex=resident_id.sex.value[0].upper(),
                birth_date=resident_id.birth_date, region_code=REGION, insurance_type="employee",
                employment="in_service", enrolled_on=date(2000, 1, 1),
            ).returning(persons.c.id)
        ).scalar_one()
        account_id = open_personal_account(conn, person_id, REGION, date(2020, 1, 1))
        pool = system_account(conn, AccountKind.POOL, REGION, opened_on=date(2020, 1, 1))
        pharmacy = system_account(conn, AccountKind.INSTITUTION, REGION, suffix="P001", opened_on=date(2020, 1, 1))
    return Holder(person_id, account_id, resident_id, pool, pharmacy)


def money_in(engine: Engine, holder: Holder, fen: int, on: date, kind: TxKind = TxKind.MONTHLY_CREDIT, memo: str = "划入"):
    source = holder.pharmacy if kind is TxKind.REFUND else holder.pool
    Ledger(engine).transfer(
        kind=kind, from_account=source, to_account=holder.account_id, amount_fen=fen,
        idempotency_key=f"in-{holder.account_id}-{on}-{fen}-{memo}", business_date=on, memo=memo,
    )


def money_out(engine: Engine, holder: Holder, fen: int, on: date, memo: str = "药店购药", reference: str | None = None):
    Ledger(engine).transfer(
        kind=TxKind.SPENDING, from_account=holder.account_id, to_account=holder.pharmacy, amount_fen=fen,
        idempotency_key=f"out-{holder.account_id}-{on}-{fen}-{memo}", business_date=on, memo=memo, reference=reference,
    )


def history(engine: Engine) -> Holder:
    """Postings before, on both edges of, inside and after the period 2025-02-01..2025-03-31."""
    holder = add_holder(engine)
    money_in(engine, holder, 10_000, date(2025, 1, 10))
    money_out(engine, holder, 500, date(2025, 1, 31))  # the day before the period
    money_out(engine, holder, 2_500, date(2025, 2, 1), memo="某某大药房 <处方药>", reference="R-0001")  # first day
    money_in(engine, holder, 8_000, date(2025, 3, 1))
    money_out(engine, holder, 1_200, date(2025, 3, 15))
    money_in(engine, holder, 300, date(2025, 3, 31), kind=TxKind.REFUND, memo="退药")  # last day
    money_in(engine, holder, 5_000, date(2025, 4, 1))  # the day after
    return holder


def pdf_text(content: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(BytesIO(content)).pages]


def render(engine: Engine, holder: Holder, date_from: date, date_to: date) -> bytes:
    with engine.connect() as conn:
        return statement_pdf(conn, account_id=holder.account_id, date_from=date_from, date_to=date_to, generated_at=GENERATED_AT)


# ------------------------------------------------------------------------------------ figures


def test_figures_for_a_period_inside_the_history(engine):
    holder = history(engine)
    with engine.connect() as conn:
        statement = build_statement(conn, account_id=holder.account_id, date_from=date(2025, 2, 1), date_to=date(2025, 3, 31))
    assert statement.opening_fen == 10_000 - 500
    assert (statement.total_in_fen, statement.total_out_fen) == (8_000 + 300, 2_500 + 1_200)
    assert statement.closing_fen == 9_500 + 8_300 - 3_700 == 14_100
    assert statement.count == 4
    assert [line.on for line in statement.lines] == [date(2025, 2, 1), date(2025, 3, 1), date(2025, 3, 15), date(2025, 3, 31)]
    assert [line.balance_fen for line in statement.lines] == [7_000, 15_000, 13_800, 14_100]
    assert [(line.in_fen, line.out_fen) for line in statement.lines] == [(0, 2_500), (8_000, 0), (0, 1_200), (300, 0)]
    assert [line.kind_label for line in statement.lines] == ["消费支出", "月度划入", "消费支出", "退费"]
    assert statement.lines[0].reference == "R-0001"
    assert statement.id_number_masked == holder.id_number.masked
    assert (statement.person_name, statement.region_code, statement.region_name) == ("欧阳明", REGION, "北京市")


def test_a_period_without_transactions_carries_the_balance(engine):
    holder = history(engine)
    with engine.connect() as conn:
        quiet = build_statement(conn, account_id=holder.account_id, date_from=date(2025, 1, 11), date_to=date(2025, 1, 30))
        before = build_statement(conn, account_id=holder.account_id, date_from=date(2024, 1, 1), date_to=date(2024, 12, 31))
    assert (quiet.opening_fen, quiet.closing_fen, quiet.total_in_fen, quiet.total_out_fen, quiet.count) == (10_000, 10_000, 0, 0, 0)
    assert (before.opening_fen, before.closing_fen, before.count) == (0, 0, 0)
    text = "".join(pdf_text(render(engine, holder, date(2025, 1, 11), date(2025, 1, 30))))
    assert "本期无交易" in text and "本期合计（共 0 笔）" in text
    assert Money(10_000).capital_words() in text


def test_one_day_period_and_the_whole_history_agree_with_the_ledger(engine):
    holder = history(engine)
    with engine.connect() as conn:
        day = build_statement(conn, account_id=holder.account_id, date_from=date(2025, 3, 1), date_to=date(2025, 3, 1))
        whole = build_statement(conn, account_id=holder.account_id, date_from=date(2021, 1, 1), date_to=date(2025, 12, 31))
    assert (day.opening_fen, day.total_in_fen, day.closing_fen, day.count) == (7_000, 8_000, 15_000, 1)
    assert whole.closing_fen == Ledger(engine).balance(holder.account_id) == 19_100
    assert whole.count == 7


def test_bad_periods_and_accounts_are_refused(engine):
    holder = history(engine)
    with pytest.raises(InvalidInput) as reversed_period:
        validate_period(date(2025, 3, 1), date(2025, 2, 28))
    assert (reversed_period.value.field, reversed_period.value.code) == ("date_to", "date_range")
    with pytest.raises(InvalidInput) as too_long:
        validate_period(date(2020, 3, 1), date(2025, 3, 1))
    assert (too_long.value.field, too_long.value.code) == ("date_to", "date_range_too_long")
    validate_period(date(2020, 3, 1), date(2025, 2, 28))  # just under five years
    validate_period(date(2024, 2, 29), date(2029, 2, 28))  # from a leap day
    with engine.connect() as conn:
        with pytest.raises(InvalidInput):
            build_statement(conn, account_id=holder.account_id, date_from=date(2025, 3, 1), date_to=date(2025, 1, 1))
        for not_personal in (holder.pool, 10**9):
            with pytest.raises(NotFound) as missing:
                build_statement(conn, account_id=not_personal, date_from=date(2025, 1, 1), date_to=date(2025, 1, 31))
            assert missing.value.field == "account_id"


# ------------------------------------------------------------------------------------ the PDF


def test_pdf_shows_the_header_masked_id_capital_words_and_footer(engine):
    holder = history(engine)
    content = render(engine, holder, date(2025, 2, 1), date(2025, 3, 31))
    assert content.startswith(b"%PDF-")
    (text,) = pdf_text(content)
    assert "医保个人账户对账单" in text
    assert holder.id_number.masked in text and holder.id_number.full not in text
    assert holder.id_number.full.encode() not in content
    assert "欧阳明" in text and "北京市（110000）" in text
    assert "2025-02-01 至 2025-03-31" in text and "2025-06-15 10:30:00（北京时间）" in text
    assert "95.00元" in text and "141.00元" in text  # opening and closing
    assert Money(14_100).capital_words() == "壹佰肆拾壹元整" and "壹佰肆拾壹元整" in text
    assert Money(8_300).capital_words() in text and Money(3_700).capital_words() in text
    assert "某某大药房 <处方药>" in text and "单号 R-0001" in text  # markup in memos is shown as text
    assert "本期合计（共 4 笔）" in text
    assert "本对账单仅供参考，以医保经办机构记录为准" in text and "第 1 页 / 共 1 页" in text


def test_a_long_statement_runs_over_pages_with_numbers_and_headers(engine):
    holder = add_holder(engine)
    money_in(engine, holder, 1_000_000, date(2024, 12, 31))
    first = date(2025, 1, 1)
    for n in range(150):
        money_out(engine, holder, 100 + n, first + timedelta(days=n), memo=f"购药{n:03d}")
    content = render(engine, holder, first, first + timedelta(days=149))
    pages = pdf_text(content)
    total = len(pages)
    assert total >= 3
    for number, text in enumerate(pages, start=1):
        assert f"第 {number} 页 / 共 {total} 页" in text
        assert "余额（元）" in text  # the table's header row repeats
        assert "本对账单仅供参考" in text
    everything = "".join(pages)
    assert all(everything.count(f"购药{n:03d}") == 1 for n in range(150))
    spent = sum(100 + n for n in range(150))
    assert "本期合计（共 150 笔）" in pages[-1]
    assert Money(1_000_000 - spent).capital_words() in pages[0]


def test_statements_in_one_document_each_start_a_page_and_are_numbered_on_their_own(engine):
    long_one, short_one = add_holder(engine, 1), add_holder(engine, 2)
    money_in(engine, long_one, 1_000_000, date(2024, 12, 31))
    money_in(engine, short_one, 5_000, date(2025, 1, 2))
    first = date(2025, 1, 1)
    for n in range(80):
        money_out(engine, long_one, 100 + n, first + timedelta(days=n), memo=f"购药{n:03d}")
    with engine.connect() as conn:
        content = statements_pdf(conn, account_ids=[long_one.account_id, short_one.account_id], date_from=first,
                                 date_to=first + timedelta(days=99), generated_at=GENERATED_AT)
    pages = pdf_text(content)
    starts = [index for index, text in enumerate(pages) if "交易明细" in text]
    assert len(starts) == 2 and starts[0] == 0 and starts[1] >= 2
    long_pages, short_pages = pages[:starts[1]], pages[starts[1]:]
    assert len(short_pages) == 1 and "第 1 页 / 共 1 页" in short_pages[0] and "本期合计（共 1 笔）" in short_pages[0]
    for number, text in enumerate(long_pages, start=1):
        assert f"第 {number} 页 / 共 {len(long_pages)} 页" in text
        assert (long_one.id_number.masked in text) and (short_one.id_number.masked not in text)
    assert "本期合计（共 80 笔）" in long_pages[-1] and "购药079" in long_pages[-1]
    assert "本期合计" not in "".join(long_pages[:-1])


@pytest.mark.skipif(PDFTOPPM is None, reason="pdftoppm (Debian package poppler-utils) is not installed")
def test_page_one_renders_to_a_non_blank_image(engine, tmp_path):
    holder = history(engine)
    pdf = tmp_path / "statement.pdf"
    pdf.write_bytes(render(engine, holder, date(2025, 2, 1), date(2025, 3, 31)))
    subprocess.run([PDFTOPPM, "-r", "60", "-png", "-f", "1", "-l", "1", "-singlefile", pdf, tmp_path / "page"], check=True)
    png = (tmp_path / "page.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert abs(width - 496) <= 1 and abs(height - 702) <= 1  # A4 portrait at 60 dpi (pdftoppm rounds up)
    subprocess.run([PDFTOPPM, "-r", "60", "-gray", "-f", "1", "-l", "1", "-singlefile", pdf, tmp_path / "page"], check=True)
    pixels = _pgm_pixels((tmp_path / "page.pgm").read_bytes())
    dark = sum(1 for value in pixels if value < 128)
    assert len(set(pixels)) > 10  # text, rules and fills, not one colour
    assert 0.005 < dark / len(pixels) < 0.5


def _pgm_pixels(data: bytes) -> bytes:
    """The pixel bytes of a binary (P5) PGM with 8-bit values."""
    magic, width, height, maxval, pixels = data.split(maxsplit=4)
    assert magic == b"P5" and int(maxval) == 255
    return pixels[: int(width) * int(height)]


# ------------------------------------------------------------------------------------ the font


def test_a_missing_font_names_the_debian_package(engine, monkeypatch, tmp_path):
    holder = history(engine)
    monkeypatch.setenv("YIBAO_PDF_FONT", str(tmp_path / "nowhere.ttf"))
    monkeypatch.setattr(fonts, "get_settings", Settings)
    with pytest.raises(FontMissing) as configured:
        render(engine, holder, date(2025, 2, 1), date(2025, 3, 31))
    assert "nowhere.ttf" in configured.value.message and "fonts-wqy-microhei" in configured.value.message
    (tmp_path / "notafont.ttf").write_text("not a font")
    monkeypatch.setenv("YIBAO_PDF_FONT", str(tmp_path / "notafont.ttf"))
    with pytest.raises(FontMissing, match="不是可用的 TrueType 字体"):
        render(engine, holder, date(2025, 2, 1), date(2025, 3, 31))
    monkeypatch.delenv("YIBAO_PDF_FONT")
    monkeypatch.setattr(fonts, "STANDARD_LOCATIONS", (tmp_path / "none.ttc",))
    with pytest.raises(FontMissing) as nothing:
        render(engine, holder, date(2025, 2, 1), date(2025, 3, 31))
    assert nothing.value.code == "pdf_font_missing" and "apt-get install fonts-wqy-microhei" in nothing.value.message


def test_yibao_pdf_font_points_to_another_font_file(engine, monkeypatch, tmp_path):
    installed = next((path for path in fonts.STANDARD_LOCATIONS if path.is_file()), None)
    if installed is None:
        pytest.skip("no CJK TrueType font installed")
    copy = tmp_path / f"elsewhere{installed.suffix}"
    shutil.copy(installed, copy)
    monkeypatch.setenv("YIBAO_PDF_FONT", str(copy))
    monkeypatch.setattr(fonts, "get_settings", Settings)
    monkeypatch.setattr(fonts, "STANDARD_LOCATIONS", ())
    holder = history(engine)
    assert "医保个人账户对账单" in pdf_text(render(engine, holder, date(2025, 2, 1), date(2025, 3, 31)))[0]


# ------------------------------------------------------------------------------------ the API

PERIOD = {"date_from": "2025-01-01", "date_to": "2025-06-30"}


def test_a_person_downloads_their_own_statement(engine):
    with client_for(engine, security(FixedClock(START))) as client:
        a = add_insured(engine, 1)
        token = login(client, a).json()["access_token"]
        answer = client.get("/api/v1/me/statement", params={"account_id": a.account_id, **PERIOD}, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"].startswith(f'attachment; filename="statement-{a.account_id}-20250101-20250630.pdf"')
    assert answer.headers["cache-control"] == "no-store"
    (text,) = pdf_text(answer.content)
    assert ResidentId(a.id_number).masked in text and a.id_number not in text
    assert "1,234.56元" in text and "壹仟贰佰叁拾肆元伍角陆分" in text  # closing balance
    assert "2025-06-15 10:00:00（北京时间）" in text  # the server's clock


def test_another_persons_account_is_not_found(engine):
    with client_for(engine, security(FixedClock(START))) as client:
        a, b = add_insured(engine, 1), add_insured(engine, 2)
        token = login(client, b).json()["access_token"]
        answer = client.get("/api/v1/me/statement", params={"account_id": a.account_id, **PERIOD}, headers=bearer(token))
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "account_not_found"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"date_from": "2025-06-30", "date_to": "2025-01-01"}, "date_to"),
        ({"date_from": "2015-01-01", "date_to": "2025-01-01"}, "date_to"),
        ({"date_from": "2025-13-01", "date_to": "2025-06-30"}, "date_from"),
        ({"date_to": "2025-06-30"}, "date_from"),
    ],
)
def test_a_bad_period_is_refused_with_its_field(engine, params, field):
    with client_for(engine, security(FixedClock(START))) as client:
        a = add_insured(engine, 1)
        token = login(client, a).json()["access_token"]
        answer = client.get("/api/v1/me/statement", params={"account_id": a.account_id, **params}, headers=bearer(token))
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == field


def _staff_audit_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(audit_log).where(audit_log.c.actor_kind == "staff")).scalar_one()


def test_staff_print_a_statement_with_a_reason_and_it_is_audited(engine):
    with client_for(engine, security(FixedClock(START))) as client:
        a, b = add_insured(engine, 1), add_insured(engine, 2)
        add_staff_user(engine, "counter1", StaffRole.AGENT)
        headers = bearer(staff_token(client, "counter1"))
        url = f"/api/v1/staff/persons/{a.person_id}/statement"
        before = _staff_audit_count(engine)
        answer = client.get(url, params={"account_id": a.account_id, **PERIOD}, headers=headers | reason_header("参保人到柜台打印对账单"))
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/pdf"
        assert ResidentId(a.id_number).masked in pdf_text(answer.content)[0]
        with engine.connect() as conn:
            entry = conn.execute(select(audit_log).order_by(audit_log.c.id.desc())).mappings().first()
        assert entry["action"] == "staff.person.statement" and entry["reason"] == "参保人到柜台打印对账单"
        assert entry["subject_person_id"] == a.person_id
        assert entry["detail"] == {"account_id": a.account_id, "date_from": "2025-01-01", "date_to": "2025-06-30"}
        assert _staff_audit_count(engine) == before + 1

        no_reason = client.get(url, params={"account_id": a.account_id, **PERIOD}, headers=headers)
        bad_period = client.get(url, params={"account_id": a.account_id, "date_from": "2025-06-30", "date_to": "2025-01-01"},
                                headers=headers | reason_header("柜台打印"))
        assert (no_reason.status_code, no_reason.json()["error"]["field"]) == (422, "reason")
        assert (bad_period.status_code, bad_period.json()["error"]["field"]) == (422, "date_to")
        assert _staff_audit_count(engine) == before + 1  # refused input opens nothing

        someone_elses = client.get(url, params={"account_id": b.account_id, **PERIOD}, headers=headers | reason_header("柜台打印"))
        assert someone_elses.status_code == 404
        assert someone_elses.json()["error"]["code"] == "account_not_found"


# ------------------------------------------------------------------------------------ the command


def yibao(*args: str, database_url: str) -> subprocess.CompletedProcess:
    env = os.environ | {"YIBAO_DATABASE_URL": database_url, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "yibao.cli", *args], env=env, capture_output=True, text=True, timeout=300)


def test_the_command_writes_a_statement_by_id_or_card_number(database_url, tmp_path):
    from yibao.store.db import make_engine

    engine = make_engine(database_url)
    a = add_insured(engine, 1)
    by_id = yibao("statement", "--id-number", a.id_number, "--from", "2025-01-01", "--to", "2025-06-30",
                  "--out", str(tmp_path / "by-id.pdf"), database_url=database_url)
    assert by_id.returncode == 0, by_id.stderr
    assert "已生成对账单" in by_id.stdout and "交易 2 笔" in by_id.stdout and a.id_number not in by_id.stdout
    (text,) = pdf_text((tmp_path / "by-id.pdf").read_bytes())
    assert ResidentId(a.id_number).masked in text and "1,234.56元" in text
    by_card = yibao("statement", "--card-number", a.card_number, "--account", str(a.account_id), "--from", "2025-05-01",
                    "--to", "2025-05-31", "--out", str(tmp_path / "by-card.pdf"), database_url=database_url)
    assert by_card.returncode == 0, by_card.stderr
    assert "本期合计（共 2 笔）" in pdf_text((tmp_path / "by-card.pdf").read_bytes())[0]
    with engine.connect() as conn:
        entries = conn.execute(select(audit_log).where(audit_log.c.action == "cli.statement")).mappings().all()
    assert [entry["subject_person_id"] for entry in entries] == [a.person_id, a.person_id]
    assert not list(tmp_path.glob(".*.part"))  # written under a temporary name, then renamed
    engine.dispose()


def _refused(args: tuple[str, ...], code: str, database_url: str) -> None:
    result = yibao("statement", *args, database_url=database_url)
    assert result.returncode == 2, (code, result.stdout, result.stderr)
    assert f"错误（{code}）" in result.stderr, (code, result.stderr)


def test_the_command_refuses_bad_input_before_opening_the_database(tmp_path):
    never_created = f"sqlite:///{tmp_path / 'never.sqlite3'}"
    out, person = str(tmp_path / "s.pdf"), ("--card-number", "X00000001")
    period = ("--from", "2025-01-01", "--to", "2025-06-30")
    _refused(("--id-number", "11010519510301011X", *person, *period, "--out", out), "search_key_required", never_created)
    _refused((*person, "--from", "2025/01/01", "--to", "2025-06-30", "--out", out), "date_format", never_created)
    _refused((*person, "--from", "2025-06-30", "--to", "2025-01-01", "--out", out), "date_range", never_created)
    _refused((*person, *period, "--out", str(tmp_path / "missing" / "s.pdf")), "out_folder_missing", never_created)
    assert not (tmp_path / "never.sqlite3").exists() and not Path(out).exists()


def test_the_command_reports_unknown_people_and_accounts(database_url, tmp_path):
    from yibao.store.db import make_engine

    engine = make_engine(database_url)
    a, b = add_insured(engine, 1), add_insured(engine, 2)
    engine.dispose()
    out, period = str(tmp_path / "s.pdf"), ("--from", "2025-01-01", "--to", "2025-06-30")
    _refused(("--card-number", "Z99999999", *period, "--out", out), "person_not_found", database_url)
    _refused(("--id-number", a.id_number, "--account", str(b.account_id), *period, "--out", out), "account_not_found", database_url)
    assert not Path(out).exists()
