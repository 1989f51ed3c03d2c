"""The ``yibao`` command line (Typer + Rich). Help texts are Chinese first, then English."""

from __future__ import annotations

import json
from datetime import date

import typer
from rich.table import Table

from yibao.clock import SystemClock
from yibao.config import DEFAULT_DATA_DIR, get_settings, normalise_database_url
from yibao.domain.money import Money
from yibao.errors import YibaoError
from yibao.terminal import migrated_engine, out
from yibao.terminal import fail as _fail

app = typer.Typer(
    help="医保个人账户平台 yibao 的命令行工具。 Command line of yibao, the medical-insurance personal-account platform.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="数据库：升级结构、核对账务。 Database: upgrade the schema, verify the ledger.", no_args_is_help=True)
app.add_typer(db_app, name="db")

from yibao.cli_access import client_app, institution_app, staff_app  # noqa: E402 - registered beside db

app.add_typer(staff_app, name="staff")
app.add_typer(institution_app, name="institution")
app.add_typer(client_app, name="app")

from yibao.contributions.cli import import_app  # noqa: E402

app.add_typer(import_app, name="import")

from yibao.policy.cli import policy_app  # noqa: E402

app.add_typer(policy_app, name="policy", help="政策解答与政策数据校验。 Policy answers (credit, lifetime, withdrawal, continuity, channels) and data check.")

from yibao.credit.cli import credit_app  # noqa: E402

app.add_typer(credit_app, name="credit", help="个人账户每月划入（按月、每个账户每月一次）。 Monthly personal-account credit run.")

from yibao.payments.cli import payments_app  # noqa: E402

app.add_typer(payments_app, name="payments")

from yibao.statements.cli import statement_command  # noqa: E402

app.command("statement")(statement_command)

from yibao.ivr.cli import ivr_command  # noqa: E402

app.command("ivr")(ivr_command)


DEFAULT_DEMO_PEOPLE = 2_000
DEFAULT_DEMO_SEED = 20_250_601


def _engine():
    from yibao.store.db import make_engine

    return make_engine()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """把数据库升级到最新结构（Alembic 迁移）。 Bring the database to the latest schema (Alembic)."""
    from yibao.store.migrate import current_revision, upgrade

    engine = _engine()
    upgrade(engine)
    out.print(f"数据库结构已是最新 / schema is current: [bold]{current_revision(engine)}[/bold]")


@db_app.command("check")
def db_check(
    as_json: bool = typer.Option(False, "--json", help="以 JSON 输出 / print JSON"),
) -> None:
    """核对账务：每笔交易借贷平衡、余额等于分录合计、无负余额，支付与退费记录与账务一致。 Verify every ledger invariant, and payments and refunds against the ledger."""
    from yibao.ledger.check import check_ledger
    from yibao.store.migrate import current_revision, head_revision
    from yibao.store.partitions import rows_in_default

    engine = _engine()
    with engine.connect() as conn:
        report = check_ledger(conn, stale_after_seconds=get_settings().payments_resume_after_seconds)
        waiting = rows_in_default(conn)
    # Postings in the default partition are correct, only stored where no month's index keeps them apart.
    result = report.as_dict() | {
        "schema_current": current_revision(engine) == head_revision(),
        "postings_in_default_partition": waiting,
    }
    ok = result["ok"] and result["schema_current"]
    if as_json:
        out.print_json(json.dumps(result, default=str, ensure_ascii=False))
    else:
        _print_check(result)
    raise typer.Exit(code=0 if ok else 1)


@db_app.command("partitions")
def db_partitions() -> None:
    """PostgreSQL：为上月、本月及之后3个月建好分录分区（可每日定时运行）。 Make the postings partitions of the coming months."""
    from yibao.clock import SystemClock
    from yibao.store.partitions import ensure_ahead, existing_spans, is_partitioned, rows_in_default

    engine = migrated_engine()
    with engine.connect() as conn:
        if not is_partitioned(conn):
            out.print("此数据库（SQLite）的分录不分区，无需处理 / SQLite keeps one postings table")
            return
        made = ensure_ahead(conn, SystemClock().today())
        spans = existing_spans(conn)
        waiting = rows_in_default(conn)
    out.print(f"新建分区 / made: {', '.join(made) or '无 / none'}；现有分区 {len(spans)} 个，"
              f"{spans[0].first} 至 {spans[-1].end} / partitions cover {spans[0].first} – {spans[-1].end}")
    if waiting:
        out.print(f"[yellow]默认分区中有 {waiting:,} 条分录等待所属月份的分区 / postings waiting in the default partition[/yellow]")


def _print_check(result: dict) -> None:
    out.print(f"账户 {result['accounts_checked']:,} 个，交易 {result['transactions_checked']:,} 笔")
    if not result["schema_current"]:
        out.print("[red]数据库结构不是最新，请运行 yibao db upgrade[/red]")
    if result["postings_in_default_partition"]:
        out.print(f"[yellow]默认分区中有 {result['postings_in_default_partition']:,} 条分录等待所属月份的分区，"
                  "请运行 yibao db partitions / postings waiting in the default partition[/yellow]")
    if result["warnings"]:
        out.print(_findings_table(result["warnings"], "[yellow]提示 / warning[/yellow]"))
    if result["ok"]:
        out.print("[green]账务核对无误[/green] / ledger is consistent")
        return
    out.print(_findings_table(result["findings"], "问题 / finding"))


def _findings_table(findings: list[dict], title: str) -> Table:
    table = Table(title, "数量 / count", "示例 / examples")
    for finding in findings:
        table.add_row(f"{finding['message']} ({finding['code']})", str(finding["count"]), json.dumps(finding["examples"][:3], default=str))
    return table


@app.command()
def demo(
    people: int = typer.Option(DEFAULT_DEMO_PEOPLE, "--people", min=1, max=5_000_000, help="合成参保人数 / number of synthetic people"),
    seed: int = typer.Option(DEFAULT_DEMO_SEED, "--seed", help="随机种子，相同种子得到相同人群 / same seed, same population"),
    months: int = typer.Option(24, "--months", min=1, max=240, help="缴费与账户历史的月数 / months of history"),
    on: str = typer.Option(None, "--today", help="以哪一天为今天（YYYY-MM-DD），默认今天 / the demo's today"),
    reset: bool = typer.Option(None, "--reset/--no-reset", help="清空已有数据后重建（默认库自动清空）/ wipe existing data first"),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="建库后启动服务 / start the server afterwards"),
    as_json: bool = typer.Option(False, "--json", help="以 JSON 输出演示账号 / print the demo logins as JSON"),
    host: str = typer.Option(None, "--host", help="监听地址 / address to listen on"),
    port: int = typer.Option(None, "--port", help="端口 / port"),
) -> None:
    """生成合成人群的演示数据库，打印演示账号，并启动服务。 Build a demo database with a synthetic population, print demo logins, serve it."""
    from yibao.demo.access import add_demo_access
    from yibao.demo.build import build_demo

    engine = _engine()
    today = date.fromisoformat(on) if on else SystemClock().today()
    if reset is None:
        reset = _is_default_database()
    try:
        summary = build_demo(engine, people=people, seed=seed, today=today, months=months, reset=reset, progress=not as_json)
        credits = _credit_demo_months(engine, today, months)
        access = add_demo_access(engine, summary.logins[0]["region_code"] if summary.logins else "110000")
    except YibaoError as error:
        _fail(error)
    if as_json:
        out.print_json(json.dumps(
            summary.as_dict() | {"credit_runs": credits, "access": access.as_dict()}, default=str, ensure_ascii=False
        ))
    else:
        _print_demo_summary(summary, credits)
        _print_demo_access(access)
    if serve:
        _serve(engine, host, port, demo=True)


