"""``planner province``: a scenario for every unit of a units layer, on Dask, merged."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from planner.cli.common import console, reports_errors


def register(app: typer.Typer) -> None:
    app.command("province")(province)


@reports_errors
def province(
    scenario: Annotated[Path, typer.Argument(help="The province's scenario TOML file (one "
                                             "network file, population and facility sources "
                                             "covering every unit).")],
    units: Annotated[Path, typer.Option(help="Units layer: a polygon per city, county, 街道 or "
                                        "社区 (GeoJSON/GPKG/SHP) with a name and a code.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output directory.")] = Path(
        "province"),
    name_column: Annotated[str | None, typer.Option(help="The units' name column (default: "
                                                    "name/名称/…).")] = None,
    code_column: Annotated[str | None, typer.Option(help="The units' code column (default: "
                                                    "code/adcode/区划代码/…).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Worker processes of the local Dask "
                                                "cluster (default: one per core).")] = None,
    scheduler: Annotated[str | None, typer.Option(help="A running Dask scheduler, e.g. "
                                                  "tcp://host:8786; its workers must see the "
                                                  "inputs and the output folder at the same "
                                                  "paths.")] = None,
    serial: Annotated[bool, typer.Option(help="Run the units one after another in this "
                                         "process, without Dask.")] = False,
    maps: Annotated[bool, typer.Option(help="A gap map per unit and the overview map.")] = True,
    lang: Annotated[str, typer.Option(help="zh (中文) or en.")] = "zh",
) -> None:
    """Monitor a province: every unit's coverage, gaps and proposals, and the merged tables,
    workbook and overview map. Units finished before with the same inputs are skipped."""
    from planner.errors import InputError
    from planner.facilities import FacilityWarning
    from planner.province import run_province
    from planner.scenario_file import load_scenario

    if lang not in ("zh", "en"):
        raise InputError(f"--lang must be zh or en, not {lang!r}.")
    spec = load_scenario(scenario)
    unit_map = overview = None
    if maps:
        from planner.maps.province import overview_writer
        from planner.maps.result import map_writer

        title = f"{spec.name} — {'一刻钟便民生活圈 单元监测' if lang == 'zh' else 'living circles by unit'}"
        unit_map, overview = map_writer(lang=lang), overview_writer(lang=lang, title=title)
    columns = (TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console) as bars, warnings.catch_warnings():
        warnings.simplefilter("ignore", FacilityWarning)  # each unit's notes keep them
        warnings.simplefilter("ignore", UserWarning)
        bar = bars.add_task("units", total=None)

        def progress(done: int, total: int, outcome) -> None:
            bars.update(bar, completed=done, total=total,
                        description=f"units (last: {outcome.code} {outcome.status})")

        result = run_province(spec, units, output, name_column=name_column,
                              code_column=code_column, workers=workers, scheduler=scheduler,
                              serial=serial, unit_map=unit_map, overview=overview, lang=lang,
                              progress=progress)
    _print(result, output)


def _print(result, output: Path) -> None:
    table = Table(title="Units")
    for col in ("unit", "status", "people", "complete circle %", "seconds"):
        table.add_column(col, justify="left" if col in ("unit", "status") else "right")
    for row in result.units.itertuples():
        people = "—" if row.people != row.people or row.people is None else f"{row.people:,.0f}"
        circle = ("—" if row.complete_circle_pct is None or row.complete_circle_pct
                  != row.complete_circle_pct else f"{row.complete_circle_pct:.1f}")
        table.add_row(f"{row.unit_code} {row.unit_name}", row.status, people, circle,
                      f"{row.run_seconds:.1f}")
    console.print(table)
    for outcome in result.failed:
        console.print(f"Unit {outcome.code} ({outcome.name}) failed: {outcome.error}",
                      markup=False, highlight=False, style="red")
    for outcome in result.outcomes:
        if outcome.status == "empty":
            console.print(f"Unit {outcome.code} ({outcome.name}) has no residents: "
                          f"{outcome.error}", markup=False, highlight=False)
    overview = ", overview.html" if (output / "overview.html").exists() else ""
    console.print(f"Tables, workbook and layers in {output}/ (tables/province.xlsx{overview}, "
                  "units/<code>/).", markup=False)
    if result.failed:
        raise typer.Exit(code=2)
