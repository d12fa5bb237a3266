"""Facility readers: OSM (.osm.pbf via pyrosm, OSM XML and online via osmnx), tables
(CSV/TXT/XLSX with encoding detection and a declared coordinate system) and GIS layers
(GeoJSON/GeoPackage/Shapefile/GeoParquet).

:func:`load_facilities` picks the reader, assigns categories (a key column, or the category
rules of :mod:`planner.classify` on names, brands, POI type strings and OSM tags), converts
GCJ-02/BD-09 to WGS-84, projects to the network's CRS, merges duplicates, drops what lies
outside the study area and reports every dropped row with its reason
(``facilities.attrs["report"]``, a :class:`planner.facilities.FacilityReport`).
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import json
import warnings
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from planner.classify import classify
from planner.errors import CRSError, InputError, UnknownCategoryError
from planner.facilities import (
    DEFAULT_DEDUPE_M,
    DUPLICATE,
    NO_CATEGORY,
    NO_COORDINATES,
    NOT_A_SERVICE,
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
from planner.io.coords import (
    bd09_to_wgs84,
    coordinate_system,
    gcj02_to_wgs84,
    in_china,
    undeclared_in_china,
)
from planner.io.osm import LAYER_SUFFIXES, PBF_SUFFIXES, XML_SUFFIXES
from planner.network import metric_crs
from planner.standards import Category, add_keywords, get_category, load_categories

TABLE_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xls")
OUT_OF_RANGE = "coordinates out of range"
#: Encodings tried in turn; GB18030 extends GBK (itself a superset of GB2312).
ENCODINGS = ("utf-8-sig", "gbk", "gb18030")

# Column names recognised without being named (compared lower-case, stripped).
LON_NAMES = ("lon", "lng", "long", "longitude", "x", "point_x", "经度", "wgs84_lon", "wgs84_lng",
             "gcj02_lon", "gcj02_lng", "bd09_lon", "bd09_lng", "lon_gcj02", "lng_gcj02")
LAT_NAMES = ("lat", "latitude", "y", "point_y", "纬度", "wgs84_lat", "gcj02_lat", "bd09_lat",
             "lat_gcj02")
PAIR_NAMES = ("location", "lnglat", "lonlat", "经纬度", "坐标")
NAME_NAMES = ("name", "名称", "poi名称", "机构名称", "设施名称", "店名", "title", "地块名称",
              "站点名称", "项目名称", "单位名称", "学校名称")
ID_NAMES = ("id", "poi_id", "poiid", "uid", "编号", "设施编号")
CATEGORY_NAMES = ("category", "类别", "设施类别", "分类", "type", "类型", "poi类型", "tag",
                  "typename", "小类", "中类", "大类")
CAPACITY_NAMES = ("capacity", "容量", "规模", "床位", "床位数", "beds", "places", "学位",
                  "学位数", "托位", "托位数")
STATUS_NAMES = ("status", "状态")
COST_NAMES = ("cost", "费用", "造价", "成本", "投资", "投资额")
#: OSM tags read besides the category rules' keys; they never select features on their own.
OSM_EXTRA_TAGS = ("name", "name:zh", "name:zh-Hans", "name:en", "brand", "brand:zh", "capacity",
                  "beds", "opening_hours", "cuisine", "healthcare:speciality")
#: Without a study area, a facility this far (metres) from the median of a file's points, and
#: ten times farther than the typical one, is named as a likely coordinate error.
OUTLIER_M = 100_000.0
#: How to name the coordinate columns the other way round, everywhere they can be named.
SWAP_HOW = ("Name the columns the other way round: lon/lat in the scenario's [[facilities]] "
            "entry or an API request, --lon-column/--lat-column on the command line.")
#: Named OSM features without a rule key are read too (Chinese OSM holds many POIs tagged
#: with a name only), as are offices; a name alone selects points and buildings only.
OSM_NAME_SELECT = ("name", "office")
#: Keys of named features that are no facility: a bus stop named 阳光小学站 or a place node
#: is not a school.
OSM_NOT_FACILITY = ("highway", "railway", "public_transport", "place", "route", "waterway",
                    "natural", "boundary", "landuse", "barrier", "entrance", "power", "man_made")
#: OSM name tags, in the order a facility's shown name is taken from.
OSM_NAME_TAGS = ("name", "name:zh", "name:zh-Hans", "name:en")


# --- public entry point --------------------------------------------------------------------


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
        raw = _read_osm(source, online, bounding_box, table)
        report.read(raw)
        if crs is not None and coordinate_system(crs) != "wgs84":
            raise CRSError(f"OSM data is WGS-84; drop crs={crs!r} when reading {label}.")
        fac = _classify_osm_rows(raw, table, report)
        expected = list(wanted) if wanted is not None else keep
    else:
        frame = _read_frame(source, kind, encoding, layer, report)
        name_col = _find_column(frame, name_column, NAME_NAMES, "name")
        if name_col is not None:  # rows dropped before their name is read keep it in the report
            report.inputs["name"] = frame[name_col].to_numpy()
        fac = _frame_points(frame, crs, lon_column, lat_column, report)
        fac = _frame_attributes(
            fac, table, known, category, category_column, name_column, id_column,
            capacity_column, label, report,
        )
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
        fac = _clip(fac, study_area, work, report)
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


# --- categories ----------------------------------------------------------------------------


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


# --- dispatch ------------------------------------------------------------------------------


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for s in XML_SUFFIXES + PBF_SUFFIXES + LAYER_SUFFIXES + TABLE_SUFFIXES:
        if name.endswith(s):
            return s
    return path.suffix.lower()


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
    suffix = _suffix(path)
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


# --- OSM -----------------------------------------------------------------------------------


def _rule_keys(table: Mapping[str, Category]) -> list[str]:
    """OSM keys that select features: the keys of the categories' tag rules, but for the
    qualifying tags (name, opening_hours, cuisine …) that are read without selecting."""
    keys = {k for c in table.values() for rule in c.osm_tags for k, _ in rule}
    return sorted(keys - set(OSM_EXTRA_TAGS))


def _tag_columns(table: Mapping[str, Category]) -> list[str]:
    """Every OSM key a rule or an exclusion reads."""
    rules = [r for c in table.values() for r in (*c.osm_tags, *(t for e in c.exclude for t in e.tags))]
    return list(dict.fromkeys([*(k for rule in rules for k, _ in rule), *OSM_EXTRA_TAGS]))


def _read_osm(source, online: bool, bounding_box, table) -> gpd.GeoDataFrame:
    rule_keys = _rule_keys(table)
    if not rule_keys:
        raise InputError("No category has OSM tag rules, so nothing can be read from OSM data.")
    keys = list(dict.fromkeys([*rule_keys, *OSM_NAME_SELECT]))
    columns = [*_tag_columns(table), "building", *OSM_NOT_FACILITY]
    if online:
        raw = osm_features_online(str(source), keys, columns)
    elif _suffix(Path(source)) in PBF_SUFFIXES:
        raw = osm_features_pbf(Path(source), keys, bounding_box, columns)
    else:
        raw = osm_features_xml(Path(source), keys, columns)
    return _possible_facilities(raw, rule_keys)


def _possible_facilities(raw: gpd.GeoDataFrame, rule_keys: list[str]) -> gpd.GeoDataFrame:
    """The features that may be facilities: those with a rule key or an office tag, and named
    points and buildings that are no street, stop, place or land area."""
    def present(keys) -> np.ndarray:
        cols = [raw[k].notna() & (raw[k].str.strip() != "") for k in keys if k in raw.columns]
        return np.logical_or.reduce([c.to_numpy(bool) for c in cols]) if cols else np.zeros(
            len(raw), bool)

    kind = shapely.get_type_id(raw.geometry.to_numpy())
    point_or_building = (kind == 0) | present(["building"])
    named = present(["name"]) & point_or_building & ~present(OSM_NOT_FACILITY)
    keep = present([*rule_keys, "office"]) | named
    return raw[keep].reset_index(drop=True)


def _osm_frame(gdf: gpd.GeoDataFrame, ref: pd.Series, keys: Iterable[str]) -> gpd.GeoDataFrame:
    """One string column per wanted tag (NA where absent), ``ref`` ("node/1") and geometry."""
    missing = pd.Series(pd.NA, index=gdf.index, dtype="string")
    cols = {k: gdf[k].astype("string") if k in gdf.columns else missing for k in keys}
    out = pd.DataFrame(cols, index=gdf.index).assign(ref=ref.to_numpy())
    out = gpd.GeoDataFrame(out, geometry=gdf.geometry.to_numpy(), crs=gdf.crs or 4326)
    return out.reset_index(drop=True)


def osm_features_pbf(
    path: str | Path,
    keys: Iterable[str],
    bounding_box: list[float] | None = None,
    columns: Iterable[str] = OSM_EXTRA_TAGS,
) -> gpd.GeoDataFrame:
    """OSM nodes, ways and relations carrying any of ``keys`` from an .osm.pbf (pyrosm), with
    ``keys`` and ``columns`` as string columns."""
    import pyrosm

    keys = list(keys)
    cols = list(dict.fromkeys([*keys, *columns]))
    try:
        osm = pyrosm.OSM(str(path), bounding_box=bounding_box)
        gdf = osm.get_pois(custom_filter={k: True for k in keys})
    except Exception as exc:  # pyrosm raises plain Exceptions for corrupt files
        raise InputError(f"Cannot read {path} as OSM PBF: {exc}. Is it a valid .osm.pbf?") from exc
    if gdf is None or len(gdf) == 0:
        return _osm_frame(gpd.GeoDataFrame(geometry=[], crs=4326), pd.Series([], dtype=str), cols)
    wanted = [k for k in cols if k not in gdf.columns]
    if wanted and "tags" in gdf.columns:  # tags pyrosm did not turn into columns, as JSON text
        parsed = gdf["tags"].map(lambda t: json.loads(t) if isinstance(t, str) else {})
        extra = pd.DataFrame.from_records(parsed.tolist(), index=gdf.index)
        gdf = gdf.join(extra[[k for k in wanted if k in extra.columns]])
    ref = gdf["osm_type"].astype(str) + "/" + gdf["id"].astype(str)
    return _osm_frame(gdf, ref, cols)


def osm_features_xml(
    path: str | Path, keys: Iterable[str], columns: Iterable[str] = OSM_EXTRA_TAGS
) -> gpd.GeoDataFrame:
    """OSM features carrying any of ``keys`` from OSM XML (.osm, .osm.bz2), via osmnx."""
    import osmnx as ox

    keys = list(keys)
    try:
        gdf = ox.features.features_from_xml(path, tags={k: True for k in keys})
    except ox._errors.InsufficientResponseError:
        gdf = gpd.GeoDataFrame(geometry=[], crs=4326)
    except Exception as exc:  # ParseError, KeyError, ValueError from malformed XML
        raise InputError(f"Cannot read {path} as OSM XML: {exc}. Is it a valid .osm file?") from exc
    return _osm_from_osmnx(gdf, [*keys, *columns])


def osm_features_online(
    place: str, keys: Iterable[str], columns: Iterable[str] = OSM_EXTRA_TAGS
) -> gpd.GeoDataFrame:
    """OSM features carrying any of ``keys`` inside a named place, downloaded with osmnx."""
    import osmnx as ox

    from planner.errors import OfflineError
    from planner.io.osm import from_osm_online

    keys = list(keys)
    try:
        gdf = from_osm_online(
            lambda: ox.features.features_from_place(place, tags={k: True for k in keys}))
    except ox._errors.InsufficientResponseError:
        gdf = gpd.GeoDataFrame(geometry=[], crs=4326)
    except OfflineError:
        raise
    except (TypeError, ValueError, ConnectionError) as exc:
        raise InputError(
            f"OpenStreetMap returned nothing for the place {place!r}: {exc}. Check the spelling "
            "(e.g. '迎泽区, 太原市, 山西省, 中国') or read a local .osm/.pbf file."
        ) from exc
    return _osm_from_osmnx(gdf, [*keys, *columns])


def _osm_from_osmnx(gdf: gpd.GeoDataFrame, keys: list[str]) -> gpd.GeoDataFrame:
    keys = list(dict.fromkeys(keys))
    if len(gdf) == 0:
        return _osm_frame(gpd.GeoDataFrame(geometry=[], crs=4326), pd.Series([], dtype=str), keys)
    idx = gdf.index.to_frame(index=False)
    ref = idx.iloc[:, 0].astype(str) + "/" + idx.iloc[:, 1].astype(str)
    ref.index = gdf.index
    return _osm_frame(gdf, ref, keys)


def classify_osm(tags: pd.DataFrame, table: Mapping[str, Category]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The categories of OSM features (one string column per tag) by the category rules:
    (matches: row, category, rule), (rows with none: row, excluded, rule); see
    :func:`planner.classify.classify`. A feature may get several categories."""
    names = [" ".join(dict.fromkeys(p for p in parts if isinstance(p, str) and p.strip()))
             for parts in zip(*(_tag(tags, k) for k in OSM_NAME_TAGS), strict=True)]
    return classify(table, names, tags=tags)


