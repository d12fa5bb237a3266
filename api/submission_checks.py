"""Checks of a scenario request's inputs at submission: facility points and uploads are read
as the job will read them, population and district files by their content, and everything
must lie in the network's area, so a job does not fail minutes later on a mistake."""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from planner.api.models import FacilitiesIn
from planner.errors import CRSError, InputError
from planner.io.coords import in_china, undeclared_in_china
from planner.io.population import CENSUS_COLUMNS
from planner.standards import get_category, load_categories

#: Extra margin around the network's bounding box a facility may lie in, metres (the GCJ-02 and
#: BD-09 shifts in China reach ≈ 1.5 km).
BBOX_MARGIN_M = {"wgs84": 2000.0, "gcj02": 2500.0, "bd09": 3500.0}
_M_PER_DEG = 111_320.0
#: What a category key looks like (other category values are names matched by keyword).
_KEY = re.compile(r"[a-z][a-z0-9_]*")


def check_categories(keys: list[str] | None, overrides: dict[str, Any] | None = None) -> None:
    """Raise UnknownCategoryError (listing the known keys) for any unknown key."""
    if not keys:
        return
    categories = load_categories(overrides=overrides)
    for key in keys:
        get_category(categories, key)


GEOJSON_SWAP = "GeoJSON positions are [longitude, latitude]; swap them."


def check_inside(fc: dict[str, Any], coords: str | None, bbox: list[float], where: str,
                 swap_fix: str = GEOJSON_SWAP) -> None:
    """Facility points must lie in the network's area; swapped lon/lat is named as such (with
    ``swap_fix``, how to swap them in this kind of input), and points in China need a declared
    coordinate system."""
    w, s, e, n = bbox
    margin = BBOX_MARGIN_M.get(coords, 2000.0)
    dlat = margin / _M_PER_DEG
    dlon = margin / (_M_PER_DEG * max(math.cos(math.radians((s + n) / 2)), 0.05))

    def inside(lon: float, lat: float) -> bool:
        return w - dlon <= lon <= e + dlon and s - dlat <= lat <= n + dlat

    points = [f["geometry"]["coordinates"][:2] for f in fc["features"]]
    outside = [i for i, (lon, lat) in enumerate(points) if not inside(lon, lat)]
    if not outside:
        if coords is None:
            xy = np.asarray(points, dtype=float).reshape(-1, 2)
            n_china = int(in_china(xy[:, 0], xy[:, 1]).sum())
            if n_china:
                raise undeclared_in_china(where, n_china)
        return
    i = outside[0]
    lon, lat = points[i]
    swapped = sum(inside(points[j][1], points[j][0]) for j in outside)
    hint = (
        "The points fall inside the network when longitude and latitude are swapped: "
        + swap_fix
        if swapped == len(outside)
        else "Check the coordinates and the declared coordinate system (coords)."
    )
    raise CRSError(
        f"{where}: {len(outside)} of {len(points)} points lie outside the network's area "
        f"(west {w:.5f}, south {s:.5f}, east {e:.5f}, north {n:.5f}), e.g. feature {i} at "
        f"[{lon:.6f}, {lat:.6f}]. {hint}"
    )


