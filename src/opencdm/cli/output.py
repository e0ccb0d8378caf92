"""What the commands print: tables and fields for people, the API's JSON as-is for scripts, errors on stderr."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

# Markup off: API messages such as "Job[copy_t] doesn't exist." must print verbatim, not as rich tags.
console = Console(markup=False)
# soft_wrap: an error stays one line, however narrow the terminal (scripts grep it).
err_console = Console(stderr=True, markup=False, soft_wrap=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer as-is.")]


def fail(message: str) -> NoReturn:
    err_console.print(f"Error: {message}", style="red")
    raise typer.Exit(1)


def print_json(data: Any) -> None:
    # Plain echo rather than rich: no wrapping or colouring may alter what scripts parse.
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def show(data: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    if as_json:
        print_json(data)
    else:
        render(data)


def table(*columns: str, title: str | None = None) -> Table:
    grid = Table(title=title, title_justify="left")
    for index, column in enumerate(columns):
        # The first column names the row (job, link, id): kept on one line while the others can wrap;
        # folded rather than cut with "…" so that ids and paths can still be copied.
        grid.add_column(column, overflow="fold", no_wrap=index == 0)
    return grid


def text(value: Any) -> str:
    return "" if value is None else str(value)


def number(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def when(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S") if ms else ""


def print_fields(title: str, fields: dict[str, Any]) -> None:
    grid = table("Field", "Value", title=title)
    for key, value in fields.items():
        if value not in (None, ""):
            grid.add_row(key, text(value))
    console.print(grid)

