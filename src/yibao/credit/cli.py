"""``yibao credit run --month YYYY-MM``: the monthly credit run on the command line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.table import Table

from yibao.clock import SystemClock
from yibao.credit.month import label, parse_month
from yibao.credit.reasons import Skip
from yibao.credit.report import RunReport, region_name
from yibao.credit.run import DEFAULT_CHUNK, run_month
from yibao.domain.money import Money
from yibao.errors import YibaoError
from yibao.terminal import fail, migrated_engine, out, progress_bar

credit_app = typer.Typer(
    help="个人账户每月划入。 Monthly personal-account credit run.",
    no_args_is_help=True,
)


@credit_app.command("run")
def run(
    month: str = typer.Option(..., "--month", help="划入月份 YYYY-MM / the month to credit"),
    dry_run: bool = typer.Option(False, "--dry-run", help="只计算并报告，不写入 / report what would be credited, write nothing"),
    as_json: bool = typer.Option(False, "--json", help="以 JSON 输出汇总 / print the summary as JSON"),
    chunk_size: int = typer.Option(DEFAULT_CHUNK, "--chunk-size", min=1, max=1_000_000, help="每批账户数 / accounts per database transaction"),
    policy_data: Path = typer.Option(None, "--policy-data", exists=True, file_okay=False, help="政策数据目录，默认用随软件发布的数据 / policy data directory"),
) -> None:
    """为所有有效个人账户划入某月的金额，每个账户每月只划入一次。 Credit every open personal account for a month, exactly once."""
    from yibao.policy.loading import load_book

    try:
        first = parse_month(month, SystemClock().today())
        book = load_book(policy_data)
    except YibaoError as error:
        fail(error)
    engine = migrated_engine()
    try:
        with _progress(enabled=not as_json, title=f"{label(first)}划入") as (on_start, on_chunk):
            report = run_month(engine, first, book=book, chunk_size=chunk_size, dry_run=dry_run, on_start=on_start, on_chunk=on_chunk)
    except YibaoError as error:
        fail(error)
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        print_report(report)


@contextmanager
def _progress(*, enabled: bool, title: str) -> Iterator[tuple[Callable[[int], None], Callable[[int], None]]]:
    """(set the number of accounts to look at, advance by a chunk's accounts)."""
    with progress_bar(title, enabled=enabled) as bar:
        task = bar.add_task("accounts", total=None)
        yield (lambda accounts: bar.update(task, total=accounts), lambda accounts: bar.advance(task, accounts))


def print_report(report: RunReport) -> None:
    data = report.as_dict()
    out.print(f"[bold]{report.headline()}[/bold]", highlight=False)
    if report.already_credited:
        out.print(f"本月此前已划入 {report.already_credited:,} 个账户，本次不再重复划入", highlight=False)
    if data["by_region"]:
        table = Table("统筹区 / region", "账户 / accounts", "金额 / amount", title="按统筹区 / by region")
        for code, row in data["by_region"].items():
            table.add_row(f"{row['name']}（{code}）", f"{row['credited']:,}", Money(row["amount_fen"]).format())
        out.print(table)
        table = Table("依据 / rule", "账户 / accounts", "金额 / amount", title="按划入依据 / by rule")
        for rule, row in data["by_rule"].items():
            name = "当月缴费中计入个人账户的部分" if rule == "contribution" else f"政策 {rule}"
            table.add_row(name, f"{row['credited']:,}", Money(row["amount_fen"]).format())
        out.print(table)
    if data["skipped"]:
        table = Table(title=f"未划入 {data['skipped_total']:,} 个账户 / skipped")
        table.add_column("未划入原因 / reason", overflow="fold")
        table.add_column("账户 / accounts", no_wrap=True)
        table.add_column("涉及地区 / regions", overflow="fold")
        for key, count in data["skipped"].items():
            regions = data["skipped_by_region"].get(key, {})
            names = "、".join(region_name(code) for code in sorted(regions, key=regions.get, reverse=True)[:6])
            table.add_row(Skip[key.upper()].label, f"{count:,}", names + ("等" if len(regions) > 6 else ""))
        out.print(table)
    out.print(f"读取 {report.accounts_read:,} 个账户，{report.chunks} 批，用时 {report.seconds:.1f} 秒", highlight=False)
