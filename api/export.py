"""Writing a scenario result for serving: WGS-84 GeoJSON layers (point layers also carry their
GCJ-02 — and, after BD-09 inputs, BD-09 — degrees as properties), CSV/XLSX tables, the map."""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from planner.errors import CRSError
from planner.lonlat import with_lonlat
from planner.outputs import neutralise_formulas, write_workbook

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,100}$"
#: The workbook of every table of a job, a sheet per table.
WORKBOOK = "workbook.xlsx"


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


def safe_name(name: str) -> str:
    """A layer or table name usable in a URL and a file name."""
    return _UNSAFE.sub("_", str(name)).strip("._")[:100] or "unnamed"


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


def write_table(frame: pd.DataFrame, folder: Path, name: str) -> None:
    """Write a table as ``name.csv`` (UTF-8 with BOM, for Excel) and ``name.xlsx``; text that a
    spreadsheet would run as a formula is neutralised in both."""
    neutralise_formulas(frame).to_csv(folder / f"{name}.csv", index=False, encoding="utf-8-sig")
    gzip_copy(folder / f"{name}.csv")
    write_workbook({name: frame}, folder / f"{name}.xlsx")


def export_result(result: Any, job_dir: Path) -> dict[str, Any]:
    """Write a ScenarioResult's layers, tables (each as CSV and XLSX, and all of them in one
    workbook with a sheet per table, as the CLI writes it) and map under ``job_dir``, once, to
    be served from disk (text files also gzipped beside them); returns the manifest
    ``{"layers": [{"name", "features"}], "tables": [name], "map": bool, "workbook": bool}``."""
    layers_dir, tables_dir = job_dir / "layers", job_dir / "tables"
    layers_dir.mkdir(parents=True, exist_ok=True)
    tables_dir.mkdir(parents=True, exist_ok=True)
    from planner.scenario import has_bd09_input

    bd09 = has_bd09_input(result.scenario)
    layers = []
    for name, gdf in result.layers.items():
        safe = safe_name(name)
        count = write_layer(gdf, layers_dir / f"{safe}.geojson", bd09=bd09)
        layers.append({"name": safe, "features": count})
    tables = []
    for name, frame in result.tables.items():
        safe = safe_name(name)
        write_table(frame, tables_dir, safe)
        tables.append(safe)
    write_workbook(result.tables, job_dir / WORKBOOK)
    result.save_map(job_dir / "map.html")
    gzip_copy(job_dir / "map.html")
    return {"layers": layers, "tables": tables, "map": True, "workbook": True}