def check_facility_upload(path: Path, fac: FacilitiesIn, bbox: list[float], where: str,
                          overrides: dict[str, Any] | None = None) -> None:
    """Read an uploaded facility file as the job will, so that an undeclared or wrong
    coordinate system, swapped or missing coordinate columns and unknown categories are refused
    at submission rather than in a job that ends at 0 % coverage."""
    from planner.facilities import FacilityWarning
    from planner.io.facilities import load_facilities

    west, south, east, north = bbox
    lon, lat = (west + east) / 2, (south + north) / 2
    utm = (32600 if lat >= 0 else 32700) + int((lon + 180) // 6) % 60 + 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FacilityWarning)
            points = load_facilities(path, to_crs=f"EPSG:{utm}", dedupe_m=0,
                                     categories=load_categories(overrides=overrides),
                                     **fac.reader_options())
    except InputError as exc:
        message = (str(exc).replace(str(path), path.name)  # never show server paths
                   .replace("lon_column and lat_column", "lon and lat")  # the API's names
                   .removeprefix(f"{path.name}: "))  # named once, below
        raise type(exc)(f"{where} ({path.name}): {message}") from None
    xy = points.to_crs(4326).get_coordinates().to_numpy()
    fc = {"features": [{"geometry": {"coordinates": list(p)}} for p in xy]}
    check_inside(fc, "wgs84", bbox, f"{where} ({path.name})",
                 "name the columns the other way round with lon and lat (or fix the file).")


_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_POLYGONS = ("Polygon", "MultiPolygon", "Polygon Z", "MultiPolygon Z")


def _lonlat_bounds(bounds: tuple[float, float, float, float], crs: Any) -> list[float] | None:
    """(west, south, east, north) in degrees of bounds given in ``crs``; None when they cannot
    be converted (then the job reports it)."""
    import pyproj

    try:
        tr = pyproj.Transformer.from_crs(crs, 4326, always_xy=True)
        out = tr.transform_bounds(*bounds)
    except (pyproj.exceptions.ProjError, pyproj.exceptions.CRSError, TypeError, ValueError):
        return None
    return list(out) if all(math.isfinite(v) for v in out) else None


def check_overlap(extent: list[float] | None, bbox: list[float], where: str, name: str,
                   fix: str = "upload the file of the same place") -> None:
    """The data must cover some of the network's area."""
    if extent is None:
        return
    w, s, e, n = extent
    bw, bs, be, bn = bbox
    if w > be or e < bw or s > bn or n < bs:
        raise InputError(
            f"{where}: {name} covers lon {w:.4f}–{e:.4f}, lat {s:.4f}–{n:.4f}, which does not "
            f"reach the network's area (lon {bw:.4f}–{be:.4f}, lat {bs:.4f}–{bn:.4f}); {fix}."
        )


def _check_raster(path: Path, where: str, bbox: list[float]) -> None:
    """A population raster must be a GeoTIFF (by content, not by name) with a CRS, over the
    network's area."""
    import rasterio

    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic not in _TIFF_MAGIC:
        raise InputError(f"{where}: {path.name} is not a GeoTIFF (its content is not TIFF, "
                         "whatever its name says); upload the population raster itself, "
                         "e.g. a WorldPop .tif.")
    try:
        with rasterio.open(path) as ds:
            crs, bands, bounds = ds.crs, ds.count, tuple(ds.bounds)
    except rasterio.errors.RasterioIOError:
        raise InputError(f"{where}: {path.name} starts like a TIFF but cannot be read as a "
                         "raster (damaged or cut short); upload it again.") from None
    if crs is None:
        raise CRSError(f"{where}: the raster {path.name} has no coordinate system; assign the "
                       "one it was made in (e.g. `gdal_edit.py -a_srs EPSG:4326` for WorldPop) "
                       "and upload it again.")
    if bands < 1:
        raise InputError(f"{where}: the raster {path.name} has no band of values.")
    check_overlap(_lonlat_bounds(bounds, crs.to_wkt()), bbox, where, f"the raster {path.name}")


def _layer_info(path: Path, where: str, bbox: list[float]) -> dict[str, Any]:
    """Fields, geometry type and feature count of a GIS layer, read from its header; the
    layer must reach the network's area."""
    import pyogrio

    try:
        info = pyogrio.read_info(path, force_total_bounds=True)
    except Exception:  # pyogrio raises several types for files GDAL cannot open
        raise InputError(f"{where}: {path.name} is not a GIS layer GDAL can read (GeoJSON or "
                         "GeoPackage); check that the file is complete and in that format."
                         ) from None
    if not info.get("features"):
        raise InputError(f"{where}: {path.name} holds no features; upload a layer with "
                         "polygons.")
    bounds, crs = info.get("total_bounds"), info.get("crs")
    if bounds is not None and crs:
        check_overlap(_lonlat_bounds(tuple(bounds), crs), bbox, where, path.name)
    return info


def _count_column(fields: list[str], column: str | None, option: str, where: str,
                  name: str) -> str | None:
    """The population column a census-like layer will be read with (given or found by name),
    or None when there is none."""
    if column is not None:
        if column not in fields:
            raise InputError(f"{where}: {name} has no column {column!r} ({option}); its columns "
                             f"are {fields}.")
        return column
    lower = {f.lower(): f for f in fields}
    return next((lower[c] for c in CENSUS_COLUMNS if c in lower), None)


def _check_polygons(info: dict[str, Any], where: str, name: str) -> None:
    kind = str(info.get("geometry_type") or "Unknown")
    if kind not in _POLYGONS and kind != "Unknown":
        raise InputError(f"{where}: {name} holds {kind} features; population counts need area "
                         "polygons (census units, districts).")


def check_population_file(path: Path, column: str | None, where: str,
                           bbox: list[float]) -> None:
    """A population upload is read as the job will read it: a GeoTIFF, a census layer with a
    population column, or a building layer."""
    if path.suffix.lower() in (".tif", ".tiff"):
        _check_raster(path, where, bbox)
        return
    info = _layer_info(path, where, bbox)
    fields = [str(f) for f in info["fields"]]
    if _count_column(fields, column, "population_column", where, path.name) is None and not (
        {"building", "other_tags"} & set(fields)
    ):
        raise InputError(
            f"{where}: {path.name} has no population column (looked for "
            f"{', '.join(CENSUS_COLUMNS)}) and no building tags; its columns are {fields}. Name "
            "the count column with population_column."
        )
    _check_polygons(info, where, path.name)


def check_districts_file(path: Path, column: str | None, where: str,
                          bbox: list[float]) -> None:
    """District polygons with a population count per district."""
    info = _layer_info(path, where, bbox)
    fields = [str(f) for f in info["fields"]]
    if _count_column(fields, column, "districts_column", where, path.name) is None:
        raise InputError(
            f"{where}: {path.name} has no population column (looked for "
            f"{', '.join(CENSUS_COLUMNS)}); its columns are {fields}. Name it with "
            "districts_column."
        )
    _check_polygons(info, where, path.name)


def check_district_names(path: Path, column: str | None, where: str,
                         bbox: list[float]) -> None:
    """District polygons to report per unit; a name column given must be one of theirs."""
    info = _layer_info(path, where, bbox)
    fields = [str(f) for f in info["fields"]]
    if column is not None and column not in fields:
        raise InputError(f"{where}: {path.name} has no column {column!r} (name_column); its "
                         f"columns are {fields}.")
    _check_polygons(info, where, path.name)


def check_feature_categories(fac: FacilitiesIn, fc: dict[str, Any], where: str,
                             overrides: dict[str, Any] | None = None) -> None:
    """The points say their category; values that look like keys must be known ones (names
    and POI types are matched by keyword when the job runs)."""
    if fac.category is None and fac.category_column is None:
        raise InputError(
            f"{where}: say which category the points are — give `category` (one key for every "
            "point) or `category_column` (a property holding keys or names)."
        )
    if fac.category_column is None:
        return
    values = [(f.get("properties") or {}).get(fac.category_column) for f in fc["features"]]
    if all(v is None for v in values):
        raise InputError(
            f"{where}: no feature has the property {fac.category_column!r}; name the property "
            "that holds the category."
        )
    keys = sorted({str(v) for v in values if v is not None and _KEY.fullmatch(str(v))})
    try:
        check_categories(keys, overrides)
    except InputError as exc:
        raise type(exc)(f"{where}, property {fac.category_column!r}: {exc}") from None
