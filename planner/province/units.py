"""The units layer of a province run: one polygon per city, county, 街道 or 社区, with a name
and a code, checked before any unit runs."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.errors import InputError
from planner.network import check_crs

#: Column names recognised for a unit's name and code (case-insensitive), in order.
NAME_COLUMNS = ("name", "名称", "name_zh", "unit_name", "district", "区划名称", "县区", "街道")
CODE_COLUMNS = ("code", "adcode", "区划代码", "代码", "unit_code", "gb", "id")


def _pick(frame: pd.DataFrame, given: str | None, known: tuple[str, ...], what: str) -> str | None:
    if given is not None:
        if given not in frame.columns:
            raise InputError(f"The units layer has no column {given!r} for the {what}; columns: "
                             f"{[c for c in frame.columns if c != 'geometry']}.")
        return given
    lower = {str(c).lower(): c for c in frame.columns}
    return next((lower[k] for k in known if k in lower), None)


def safe_code(code: str) -> str:
    """A unit code as a folder name (letters, digits, CJK, '-', '_' and '.')."""
    return re.sub(r"[^\w.\-]+", "_", code).strip("._") or "unit"


def read_units(
    source: str | Path | gpd.GeoDataFrame, *, name_column: str | None = None,
    code_column: str | None = None,
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """The units as ``unit_code``, ``unit_name`` and a polygon each (the layer's CRS), and
    notes on what was assumed.

    Codes must be unique (a code column is found by its usual names — code, adcode, 区划代码 …
    — or the rows are numbered, which the notes say). Rows without an area are refused with
    their row numbers, as are layers without a CRS."""
    frame = _read(source)
    notes: list[str] = []
    if len(frame) == 0:
        raise InputError("The units layer is empty; give one polygon per city, county or 街道.")
    check_crs(frame, "units layer")
    area = shapely.area(frame.geometry.values)
    polygonal = np.isin(shapely.get_type_id(frame.geometry.values), (3, 6, 7))
    bad = np.flatnonzero(~polygonal | ~(area > 0))
    if len(bad):
        raise InputError(f"{len(bad)} rows of the units layer hold no polygon with an area "
                         f"(rows {', '.join(str(i + 1) for i in bad[:10])}); every unit needs "
                         "its boundary polygon.")
    name_col = _pick(frame, name_column, NAME_COLUMNS, "unit names")
    code_col = _pick(frame, code_column, CODE_COLUMNS, "unit codes")
    if code_col is None:
        codes = pd.Series([f"{i + 1:03d}" for i in range(len(frame))])
        notes.append("The units layer has no code column (code, adcode, 区划代码 …): units are "
                     "numbered 001, 002 … in the layer's order; name one with --code-column.")
    else:
        codes = frame[code_col].astype(str).str.strip().reset_index(drop=True)
    _check_codes(codes, code_col)
    names = (frame[name_col].astype(str).reset_index(drop=True) if name_col is not None
             else "unit " + codes)
    geoms = shapely.make_valid(frame.geometry.values)
    if not shapely.equals(geoms, frame.geometry.values).all():
        notes.append("Some unit polygons were invalid (self-intersections …) and were repaired.")
    units = gpd.GeoDataFrame({"unit_code": codes, "unit_name": names}, geometry=geoms,
                             crs=frame.crs)
    notes.extend(_overlaps(units))
    return units, notes


def _read(source: str | Path | gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if isinstance(source, gpd.GeoDataFrame):
        return source.reset_index(drop=True)
    path = Path(source)
    if not path.is_file():
        raise InputError(f"Units layer {path} does not exist; check the path.")
    try:
        return gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InputError(f"Cannot read the units layer {path}: {exc}. Give GeoJSON, GeoPackage "
                         "or Shapefile polygons.") from exc


def _check_codes(codes: pd.Series, column: str | None) -> None:
    blank = codes.isin(["", "nan", "None"])
    if blank.any():
        raise InputError(f"{int(blank.sum())} units have no code in column {column!r} (rows "
                         f"{', '.join(str(i + 1) for i in np.flatnonzero(blank)[:10])}).")
    dup = codes[codes.duplicated(keep=False)]
    if len(dup):
        raise InputError(f"Unit codes must be unique, but {sorted(set(dup))[:10]} repeat in "
                         f"column {column!r}; give each unit its own code (--code-column).")
    folders = codes.map(safe_code)
    if folders.duplicated().any():
        raise InputError("Two unit codes differ only in characters a folder name cannot hold: "
                         f"{sorted(set(codes[folders.duplicated(keep=False)]))[:10]}.")


def _overlaps(units: gpd.GeoDataFrame) -> list[str]:
    """A note when units overlap by more than 1 % of a unit: their residents count twice."""
    left, right = units.sindex.query(units.geometry.values, predicate="intersects")
    pair = left < right
    left, right = left[pair], right[pair]
    if not len(left):
        return []
    shared = shapely.area(shapely.intersection(units.geometry.values[left],
                                               units.geometry.values[right]))
    smaller = np.minimum(shapely.area(units.geometry.values[left]),
                         shapely.area(units.geometry.values[right]))
    big = shared > 0.01 * smaller
    if not big.any():
        return []
    codes = units["unit_code"].to_numpy()
    pairs = ", ".join(f"{codes[a]}/{codes[b]}" for a, b in zip(left[big][:5], right[big][:5], strict=True))
    return [f"{int(big.sum())} pairs of units overlap by more than 1 % of a unit ({pairs}): "
            "residents of the overlap are counted in both; check the units layer."]