def _tag(tags: pd.DataFrame, key: str) -> list[object]:
    return tags[key].tolist() if key in tags.columns else [None] * len(tags)


def _drop_unmatched(rows: pd.DataFrame, unmatched: pd.DataFrame, report: FacilityReport) -> None:
    """Report rows no category accepted: refused by an exclusion, or matched by no rule."""
    for excluded, reason in ((True, NOT_A_SERVICE), (False, NO_CATEGORY)):
        part = unmatched[unmatched["excluded"] == excluded]
        report.drop(rows.iloc[part["row"].to_numpy()], reason, part["rule"].to_numpy())


def _classify_osm_rows(raw: gpd.GeoDataFrame, table, report: FacilityReport) -> gpd.GeoDataFrame:
    raw = raw.copy()
    shown = raw["name"]
    for key in OSM_NAME_TAGS[1:]:
        shown = shown.fillna(raw[key])
    raw["name"] = shown
    matches, unmatched = classify_osm(raw, table)
    _drop_unmatched(raw, unmatched, report)
    rows, keys = matches["row"].to_numpy(), matches["category"].to_numpy()
    fac = raw.iloc[rows].reset_index(drop=True)
    fac["category"] = keys
    fac["rule"] = matches["rule"].to_numpy()
    unit = np.array([table[k].capacity_unit or "" for k in keys], dtype=object)
    beds = pd.to_numeric(fac["beds"], errors="coerce").to_numpy(dtype=float)
    cap = pd.to_numeric(fac["capacity"], errors="coerce").to_numpy(dtype=float)
    fac["capacity"] = np.where((unit == "beds") & ~np.isnan(beds), beds, cap)
    fac["brand"] = fac["brand:zh"].fillna(fac["brand"])
    fac["id"] = fac["ref"]
    fac["source"] = f"OSM {report.source}"
    return fac


