"""The ``planner`` command line."""

from __future__ import annotations

import typer

from planner.cli import (
    compare_cmd,
    facilities_cmd,
    network_cmd,
    population_cmd,
    province_cmd,
    report_cmd,
    run_cmd,
    serve_cmd,
)

app = typer.Typer(
    help="15-minute living-circle planner: walk networks, coverage, gaps and new sites.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """15-minute living-circle planner (一刻钟便民生活圈)."""


network_cmd.register(app)
facilities_cmd.register(app)
population_cmd.register(app)
run_cmd.register(app)
compare_cmd.register(app)
serve_cmd.register(app)
report_cmd.register(app)
province_cmd.register(app)


def main() -> None:
    """Entry point of the ``planner`` script."""
    app()
