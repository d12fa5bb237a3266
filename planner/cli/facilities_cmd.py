"""``planner facilities``: read facilities, report counts and drops, save a point layer."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from planner.cli.common import console, reports_errors
from planner.errors import InputError

if TYPE_CHECKING:
    import geopandas as gpd

OUTPUT_SUFFIXES = (".gpkg", ".parquet", ".geoparquet")
#: Dropped rows listed on screen; the rest go to --dropped.
SHOWN_DROPS = 20


def register(app: typer.Typer) -> None:
    app.command("facilities")(facilities)


def write_facilities(fac: gpd.GeoDataFrame, path: Path) -> Path:
    """Write a GeoPackage (.gpkg) or GeoParquet (.parquet/.geoparquet) chosen by extension."""
    import geopandas as gpd

    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise InputError(
            f"Cannot tell the output format of {path.name}; end it with .gpkg (GeoPackage) or "
            ".parquet (GeoParquet)."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    plain = gpd.GeoDataFrame(fac, crs=fac.crs)
    plain.attrs = {}
    if suffix == ".gpkg":
        plain.to_file(path, driver="GPKG", layer="facilities")
    else:
        plain.to_parquet(path)
    return path


@reports_errors
def facilities(
    source: Annotated[
        str,
        typer.Argument(help="Facility table (.csv/.txt/.xlsx), GIS layer (.geojson/.gpkg/.shp), "
                       "OSM data (.osm.pbf/.osm), or a place name with --online."),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output .gpkg or .parquet.")],
    coords: Annotated[
        str | None,
        typer.Option("--coords",
                     help="Coordinate system of the input: wgs84, gcj02 (Amap/Gaode, Tencent), "
                     "bd09 (Baidu) or an EPSG code. Required for points in China; outside China "
                     "tables default to wgs84, GIS layers to the file's CRS."),
    ] = None,
    old_coords: Annotated[
        str | None, typer.Option("--crs", hidden=True, help="Former name of --coords.")
    ] = None,
    category: Annotated[
        str | None, typer.Option(help="One category key for every row, e.g. kindergarten.")
    ] = None,
    category_column: Annotated[
        str | None,
        typer.Option(help="Column with category keys or Chinese names/types (幼儿园, 药店 …)."),
    ] = None,
    categories: Annotated[
        str | None, typer.Option(help="Keep only these category keys, comma-separated.")
    ] = None,
    lon: Annotated[str | None, typer.Option(help="Longitude/x column (default: lon/lng/x/经度 "
                                            "…, or one 'lng,lat' column).")] = None,
    lat: Annotated[str | None, typer.Option(help="Latitude/y column (default: lat/y/纬度 …).")
                   ] = None,
    name_column: Annotated[str | None, typer.Option(help="Name column.")] = None,
    capacity_column: Annotated[str | None, typer.Option(help="Capacity column (beds, places).")] = None,
    encoding: Annotated[
        str | None, typer.Option(help="Text encoding (default: detect UTF-8/GBK/GB18030).")
    ] = None,
    layer: Annotated[str | None, typer.Option(help="Layer of a multi-layer GIS file.")] = None,
    network: Annotated[
        Path | None,
        typer.Option(help="Saved walk network (planner network -o DIR): use its CRS and drop "
                     "facilities farther than --max-access-m from its streets."),
    ] = None,
    area: Annotated[
        Path | None, typer.Option(help="Study-area polygons; facilities outside are dropped.")
    ] = None,
    to_crs: Annotated[
        str | None, typer.Option("--to-crs", help="Output projected CRS (default: UTM zone).")
    ] = None,
    dedupe: Annotated[
        float, typer.Option(help="Merge same-category facilities closer than this (metres).")
    ] = 10.0,
    status: Annotated[
        str, typer.Option(help="Status of rows without one: existing, candidate, required, closable.")
    ] = "existing",
    online: Annotated[
        bool, typer.Option(help="Treat SOURCE as a place name and download OSM features.")
    ] = False,
    dropped: Annotated[
        Path | None, typer.Option(help="Write every dropped row with its reason to this CSV.")
    ] = None,
    audit: Annotated[
        Path | None, typer.Option(help="Write one row per input row or OSM feature: what it "
                                  "became, the rule that decided and why anything was dropped.")
    ] = None,
    max_access_m: Annotated[
        float, typer.Option(help="With --network: drop facilities farther than this (metres) "
                            "from any street.")
    ] = 300.0,
) -> None:
    """Read facilities, print counts per category and what was dropped and why, and save them."""
    import geopandas as gpd

    from planner.facilities import FacilityWarning, drop_off_network
    from planner.io.facilities import facility_report, load_facilities
    from planner.outputs import neutralise_formulas
    from planner.standards import load_categories

    study_area = None
    if network is not None:
        from planner.network import WalkNetwork

        net = WalkNetwork.load(network)
        to_crs = to_crs or net.crs
    if area is not None:
        try:
            study_area = gpd.read_file(area)
        except Exception as exc:  # pyogrio raises many types for unreadable files
            raise InputError(f"Cannot read the study area {area}: {exc}.") from exc
    keys = [k.strip() for k in categories.split(",") if k.strip()] if categories else None
    with console.status("Reading facilities…"), warnings.catch_warnings():
        warnings.simplefilter("ignore", FacilityWarning)  # printed from the report below
        fac = load_facilities(
            source, to_crs=to_crs, categories=keys, crs=coords or old_coords, category=category,
            category_column=category_column, lon_column=lon, lat_column=lat,
            name_column=name_column, capacity_column=capacity_column, encoding=encoding,
            layer=layer, study_area=study_area, dedupe_m=dedupe, status=status, online=online,
        )
    report = facility_report(fac)
    if network is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FacilityWarning)
            fac = drop_off_network(fac, net, max_access_m, report)
    names = load_categories()
    table = Table(title=f"Facilities: {report.source} ({report.rows_read} rows read)")
    for col in ("category", "名称", "facilities"):
        table.add_column(col, justify="right" if col == "facilities" else "left")
    for key, n in report.counts.items():
        zh = names[key].name_zh if key in names else ""
        table.add_row(key, zh, str(n) if n else "[bold yellow]0[/]")
    console.print(table)
    for note in report.notes:
        console.print(f"• {note}", markup=False)
    if report.empty_categories:
        console.print(
            f"[bold yellow]Warning:[/] no facilities for {', '.join(report.empty_categories)}."
        )
    _print_drops(report)
    if audit is not None:
        audit.parent.mkdir(parents=True, exist_ok=True)
        neutralise_formulas(report.audit()).to_csv(audit, index=False, encoding="utf-8-sig")
        console.print(f"Audit of every input row written to [bold]{audit}[/]")
    if dropped is not None:
        dropped.parent.mkdir(parents=True, exist_ok=True)
        neutralise_formulas(report.dropped).to_csv(dropped, index=False, encoding="utf-8-sig")
        console.print(f"Dropped rows written to [bold]{dropped}[/]")
    write_facilities(fac, output)
    console.print(f"Saved {len(fac)} facilities ({fac.crs.to_string()}) to [bold]{output}[/]")


def _print_drops(report) -> None:
    import pandas as pd

    reasons = report.reasons()
    if not reasons:
        console.print("Nothing was dropped.")
        return
    console.print("Dropped: " + "; ".join(f"{n} {reason}" for reason, n in reasons.items()),
                  markup=False)
    table = Table(show_header=True)
    for col in ("ref", "name", "category", "reason", "detail"):
        table.add_column(col)
    for row in report.dropped.head(SHOWN_DROPS).itertuples(index=False):
        cells = (row.ref, row.name, row.category, row.reason, row.detail)
        table.add_row(*("" if pd.isna(v) else str(v) for v in cells))
    console.print(table)
    if len(report.dropped) > SHOWN_DROPS:
        console.print(f"… and {len(report.dropped) - SHOWN_DROPS} more; list them all with --dropped FILE.csv")
