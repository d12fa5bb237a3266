"""Write result tables (CSV + one Excel workbook) and layers (GeoPackage + GeoParquet)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from planner.errors import InputError

_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")
_HEADER_FILL = PatternFill("solid", fgColor="DCE6F1")
#: First characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value: object) -> object:
    """Text that a spreadsheet would run as a formula (it starts with =, +, -, @, a tab or a
    carriage return) gets a leading apostrophe, so Excel and WPS show it as text; anything else
    is returned as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of a table safe to open in a spreadsheet: text cells and column names that would
    start a formula are neutralised (see :func:`neutralise_formula`); numbers stay numbers."""
    out = frame.rename(columns=lambda c: neutralise_formula(str(c)) if isinstance(c, str) else c)
    for col in range(out.shape[1]):
        series = out.iloc[:, col]
        if series.dtype == object or isinstance(series.dtype, (pd.StringDtype, pd.CategoricalDtype)) \
                or pd.api.types.is_string_dtype(series.dtype):
            out.isetitem(col, series.map(neutralise_formula))
    return out


def _safe_name(name: str) -> str:
    clean = re.sub(r"[^\w.-]+", "_", name).strip("_")
    if not clean:
        raise InputError(f"Table or layer name {name!r} has no usable characters; use letters/digits.")
    return clean


def sheet_names(names: list[str]) -> list[str]:
    """Excel-safe, unique sheet names (≤ 31 characters, no []:*?/\\)."""
    out: list[str] = []
    for name in names:
        base = _SHEET_BAD.sub("_", name)[:31] or "sheet"
        cand, i = base, 2
        while cand.lower() in (o.lower() for o in out):
            suffix = f"~{i}"
            cand, i = base[: 31 - len(suffix)] + suffix, i + 1
        out.append(cand)
    return out


def write_tables(
    tables: Mapping[str, pd.DataFrame],
    out_dir: str | Path,
    *,
    workbook: str = "coverage.xlsx",
) -> list[Path]:
    """Write each table as ``<name>.csv`` (UTF-8 with BOM, so Excel shows Chinese) and all of them
    into one workbook with a sheet per table; returns the paths written."""
    if not tables:
        raise InputError("No tables to write.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in tables.items():
        path = out / f"{_safe_name(name)}.csv"
        neutralise_formulas(frame).to_csv(path, index=False, encoding="utf-8-sig")
        paths.append(path)
    path = out / workbook
    write_workbook(tables, path)
    paths.append(path)
    return paths


def write_workbook(tables: Mapping[str, pd.DataFrame], path: str | Path) -> Path:
    """One Excel workbook with a sheet per table (formula-like text neutralised)."""
    book = Workbook()
    book.remove(book.active)
    for sheet, frame in zip(sheet_names(list(tables)), tables.values(), strict=True):
        _fill_sheet(book.create_sheet(sheet), frame)
    book.save(path)
    return Path(path)


def _cell_value(value: object) -> object:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return value


def _fill_sheet(ws, frame: pd.DataFrame) -> None:
    """A sheet with a bold, shaded, frozen header row and columns sized to their content; text
    that would start a formula is neutralised."""
    columns = [str(c) for c in frame.columns]
    ws.append([neutralise_formula(c) for c in columns])
    for row in frame.itertuples(index=False, name=None):
        ws.append([neutralise_formula(_cell_value(v)) for v in row])
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "A2"
    for i, col in enumerate(columns, start=1):
        lengths = frame.iloc[:200, i - 1].astype(str).str.len().fillna(0)
        sample = lengths.max() if len(frame) else 0
        ws.column_dimensions[get_column_letter(i)].width = min(max(len(col), int(sample or 0)) + 2, 60)


def write_layers(
    layers: Mapping[str, gpd.GeoDataFrame],
    out_dir: str | Path,
    *,
    geopackage: str = "layers.gpkg",
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
        safe = _safe_name(name)
        layer.to_file(gpkg, layer=safe, driver="GPKG", engine="pyogrio")
        path = out / f"{safe}.parquet"
        layer.to_parquet(path, index=False)
        paths.append(path)
    return [gpkg, *paths]
