"""Facilities from any source into the standard table: OSM (.osm.pbf via pyrosm, OSM XML and
online via osmnx; :mod:`planner.io.osm_facilities`), tables (CSV/TXT/XLSX with encoding
detection and a declared coordinate system) and GIS layers (GeoJSON/GeoPackage/Shapefile/
GeoParquet; both :mod:`planner.io.tables`).

:func:`load_facilities` picks the reader, assigns categories (a key column, or the category
rules of :mod:`planner.classify` on names, brands, POI type strings and OSM tags), converts
GCJ-02/BD-09 to WGS-84, projects to the network's CRS, merges duplicates, drops what lies
outside the study area and reports every dropped row with its reason
(``facilities.attrs["report"]``, a :class:`planner.facilities.FacilityReport`)."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from planner.errors import CRSError, InputError
from planner.facilities import (
    DEFAULT_DEDUPE_M,
    DUPLICATE,
    NOT_REQUESTED,
    OUTSIDE,
    STATUSES,
    FacilityReport,
    FacilityWarning,
    clip_to_area,
    finish,
    merge_duplicates,
    study_area_geometry,
)
from planner.io.coords import coordinate_system
from planner.io.osm import LAYER_SUFFIXES, PBF_SUFFIXES, XML_SUFFIXES
from planner.io.osm_facilities import classify_osm_rows, read_osm_facilities
from planner.io.tables import (
    NAME_NAMES,
    TABLE_SUFFIXES,
    TableColumns,
    file_suffix,
    find_column,
    frame_attributes,
    frame_points,
    read_frame,
)
from planner.network import metric_crs
from planner.standards import Category, add_keywords, get_category, load_categories

#: Without a study area, a facility this far (metres) from the median of a file's points, and
#: ten times farther than the typical one, is named as a likely coordinate error.
OUTLIER_M = 100_000.0


def load_facilities(
    source: str | Path | gpd.GeoDataFrame | pd.DataFrame,
    *,
    to_crs: object | None = None,
    categories: Mapping[str, Category] | Iterable[str] | None = None,
    crs: object | None = None,
    category: str | None = None,
    category_column: str | None = None,
    lon_column: str | None = None,
    lat_column: str | None = None,
    name_column: str | None = None,
    id_column: str | None = None,
    capacity_column: str | None = None,
    status: str = "existing",
    encoding: str | None = None,
    layer: str | None = None,
    keywords: Mapping[str, str | list[str]] | None = None,
    study_area: object | None = None,
    dedupe_m: float = DEFAULT_DEDUPE_M,
    online: bool = False,
    bounding_box: list[float] | None = None,
    outside_ok: bool = False,
) -> gpd.GeoDataFrame:
    """Read facilities into the standard table (points in ``to_crs``; columns id, name,
    category, capacity, status, source) with the report in ``.attrs["report"]``.

    Args:
        source: an OSM file (.osm.pbf, .osm, .osm.bz2), a table (.csv/.txt/.xlsx), a GIS layer
            (.geojson/.gpkg/.shp/.parquet), a (Geo)DataFrame, or a place name with ``online``.
        to_crs: output CRS, projected metres — pass ``network.crs`` (default: the UTM zone).
        categories: the category table (a mapping from :func:`load_categories`) or the keys to
            keep from the bundled table (default: every bundled category).
        crs: the coordinate system the input is written in: ``wgs84``, ``gcj02`` (Amap/Gaode,
            Tencent), ``bd09`` (Baidu) or any EPSG code. Tables default to wgs84; GIS layers to
            the CRS in the file.
        category: one category key for every row (a list of kindergartens, say).
        category_column: column holding a category key, or a POI type string (Amap/Baidu
            "大类;中类;小类") matched with the names by the category rules (default: a column
            named category/type/类别/类型/…).
        lon_column, lat_column: coordinate columns of a table (default: lon/lng/x/经度 …,
            lat/y/纬度 …, or one "lng,lat" column such as Amap's ``location``).
        name_column, id_column, capacity_column: optional columns (recognised by usual names).
        status: status of rows without a ``status`` column: existing, candidate, required or
            closable.
        encoding: text encoding of a table (default: detected among UTF-8, UTF-8 with BOM,
            UTF-16 with BOM, GBK/GB18030).
        layer: layer name of a multi-layer GIS file.
        keywords: extra name keywords, text → category key(s); [] vetoes every category for
            names containing the text (see :func:`planner.standards.add_keywords`).
        study_area: facilities outside it are dropped (GeoDataFrame in any CRS, a WalkNetwork,
            or a shapely geometry in ``to_crs``).
        dedupe_m: facilities of the same category and name (or brand) closer than this
            (metres) are merged; 0 disables (see :func:`planner.facilities.merge_duplicates`).
        online: treat ``source`` as a place name and download OSM features with osmnx.
        bounding_box: [west, south, east, north] degrees, to read part of a .pbf.
        outside_ok: a study area holding none of the facilities gives an empty list (one unit
            of a province, whose inputs were checked as a whole) instead of an error.
    """
    table, wanted, known, keep = _category_table(categories)
    if keywords:
        table = add_keywords(table, keywords)
    if category is not None:
        get_category(table, category)
    if status not in STATUSES:
        raise InputError(f"status={status!r} is not a facility status; use one of {list(STATUSES)}.")
    if dedupe_m < 0:
        raise InputError(f"dedupe_m={dedupe_m} is negative; give metres ≥ 0 (0 disables merging).")
    label, kind = _describe(source, online)
    report = FacilityReport(source=label)
    if kind == "osm":
        raw = read_osm_facilities(source, online, bounding_box, table)
        report.read(raw)
        if crs is not None and coordinate_system(crs) != "wgs84":
            raise CRSError(f"OSM data is WGS-84; drop crs={crs!r} when reading {label}.")
        fac = classify_osm_rows(raw, table, report)
        expected = list(wanted) if wanted is not None else keep
    else:
        columns = TableColumns(lon_column, lat_column, name_column, id_column,
                               capacity_column, category_column)
        fac = _read_table(source, kind, encoding, layer, crs, columns, (table, known, category),
                          label, report)
        expected = list(wanted) if wanted is not None else ([category] if category else [])
    fac = _keep_wanted(fac, keep, report)
    fac = _status_and_ids(fac, status)
    near = _near_the_rest(fac, report) if study_area is None else np.ones(len(fac), bool)
    work = metric_crs(fac[near], to_crs) if len(fac) else _output_crs(to_crs)
    fac = fac.to_crs(work)
    if dedupe_m > 0:
        fac, dup = merge_duplicates(fac, dedupe_m)
        report.drop(dup, DUPLICATE, dup["detail"])
    if study_area is not None:
        fac = _clip(fac, study_area, work, report, outside_ok)
    out = finish(fac, report, expected)
    out.attrs["report"] = report
    return out


def facility_report(facilities: gpd.GeoDataFrame) -> FacilityReport:
    """The report attached by :func:`load_facilities`."""
    try:
        return facilities.attrs["report"]
    except KeyError:
        raise InputError(
            "This table carries no facility report; it was not made by load_facilities."
        ) from None


def _read_table(source, kind: str, encoding, layer, crs, columns: TableColumns, rules: tuple,
                label: str, report: FacilityReport) -> gpd.GeoDataFrame:
    """A table or GIS layer's rows as classified points; errors name the file."""
    table, known, category = rules
    try:
        frame = read_frame(source, kind, encoding, layer, report)
        name_col = find_column(frame, columns.name, NAME_NAMES, "name")
        if name_col is not None:  # rows dropped before their name is read keep it in the report
            report.inputs["name"] = frame[name_col].to_numpy()
        fac = frame_points(frame, crs, columns, report)
        return frame_attributes(fac, table, known, category, columns, label, report)
    except InputError as exc:
        if label in str(exc) or kind == "frame":
            raise
        raise type(exc)(f"{label}: {exc}") from None


def _category_table(categories) -> tuple[dict[str, Category], list[str] | None, set[str], list[str]]:
    """(category table with rules, keys asked for or None, every key a file may name: the
    table's and the bundled ones, keys kept)."""
    bundled = load_categories()
    if categories is None:
        return bundled, None, set(bundled), list(bundled)
    if isinstance(categories, Mapping):
        if not categories:
            raise InputError("The category table is empty; pass load_categories() or leave it out.")
        # bundled categories still classify, so a row of another category is reported as such
        return {**bundled, **categories}, None, set(bundled) | set(categories), list(categories)
    keys = [categories] if isinstance(categories, str) else list(categories)
    for key in keys:
        get_category(bundled, key)
    return bundled, keys, set(bundled), keys


def _keep_wanted(fac: gpd.GeoDataFrame, wanted: list[str], report: FacilityReport):
    other = ~fac["category"].isin(wanted)
    report.drop(fac[other], NOT_REQUESTED, "")
    return fac[~other]


def _describe(source, online: bool) -> tuple[str, str]:
    """(label for the report, kind: osm | table | layer | frame)."""
    if isinstance(source, pd.DataFrame):
        return "table", "frame"
    if online:
        return f"OSM online: {source}", "osm"
    path = Path(source)
    if not path.exists():
        raise InputError(f"File {path} does not exist. Check the path (relative to {Path.cwd()}).")
    if path.is_dir():
        raise InputError(f"{path} is a directory; give the facility file inside it.")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes); export the facility list again.")
    suffix = file_suffix(path)
    if suffix in XML_SUFFIXES + PBF_SUFFIXES:
        return path.name, "osm"
    if suffix in TABLE_SUFFIXES:
        return path.name, "table"
    if suffix in LAYER_SUFFIXES:
        return path.name, "layer"
    raise InputError(
        f"Cannot tell the format of {path.name}. Use a table ({', '.join(TABLE_SUFFIXES)}), a GIS "
        f"layer ({', '.join(LAYER_SUFFIXES)}) or OSM data (.osm, .osm.bz2, .osm.pbf)."
    )