def _credit_demo_months(engine, today: date, months: int) -> list[dict]:
    """Run the real monthly credit run over the demo's history, this month included.

    The generated history already credits in-service people's contributions (recorded as
    done, so the run skips them); retirees are credited by the policy engine here, as an
    agency's monthly runs would have done. Months without a rule in the data stay
    uncredited, with the run's reasons.
    """
    from yibao.credit.run import run_month
    from yibao.domain.contribution import next_month
    from yibao.demo.population import history_start

    month, reports = history_start(today, months), []
    while month <= today:
        report = run_month(engine, month).as_dict()
        reports.append({"month": month.isoformat()[:7], "credited": report["credited"], "amount_fen": report["amount_fen"]})
        month = next_month(month)
    return reports


def _is_default_database() -> bool:
    default = normalise_database_url(f"sqlite:///{DEFAULT_DATA_DIR / 'yibao.sqlite3'}")
    return normalise_database_url(get_settings().database_url) == default


def _print_demo_summary(summary, credits: list[dict]) -> None:
    data = summary.as_dict()
    out.print(
        f"[green]演示数据库已生成[/green]：参保人 {data['people']:,}，交易 {data['transactions']:,} 笔，"
        f"用时 {data['seconds']:.1f} 秒"
    )
    credited = [run for run in credits if run["credited"]]
    if credited:
        total = Money(sum(run["amount_fen"] for run in credited)).format()
        out.print(f"按月划入（yibao credit run）：{credited[0]['month']} 至 {credited[-1]['month']}，共 {total}")
    out.print("演示账号 / demo logins:")
    for login in data["logins"]:
        note = "（初始密码，首次登录须改密）" if login["must_change_password"] else ""
        out.print(f"  [bold]{login['label']}[/bold] {login['name']}（{login['region_name']}）", highlight=False)
        out.print(
            f"    身份证号 {login['id_number']}  社保卡号 {login['card_number']}  "
            f"密码 {login['password']}{note}  电话密码 {login['phone_pin']}",
            highlight=False, soft_wrap=True,
        )


