"""Chinese map coordinate systems: WGS-84 ⇄ GCJ-02 ⇄ BD-09, vectorised over numpy arrays.

* WGS-84: OSM, GPS, Tianditu (CGCS2000 agrees at metre level).
* GCJ-02: Amap/Gaode, Tencent — WGS-84 plus a published obfuscation on the Krasovsky ellipsoid,
  applied only inside mainland China's bounding box (≈ 560 m in Shanxi, mostly eastward).
* BD-09: Baidu — GCJ-02 plus a polar tweak and a +0.0065° / +0.006° offset.

Forward transforms are closed formulas; inverses solve the forward formula by fixed-point
iteration until the residual is below 1e-9 degrees (≈ 0.1 mm). The usual one-step inverse is
up to ≈ 3.6 m off in Shanxi (≈ 4.8 m across China) for GCJ-02, ≈ 0.2 m for BD-09.
Points outside the box pass through unchanged in every direction. Angles in degrees.
"""

from __future__ import annotations

import numpy as np
import pyproj

from planner.errors import CRSError

#: Krasovsky 1940 ellipsoid used by GCJ-02.
KRASOVSKY_A = 6378245.0
KRASOVSKY_E2 = 0.00669342162296594323
#: Mainland China's box (degrees) inside which GCJ-02 and BD-09 differ from WGS-84.
CHINA_BOX = (72.004, 0.8293, 137.8347, 55.8271)
_X_PI = np.pi * 3000.0 / 180.0
_TOL_DEG = 1e-9
_MAX_ITER = 50

SYSTEMS = ("wgs84", "gcj02", "bd09")
_ALIASES = {
    "wgs84": "wgs84", "wgs-84": "wgs84", "wgs 84": "wgs84", "gps": "wgs84", "osm": "wgs84",
    "gcj02": "gcj02", "gcj-02": "gcj02", "amap": "gcj02", "gaode": "gcj02", "tencent": "gcj02",
    "高德": "gcj02", "火星": "gcj02",
    "bd09": "bd09", "bd-09": "bd09", "bd09ll": "bd09", "baidu": "bd09", "百度": "bd09",
}

Array = np.ndarray


def coordinate_system(declared: object) -> str | pyproj.CRS:
    """Normalise a declared coordinate system: ``"wgs84" | "gcj02" | "bd09"`` for the shifted
    Chinese systems (aliases such as "amap", "baidu" accepted), otherwise a ``pyproj.CRS``
    (any EPSG code, "EPSG:4490", WKT…). Raises CRSError naming the accepted values."""
    if isinstance(declared, str) and declared.strip().lower() in _ALIASES:
        return _ALIASES[declared.strip().lower()]
    try:
        crs = pyproj.CRS.from_user_input(declared)
    except (pyproj.exceptions.CRSError, TypeError) as exc:
        raise CRSError(
            f"Unknown coordinate system {declared!r}. Use wgs84 (OSM/GPS), gcj02 (Amap/Gaode, "
            "Tencent), bd09 (Baidu) or an EPSG code such as EPSG:4547."
        ) from exc
    return "wgs84" if crs.equals(pyproj.CRS.from_epsg(4326), ignore_axis_order=True) else crs


def undeclared_in_china(where: str, n_points: int) -> CRSError:
    """The error for points inside China whose coordinate system was not declared: there
    WGS-84 (OSM, GPS), GCJ-02 (Amap/Gaode, Tencent) and BD-09 (Baidu) differ by 500–600 m,
    so no default is safe."""
    return CRSError(
        f"{where}: {n_points} points lie in China, where WGS-84 (OSM, GPS, Tianditu), GCJ-02 "
        "(Amap/Gaode, Tencent) and BD-09 (Baidu) differ by 500–600 m, but no coordinate system "
        "was declared. Declare it: coords = \"gcj02\" (or \"wgs84\", \"bd09\") in the "
        "scenario's [[facilities]] entry (candidates_coords for a candidates file), --coords "
        "gcj02 on the command line, or \"coords\": \"gcj02\" in an API request."
    )