def _output_crs(to_crs) -> pyproj.CRS:
    if to_crs is None:
        raise InputError("No facility remains to estimate a UTM zone from; pass to_crs=network.crs.")
    return metric_crs(gpd.GeoDataFrame(geometry=[]), to_crs)


def _status_and_ids(fac: gpd.GeoDataFrame, status: str) -> gpd.GeoDataFrame:
    fac = fac.reset_index(drop=True).copy()
    fac["status"] = fac["status"].fillna(status) if "status" in fac else status
    ids = fac["id"].astype("string") if "id" in fac else pd.Series(pd.NA, index=fac.index,
                                                                     dtype="string")
    ids = ids.mask(ids == "").fillna(fac["source"].astype(str) + ":" + fac["ref"].astype(str))
    dup = ids.duplicated(keep=False)
    ids[dup] = ids[dup] + ":" + fac.loc[dup, "category"].astype(str)
    again = ids.duplicated(keep=False)
    ids[again] = ids[again] + "#" + ids[again].groupby(ids[again]).cumcount().astype(str)
    fac["id"] = ids.astype(str).to_numpy()
    return fac


def _near_the_rest(fac: gpd.GeoDataFrame, report: FacilityReport) -> np.ndarray:
    """Rows within reach of the others: farther than OUTLIER_M and ten times the typical
    spread from the median point, a row is named in a note and a warning (kept, since without
    a study area or network nothing says where the facilities belong)."""
    if len(fac) < 3:
        return np.ones(len(fac), bool)
    xy = shapely.get_coordinates(fac.to_crs(4326).geometry.representative_point().values)
    lon0, lat0 = np.median(xy, axis=0)
    dist = pyproj.Geod(ellps="WGS84").inv(np.full(len(xy), lon0), np.full(len(xy), lat0),
                                          xy[:, 0], xy[:, 1])[2]
    far = dist > max(OUTLIER_M, 10 * np.median(dist))
    if far.any():
        worst = np.argsort(-dist)[: min(3, int(far.sum()))]
        listed = ", ".join(f"{fac['ref'].iloc[i]} ({fac['name'].iloc[i] or 'unnamed'}, "
                           f"{dist[i] / 1000:,.0f} km)" for i in worst)
        message = (f"{int(far.sum())} facilities lie far from all the others (farthest: "
                   f"{listed}): check their coordinates; against a walk network they are "
                   "dropped as far outside it")
        report.notes.append(message)
        warnings.warn(f"{report.source}: {message}", FacilityWarning, stacklevel=3)
    return ~far