# --- tables and layers ---------------------------------------------------------------------


def decode_bytes(raw: bytes, encoding: str | None = None) -> tuple[str, str]:
    """Decode a text file: the given encoding, or UTF-16 by BOM, UTF-8 (with or without BOM),
    then GBK, then GB18030 (which extends GBK). Returns (text, encoding used). A GBK text that
    happens to be valid UTF-8 too (possible for a few characters, not for real exports) reads as
    UTF-8; pass ``encoding`` to be certain."""
    if encoding:
        try:
            return raw.decode(encoding), encoding
        except LookupError:
            raise InputError(f"Unknown text encoding {encoding!r}; try utf-8, gbk or gb18030.") from None
        except UnicodeDecodeError as exc:
            raise InputError(
                f"The file is not valid {encoding} ({exc.reason} at byte {exc.start}); leave the "
                "encoding out to detect it, or name the right one (utf-8, gbk, gb18030)."
            ) from None
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16"), "utf-16"
    for enc in ENCODINGS:
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError:
            continue
        if enc == "utf-8-sig":
            return text, "utf-8-sig" if raw.startswith(codecs.BOM_UTF8) else "utf-8"
        return text, enc
    bad = raw.decode("utf-8", errors="replace").count("\ufffd")
    raise InputError(
        f"The text is neither UTF-8 nor GBK/GB18030 ({bad} undecodable bytes). Save it again as "
        "UTF-8 (Excel: 'CSV UTF-8'), or pass the right encoding."
    )


