"""Facility tables: the standard columns, duplicate merging, study-area clipping and the report
of everything dropped and why.

A facilities table is a GeoDataFrame of points in the network's projected CRS (metres) with the
columns ``id, name, category, capacity, status, source`` (capacity NaN = unknown). Readers live
in :mod:`planner.io.facilities`; this module only cleans and reports.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from planner.errors import CRSError, InputError
from planner.normalise import normalise

FACILITY_COLUMNS = ("id", "name", "category", "capacity", "cost", "status", "source")
STATUSES = ("existing", "candidate", "required", "closable")
#: Columns of the table of dropped rows; ``ref`` says where a row came from ("line 7", "way/42").
DROP_COLUMNS = ("ref", "id", "name", "category", "reason", "detail")
DEFAULT_DEDUPE_M = 10.0

# Reasons a row can be dropped (the ``reason`` column of the report).
NO_COORDINATES = "no coordinates"
NO_CATEGORY = "no category"
NOT_A_SERVICE = "not a living-circle category"
NOT_REQUESTED = "category not requested"
DUPLICATE = "duplicate"
OUTSIDE = "outside the study area"


class FacilityWarning(UserWarning):
    """Something about a facility input deserves attention but does not stop the analysis."""


@dataclass
class FacilityReport:
    """What was read, kept and dropped (with reasons) when facilities were loaded."""

    source: str
    rows_read: int = 0
    notes: list[str] = field(default_factory=list)
    dropped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(DROP_COLUMNS)))
    counts: dict[str, int] = field(default_factory=dict)
    empty_categories: list[str] = field(default_factory=list)

    def drop(self, rows: pd.DataFrame, reason: str, detail: object = "") -> None:
        """Record ``rows`` (with any of the DROP_COLUMNS) as dropped for ``reason``."""
        if len(rows) == 0:
            return
        out = pd.DataFrame(index=range(len(rows)))
        for col in ("ref", "id", "name", "category"):
            out[col] = rows[col].to_numpy() if col in rows.columns else None
        out["reason"] = reason
        out["detail"] = detail.to_numpy() if isinstance(detail, pd.Series) else detail
        frames = [f for f in (self.dropped, out) if len(f)]
        self.dropped = pd.concat(frames, ignore_index=True)[list(DROP_COLUMNS)]

    def reasons(self) -> dict[str, int]:
        """Number of dropped rows per reason."""
        return {str(k): int(v) for k, v in self.dropped["reason"].value_counts().items()}

    @property
    def kept(self) -> int:
        """Facilities kept (rows of the final table)."""
        return int(sum(self.counts.values()))

    def lines(self) -> list[str]:
        """The report as short human-readable lines."""
        out = [f"{self.source}: {self.rows_read} rows read, {self.kept} facilities kept."]
        out += self.notes
        out += [f"dropped {n} ({reason})" for reason, n in self.reasons().items()]
        if self.empty_categories:
            out.append(f"no facilities found for: {', '.join(self.empty_categories)}")
        return out


def study_area_geometry(area: object, crs: pyproj.CRS) -> shapely.Geometry:
    """The study area as one geometry in ``crs``.

    ``area`` may be a GeoDataFrame/GeoSeries (any CRS; reprojected), a WalkNetwork (the convex
    hull of its nodes) or a shapely geometry already in ``crs``.
    """
    if isinstance(area, gpd.GeoDataFrame | gpd.GeoSeries):
        if area.crs is None:
            raise CRSError("The study area has no CRS; set one, e.g. area.set_crs('EPSG:4326').")
        geoms = area.to_crs(crs).geometry if isinstance(area, gpd.GeoDataFrame) else area.to_crs(crs)
        geom = shapely.union_all(geoms.to_numpy())
    elif hasattr(area, "node_xy") and hasattr(area, "crs"):
        if not pyproj.CRS(area.crs).equals(crs):
            raise CRSError(
                f"The network is in {pyproj.CRS(area.crs).to_string()} but facilities are asked "
                f"for in {crs.to_string()}; load facilities with to_crs=network.crs."
            )
        geom = shapely.multipoints(np.asarray(area.node_xy)).convex_hull
    elif isinstance(area, shapely.Geometry):
        geom = area
    else:
        raise InputError(
            f"Cannot use a {type(area).__name__} as the study area; give a GeoDataFrame, a "
            "WalkNetwork or a shapely geometry in the output CRS."
        )
    if geom is None or geom.is_empty:
        raise InputError("The study area is empty; give a polygon that covers the facilities.")
    return geom


def merge_duplicates(
    fac: gpd.GeoDataFrame, distance_m: float = DEFAULT_DEDUPE_M
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Merge rows that map one facility twice: the same category within ``distance_m`` metres
    AND the same normalised name (a branch suffix such as "(五一路店)" counts), or the same
    brand where a name is missing, or an unnamed row touching (inside) the other's polygon.
    Two named rows with different names, and two unnamed rows apart, are distinct facilities.

    Groups are the connected components of that relation. Each keeps one row — preferring a
    known capacity, then a name, then a point over a polygon, then input order — and takes the
    first known capacity of the group. Returns (kept rows, dropped rows with a ``detail`` such
    as "duplicate of way/42 '阳光幼儿园' at 3.2 m").
    """
    if distance_m <= 0 or len(fac) < 2:
        return fac, fac.iloc[:0].assign(detail=pd.Series(dtype=object))
    if fac.crs is None or not fac.crs.is_projected:
        raise CRSError("Duplicates are merged in metres: project the facilities first.")
    geoms = fac.geometry.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=distance_m)
    cat = fac["category"].to_numpy()
    name = np.array([normalise(v) for v in fac["name"]], dtype=object)
    brand = np.array([normalise(v) for v in fac.get("brand", pd.Series(None, index=fac.index))],
                     dtype=object)
    named = name != ""
    same_name = named[left] & named[right] & (name[left] == name[right])
    one_unnamed = ~(named[left] & named[right])
    same_brand = one_unnamed & (brand[left] != "") & (brand[left] == brand[right])
    inside = one_unnamed & shapely.intersects(geoms[left], geoms[right])
    keep = (left < right) & (cat[left] == cat[right]) & (same_name | same_brand | inside)
    n = len(fac)
    graph = coo_matrix((np.ones(keep.sum()), (left[keep], right[keep])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    priority = pd.DataFrame({
        "label": label,
        "no_capacity": fac["capacity"].isna().to_numpy(),
        "no_name": ~named,
        "not_point": shapely.get_type_id(geoms) != 0,
        "order": np.arange(n),
    }).sort_values(["label", "no_capacity", "no_name", "not_point", "order"])
    first = ~priority["label"].duplicated().to_numpy()
    rep_pos = np.empty(label.max() + 1, dtype=np.int64)
    rep_pos[priority["label"].to_numpy()[first]] = priority["order"].to_numpy()[first]
    rep = rep_pos[label]  # position of each row's kept representative
    is_rep = rep == np.arange(n)
    capacity = pd.Series(fac["capacity"].to_numpy(dtype=float)).groupby(label).transform("first")
    kept = fac.iloc[np.flatnonzero(is_rep)].copy()
    kept["capacity"] = capacity.to_numpy()[is_rep]
    dropped = fac.iloc[np.flatnonzero(~is_rep)].copy()
    gone, into = np.flatnonzero(~is_rep), rep[~is_rep]
    refs = fac["ref"] if "ref" in fac.columns else fac["id"]
    dist = shapely.distance(geoms[gone], geoms[into])
    dropped["detail"] = [
        f"duplicate of {ref} '{label_}' at {d:.1f} m" if label_ else f"duplicate of {ref} at {d:.1f} m"
        for ref, label_, d in zip(refs.to_numpy()[into], fac["name"].fillna("").to_numpy()[into], dist,
                                  strict=True)
    ]
    return kept, dropped


def clip_to_area(fac: gpd.GeoDataFrame, area: shapely.Geometry) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Split facilities into (inside or on the boundary of ``area``, outside)."""
    inside = shapely.intersects(area, fac.geometry.to_numpy())
    return fac.iloc[np.flatnonzero(inside)], fac.iloc[np.flatnonzero(~inside)]


def finish(fac: gpd.GeoDataFrame, report: FacilityReport, expected: Iterable[str]) -> gpd.GeoDataFrame:
    """Points (polygons → representative points), the standard columns in order, per-category
    counts in the report, and one FacilityWarning naming expected categories with no facility."""
    fac = fac.copy()
    fac["geometry"] = fac.geometry.representative_point()
    fac["capacity"] = fac["capacity"].astype(float)
    fac["cost"] = fac["cost"].astype(float) if "cost" in fac.columns else np.nan
    out = gpd.GeoDataFrame(fac[list(FACILITY_COLUMNS)], geometry=fac.geometry, crs=fac.crs)
    out = out.reset_index(drop=True)
    counts = out["category"].value_counts()
    expected = list(dict.fromkeys(expected))
    report.counts = {k: int(counts.get(k, 0)) for k in expected}
    report.counts.update({k: int(v) for k, v in counts.items() if k not in report.counts})
    report.empty_categories = [k for k in expected if report.counts[k] == 0]
    if report.empty_categories:
        warnings.warn(
            f"{report.source}: no facilities found for {', '.join(report.empty_categories)}. "
            "Their coverage will be zero; check the input or the category's OSM tags/keywords.",
            FacilityWarning,
            stacklevel=3,
        )
    return out


def validate_facilities(fac: gpd.GeoDataFrame) -> None:
    """Raise InputError unless ``fac`` has the standard columns, point geometry, a projected
    CRS, unique ids and known statuses."""
    missing = [c for c in FACILITY_COLUMNS if c not in fac.columns]
    if missing:
        raise InputError(
            f"The facilities table lacks {missing}; read it with planner.io.facilities."
            "load_facilities, which adds every standard column."
        )
    if fac.crs is None or not fac.crs.is_projected:
        raise CRSError("Facilities must be in the network's projected CRS; pass to_crs=network.crs.")
    if len(fac) and not (shapely.get_type_id(fac.geometry.to_numpy()) == 0).all():
        raise InputError("Facilities must be points; use representative points of polygons.")
    bad = sorted(set(fac["status"]) - set(STATUSES))
    if bad:
        raise InputError(f"Unknown facility status {bad}; use one of {list(STATUSES)}.")
    if fac["id"].duplicated().any():
        dup = fac.loc[fac["id"].duplicated(), "id"].head(5).tolist()
        raise InputError(f"Facility ids repeat (e.g. {dup}); make every id unique.")
