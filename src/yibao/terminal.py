"""The command line's consoles and its one way of reporting an error (exit code 2)."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from yibao.errors import YibaoError

out = Console()
err = Console(stderr=True)


def fail(error: YibaoError) -> NoReturn:
    """Print ``error`` in Chinese with its code and field, and stop with exit code 2."""
    err.print(f"[red]错误[/red]（{error.code}）：{error.message}" + (f"  字段：{error.field}" if error.field else ""))
    raise typer.Exit(code=2)


def progress_bar(title: str, *, enabled: bool) -> Progress:
    """A progress bar on stderr, so stdout stays clean for --json; does nothing when disabled."""
    return Progress(
        TextColumn(title), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        console=err, disable=not enabled,
    )
