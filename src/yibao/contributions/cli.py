"""`yibao import contributions FILE`: apply a contribution file whole, or explain every fault."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import typer
from rich.table import Table

from yibao.clock import SystemClock
from yibao.contributions.importer import ImportOptions, ImportReport, import_contributions
from yibao.errors import InvalidInput, YibaoError
from yibao.terminal import err, fail, out, progress_bar

import_app = typer.Typer(help="导入：缴费记录等文件。 Import files such as contribution records.", no_args_is_help=True)

SHOWN_ERRORS = 50  # on the terminal; --json carries up to the report's own limit


@import_app.command("contributions")
def import_contributions_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="CSV（UTF-8 或 GB18030）或 .xlsx 文件 / CSV or .xlsx"),
    create_people: str = typer.Option(None, "--create-people-in", metavar="REGION", help="为未登记的参保人建档，参保地为该统筹区（文件须有“姓名”列）/ enrol unknown people in this pooling region"),
    on: str = typer.Option(None, "--today", help="以哪一天为今天（YYYY-MM-DD）/ the import's today"),
    as_json: bool = typer.Option(False, "--json", help="以 JSON 输出结果 / print the report as JSON"),
) -> None:
    """导入缴费记录：整个文件要么全部导入，要么一条也不导入。 Import contribution records, all or nothing."""
    from yibao.store.db import make_engine

    try:
        options = ImportOptions(today=_today(on), create_people_in=create_people)
        with _progress(enabled=not as_json) as on_row:
            report = import_contributions(make_engine(), file, options, on_row=on_row)
    except YibaoError as error:
        fail(error)
    if as_json:
        out.print_json(json.dumps(report.as_dict(), default=str, ensure_ascii=False))
    else:
        _print_report(report)
    if not report.applied:
        raise typer.Exit(code=2)


@import_app.command("history")
def import_history_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="CSV：身份证号、原系统已缴月数、视同缴费月数 / CSV of migrated totals"),
    on: str = typer.Option(None, "--today", help="以哪一天为今天（YYYY-MM-DD）/ the import's today"),
) -> None:
    """导入原系统迁移的缴费年限（已缴月数、视同缴费月数），整个文件要么全部导入，要么一条也不导入。
    Import contribution totals migrated from the previous system, all or nothing."""
    from yibao.contributions.prior import import_prior_history
    from yibao.store.db import make_engine

    try:
        count = import_prior_history(make_engine(), file, today=_today(on))
    except YibaoError as error:
        for each in getattr(error, "errors", [])[1:]:
            err.print(each.message, highlight=False)
        fail(error)
    out.print(f"已导入 {count} 人的原系统缴费年限。", highlight=False)


def _today(text: str | None) -> date:
    if not text:
        return SystemClock().today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("日期格式应为 YYYY-MM-DD", field="today", code="date_format") from None


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[int], None]]:
    """A row counter (the total is unknown until the file is read), updated every 1,000 rows."""
    with progress_bar("读取缴费记录", enabled=enabled) as bar:
        task = bar.add_task("rows", total=None)
        yield lambda rows: bar.update(task, completed=rows) if rows % 1000 == 0 else None


def _print_report(report: ImportReport) -> None:
    style = "green" if report.applied else "red"
    out.print(f"[{style}]{report.summary()}[/{style}]  （{report.file}，{report.format}，{report.rows:,} 行）")
    if not report.errors:
        return
    table = Table("行 / row", "列 / column", "原因 / reason", "代码 / code")
    for error in report.errors[:SHOWN_ERRORS]:
        table.add_row(str(error.row), error.column, error.message, error.code)
    out.print(table)
    if report.error_count > SHOWN_ERRORS:
        out.print(f"……另有 {report.error_count - SHOWN_ERRORS} 处错误，用 --json 查看全部")
