"""Facilities from tables (CSV/TXT/XLSX, encoding detected) and GIS layers: the coordinate
columns and system (WGS-84, GCJ-02, BD-09 or an EPSG code, checked against the coordinates),
names, ids, capacities, costs, statuses and categories (a key column, or POI type strings
and names matched by the category rules).
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from planner.classify import classify
from planner.errors import CRSError, InputError, UnknownCategoryError
from planner.facilities import NO_CATEGORY, NO_COORDINATES, NOT_A_SERVICE, STATUSES, FacilityReport
from planner.io.coords import (
    bd09_to_wgs84,
    coordinate_system,
    gcj02_to_wgs84,
    in_china,
    undeclared_in_china,
)
from planner.io.osm import LAYER_SUFFIXES, PBF_SUFFIXES, XML_SUFFIXES
from planner.standards import Category

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

#: How to name the coordinate columns the other way round, everywhere they can be named.
SWAP_HOW = ("Name the columns the other way round: lon/lat in the scenario's [[facilities]] "
            "entry or an API request, --lon/--lat on the command line.")


def file_suffix(path: Path) -> str:
    """The suffix naming the file's format, double ones (.osm.pbf, .osm.bz2) included."""
    name = path.name.lower()
    for s in XML_SUFFIXES + PBF_SUFFIXES + LAYER_SUFFIXES + TABLE_SUFFIXES:
        if name.endswith(s):
            return s
    return path.suffix.lower()


def drop_unmatched(rows: pd.DataFrame, unmatched: pd.DataFrame, report: FacilityReport) -> None:
    """Report rows no category accepted: refused by an exclusion, or matched by no rule."""
    for excluded, reason in ((True, NOT_A_SERVICE), (False, NO_CATEGORY)):
        part = unmatched[unmatched["excluded"] == excluded]
        report.drop(rows.iloc[part["row"].to_numpy()], reason, part["rule"].to_numpy())


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
    if file_suffix(path) in (".xlsx", ".xls"):
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


def read_frame(source, kind: str, encoding, layer, report: FacilityReport) -> pd.DataFrame:
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
            if file_suffix(Path(source)) in (".parquet", ".geoparquet"):
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


def find_column(df: pd.DataFrame, given: str | None, names: Iterable[str], what: str) -> str | None:
    """The column named ``given`` (must exist), else the first recognised name, else None."""
    if given is not None:
        if given not in df.columns:
            raise InputError(
                f"The {what} column {given!r} does not exist. Columns: {_columns(df)}."
            )
        return given
    headers = [c for c in df.columns if c not in ("ref", "geometry")]
    for forms in (_plain, _forms):  # an exact header first, then one with a unit or two names
        seen = {form: c for c in reversed(headers) for form in forms(c)}
        for name in names:
            if name in seen:
                return seen[name]
    return None


def _plain(header: object) -> list[str]:
    return [str(header).strip().lower()]


def _forms(header: object) -> list[str]:
    """The names a header holds: 床位数（张） is 床位数, 床位/学位 is 床位 and 学位,
    经度(GCJ-02) is 经度."""
    text = re.sub(r"\s*[（(\[【][^）)\]】]*[）)\]】]\s*$", "", str(header).strip().lower())
    return [text, *(part.strip() for part in re.split(r"[/、|｜]", text) if part.strip())]


def _columns(df: pd.DataFrame) -> str:
    return ", ".join(repr(c) for c in df.columns if c not in ("ref", "geometry"))


def _numbers(s: pd.Series) -> np.ndarray:
    return pd.to_numeric(s.astype("string").str.strip(), errors="coerce").to_numpy(dtype=float)


@dataclass(frozen=True)
class TableColumns:
    """Columns of a facility table named by the user; None: found by their usual names
    (``LON_NAMES``, ``NAME_NAMES``, … compared lower-case)."""

    lon: str | None = None
    lat: str | None = None
    name: str | None = None
    id: str | None = None
    capacity: str | None = None
    category: str | None = None


def frame_points(df, crs, columns: TableColumns, report: FacilityReport) -> gpd.GeoDataFrame:
    """Geometry in WGS-84 (or the declared/file CRS), shifted Chinese systems converted."""
    lon_col, lat_col = columns.lon, columns.lat
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
    if isinstance(system, str):
        report.coords = system
    geom_crs = 4326 if isinstance(system, str) else system
    plain = df.drop(columns=["geometry"], errors="ignore")
    return gpd.GeoDataFrame(plain, geometry=gpd.points_from_xy(x, y), crs=geom_crs)


def _coordinate_columns(df, lon_col, lat_col) -> tuple[np.ndarray, np.ndarray]:
    if (lon_col is None) != (lat_col is None):
        raise InputError("Name both coordinate columns (lon_column and lat_column) or neither.")
    lon = find_column(df, lon_col, LON_NAMES, "longitude/x")
    lat = find_column(df, lat_col, LAT_NAMES, "latitude/y")
    if lon is not None and lat is not None:
        return _numbers(df[lon]), _numbers(df[lat])
    pair = find_column(df, None, PAIR_NAMES, "coordinate pair")
    if pair is not None:
        parts = df[pair].astype("string").str.replace("，", ",", regex=False).str.split(",", n=1,
                                                                                     expand=True)
        if parts.shape[1] == 2:
            return _numbers(parts[0]), _numbers(parts[1])
    raise InputError(
        f"No coordinate columns found. Columns: {_columns(df)}. Name them, e.g. 经度/纬度 or "
        "x/y: lon/lat in the scenario's [[facilities]] entry or an API request, "
        "--lon/--lat on the command line."
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
    if isinstance(system, str):
        report.coords = system
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


def frame_attributes(
    fac: gpd.GeoDataFrame, table: Mapping[str, Category], known: Collection[str],
    category: str | None, columns: TableColumns, label: str, report: FacilityReport,
) -> gpd.GeoDataFrame:
    """The standard attribute columns of table rows, categorised: ``category`` for every row,
    else from the category column (keys in ``known``, or POI types and names matched by the
    rules of ``table``)."""
    name_col = find_column(fac, columns.name, NAME_NAMES, "name")
    names = fac[name_col].astype("string").str.strip() if name_col else pd.Series(
        pd.NA, index=fac.index, dtype="string")
    id_col = find_column(fac, columns.id, ID_NAMES, "id")
    cap_col = find_column(fac, columns.capacity, CAPACITY_NAMES, "capacity")
    status_col = find_column(fac, None, STATUS_NAMES, "status")
    cost_col = find_column(fac, None, COST_NAMES, "cost")
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
    cat_col = find_column(fac, columns.category, CATEGORY_NAMES, "category")
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
    drop_unmatched(rest, unmatched, report)
    typed = rest.iloc[matches["row"].to_numpy()].assign(
        category=matches["category"].to_numpy(), rule=matches["rule"].to_numpy())
    out = pd.concat([keyed, typed]).sort_values("ref", key=_ref_order, kind="stable")
    return gpd.GeoDataFrame(out.reset_index(drop=True), geometry="geometry", crs=fac.crs)


def _ref_order(refs: pd.Series) -> pd.Series:
    """Input order of "line 7"/"row 3"/"feature 2" references."""
    return pd.to_numeric(refs.astype(str).str.extract(r"(\d+)$")[0], errors="coerce")