def _clip(fac: gpd.GeoDataFrame, area, crs, report: FacilityReport,
          outside_ok: bool = False) -> gpd.GeoDataFrame:
    geom = study_area_geometry(area, crs)
    inside, outside = clip_to_area(fac, geom)
    if len(fac) and len(inside) == 0 and not outside_ok:
        lon0, lat0, lon1, lat1 = fac.to_crs(4326).total_bounds
        a0, b0, a1, b1 = gpd.GeoSeries([geom], crs=crs).to_crs(4326).total_bounds
        swapped = fac.to_crs(4326).geometry
        swapped = gpd.GeoSeries(gpd.points_from_xy(swapped.y, swapped.x), crs=4326).to_crs(crs)
        hint = (
            "Longitude and latitude look swapped: swapped, the points fall inside the area."
            if shapely.intersects(geom, swapped.to_numpy()).any()
            else "Check the declared coordinate system (coords) and the lon/lat columns."
        )
        raise InputError(
            f"Every facility lies outside the study area: facilities span lon {lon0:.4f}–{lon1:.4f}, "
            f"lat {lat0:.4f}–{lat1:.4f}; the area spans lon {a0:.4f}–{a1:.4f}, lat {b0:.4f}–{b1:.4f}. "
            f"{hint}"
        )
    report.drop(outside, OUTSIDE, "")
    if len(outside) > len(inside) and not outside_ok:
        report.notes.append(
            f"most facilities ({len(outside)} of {len(fac)}) lie outside the study area; check the "
            "declared coordinate system and the lon/lat columns"
        )
    return inside