def in_china(lon: Array, lat: Array) -> Array:
    """Boolean array: inside the box where GCJ-02/BD-09 are shifted (NaN counts as outside)."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    x0, y0, x1, y1 = CHINA_BOX
    return (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)


def _gcj_offset(lon: Array, lat: Array) -> tuple[Array, Array]:
    """The GCJ-02 shift (dlon, dlat) in degrees at WGS-84 (lon, lat), ignoring the box."""
    x, y = lon - 105.0, lat - 35.0
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat += common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon += common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad = np.radians(lat)
    magic = 1.0 - KRASOVSKY_E2 * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = dlat * 180.0 / (KRASOVSKY_A * (1.0 - KRASOVSKY_E2) / (magic * sqrt_magic) * np.pi)
    dlon = dlon * 180.0 / (KRASOVSKY_A / sqrt_magic * np.cos(rad) * np.pi)
    return dlon, dlat


def _gcj_forward(lon: Array, lat: Array) -> tuple[Array, Array]:
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def _gcj_start(lon: Array, lat: Array) -> tuple[Array, Array]:
    """The classic one-step GCJ-02 → WGS-84 (metre-level), a starting point for iteration."""
    dlon, dlat = _gcj_offset(lon, lat)
    return lon - dlon, lat - dlat


def _bd_forward(lon: Array, lat: Array) -> tuple[Array, Array]:
    """GCJ-02 → BD-09, ignoring the box."""
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_backward_estimate(lon: Array, lat: Array) -> tuple[Array, Array]:
    """The classic one-step BD-09 → GCJ-02 (metre-level), a starting point for iteration."""
    x, y = lon - 0.0065, lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _invert(forward, lon: Array, lat: Array, start: tuple[Array, Array]) -> tuple[Array, Array]:
    """Solve forward(x) = (lon, lat) by fixed-point iteration x ← x − (forward(x) − target)."""
    x, y = start
    for _ in range(_MAX_ITER):
        fx, fy = forward(x, y)
        ex, ey = fx - lon, fy - lat
        x, y = x - ex, y - ey
        err = np.maximum(np.abs(ex), np.abs(ey))
        if not np.any(err > _TOL_DEG):  # NaN inputs stay NaN and do not block convergence
            break
    return x, y


def _apply(func, lon, lat) -> tuple[Array, Array]:
    """Apply ``func`` inside the China box only; everything else passes through (copied)."""
    lon, lat = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    lon, lat = lon.copy(), lat.copy()
    inside = in_china(lon, lat)
    if inside.any():
        lon[inside], lat[inside] = func(lon[inside], lat[inside])
    return lon, lat


def wgs84_to_gcj02(lon, lat) -> tuple[Array, Array]:
    """WGS-84 → GCJ-02 (degrees, arrays of any shape)."""
    return _apply(_gcj_forward, lon, lat)


def gcj02_to_wgs84(lon, lat) -> tuple[Array, Array]:
    """GCJ-02 → WGS-84, exact iterative inverse (residual < 1e-9°, ≈ 0.1 mm)."""
    return _apply(lambda x, y: _invert(_gcj_forward, x, y, _gcj_start(x, y)), lon, lat)


def gcj02_to_bd09(lon, lat) -> tuple[Array, Array]:
    """GCJ-02 → BD-09 (degrees)."""
    return _apply(_bd_forward, lon, lat)


def bd09_to_gcj02(lon, lat) -> tuple[Array, Array]:
    """BD-09 → GCJ-02, exact iterative inverse (residual < 1e-9°, ≈ 0.1 mm)."""
    return _apply(lambda x, y: _invert(_bd_forward, x, y, _bd_backward_estimate(x, y)), lon, lat)


def wgs84_to_bd09(lon, lat) -> tuple[Array, Array]:
    """WGS-84 → BD-09 (degrees)."""
    return _apply(lambda x, y: _bd_forward(*_gcj_forward(x, y)), lon, lat)


def bd09_to_wgs84(lon, lat) -> tuple[Array, Array]:
    """BD-09 → WGS-84, exact iterative inverse of both steps (residual < 1e-9°, ≈ 0.1 mm)."""

    def back(x, y):
        gx, gy = _invert(_bd_forward, x, y, _bd_backward_estimate(x, y))
        return _invert(_gcj_forward, gx, gy, _gcj_start(gx, gy))

    return _apply(back, lon, lat)


_CONVERT = {
    ("wgs84", "gcj02"): wgs84_to_gcj02,
    ("gcj02", "wgs84"): gcj02_to_wgs84,
    ("gcj02", "bd09"): gcj02_to_bd09,
    ("bd09", "gcj02"): bd09_to_gcj02,
    ("wgs84", "bd09"): wgs84_to_bd09,
    ("bd09", "wgs84"): bd09_to_wgs84,
}


def convert(lon, lat, src: str, dst: str) -> tuple[Array, Array]:
    """Convert degrees between ``"wgs84"``, ``"gcj02"`` and ``"bd09"`` (aliases accepted)."""
    a, b = coordinate_system(src), coordinate_system(dst)
    if a not in SYSTEMS or b not in SYSTEMS:
        raise CRSError(
            f"convert() works between {', '.join(SYSTEMS)}; got {src!r} → {dst!r}. Reproject other "
            "CRSs with pyproj or GeoDataFrame.to_crs."
        )
    if a == b:
        return _apply(lambda x, y: (x, y), lon, lat)
    return _CONVERT[(a, b)](lon, lat)
