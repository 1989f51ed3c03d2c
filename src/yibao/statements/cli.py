"""``yibao statement``: one person's account statement as a PDF file, for agency batch printing.

The person is found by ID number or card number; the account is ``--account`` or else the
person's open personal account (the latest closed one when none is open). Every statement
written is recorded in the audit log, as any other read of a person's data.
"""

from __future__ import annotations

import os
import tempfile
from datetime import date
from pathlib import Path

import typer
from sqlalchemy import Connection, select

from yibao.clock import SystemClock
from yibao.domain.card import CardNumber
from yibao.domain.money import Money
from yibao.domain.resident_id import ResidentId
from yibao.errors import InvalidInput, NotFound, YibaoError
from yibao.ledger.accounts import current_personal_account
from yibao.security import audit
from yibao.statements.data import Statement, build_statement, check_owner, validate_period
from yibao.statements.pdf import render_statement
from yibao.store.models import persons
from yibao.terminal import fail, migrated_engine, out

CLI_ACTOR = "cli"


def statement_command(
    id_number: str = typer.Option(None, "--id-number", help="身份证号码（与社保卡号二选一）/ ID number"),
    card_number: str = typer.Option(None, "--card-number", help="社会保障卡卡号 / social-security card number"),
    account_id: int = typer.Option(None, "--account", min=1, help="个人账户编号，默认本人未注销的账户 / account id"),
    date_from: str = typer.Option(..., "--from", help="开始日期 YYYY-MM-DD（含）/ first day"),
    date_to: str = typer.Option(..., "--to", help="结束日期 YYYY-MM-DD（含）/ last day"),
    out_file: Path = typer.Option(..., "--out", dir_okay=False, help="输出的 PDF 文件 / the PDF file to write"),
) -> None:
    """生成个人账户对账单 PDF。 Write one person's personal-account statement as a PDF file."""

    try:
        first, last = _day(date_from, "from"), _day(date_to, "to")
        validate_period(first, last)
        condition = _person_condition(id_number, card_number)
        _check_folder(out_file)
    except YibaoError as error:
        fail(error)
    engine = migrated_engine()
    clock = SystemClock()
    try:
        with engine.begin() as conn:
            person_id = _person_id(conn, condition)
            account = _account_of(conn, person_id, account_id)
            statement = build_statement(conn, account_id=account, date_from=first, date_to=last)
            audit.record(
                conn, actor=None, actor_kind="system", actor_id=CLI_ACTOR, action="cli.statement", at=clock.now(),
                subject_person_id=person_id,
                detail={"account_id": account, "date_from": first.isoformat(), "date_to": last.isoformat()},
            )
        _write_atomically(out_file, render_statement(statement, generated_at=clock.now()))
    except YibaoError as error:
        fail(error)
    _print_summary(out_file, statement)


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput("日期格式应为 YYYY-MM-DD", field=field, code="date_format") from None


def _person_condition(id_number: str | None, card_number: str | None):
    if bool(id_number) == bool(card_number):
        raise InvalidInput("请填写身份证号码或社保卡卡号（二选一）", field="id_number", code="search_key_required")
    if id_number:
        return persons.c.id_number == ResidentId.parse(id_number, today=SystemClock().today()).full
    return persons.c.card_number == CardNumber.parse(card_number).value


def _check_folder(path: Path) -> None:
    if not path.parent.is_dir():
        raise InvalidInput(f"输出目录不存在：{path.parent}", field="out", code="out_folder_missing")


def _person_id(conn: Connection, condition) -> int:
    person_id = conn.execute(select(persons.c.id).where(condition)).scalar_one_or_none()
    if person_id is None:
        raise NotFound("未找到该参保人", field="id_number", code="person_not_found")
    return person_id


def _account_of(conn: Connection, person_id: int, account_id: int | None) -> int:
    if account_id is not None:
        check_owner(conn, account_id=account_id, person_id=person_id)
        return account_id
    found = current_personal_account(conn, person_id)
    if found is None:
        raise NotFound("该参保人没有个人账户", field="account_id", code="account_not_found")
    return found.id


def _write_atomically(path: Path, content: bytes) -> None:
    """A batch run that stops half-way never leaves a truncated PDF under the final name."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _print_summary(path: Path, statement: Statement) -> None:
    out.print(
        f"[green]已生成对账单[/green] {path}：{statement.person_name}（{statement.id_number_masked}），"
        f"账户 {statement.account_id}，{statement.date_from.isoformat()} 至 {statement.date_to.isoformat()}，"
        f"交易 {statement.count} 笔，期末余额 {Money(statement.closing_fen).format()}",
        highlight=False, soft_wrap=True,
    )
