"""Facilities from OpenStreetMap: features read from .osm.pbf (pyrosm), OSM XML or online
(osmnx) by the keys of the category rules, classified by their tags, names and brands; rows
no rule matches are reported with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.classify import classify
from planner.errors import InputError
from planner.facilities import FacilityReport
from planner.io.osm import PBF_SUFFIXES
from planner.io.tables import drop_unmatched, file_suffix
from planner.standards import Category

#: OSM tags read besides the category rules' keys; they never select features on their own.
OSM_EXTRA_TAGS = ("name", "name:zh", "name:zh-Hans", "name:en", "brand", "brand:zh", "capacity",
                  "beds", "opening_hours", "cuisine", "healthcare:speciality")

#: Named OSM features without a rule key are read too (Chinese OSM holds many POIs tagged
#: with a name only), as are offices; a name alone selects points and buildings only.
OSM_NAME_SELECT = ("name", "office")

#: Keys of named features that are no facility: a bus stop named 阳光小学站 or a place node
#: is not a school.
OSM_NOT_FACILITY = ("highway", "railway", "public_transport", "place", "route", "waterway",
                    "natural", "boundary", "landuse", "barrier", "entrance", "power", "man_made")

#: OSM name tags, in the order a facility's shown name is taken from.
OSM_NAME_TAGS = ("name", "name:zh", "name:zh-Hans", "name:en")


def _rule_keys(table: Mapping[str, Category]) -> list[str]:
    """OSM keys that select features: the keys of the categories' tag rules, but for the
    qualifying tags (name, opening_hours, cuisine …) that are read without selecting."""
    keys = {k for c in table.values() for rule in c.osm_tags for k, _ in rule}
    return sorted(keys - set(OSM_EXTRA_TAGS))


def _tag_columns(table: Mapping[str, Category]) -> list[str]:
    """Every OSM key a rule or an exclusion reads."""
    rules = [r for c in table.values() for r in (*c.osm_tags, *(t for e in c.exclude for t in e.tags))]
    return list(dict.fromkeys([*(k for rule in rules for k, _ in rule), *OSM_EXTRA_TAGS]))


def read_osm_facilities(source, online: bool, bounding_box, table) -> gpd.GeoDataFrame:
    rule_keys = _rule_keys(table)
    if not rule_keys:
        raise InputError("No category has OSM tag rules, so nothing can be read from OSM data.")
    keys = list(dict.fromkeys([*rule_keys, *OSM_NAME_SELECT]))
    columns = [*_tag_columns(table), "building", *OSM_NOT_FACILITY]
    if online:
        raw = osm_features_online(str(source), keys, columns)
    elif file_suffix(Path(source)) in PBF_SUFFIXES:
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
        osm = pyrosm.OSM(str(path), bounding_box=bounding_box,
                          complete_relations=bounding_box is not None)
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


def classify_osm_rows(raw: gpd.GeoDataFrame, table, report: FacilityReport) -> gpd.GeoDataFrame:
    raw = raw.copy()
    shown = raw["name"]
    for key in OSM_NAME_TAGS[1:]:
        shown = shown.fillna(raw[key])
    raw["name"] = shown
    matches, unmatched = classify_osm(raw, table)
    drop_unmatched(raw, unmatched, report)
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
