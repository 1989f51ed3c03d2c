"""The command line's consoles and its one way of reporting an error (exit code 2)."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from yibao.errors import YibaoError

out = Console()
err = Console(stderr=True)


def fail(error: YibaoError, *, message: str | None = None) -> NoReturn:
    """Print ``error`` in Chinese (or ``message``, the command line's phrasing of it) with its code
    and field, and stop with exit code 2."""
    text = message or error.message
    err.print(f"[red]错误[/red]（{error.code}）：{text}" + (f"  字段：{error.field}" if error.field else ""))
    raise typer.Exit(code=2)


def progress_bar(title: str, *, enabled: bool) -> Progress:
    """A progress bar on stderr, so stdout stays clean for --json; does nothing when disabled."""
    return Progress(
        TextColumn(title), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        console=err, disable=not enabled,
    )


def migrated_engine(*, other_fix: str | None = None):
    """The configured database; exits with code 2 and says what to run when its schema is not
    the latest (``other_fix``: another command that would also bring it up to date)."""
    from yibao.store.db import make_engine
    from yibao.store.migrate import is_current

    engine = make_engine()
    if not is_current(engine):
        also = f" 或 {other_fix}" if other_fix else ""
        err.print(f"[red]数据库结构不是最新，请先运行 yibao db upgrade{also}[/red] / run `yibao db upgrade` first")
        raise typer.Exit(code=2)
    return engine