def read_table(path: str | Path, encoding: str | None = None) -> tuple[pd.DataFrame, str | None]:
    """Read a CSV/TXT/TSV (encoding and delimiter detected) or an Excel sheet, every cell as
    text. Returns (table, encoding used; None for Excel)."""
    path = Path(path)
    if _suffix(path) in (".xlsx", ".xls"):
        try:
            df = pd.read_excel(path, dtype=str)
        except Exception as exc:  # openpyxl/xlrd raise many types for bad workbooks
            raise InputError(f"Cannot read {path.name} as an Excel workbook: {exc}.") from exc
        enc = None
    else:
        text, enc = decode_bytes(path.read_bytes(), encoding)
        if not text.strip():
            raise InputError(f"{path.name} holds no text; export the facility list again.")
        try:
            sep = csv.Sniffer().sniff(text[:20000], delimiters=",\t;|").delimiter
        except csv.Error:
            sep = ","
        try:
            df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InputError(f"Cannot parse {path.name} as a table: {exc}.") from exc
    df.columns = [str(c).strip() for c in df.columns]
    if len(df) == 0:
        raise InputError(f"{path.name} has a header ({list(df.columns)}) but no rows.")
    return df, enc


def _read_frame(source, kind: str, encoding, layer, report: FacilityReport) -> pd.DataFrame:
    if kind == "frame":
        df = source.copy()
        if len(df) == 0:
            raise InputError("The facility table is empty; it has no rows.")
        df["ref"] = "row " + pd.Series(np.arange(len(df)), index=df.index).astype(str)
    elif kind == "table":
        df, enc = read_table(source, encoding)
        if enc:
            report.notes.append(f"text encoding: {enc}")
        df["ref"] = "line " + pd.Series(np.arange(len(df)) + 2, index=df.index).astype(str)
    else:
        try:
            if _suffix(Path(source)) in (".parquet", ".geoparquet"):
                df = gpd.read_parquet(source)
            else:
                df = gpd.read_file(source, layer=layer)
        except Exception as exc:  # pyogrio/arrow raise many types for unreadable files
            raise InputError(f"Cannot read {source} as a GIS layer: {exc}. Is it a valid file?") from exc
        if len(df) == 0:
            raise InputError(f"{Path(source).name} holds no features.")
        df["ref"] = "feature " + pd.Series(np.arange(len(df)), index=df.index).astype(str)
    report.read(df)
    return df.reset_index(drop=True)


