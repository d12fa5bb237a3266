"""``planner population``: turn a population source into a demand grid (GeoParquet)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from planner.cli.common import console, reports_errors


def register(app: typer.Typer) -> None:
    app.command("population")(population)


@reports_errors
def population(
    source: Annotated[
        Path,
        typer.Argument(help="Population raster (.tif), directory of WorldPop age/sex rasters, "
                       "census polygons with a population column, or buildings (.osm.pbf / layer)."),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="GeoParquet file to write.")],
    cell: Annotated[float, typer.Option("--cell", help="Cell size in metres (50–1000).")] = 100.0,
    area: Annotated[
        Path | None, typer.Option("--area", help="Study-area boundary to clip to.")
    ] = None,
    crs: Annotated[str | None, typer.Option(help="Projected CRS (default: UTM zone).")] = None,
    pattern: Annotated[
        str | None,
        typer.Option(help="Filename pattern of an age/sex stack, e.g. 'chn_{sex}_{age}_2020.tif'."),
    ] = None,
    column: Annotated[
        str | None, typer.Option(help="Population column of a census layer.")
    ] = None,
    buildings: Annotated[
        Path | None,
        typer.Option(help="Buildings (.osm.pbf or layer) for dasymetric census weighting."),
    ] = None,
    age_shares: Annotated[
        str,
        typer.Option(help="Age structure for sources without ages: a region of "
                     "age_structure.toml, or 'none'."),
    ] = "shanxi",
    all_buildings: Annotated[
        bool, typer.Option("--all-buildings",
                           help="Count generic building=yes as homes too.")
    ] = False,
) -> None:
    """Build a demand grid, print people per group and the cell count, and save it."""
    from planner.io.population import load_population

    with console.status("Building the demand grid…"):
        grid = load_population(
            source, crs=crs, cell_m=cell, area=area, pattern=pattern, column=column,
            buildings=buildings, age_shares=None if age_shares.lower() == "none" else age_shares,
            building_use="all" if all_buildings else "auto",
        )
        grid.save(output)
    table = Table(title=f"Demand grid: {source.name} ({grid.cell_size_m:g} m cells, "
                  f"{grid.crs.to_string()})")
    table.add_column("group")
    table.add_column("people", justify="right")
    table.add_column("derived from")
    for group, value in grid.totals().items():
        table.add_row(group, f"{value:,.0f}", grid.meta["derived"].get(group, "source"))
    console.print(table)
    console.print(f"cells: [bold]{len(grid):,}[/]")
    for note in grid.notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"Saved to [bold]{output}[/]")
