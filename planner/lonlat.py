"""Longitude/latitude columns for result tables, named by their coordinate system.

A bare ``lon``/``lat`` pair invites pasting WGS-84 numbers into Amap or Baidu Maps, where they
land about 500 m off in China. Every table therefore carries ``lon_wgs84``/``lat_wgs84`` (GPS,
OpenStreetMap, QGIS) and ``lon_gcj02``/``lat_gcj02`` (Amap/Gaode, Tencent), plus
``lon_bd09``/``lat_bd09`` (Baidu Maps) when asked for — the scenario runner asks when any of
its facility or candidate inputs was in BD-09. The conversions are the exact ones of
:mod:`planner.io.coords`; outside mainland China GCJ-02 and BD-09 equal WGS-84.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.errors import CRSError, InputError
from planner.io.coords import wgs84_to_bd09, wgs84_to_gcj02

#: Decimal places of the degrees written (1e-6° ≈ 0.1 m).
DECIMALS = 6


def lonlat_columns(xy: np.ndarray, crs: object, *, bd09: bool = False) -> pd.DataFrame:
    """Degrees of the points ``xy`` ((n, 2), in ``crs``): ``lon_wgs84``, ``lat_wgs84``,
    ``lon_gcj02``, ``lat_gcj02`` and, with ``bd09``, ``lon_bd09``, ``lat_bd09``."""
    if crs is None:
        raise CRSError("Points without a CRS cannot be given longitude/latitude; set the CRS of "
                       "the layer they come from.")
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    wgs = gpd.GeoSeries(shapely.points(xy), crs=crs).to_crs(4326)
    lon, lat = wgs.x.to_numpy(), wgs.y.to_numpy()
    cols = {"lon_wgs84": lon, "lat_wgs84": lat}
    cols["lon_gcj02"], cols["lat_gcj02"] = wgs84_to_gcj02(lon, lat)
    if bd09:
        cols["lon_bd09"], cols["lat_bd09"] = wgs84_to_bd09(lon, lat)
    return pd.DataFrame(cols).round(DECIMALS)


def with_lonlat(table: pd.DataFrame, xy: np.ndarray, crs: object, *, bd09: bool = False) -> pd.DataFrame:
    """``table`` with the :func:`lonlat_columns` of its rows' points appended (replacing any
    columns of those names); ``xy`` holds one point per row, in the table's order."""
    cols = lonlat_columns(xy, crs, bd09=bd09)
    if len(cols) != len(table):
        raise InputError(f"{len(cols)} points for a table of {len(table)} rows; give one per row.")
    out = table.drop(columns=[c for c in cols.columns if c in table.columns]).reset_index(drop=True)
    return pd.concat([out, cols], axis=1)