def _find_column(df: pd.DataFrame, given: str | None, names: Iterable[str], what: str) -> str | None:
    """The column named ``given`` (must exist), else the first recognised name, else None."""
    if given is not None:
        if given not in df.columns:
            raise InputError(
                f"The {what} column {given!r} does not exist. Columns: {_columns(df)}."
            )
        return given
    lower = {str(c).strip().lower(): c for c in df.columns if c not in ("ref", "geometry")}
    for name in names:
        if name in lower:
            return lower[name]
    return None


def _columns(df: pd.DataFrame) -> str:
    return ", ".join(repr(c) for c in df.columns if c not in ("ref", "geometry"))


def _numbers(s: pd.Series) -> np.ndarray:
    return pd.to_numeric(s.astype("string").str.strip(), errors="coerce").to_numpy(dtype=float)


def _frame_points(df, crs, lon_col, lat_col, report: FacilityReport) -> gpd.GeoDataFrame:
    """Geometry in WGS-84 (or the declared/file CRS), shifted Chinese systems converted."""
    if isinstance(df, gpd.GeoDataFrame) and lon_col is None and lat_col is None:
        return _layer_geometry(df, crs, report)
    system = coordinate_system(crs) if crs is not None else "wgs84"
    x, y = _coordinate_columns(df, lon_col, lat_col)
    missing = np.isnan(x) | np.isnan(y)
    report.drop(df[missing], NO_COORDINATES, "empty or not a number")
    df, x, y = df[~missing].reset_index(drop=True), x[~missing], y[~missing]
    if len(df) == 0:
        raise InputError("No row has readable coordinates; check the lon/lat columns' contents.")
    keep = _check_coordinates(x, y, system, report, df)
    df, x, y = df[keep].reset_index(drop=True), x[keep], y[keep]
    if crs is None:
        china = in_china(x, y)
        if china.any():
            raise undeclared_in_china(report.source, int(china.sum()))
        report.notes.append("no coordinate system declared; the points lie outside China, "
                            "where WGS-84, GCJ-02 and BD-09 agree, so they were read as WGS-84")
    x, y = _to_wgs84(x, y, system, report)
    geom_crs = 4326 if isinstance(system, str) else system
    plain = df.drop(columns=["geometry"], errors="ignore")
    return gpd.GeoDataFrame(plain, geometry=gpd.points_from_xy(x, y), crs=geom_crs)