def _print_demo_access(access) -> None:
    from yibao.security.staff import StaffRole

    out.print("经办工作台账号（/counter）/ staff logins:")
    for member in access.staff:
        label = StaffRole(member.role).label
        out.print(f"  {member.name}  用户名 {member.username}  密码 {member.password}  （{label}，{member.role}）", highlight=False)
    out.print(
        f"定点药店 / designated pharmacy: {access.pharmacy_name}（{access.pharmacy_code}，{access.pharmacy_region}）"
        f"  接口密钥 X-Api-Key: {access.pharmacy_api_key}", highlight=False, soft_wrap=True,
    )


@app.command("serve")
def serve_command(
    host: str = typer.Option(None, "--host", help="监听地址 / address to listen on"),
    port: int = typer.Option(None, "--port", help="端口 / port"),
) -> None:
    """为已有数据库提供网页与接口服务。 Serve an existing database over HTTP."""
    from yibao.security.sms import check_sender

    engine = migrated_engine()
    try:
        check_sender(get_settings())
    except YibaoError as error:
        _fail(error)
    _serve(engine, host, port)


def _serve(engine, host: str | None, port: int | None, *, demo: bool = False) -> None:
    import uvicorn

    from yibao.web.app import create_app

    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    base = f"http://{host}:{port}"
    web_app = create_app(engine)
    _partitions_ahead(engine)
    if demo:  # the kiosk shows buttons for the demo people's cards instead of a card reader
        security = web_app.state.security
        # and it is development: SMS codes go to the log unless a real sender is configured
        security.settings = security.settings.model_copy(update={"kiosk_demo_cards": True, "env": "development"})
    out.print(f"服务地址 / open: [bold]{base}/[/bold]   接口文档 / API docs: {base}/docs   健康检查 / health: {base}/health")
    out.print(f"个人网页 / portal: {base}/portal   计算器 / calculators: {base}/calc   "
              f"自助机 / kiosk: {base}/kiosk   柜台 / counter: {base}/counter")
    # The app alone decides whom to believe about the client's address (YIBAO_TRUSTED_PROXIES,
    # yibao.web.proxies); uvicorn's own handling would trust any local peer's X-Forwarded-For.
    uvicorn.run(web_app, host=host, port=port, log_level="info", proxy_headers=False)


def _partitions_ahead(engine) -> None:
    """PostgreSQL: the postings partitions of the coming months exist before the server writes any."""
    from yibao.clock import SystemClock
    from yibao.store.partitions import ensure_ahead

    with engine.connect() as conn:
        made = ensure_ahead(conn, SystemClock().today())
    if made:
        out.print(f"新建分录分区 / postings partitions made: {', '.join(made)}")


if __name__ == "__main__":  # pragma: no cover
    app()
