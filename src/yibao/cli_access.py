"""``yibao staff|institution|app add``: who may use the API besides insured people.

Secrets are asked for (staff passwords) or generated and shown once (institution keys,
app client secrets); only their hashes are stored.
"""

from __future__ import annotations

import typer
from rich.console import Console

from yibao.errors import YibaoError

out = Console()
err = Console(stderr=True)

staff_app = typer.Typer(help="经办人员账号。 Agency staff accounts.", no_args_is_help=True)
institution_app = typer.Typer(help="定点医药机构及其接口密钥。 Designated institutions and their API keys.", no_args_is_help=True)
client_app = typer.Typer(help="第三方应用（OAuth 2.0）。 Third-party apps (OAuth 2.0 clients).", no_args_is_help=True)


def _engine():
    from yibao.store.db import make_engine

    return make_engine()


def _fail(error: YibaoError) -> None:
    err.print(f"[red]错误[/red]（{error.code}）：{error.message}" + (f"  字段：{error.field}" if error.field else ""))
    raise typer.Exit(code=2)


@staff_app.command("add")
def staff_add(
    username: str = typer.Argument(..., help="登录用户名 / username"),
    name: str = typer.Option(..., "--name", help="姓名 / full name"),
    role: str = typer.Option(
        "agent", "--role",
        help="agent（经办）、supervisor（复核：大额的第二人审批）、auditor（审计）或 admin（系统管理）",
    ),
    region: list[str] = typer.Option(None, "--region", help="负责的统筹区，可重复；不填为全部地区 / pooling regions (repeat)"),
    password: str = typer.Option(
        ..., "--password", prompt="密码 / password", hide_input=True, confirmation_prompt=True,
        envvar="YIBAO_STAFF_PASSWORD", help="至少8位，含字母和数字（也可用环境变量 YIBAO_STAFF_PASSWORD）",
    ),
) -> None:
    """添加经办人员账号。 Add a staff account."""
    from yibao.errors import InvalidInput
    from yibao.security.staff import StaffRole, add_staff

    try:
        try:
            staff_role = StaffRole(role)
        except ValueError:
            raise InvalidInput("角色应为 agent、supervisor、auditor 或 admin", field="role", code="role_unknown") from None
        with _engine().begin() as conn:
            staff_id = add_staff(conn, username=username, name=name, role=staff_role, password=password, regions=region or None)
    except YibaoError as error:
        _fail(error)
    out.print(f"已添加{staff_role.label} [bold]{username}[/bold]（编号 {staff_id}）/ staff account added")


@institution_app.command("add")
def institution_add(
    code: str = typer.Argument(..., help="机构编码 / institution code"),
    name: str = typer.Option(..., "--name", help="机构名称 / name"),
    kind: str = typer.Option("pharmacy", "--kind", help="pharmacy（药店）或 hospital（医院）"),
    region: str = typer.Option(..., "--region", help="所在统筹区代码 / pooling region code"),
    designated: bool = typer.Option(
        False, "--designated/--not-designated",
        help="定点医药机构：可收取医保个人账户支付 / designated: may take personal-account payments",
    ),
) -> None:
    """登记定点医药机构并生成接口密钥（只显示一次）。 Register an institution; prints its API key once."""
    from yibao.errors import InvalidInput
    from yibao.security.institutions import InstitutionKind, add_institution

    try:
        try:
            institution_kind = InstitutionKind(kind)
        except ValueError:
            raise InvalidInput("机构类型应为 pharmacy 或 hospital", field="kind", code="kind_unknown") from None
        with _engine().begin() as conn:
            _, key = add_institution(conn, code=code, name=name, kind=institution_kind, region_code=region)
            if designated:
                from yibao.payments.institutions import set_designated

                set_designated(conn, code.strip(), True)
    except YibaoError as error:
        _fail(error)
    status = "定点医药机构，可收取个人账户支付" if designated else "非定点，不能收取个人账户支付"
    out.print(f"已登记 [bold]{name}[/bold]（{status}）。接口密钥（请求头 X-Api-Key，只显示这一次）/ API key, shown once:")
    out.print(key, highlight=False, soft_wrap=True)


@institution_app.command("tif-secret")
def institution_tif_secret(
    code: str = typer.Argument(..., help="机构编码 / institution code"),
    as_json: bool = typer.Option(False, "--json", help="以 JSON 输出 / print JSON"),
) -> None:
    """生成国家医保接口的签名密钥（x-tif-* 请求头；只显示一次，旧密钥随即失效）。 Issue the national
    interface's TIF signature secret (shown once; the previous one stops working)."""
    import json

    from yibao.national.gateway import issue_tif_secret
    from yibao.security.context import Security

    try:
        with _engine().begin() as conn:
            secret = issue_tif_secret(conn, Security().key, code.strip())
    except YibaoError as error:
        _fail(error)
    if as_json:
        print(json.dumps({"paasid": code.strip(), "secret": secret}))
        return
    out.print(f"签名请求头 x-tif-paasid 为机构编码 [bold]{code.strip()}[/bold]；签名密钥（只显示这一次）/ TIF secret, shown once:")
    out.print(secret, highlight=False, soft_wrap=True)


@client_app.command("add")
def client_add(
    client_id: str = typer.Argument(..., help="应用标识 / client_id"),
    name: str = typer.Option(..., "--name", help="应用名称（授权页上显示）/ name shown on the consent page"),
    redirect_uri: list[str] = typer.Option(..., "--redirect-uri", help="回调地址，可多次指定 / may repeat"),
    scope: list[str] = typer.Option(..., "--scope", help="最多可申请的授权范围，可多次指定 / may repeat"),
    confidential: bool = typer.Option(False, "--confidential", help="有服务端的应用：生成客户端密钥 / issue a client secret"),
) -> None:
    """登记第三方应用（授权码 + PKCE）。 Register a third-party app (authorization code + PKCE)."""
    from yibao.security.oauth import add_client

    try:
        with _engine().begin() as conn:
            secret = add_client(
                conn, client_id=client_id, name=name, redirect_uris=redirect_uri, scopes=scope, confidential=confidential
            )
    except YibaoError as error:
        _fail(error)
    out.print(f"已登记应用 [bold]{name}[/bold]（{client_id}）/ app registered")
    if secret:
        out.print("客户端密钥（只显示这一次）/ client secret, shown once:")
        out.print(secret, highlight=False, soft_wrap=True)