def _coordinate_columns(df, lon_col, lat_col) -> tuple[np.ndarray, np.ndarray]:
    if (lon_col is None) != (lat_col is None):
        raise InputError("Name both coordinate columns (lon_column and lat_column) or neither.")
    lon = _find_column(df, lon_col, LON_NAMES, "longitude/x")
    lat = _find_column(df, lat_col, LAT_NAMES, "latitude/y")
    if lon is not None and lat is not None:
        return _numbers(df[lon]), _numbers(df[lat])
    pair = _find_column(df, None, PAIR_NAMES, "coordinate pair")
    if pair is not None:
        parts = df[pair].astype("string").str.replace("，", ",", regex=False).str.split(",", n=1,
                                                                                     expand=True)
        if parts.shape[1] == 2:
            return _numbers(parts[0]), _numbers(parts[1])
    raise InputError(
        f"No coordinate columns found. Columns: {_columns(df)}. Name them, e.g. 经度/纬度 or "
        "x/y: lon/lat in the scenario's [[facilities]] entry or an API request, "
        "--lon-column/--lat-column on the command line."
    )


def _check_coordinates(x, y, system, report: FacilityReport, df) -> np.ndarray:
    """Raise on swapped or projected-looking coordinates; return rows in range."""
    named = isinstance(system, str)  # wgs84, gcj02 or bd09
    geographic = named or system.is_geographic
    name = system if named else system.to_string()
    if not geographic:
        if (np.abs(x) <= 180).all() and (np.abs(y) <= 90).all():
            raise CRSError(
                f"The coordinates ({x.min():.4f}, {y.min():.4f}) – ({x.max():.4f}, {y.max():.4f}) "
                f"look like degrees, but {name} is projected. Declare wgs84, gcj02 (Amap) or "
                "bd09 (Baidu) instead."
            )
        return np.ones(len(x), dtype=bool)
    ok = (np.abs(x) <= 180) & (np.abs(y) <= 90)
    if not ok.any():
        if ((np.abs(y) <= 180) & (np.abs(x) <= 90)).all():
            raise CRSError(
                f"Longitude and latitude look swapped: the latitude column holds values up to "
                f"{np.abs(y).max():.4f}, beyond ±90, while the longitude column stays within ±90. "
                f"{SWAP_HOW}"
            )
        raise CRSError(
            f"The coordinates ({np.nanmin(x):.1f}, {np.nanmin(y):.1f}) – ({np.nanmax(x):.1f}, "
            f"{np.nanmax(y):.1f}) look projected (metres), but {name} is geographic (degrees). "
            "Declare the projected CRS they are in, e.g. crs='EPSG:4547' (CGCS2000 / 3-degree "
            "Gauss-Krüger CM 114E) or 'EPSG:32649' (UTM 49N)."
        )
    detail = "lon " + pd.Series(x[~ok]).astype(str) + ", lat " + pd.Series(y[~ok]).astype(str)
    report.drop(df[~ok], OUT_OF_RANGE, detail.to_numpy())
    if system in ("gcj02", "bd09"):
        inside = in_china(x[ok], y[ok])
        if not inside.any() and in_china(y[ok], x[ok]).all():
            raise CRSError(
                "Longitude and latitude look swapped: as given no point lies in China, where "
                f"{system} applies, but swapped they all do. {SWAP_HOW}"
            )
        if not inside.all():
            report.notes.append(
                f"{int((~inside).sum())} points lie outside mainland China, where {system} equals "
                "WGS-84; they were kept unchanged."
            )
    return ok


def _to_wgs84(x, y, system, report: FacilityReport) -> tuple[np.ndarray, np.ndarray]:
    if system == "gcj02":
        report.notes.append("converted GCJ-02 (Amap/Gaode, Tencent) to WGS-84")
        return gcj02_to_wgs84(x, y)
    if system == "bd09":
        report.notes.append("converted BD-09 (Baidu) to WGS-84")
        return bd09_to_wgs84(x, y)
    return x, y


