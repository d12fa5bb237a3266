"""Writing a scenario result for serving: the files the CLI writes (see
:func:`planner.outputs.write_result`: CSV tables, the workbook, GeoPackage/GeoParquet layers,
the gap map, summary.json) and, on top, WGS-84 GeoJSON layers (point layers also carry their
GCJ-02 — and, after BD-09 inputs, BD-09 — degrees as properties) and gzipped copies of the text
files for clients that accept gzip."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from planner.errors import CRSError
from planner.lonlat import with_lonlat
from planner.outputs import GEOPACKAGE, LAYERS_DIR, MAP, WORKBOOK, file_name


def gzip_copy(path: Path) -> Path | None:
    """Write ``path.gz`` beside a text file (gzip, level 6) for clients that accept gzip;
    None, and no file, when gzip would not make it smaller (tiny files)."""
    dest = path.with_name(path.name + ".gz")
    with path.open("rb") as src, gzip.GzipFile(dest, "wb", compresslevel=6, mtime=0) as out:
        shutil.copyfileobj(src, out, 1 << 20)
    if dest.stat().st_size >= path.stat().st_size:
        dest.unlink()
        return None
    return dest


def write_layer(gdf: gpd.GeoDataFrame, path: Path, *, bd09: bool = False) -> int:
    """Write a layer as a GeoJSON FeatureCollection in WGS-84; returns the feature count.
    Point features get ``lon_wgs84``, ``lat_wgs84``, ``lon_gcj02``, ``lat_gcj02`` (and with
    ``bd09`` ``lon_bd09``, ``lat_bd09``) properties for map apps in China."""
    if gdf.crs is None:
        raise CRSError(f"The result layer {path.stem} has no CRS, so it cannot be sent as "
                       "WGS-84 GeoJSON; the scenario runner must set one.")
    wgs = gdf.to_crs(4326)
    if len(wgs) and (wgs.geom_type == "Point").all():
        props = with_lonlat(pd.DataFrame(wgs.drop(columns=wgs.geometry.name)),
                            wgs.get_coordinates().to_numpy(), wgs.crs, bd09=bd09)
        wgs = gpd.GeoDataFrame(props, geometry=wgs.geometry.to_numpy(), crs=wgs.crs)
    for col in wgs.columns:
        if col != wgs.geometry.name and not (
            pd.api.types.is_numeric_dtype(wgs[col]) or pd.api.types.is_bool_dtype(wgs[col])
        ):
            wgs[col] = wgs[col].map(lambda v: None if v is None or v is pd.NA else
                                    v if isinstance(v, str) else str(v))
    path.write_text(wgs.to_json(na="null", drop_id=True), encoding="utf-8")
    gzip_copy(path)
    return len(wgs)


def export_province(result: Any, job_dir: Path) -> dict[str, Any]:
    """GeoJSON layers and gzipped tables beside what :func:`planner.province.run_province`
    wrote under ``job_dir``; returns the manifest (as :func:`export_result`)."""
    layers = []
    frames = {"province_units": result.units, "province_proposals": result.proposals}
    for name, gdf in frames.items():
        if gdf is None:
            continue
        count = write_layer(gdf, job_dir / LAYERS_DIR / f"{name}.geojson")
        layers.append({"name": name, "features": count,
                       "parquet": f"{LAYERS_DIR}/{name}.parquet"})
    for name in result.tables:
        gzip_copy(job_dir / "tables" / f"{name}.csv")
    return {"layers": layers, "tables": list(result.tables), "map": "overview.html",
            "workbook": "tables/province.xlsx", "geopackage": f"{LAYERS_DIR}/province.gpkg"}


def export_result(result: Any, job_dir: Path) -> dict[str, Any]:
    """Write a ScenarioResult under ``job_dir`` once, to be served from disk: the CLI's files
    plus GeoJSON layers and gzipped text files; returns the manifest
    ``{"layers": [{"name", "features", "parquet": path}], "tables": [name], "map": path,
    "workbook": path, "geopackage": path}`` (paths relative to ``job_dir``)."""
    from planner.maps.result import write_outputs  # folium and the runner load with the job
    from planner.scenario import has_bd09_input

    written = write_outputs(result, job_dir)
    for rel, path in written.items():
        if rel.endswith(".csv") or rel == MAP:
            gzip_copy(path)
    bd09 = has_bd09_input(result.scenario)
    layers = []
    for name, gdf in result.layers.items():
        safe = file_name(name)
        count = write_layer(gdf, job_dir / LAYERS_DIR / f"{safe}.geojson", bd09=bd09)
        parquet = f"{LAYERS_DIR}/{safe}.parquet"
        layers.append({"name": safe, "features": count,
                       "parquet": parquet if parquet in written else None})
    tables = [file_name(name) for name in result.tables]
    gpkg = f"{LAYERS_DIR}/{GEOPACKAGE}"
    return {"layers": layers, "tables": tables, "map": MAP, "workbook": WORKBOOK,
            "geopackage": gpkg if gpkg in written else None}
