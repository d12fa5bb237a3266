"""``planner population``: turn a population source into a demand grid (GeoParquet)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from planner.cli.common import console, reports_errors


def register(app: typer.Typer) -> None:
    app.command("population")(population)


@reports_errors
def population(
    source: Annotated[
        Path,
        typer.Argument(help="Population raster (.tif), directory of WorldPop age/sex rasters, "
                       "census polygons with a population column, or buildings (.osm, .osm.bz2, "
                       ".osm.pbf or a layer)."),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="GeoParquet file to write.")],
    cell_m: Annotated[
        float, typer.Option(help="Demand cell size, metres (10–5000; 50–1000 recommended).")
    ] = 100.0,
    area: Annotated[
        Path | None, typer.Option("--area", help="Study-area boundary to clip to.")
    ] = None,
    crs: Annotated[str | None, typer.Option(help="Projected working CRS in metres, e.g. "
                                            "EPSG:4547 (default: the UTM zone).")] = None,
    pattern: Annotated[
        str | None,
        typer.Option(help="Filename pattern of an age/sex stack, e.g. 'chn_{sex}_{age}_2020.tif'."),
    ] = None,
    population_column: Annotated[
        str | None, typer.Option(help="Population column of census polygons (default: total/"
                                 "population/pop/常住人口/人口 …).")
    ] = None,
    buildings: Annotated[
        Path | None,
        typer.Option(help="Buildings (OSM file or layer) for dasymetric census weighting."),
    ] = None,
    age_shares: Annotated[
        str,
        typer.Option(help="Age structure for sources without ages: a region of "
                     "age_structure.toml, or 'none'."),
    ] = "shanxi",
    building_use: Annotated[
        str, typer.Option("--building-use",
                          help="Which buildings are homes: residential (tagged as homes), all "
                          "(every building not evidently non-residential) or auto.")
    ] = "auto",
    m2_per_person: Annotated[
        float | None, typer.Option("--m2-per-person",
                                   help="Gross residential floor area per resident, m².")
    ] = None,
    total: Annotated[
        float | None, typer.Option("--total", help="Calibrate the grid to this many people.")
    ] = None,
    districts: Annotated[
        Path | None, typer.Option("--districts",
                                  help="District polygons with a population column: each "
                                  "district's cells are scaled to its total.")
    ] = None,
    districts_column: Annotated[
        str | None, typer.Option("--districts-column", help="Population column of --districts.")
    ] = None,
) -> None:
    """Build a demand grid, print people per group and the cell count, and save it."""
    from planner.errors import InputError
    from planner.io.buildings import BUILDING_USES, load_building_defaults
    from planner.io.population import load_population

    if building_use not in BUILDING_USES:
        raise InputError(f"--building-use {building_use!r} is not one of "
                         f"{', '.join(BUILDING_USES)}.")
    with console.status("Building the demand grid…"):
        grid = load_population(
            source, crs=crs, cell_m=cell_m, area=area, pattern=pattern, column=population_column,
            buildings=buildings, age_shares=None if age_shares.lower() == "none" else age_shares,
            building_use=building_use,
            building_defaults=load_building_defaults(m2_per_person=m2_per_person),
            total=total, districts=districts, districts_column=districts_column,
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
        console.print(f"[yellow]note:[/] {escape(note)}")
    console.print(f"Saved to [bold]{output}[/]")