def _layer_geometry(gdf: gpd.GeoDataFrame, crs, report: FacilityReport) -> gpd.GeoDataFrame:
    """A layer's geometry checked against its CRS (or the declared one), GCJ-02/BD-09 vertices
    converted to WGS-84."""
    empty = (gdf.geometry.isna() | gdf.geometry.is_empty).to_numpy()
    report.drop(gdf[empty], NO_COORDINATES, "feature without geometry")
    gdf = gdf[~empty].copy()
    if len(gdf) == 0:
        raise InputError("No feature of the layer has a geometry; check the file.")
    system = coordinate_system(crs) if crs is not None else None
    shifted = system in ("gcj02", "bd09") if isinstance(system, str) else False
    if shifted:
        if gdf.crs is not None and not gdf.crs.is_geographic:
            raise CRSError(
                f"The layer is in the projected CRS {gdf.crs.to_string()}, so it cannot be in "
                f"{system} (degrees). Drop crs={crs!r} or fix the file's CRS."
            )
        gdf = gdf.set_crs(4326, allow_override=True)
    elif system is not None:
        declared = pyproj.CRS.from_epsg(4326) if system == "wgs84" else system
        if gdf.crs is None:
            gdf = gdf.set_crs(declared)
        elif not gdf.crs.equals(declared, ignore_axis_order=True):
            raise CRSError(
                f"The layer declares {gdf.crs.to_string()} but crs={crs!r} was given. Leave crs "
                "out to trust the file, or fix the file's CRS."
            )
    if gdf.crs is None:
        raise CRSError(
            "The layer has no CRS (a Shapefile without .prj?). Declare it with crs='wgs84', "
            "'gcj02', 'bd09' or an EPSG code (CLI: --coords)."
        )
    xy = shapely.get_coordinates(shapely.point_on_surface(gdf.geometry.to_numpy()))
    ok = _check_coordinates(xy[:, 0], xy[:, 1], system if shifted else gdf.crs, report, gdf)
    gdf = gdf[ok].copy()
    if system is None and gdf.crs.is_geographic:
        # a file's geographic CRS does not tell WGS-84 from GCJ-02: GeoJSON is always labelled
        # WGS-84, and Amap/Baidu exports keep their shifted degrees under that label
        china = in_china(xy[ok, 0], xy[ok, 1])
        if china.any():
            raise undeclared_in_china(report.source, int(china.sum()))
    if shifted:
        gdf["geometry"] = shapely.transform(
            gdf.geometry.to_numpy(),
            lambda c: np.column_stack(_to_wgs84(c[:, 0], c[:, 1], system, report)),
        )
    return gdf.reset_index(drop=True)


def _frame_attributes(fac, table, known, category, category_column, name_column, id_column,
                      capacity_column, label, report) -> gpd.GeoDataFrame:
    name_col = _find_column(fac, name_column, NAME_NAMES, "name")
    names = fac[name_col].astype("string").str.strip() if name_col else pd.Series(
        pd.NA, index=fac.index, dtype="string")
    id_col = _find_column(fac, id_column, ID_NAMES, "id")
    cap_col = _find_column(fac, capacity_column, CAPACITY_NAMES, "capacity")
    status_col = _find_column(fac, None, STATUS_NAMES, "status")
    cost_col = _find_column(fac, None, COST_NAMES, "cost")
    out = gpd.GeoDataFrame(
        {
            "ref": fac["ref"].to_numpy(),
            "name": names.to_numpy(),
            "id": fac[id_col].astype("string").str.strip().to_numpy() if id_col else pd.NA,
            "capacity": _capacity(fac[cap_col], report) if cap_col else np.nan,
            "cost": _cost(fac[cost_col]) if cost_col else np.nan,
            "status": _statuses(fac[status_col]) if status_col else pd.NA,
            "source": label,
        },
        geometry=fac.geometry.to_numpy(),
        crs=fac.crs,
    )
    if category is not None:
        out["category"] = category
        out["rule"] = f"category {category} given for every row"
        return out
    cat_col = _find_column(fac, category_column, CATEGORY_NAMES, "category")
    if cat_col is None:
        raise InputError(
            f"No category column found. Columns: {_columns(fac)}. Name it with category_column "
            "(CLI: --category-column) or give one category for every row (--category)."
        )
    return categorize(out, fac[cat_col], known, table, report)


