"""``yibao payments resume``: finish half-written payments and refunds, drop stale pending ones."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from yibao.clock import SystemClock
from yibao.config import get_settings
from yibao.payments.resume import ResumeReport, resume_pending
from yibao.terminal import migrated_engine, out

payments_app = typer.Typer(help="定点医药机构支付与网上缴费。 Payments at designated institutions, contributions paid online.", no_args_is_help=True)


@payments_app.command("resume")
def resume(
    older_than: int = typer.Option(
        None, "--older-than", min=0,
        help="未记账的待处理记录超过多少秒视为中断并作废，默认 YIBAO_PAYMENTS_RESUME_AFTER_SECONDS（300）"
        " / drop pending rows never posted after this many seconds",
    ),
    as_json: bool = typer.Option(False, "--json", help="以 JSON 输出 / print JSON"),
) -> None:
    """补完已记账但未标记的支付与退费，作废长时间未记账的待处理记录（退还电子凭证）；可重复运行。
    Finish payments and refunds that were posted but never marked; drop stale pending ones that were never posted."""
    if older_than is None:
        older_than = get_settings().payments_resume_after_seconds
    report = resume_pending(migrated_engine(), now=SystemClock().now(), older_than_seconds=older_than)
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        _print(report)


def _print(report: ResumeReport) -> None:
    if not (report.finished or report.dropped):
        out.print("没有需要补完或作废的支付 / nothing to resume")
    table = Table("处理 / action", "类型 / kind", "编号 / id", "收据号 / receipt", "交易 / transaction")
    for action, rows in (("补完 / finished", report.finished), ("作废 / dropped", report.dropped)):
        for row in rows:
            table.add_row(action, row.kind, str(row.id), row.receipt_no, str(row.transaction_id or ""))
    if table.rows:
        out.print(table)
    if report.waiting:
        out.print(f"{report.waiting} 条待处理记录尚未超时，可能仍在进行中，未处理 / pending rows still in flight, left alone")


@payments_app.command("collect")
def collect(as_json: bool = typer.Option(False, "--json", help="以 JSON 输出 / print JSON")) -> None:
    """网上缴费：补记已支付未入账的订单，关闭超时未支付的订单，退回重复或失效订单的支付；可重复运行。
    Online contributions: post paid orders left unposted, expire unpaid ones, refund stray payments."""
    from yibao.collection.resume import collect as collect_orders
    from yibao.policy.loading import load_book
    from yibao.security.context import Security

    report = collect_orders(migrated_engine(), Security(), load_book())
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    if not (report.posted or report.expired or report.refunded):
        out.print("没有需要处理的网上缴费订单 / nothing to collect")
    for label, rows in (("补记入账 / posted", report.posted), ("超时关闭 / expired", report.expired),
                        ("退回支付 / refunded", report.refunded)):
        for row in rows:
            out.print(f"{label}: {row}")
