"""``planner network``: build, summarise and save a walk network."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from planner.cli.common import console, key_value_table, reports_errors


def register(app: typer.Typer) -> None:
    app.command("network")(network)


@reports_errors
def network(
    source: Annotated[
        str, typer.Argument(help="OSM file (.osm, .osm.bz2, .osm.pbf), line layer "
                            "(.geojson/.gpkg/.shp), or a place name with --online.")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Directory to save to.")],
    online: Annotated[bool, typer.Option(help="Treat SOURCE as a place name for osmnx.")] = False,
    crs: Annotated[str | None, typer.Option(help="Projected working CRS in metres, e.g. "
                                            "EPSG:4547 (default: the UTM zone).")] = None,
    tolerance_m: Annotated[
        float, typer.Option(help="Merge street vertices closer than this, metres.")
    ] = 0.0,
    keep_all: Annotated[
        bool, typer.Option("--keep-all", help="Keep every component, not only the largest.")
    ] = False,
) -> None:
    """Build a walk network from OSM data, print a summary and save it."""
    from planner.io.osm import load_network, network_from_osmnx

    keep = "all" if keep_all else "largest"
    with console.status("Building the walk network…"):
        if online:
            net = network_from_osmnx(source, crs=crs, keep=keep)
        else:
            net = load_network(source, crs=crs, tolerance_m=tolerance_m, keep=keep)
        net.save(output)
    console.print(key_value_table(f"Walk network: {source}", net.summary()))
    console.print(f"Saved to [bold]{output}[/]")