def _read_numbers(col: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """(stripped text, numbers with NaN for blanks and unreadable cells, mask of the cells
    that hold text but no number)."""
    text = col.astype("string").str.strip()
    values = _numbers(text)
    unread = np.isnan(values) & text.notna().to_numpy() & (text != "").fillna(False).to_numpy()
    return text, values, unread


def _capacity(col: pd.Series, report: FacilityReport) -> np.ndarray:
    text, cap, unread = _read_numbers(col)
    if unread.any():
        examples = ", ".join(repr(v) for v in text[unread].unique()[:3])
        report.notes.append(
            f"capacity unreadable in {int(unread.sum())} rows (e.g. {examples}); set to unknown"
        )
    if (cap < 0).any():
        raise InputError(f"Capacities must be ≥ 0; column {col.name!r} holds {np.nanmin(cap)}.")
    return cap


def _cost(col: pd.Series) -> np.ndarray:
    text, cost, unread = _read_numbers(col)
    if unread.any() or (cost < 0).any():
        bad = text[unread].unique()[:3] if unread.any() else [np.nanmin(cost)]
        raise InputError(
            f"Column {col.name!r} holds costs that are not numbers ≥ 0 (e.g. "
            f"{', '.join(repr(v) for v in bad)}); write plain numbers (one unit, e.g. 万元) or "
            "leave the cell empty."
        )
    return cost


def _statuses(col: pd.Series) -> np.ndarray:
    text = col.astype("string").str.strip().str.lower()
    text = text.mask(text == "")
    bad = sorted(set(text.dropna()) - set(STATUSES))
    if bad:
        raise InputError(
            f"Unknown facility status {bad[:5]} in column {col.name!r}; use one of "
            f"{list(STATUSES)} or leave the cell empty for the default."
        )
    return text.to_numpy(dtype=object)


def categorize(
    fac: gpd.GeoDataFrame,
    text: pd.Series,
    known: Collection[str],
    table: Mapping[str, Category],
    report: FacilityReport,
) -> gpd.GeoDataFrame:
    """Category of each row from ``text``: a category key, else a POI type string (Amap/Baidu
    "大类;中类;小类" or a plain type word) classified together with the row's name by the rules
    of ``table``. A row getting several categories is repeated; the ``rule`` column says which
    rule decided; rows with none are dropped into the report with the rule text. Raises
    UnknownCategoryError when a value looks like a category key but is not one of ``known``."""
    known = sorted(known)
    text = pd.Series(text.to_numpy(), index=fac.index).astype("string").str.strip()
    looks_key = text.str.fullmatch(r"[a-z][a-z0-9_]*").fillna(False) & ~text.isin(known)
    if looks_key.any():
        bad = sorted(text[looks_key].unique())
        close = {b: difflib.get_close_matches(b, known, n=1, cutoff=0.6) for b in bad[:10]}
        hints = "; ".join(f"{b!r} → {c[0]!r}" for b, c in close.items() if c)
        raise UnknownCategoryError(
            f"Unknown category key(s) {bad[:10]} in the category column"
            f"{f' (did you mean {hints}?)' if hints else ''}. Known categories: "
            f"{', '.join(known)}. Fix the spelling or add the category to the scenario."
        )
    fac = fac.reset_index(drop=True)
    text = text.reset_index(drop=True)
    is_key = text.isin(known).fillna(False).to_numpy()
    keyed = fac[is_key].assign(category=text[is_key].to_numpy())
    keyed["rule"] = "category column key " + keyed["category"].astype(str)
    rest = fac[~is_key].reset_index(drop=True)
    matches, unmatched = classify(table, rest["name"].tolist(), types=text[~is_key].tolist())
    _drop_unmatched(rest, unmatched, report)
    typed = rest.iloc[matches["row"].to_numpy()].assign(
        category=matches["category"].to_numpy(), rule=matches["rule"].to_numpy())
    out = pd.concat([keyed, typed]).sort_values("ref", key=_ref_order, kind="stable")
    return gpd.GeoDataFrame(out.reset_index(drop=True), geometry="geometry", crs=fac.crs)


def _ref_order(refs: pd.Series) -> pd.Series:
    """Input order of "line 7"/"row 3"/"feature 2" references."""
    return pd.to_numeric(refs.astype(str).str.extract(r"(\d+)$")[0], errors="coerce")


# --- ids, status, area ---------------------------------------------------------------------


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


def _clip(fac: gpd.GeoDataFrame, area, crs, report: FacilityReport) -> gpd.GeoDataFrame:
    geom = study_area_geometry(area, crs)
    inside, outside = clip_to_area(fac, geom)
    if len(fac) and len(inside) == 0:
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
    if len(outside) > len(inside):
        report.notes.append(
            f"most facilities ({len(outside)} of {len(fac)}) lie outside the study area; check the "
            "declared coordinate system and the lon/lat columns"
        )
    return inside

