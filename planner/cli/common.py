"""Helpers shared by the CLI commands: error reporting and tables."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from planner.errors import PlannerError

#: Written to a log or a pipe, tables get a log's width instead of rich's 80 columns.
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 132)
err_console = Console(stderr=True, soft_wrap=True)


def reports_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the project's errors into a one-line message and exit code 2 (no traceback;
    brackets in the message, e.g. ``[network]``, are printed as written)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PlannerError as exc:
            err_console.print(f"[bold red]Error:[/] {escape(str(exc))}")
            raise typer.Exit(code=2) from None

    return wrapper


def key_value_table(title: str, rows: Mapping[str, object]) -> Table:
    """A two-column table of a summary dict."""
    table = Table(title=title, show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    for key, value in rows.items():
        table.add_row(key.replace("_", " "), str(value))
    return table
