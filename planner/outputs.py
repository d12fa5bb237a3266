"""The one writer of a scenario's outputs, for the CLI and the API alike: tables (CSV + one
workbook), layers (GeoPackage + GeoParquet), the map (drawn by a ``map_writer`` the caller
passes, as the library draws no maps) and ``summary.json``."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from planner.errors import InputError
from planner.labels import Lang
from planner.neutralise import FORMULA_START, neutralise_formula, neutralise_formulas
from planner.workbook import write_workbook

__all__ = ["FORMULA_START", "GEOPACKAGE", "LAYERS_DIR", "MAP", "SUMMARY", "TABLES_DIR", "WORKBOOK",
           "file_name", "neutralise_formula", "neutralise_formulas",
           "write_layers", "write_result", "write_tables", "write_workbook"]

#: Where a result's files go, relative to its output directory.
TABLES_DIR, LAYERS_DIR = "tables", "layers"
WORKBOOK = f"{TABLES_DIR}/coverage.xlsx"
MAP = "gap_map.html"
#: The GeoPackage holding every layer (for QGIS), in ``LAYERS_DIR``.
GEOPACKAGE = "layers.gpkg"
SUMMARY = "summary.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
#: A table or layer file name (without its suffix), safe in a URL and on every file system.
NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,100}$"

MapWriter = Callable[[Any, Path], Path]


def file_name(name: str) -> str:
    """The file name (without suffix) of a table or layer: letters, digits, ``_ . -``."""
    clean = _UNSAFE.sub("_", str(name)).strip("._")[:100]
    if not clean:
        raise InputError(f"Table or layer name {name!r} has no usable characters; use letters/digits.")
    return clean


def write_result(result: Any, out_dir: str | Path, *, map_writer: MapWriter | None = None,
                 lang: Lang = "zh") -> dict[str, Path]:
    """Write a :class:`planner.scenario.ScenarioResult` under ``out_dir``: ``tables/`` (a CSV per
    table and the workbook ``coverage.xlsx`` with headers in ``lang``), ``layers/`` (GeoPackage
    and GeoParquet), ``gap_map.html`` when a ``map_writer(result, path)`` is given (e.g.
    :func:`planner.maps.result.map_writer`) and ``summary.json``. Returns the paths written by
    their path relative to ``out_dir`` (e.g. ``"tables/headline.csv"``)."""
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = write_tables(result.tables, out / TABLES_DIR, lang=lang, notes=result.notes)
    if result.layers:
        written += write_layers(result.layers, out / LAYERS_DIR)
    if map_writer is not None:
        written.append(map_writer(result, out / MAP))
    summary = result.summary()
    summary["map"] = MAP if map_writer is not None else None
    summary.setdefault("timings_s", {})["outputs"] = round(time.perf_counter() - t0, 3)
    path = out / SUMMARY
    path.write_text(json.dumps(summary, indent=1, ensure_ascii=False, default=str),
                    encoding="utf-8")
    written.append(path)
    return {p.relative_to(out).as_posix(): p for p in written}


def write_tables(
    tables: Mapping[str, pd.DataFrame],
    out_dir: str | Path,
    *,
    workbook: str = "coverage.xlsx",
    lang: Lang = "zh",
    notes: Sequence[str] = (),
) -> list[Path]:
    """Write each table as ``<name>.csv`` (code column names, full precision, UTF-8 with BOM so
    Excel shows Chinese) and all of them into one workbook, ``notes`` (the run's) in its last
    sheet (see :func:`planner.workbook.write_workbook`); returns the paths written."""
    if not tables:
        raise InputError("No tables to write.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in tables.items():
        path = out / f"{file_name(name)}.csv"
        neutralise_formulas(frame).to_csv(path, index=False, encoding="utf-8-sig")
        paths.append(path)
    paths.append(write_workbook({file_name(n): t for n, t in tables.items()}, out / workbook,
                                lang=lang, notes=notes))
    return paths


def write_layers(
    layers: Mapping[str, gpd.GeoDataFrame],
    out_dir: str | Path,
    *,
    geopackage: str = GEOPACKAGE,
) -> list[Path]:
    """Write every layer into one GeoPackage (a layer each, for QGIS) and as ``<name>.parquet``
    (GeoParquet); returns the paths written. Empty layers are written too (no features)."""
    if not layers:
        raise InputError("No layers to write.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gpkg = out / geopackage
    if gpkg.exists():
        gpkg.unlink()
    paths = []
    for name, layer in layers.items():
        if not isinstance(layer, gpd.GeoDataFrame) or layer.crs is None:
            raise InputError(
                f"Layer {name!r} must be a GeoDataFrame with a CRS to be written for GIS use."
            )
        safe = file_name(name)
        layer.to_file(gpkg, layer=safe, driver="GPKG", engine="pyogrio")
        path = out / f"{safe}.parquet"
        layer.to_parquet(path, index=False)
        paths.append(path)
    return [gpkg, *paths]
