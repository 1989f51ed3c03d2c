"""``yibao policy ...``: the policy questions and the data check on the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from yibao.clock import SystemClock
from yibao.errors import InvalidInput, YibaoError
from yibao.policy.check import DEFAULT_CASES, check_policy
from yibao.policy.inputs import cli_message
from yibao.policy.loading import load_book
from yibao.policy.render import render
from yibao.policy.service import ask

policy_app = typer.Typer(
    help="政策解答：每月划入、终身医保、余额提取、断缴、查询渠道。 Policy answers with sources.",
    no_args_is_help=True,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

JSON_OPTION = typer.Option(False, "--json", help="以 JSON 输出 / print JSON")
REGION_OPTION = typer.Option(..., "--region", help="地区：代码、全称或简称，如 110000、北京市、京 / region")


def _answer(question: str, raw: dict[str, Any], as_json: bool) -> None:
    try:
        answer = ask(load_book(), question, raw, SystemClock().today())
    except YibaoError as error:
        _fail(error)
    if as_json:
        print(json.dumps(answer, ensure_ascii=False, indent=2))
    else:
        for line in render(answer):
            out.print(line, highlight=False, markup=False)


def _fail(error: YibaoError) -> None:
    from yibao.cli import _fail as fail_with_exit_code_2

    for extra in getattr(error, "errors", [])[1:]:
        err.print(f"[red]错误[/red]（{extra.code}）：{_said(extra)}  字段：{extra.field}")
    fail_with_exit_code_2(error, message=_said(error))


def _said(error: YibaoError) -> str:
    return cli_message(error) if isinstance(error, InvalidInput) else error.message


@policy_app.command("credit")
def credit(
    region: str = REGION_OPTION,
    birth: str = typer.Option(..., "--birth", help="出生日期 YYYY-MM-DD"),
    on: str = typer.Option(..., "--on", help="划入日期 YYYY-MM-DD"),
    insurance: str = typer.Option(..., "--insurance", help="险种：employee（职工医保）或 resident（城乡居民医保）"),
    status: str = typer.Option(..., "--status", help="状态：working（在职）或 retired（退休）"),
    avg_pension: str = typer.Option(None, "--avg-pension", help="当地人均基本养老金（元/月），资料没有时可提供"),
    base: str = typer.Option(None, "--base", help="缴费基数（元/月），在职职工用"),
    flexible: bool = typer.Option(False, "--flexible", help="灵活就业人员"),
    as_json: bool = JSON_OPTION,
) -> None:
    """每月个人账户划入金额。 Monthly personal-account credit."""
    _answer("credit", {"region": region, "birth": birth, "on": on, "insurance": insurance, "status": status,
                       "avg_pension": avg_pension, "base": base, "flexible": flexible}, as_json)


@policy_app.command("lifetime")
def lifetime(
    region: str = REGION_OPTION,
    sex: str = typer.Option(..., "--sex", help="性别：M（男）或 F（女）"),
    cumulative_years: str = typer.Option(..., "--cumulative-years", help="累计缴费年限（含视同缴费年限，可带小数）"),
    actual_years: str = typer.Option(..., "--actual-years", help="实际缴费年限（可带小数）"),
    retire_on: str = typer.Option(..., "--retire-on", help="退休日期 YYYY-MM-DD"),
    enrolled_on: str = typer.Option(None, "--enrolled-on", help="参保日期 YYYY-MM-DD（广州按此判断）"),
    flexible: bool = typer.Option(False, "--flexible", help="灵活就业人员"),
    insurance: str = typer.Option(None, "--insurance", help="险种：employee（默认）或 resident"),
    on: str = typer.Option(None, "--on", help="查询日期，默认今天"),
    as_json: bool = JSON_OPTION,
) -> None:
    """缴费年限是否够终身享受医保。 Whether the contribution years give lifetime coverage."""
    _answer("lifetime", {"region": region, "sex": sex, "cumulative_years": cumulative_years, "actual_years": actual_years,
                         "retire_on": retire_on, "enrolled_on": enrolled_on, "flexible": flexible,
                         "insurance": insurance, "on": on}, as_json)


@policy_app.command("withdraw")
def withdraw(
    region: str = REGION_OPTION,
    reason: str = typer.Option(..., "--reason", help="原因：death|abandon|remote|refused|illness|emigration"),
    on: str = typer.Option(None, "--on", help="查询日期，默认今天"),
    as_json: bool = JSON_OPTION,
) -> None:
    """个人账户余额能否提取。 Whether the balance can be withdrawn."""
    _answer("withdraw", {"region": region, "reason": reason, "on": on}, as_json)


@policy_app.command("continuity")
def continuity(
    region: str = REGION_OPTION,
    paid: str = typer.Option(..., "--paid", help="已缴费月份，逗号分隔：2025-01,2025-02"),
    on: str = typer.Option(..., "--on", help="查询日期 YYYY-MM-DD"),
    status: str = typer.Option(None, "--status", help="状态：working（默认）或 retired"),
    as_json: bool = JSON_OPTION,
) -> None:
    """断缴后是否还能正常报销。 Covered or suspended after gaps in contributions."""
    _answer("continuity", {"region": region, "paid": paid, "on": on, "status": status}, as_json)


@policy_app.command("channels")
def channels(
    region: str = REGION_OPTION,
    on: str = typer.Option(None, "--on", help="查询日期，默认今天"),
    as_json: bool = JSON_OPTION,
) -> None:
    """查询余额和缴费记录的渠道。 Ways to check the balance and records."""
    _answer("channels", {"region": region, "on": on}, as_json)


@policy_app.command("family")
def family(
    region: str = REGION_OPTION,
    on: str = typer.Option(None, "--on", help="查询日期，默认今天"),
    as_json: bool = JSON_OPTION,
) -> None:
    """家庭共济：个人账户能为哪些亲属支付。 Family sharing: whom the account may pay for."""
    _answer("family", {"region": region, "on": on}, as_json)


@policy_app.command("transfer")
def transfer(
    region: str = REGION_OPTION,
    to_region: str = typer.Option(None, "--to", help="转入地（行政区划代码或名称），默认与转出地规定相同"),
    applied_on: str = typer.Option(None, "--applied-on", help="转出地受理申请的日期 YYYY-MM-DD，给出时计算办结期限"),
    on: str = typer.Option(None, "--on", help="查询日期，默认今天"),
    as_json: bool = JSON_OPTION,
) -> None:
    """跨统筹区转移接续的办理时限。 How long moving the account to another region takes."""
    _answer("transfer", {"region": region, "to_region": to_region, "applied_on": applied_on, "on": on}, as_json)


@policy_app.command("check")
def check(
    data: Path = typer.Option(None, "--data", help="政策数据目录，默认随软件发布的数据 / policy data directory"),
    cases: Path = typer.Option(DEFAULT_CASES, "--cases", help="测试用例目录 / case files directory"),
    as_json: bool = JSON_OPTION,
) -> None:
    """校验政策数据：格式、日期、来源、地区代码，以及每个明确数值都有测试用例。 Validate the policy data."""
    report = check_policy(data, cases)
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        summary = report.as_dict()
        out.print(f"文件 {len(summary['files'])} 个，取值 {summary['values']} 个，用例 {summary['cases']} 个（不通过 {summary['cases_failed']} 个）", highlight=False)
        for finding in report.findings:
            out.print(f"[red]✗[/red] {finding.file} {finding.where}：{finding.message}（{finding.code}）", highlight=False)
        if report.ok:
            out.print("[green]政策数据校验通过[/green] / policy data is valid")
    raise typer.Exit(code=0 if report.ok else 1)
