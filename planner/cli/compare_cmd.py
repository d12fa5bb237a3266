"""``planner compare A.toml B.toml``: coverage side by side, people newly covered, a map."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from planner.cli.common import console, reports_errors
from planner.cli.run_cmd import LangOpt


def _time_table(result) -> Table:
    """Time mode: the group each category serves, within the category's level (minutes), at
    that group's walking speed in each scenario — where a change of speeds shows."""
    cov = result.coverage
    own = cov[cov["mode"] == "compliance"].groupby("category")["level_min"].first()
    level = cov["category"].map(own)  # the compliance row carries the category's level
    rows = cov[(cov["mode"] == "time") & cov["served_group"] & (cov["level_min"] == level)]
    table = Table(title=f"Walking time of the group each category serves, within its level: "
                        f"{result.name_a} → {result.name_b} (% of that group)")
    for col in ("category", "group", "min", "A %", "B %", "Δ pp", "Δ people"):
        table.add_column(col, justify="left" if col in ("category", "group") else "right")
    for r in rows.itertuples(index=False):
        table.add_row(r.category, r.group, f"{r.level_min:g}", f"{r.coverage_pct_a:.1f}",
                      f"{r.coverage_pct_b:.1f}", f"{r.diff_pp:+.1f}", f"{r.diff_people:+,.0f}")
    return table


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_scenarios)


@reports_errors
def compare_scenarios(
    scenario_a: Annotated[Path, typer.Argument(help="The reference scenario (TOML).")],
    scenario_b: Annotated[Path, typer.Argument(help="The scenario compared with it (TOML).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output directory.")] = Path(
        "out/compare"
    ),
    lang: LangOpt = "zh",
) -> None:
    """Compare two scenarios: coverage per category and group, people newly covered, a
    difference map."""
    from planner.cli.run_cmd import execute
    from planner.compare import compare
    from planner.maps.difference import save_difference_map
    from planner.outputs import write_tables
    from planner.scenario_file import load_scenario

    a, _ = execute(load_scenario(scenario_a), output / "a", lang)
    b, _ = execute(load_scenario(scenario_b), output / "b", lang)
    result = compare(a, b)
    cov = result.coverage
    served = cov[(cov["mode"] == "compliance") & ((cov["group"] == "total") | cov["served_group"])]
    table = Table(title=f"Compliance coverage: {result.name_a} → {result.name_b} (% of people)")
    for col in ("category", "group", "A %", "B %", "Δ pp", "Δ people"):
        table.add_column(col, justify="left" if col in ("category", "group") else "right")
    for r in served.itertuples(index=False):
        table.add_row(r.category, r.group, f"{r.coverage_pct_a:.1f}", f"{r.coverage_pct_b:.1f}",
                      f"{r.diff_pp:+.1f}", f"{r.diff_people:+,.0f}")
    console.print(table)
    console.print(_time_table(result))
    tables = {"coverage_comparison": result.coverage, "people_newly_covered": result.cells}
    write_tables(tables, output, workbook="comparison.xlsx", lang=lang)
    map_path = save_difference_map(result.changes, f"{result.name_a} → {result.name_b}",
                                   output / "difference_map.html", lang=lang)
    if not result.same_grid:
        console.print("The two scenarios use different demand grids: only totals are compared.")
    if result.identical:
        console.print("[bold]No difference[/] between the two scenarios.")
    console.print(f"Comparison in [bold]{output}[/]; difference map: [bold]{map_path}[/]")
