"""Writing a scenario result for serving: WGS-84 GeoJSON layers, CSV/XLSX tables, the map."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from planner.errors import CRSError

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,100}$"


def safe_name(name: str) -> str:
    """A layer or table name usable in a URL and a file name."""
    return _UNSAFE.sub("_", str(name)).strip("._")[:100] or "unnamed"


def write_layer(gdf: gpd.GeoDataFrame, path: Path) -> int:
    """Write a layer as a GeoJSON FeatureCollection in WGS-84; returns the feature count."""
    if gdf.crs is None:
        raise CRSError(f"The result layer {path.stem} has no CRS, so it cannot be sent as "
                       "WGS-84 GeoJSON; the scenario runner must set one.")
    wgs = gdf.to_crs(4326)
    for col in wgs.columns:
        if col != wgs.geometry.name and not (
            pd.api.types.is_numeric_dtype(wgs[col]) or pd.api.types.is_bool_dtype(wgs[col])
        ):
            wgs[col] = wgs[col].map(lambda v: None if v is None or v is pd.NA else
                                    v if isinstance(v, str) else str(v))
    path.write_text(wgs.to_json(na="null", drop_id=True), encoding="utf-8")
    return len(wgs)


def write_table(frame: pd.DataFrame, folder: Path, name: str) -> None:
    """Write a table as ``name.csv`` (UTF-8 with BOM, for Excel) and ``name.xlsx``."""
    frame.to_csv(folder / f"{name}.csv", index=False, encoding="utf-8-sig")
    frame.to_excel(folder / f"{name}.xlsx", index=False, sheet_name=name[:31])


def export_result(result: Any, job_dir: Path) -> dict[str, Any]:
    """Write a ScenarioResult's layers, tables and map under ``job_dir``; returns the manifest
    ``{"layers": [{"name", "features"}], "tables": [name], "map": bool}``."""
    layers_dir, tables_dir = job_dir / "layers", job_dir / "tables"
    layers_dir.mkdir(parents=True, exist_ok=True)
    tables_dir.mkdir(parents=True, exist_ok=True)
    layers = []
    for name, gdf in result.layers.items():
        safe = safe_name(name)
        layers.append({"name": safe, "features": write_layer(gdf, layers_dir / f"{safe}.geojson")})
    tables = []
    for name, frame in result.tables.items():
        safe = safe_name(name)
        write_table(frame, tables_dir, safe)
        tables.append(safe)
    result.save_map(job_dir / "map.html")
    return {"layers": layers, "tables": tables, "map": True}
