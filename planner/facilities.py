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

from planner.crs import require_metric_crs
from planner.errors import CRSError, InputError
from planner.network import WalkNetwork
from planner.normalise import branch_suffix, main_name, normalise
from planner.snap import joined_off_ground, snap_points

FACILITY_COLUMNS = ("id", "name", "category", "capacity", "cost", "status", "source")
STATUSES = ("existing", "candidate", "required", "closable")
#: Columns of the table of dropped rows; ``ref`` says where a row came from ("line 7", "way/42").
DROP_COLUMNS = ("ref", "id", "name", "category", "rule", "reason", "detail")
#: Columns of the kept rows (one per facility of the final table).
KEPT_COLUMNS = ("ref", "id", "name", "category", "rule")
#: Columns of the audit: one row per input row or feature.
AUDIT_COLUMNS = ("source", "ref", "name", "outcome", "categories", "facility_ids", "rule",
                 "reasons")
DEFAULT_DEDUPE_M = 10.0

# Reasons a row can be dropped (the ``reason`` column of the report).
NO_COORDINATES = "no coordinates"
NO_CATEGORY = "no category"
NOT_A_SERVICE = "not a living-circle category"
NOT_REQUESTED = "category not requested"
DUPLICATE = "duplicate"
OUTSIDE = "outside the study area"
OFF_STREETS = "farther than max_access_m from any street"
FAR_OUTSIDE = "far outside the network"
#: A point this far (metres) from every street is no facility of the study area that a
#: misplaced street layer could explain: its coordinates, coordinate system or file are wrong.
FAR_OUTSIDE_M = 20_000.0
#: Two inputs (an OSM extract and an Amap export, say) place one facility up to a few tens of
#: metres apart (entrance vs building centre, separate surveys): rows of different inputs with
#: the same category and normalised name within this distance (metres) are one facility.
CROSS_SOURCE_DEDUPE_M = 50.0


class FacilityWarning(UserWarning):
    """Something about a facility input deserves attention but does not stop the analysis."""


@dataclass
class FacilityReport:
    """What was read, kept and dropped (with reasons) when facilities were loaded.

    ``inputs`` holds the ``ref`` of every input row or OSM feature; ``kept_rows`` the rows of the
    final table and ``dropped`` the others, each with the rule that classified it. A feature
    may yield several facilities (one per category it serves). :meth:`audit` accounts for
    every input row exactly once.
    """

    source: str
    rows_read: int = 0
    notes: list[str] = field(default_factory=list)
    dropped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(DROP_COLUMNS)))
    counts: dict[str, int] = field(default_factory=dict)
    empty_categories: list[str] = field(default_factory=list)
    inputs: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["ref", "name"]))
    kept_rows: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(KEPT_COLUMNS)))
    #: the shifted-coordinate system the points were declared in (wgs84/gcj02/bd09), if any
    coords: str | None = None

    def read(self, rows: pd.DataFrame) -> None:
        """Record every input row (``ref`` and, where present, ``name``) as read."""
        names = rows["name"].to_numpy() if "name" in rows.columns else None
        self.inputs = pd.DataFrame({"ref": rows["ref"].astype(str).to_numpy(), "name": names})
        self.rows_read = len(rows)

    def keep(self, rows: pd.DataFrame) -> None:
        """Record the rows of the final table (with ``ref``, ``id``, ``category``)."""
        self.kept_rows = _columns(rows, KEPT_COLUMNS)

    def drop(self, rows: pd.DataFrame, reason: str, detail: object = "") -> None:
        """Record ``rows`` (with any of the DROP_COLUMNS) as dropped for ``reason``; rows of
        the final table (matched by ``id``) leave the kept rows."""
        if len(rows) == 0:
            return
        out = _columns(rows, DROP_COLUMNS[:5])
        if "ref" not in rows.columns and "id" in rows.columns and len(self.kept_rows):
            by_id = self.kept_rows.drop_duplicates("id").set_index("id")
            known = out["id"].isin(by_id.index)
            for col in ("ref", "rule"):
                out.loc[known, col] = by_id.loc[out.loc[known, "id"], col].to_numpy()
            self.kept_rows = self.kept_rows[~self.kept_rows["id"].isin(out["id"])].reset_index(drop=True)
        if out["name"].isna().any() and len(self.inputs):
            by_ref = self.inputs.dropna(subset=["name"]).drop_duplicates("ref")
            known = by_ref.set_index(by_ref["ref"].astype(str))["name"]
            out["name"] = out["name"].fillna(out["ref"].astype(str).map(known))
        out["reason"] = reason
        out["detail"] = detail.to_numpy() if isinstance(detail, pd.Series) else detail
        frames = [f for f in (self.dropped, out) if len(f)]
        self.dropped = pd.concat(frames, ignore_index=True)[list(DROP_COLUMNS)]

    def audit(self) -> pd.DataFrame:
        """One row per input row or feature (AUDIT_COLUMNS): ``outcome`` kept / partly kept /
        dropped, the categories and facility ids it became, the rule(s) that classified it and,
        for what was dropped, ``category: reason (detail)``."""
        kept = self.kept_rows.assign(ref=self.kept_rows["ref"].astype(str))
        dropped = self.dropped.assign(ref=self.dropped["ref"].astype(str))
        refs = list(dict.fromkeys([*self.inputs["ref"].astype(str), *kept["ref"],
                                   *dropped["ref"]]))
        names = pd.concat([self.inputs[["ref", "name"]], kept[["ref", "name"]],
                           dropped[["ref", "name"]]]).dropna(subset=["name"])
        names = names.assign(ref=names["ref"].astype(str)).drop_duplicates("ref").set_index("ref")
        reasons = dropped.assign(text=[
            _reason_text(c, r, d) for c, r, d in
            zip(dropped["category"], dropped["reason"], dropped["detail"], strict=True)])
        rules = pd.concat([kept[["ref", "rule"]], dropped[["ref", "rule"]]]).dropna()
        rules = rules[rules["rule"].astype(str) != ""]
        out = pd.DataFrame({"ref": refs})
        out["name"] = out["ref"].map(names["name"]) if len(names) else None
        out["categories"] = out["ref"].map(_joined(kept, "category")).fillna("")
        out["facility_ids"] = out["ref"].map(_joined(kept, "id")).fillna("")
        out["rule"] = out["ref"].map(_joined(rules, "rule")).fillna("")
        out["reasons"] = out["ref"].map(_joined(reasons, "text")).fillna("")
        has_kept, has_dropped = out["categories"] != "", out["reasons"] != ""
        out["outcome"] = np.select([has_kept & has_dropped, has_kept], ["partly kept", "kept"],
                                   "dropped")
        out.loc[~has_kept & ~has_dropped, "reasons"] = "not classified"
        out.insert(0, "source", self.source)
        return out[list(AUDIT_COLUMNS)]

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


def _columns(rows: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """``rows``' values of ``columns`` (None where absent), on a fresh index."""
    out = pd.DataFrame(index=range(len(rows)))
    for col in columns:
        out[col] = rows[col].to_numpy() if col in rows.columns else None
    return out


def _joined(frame: pd.DataFrame, column: str) -> pd.Series:
    """Distinct non-empty values of ``column`` per ``ref``, joined by "; "."""
    values = frame[["ref", column]].dropna()
    values = values.assign(**{column: values[column].astype(str)})
    values = values[values[column] != ""].drop_duplicates()  # first occurrences, in order
    many = values["ref"].duplicated(keep=False).to_numpy()
    one = values[~many].set_index("ref")[column]
    joined = values[many].groupby("ref", sort=False)[column].agg("; ".join)
    return pd.concat([one, joined])


def _reason_text(category: object, reason: object, detail: object) -> str:
    text = f"{category}: {reason}" if isinstance(category, str) and category else str(reason)
    detail = "" if detail is None or (isinstance(detail, float) and np.isnan(detail)) else detail
    return f"{text} ({detail})" if str(detail) else text


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
    fac: gpd.GeoDataFrame, distance_m: float = DEFAULT_DEDUPE_M, *,
    groups: np.ndarray | None = None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Merge rows that map one facility twice: the same category within ``distance_m`` metres
    AND the same normalised name (a branch suffix such as "(五一路店)" on one of them is
    ignored; two different suffixes are two branches), or the same brand where a name is
    missing, or an unnamed row touching (inside) the other's polygon. Two named rows with
    different names, and two unnamed rows apart, are distinct facilities.

    With ``groups`` (one label per row, e.g. the input file), only rows of different groups
    are merged: the same facility in an OSM extract and an Amap export.

    Groups are the connected components of that relation. Each keeps one row — preferring a
    known capacity, then a name, then a point over a polygon, then input order — and takes the
    first known capacity of the group. Returns (kept rows, dropped rows with a ``detail`` such
    as "duplicate of way/42 '阳光幼儿园' at 3.2 m").
    """
    if distance_m <= 0 or len(fac) < 2:
        return fac, fac.iloc[:0].assign(detail=pd.Series(dtype=object))
    require_metric_crs(fac.crs, "CRS of the facilities (duplicates are merged in metres)")
    geoms = fac.geometry.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=distance_m)
    cat = fac["category"].to_numpy()
    name = np.array([main_name(v) for v in fac["name"]], dtype=object)
    branch = np.array([branch_suffix(v) for v in fac["name"]], dtype=object)
    brand = np.array([normalise(v) for v in fac.get("brand", pd.Series(None, index=fac.index))],
                     dtype=object)
    named = name != ""
    # "美特好超市" and "美特好超市(平城店)" are one shop; two different branches are two
    one_branch = (branch[left] == branch[right]) | (branch[left] == "") | (branch[right] == "")
    same_name = named[left] & named[right] & (name[left] == name[right]) & one_branch
    one_unnamed = ~(named[left] & named[right])
    same_brand = one_unnamed & (brand[left] != "") & (brand[left] == brand[right])
    inside = one_unnamed & shapely.intersects(geoms[left], geoms[right])
    keep = (left < right) & (cat[left] == cat[right]) & (same_name | same_brand | inside)
    if groups is not None:
        keep &= np.asarray(groups)[left] != np.asarray(groups)[right]
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
    report.keep(fac)
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


def merge_across_sources(
    frames: list[gpd.GeoDataFrame], reports: list[FacilityReport],
    distance_m: float = CROSS_SOURCE_DEDUPE_M,
) -> gpd.GeoDataFrame:
    """One table of the facility tables of several inputs (same projected CRS), where a
    facility listed by more than one input is kept once; the other rows are dropped, as
    duplicates naming the kept one, into the report of their own input."""
    crs = frames[0].crs
    used = [i for i, f in enumerate(frames) if len(f)]
    if not used:
        return frames[0]
    both = pd.concat([frames[i] for i in used], keys=used, names=["_input", None])
    both = gpd.GeoDataFrame(both.reset_index(level=0), geometry="geometry", crs=crs)
    both = both.reset_index(drop=True)
    kept, dropped = merge_duplicates(both, distance_m, groups=both["_input"].to_numpy())
    for i, rows in dropped.groupby("_input"):
        report = reports[i]
        report.drop(rows.drop(columns="_input"), DUPLICATE,
                    rows["detail"].str.replace("duplicate of", "same facility as", regex=False)
                    + " in another input")
        counts = kept.loc[kept["_input"] == i, "category"].value_counts()
        report.counts = {k: int(counts.get(k, 0)) for k in report.counts}
    return gpd.GeoDataFrame(kept.drop(columns="_input").reset_index(drop=True),
                            geometry="geometry", crs=crs)


def drop_off_network(
    fac: gpd.GeoDataFrame, network: WalkNetwork, max_access_m: float, report: FacilityReport
) -> gpd.GeoDataFrame:
    """Drop, into ``report``, the facilities nobody can walk to: those farther than
    ``max_access_m`` metres from every street (reason OFF_STREETS) and those more than
    FAR_OUTSIDE_M from the network (reason FAR_OUTSIDE; a warning names the likely causes).
    Raises CRSError when every facility is that far, naming swapped longitude/latitude when
    the swapped points fall near the streets. Updates the report's counts."""
    if len(fac) == 0:
        return fac
    snapped = snap_points(network, fac.geometry.get_coordinates().to_numpy(), max_access_m)
    far = snapped.access_m > FAR_OUTSIDE_M
    if far.all():
        raise CRSError(_far_message(fac, network, snapped.access_m, report.source))
    km = pd.Series(snapped.access_m / 1000).round(1).astype(str)
    report.drop(fac[far], FAR_OUTSIDE, (
        km[far] + " km from the nearest street: swapped longitude/latitude, a wrong coordinate "
        "system or a wrong row?").to_numpy())
    if far.any():
        message = (f"{int(far.sum())} of {len(fac)} facilities lie more than "
                   f"{FAR_OUTSIDE_M / 1000:g} km from the network and were dropped; check their "
                   "coordinates (see the dropped rows)")
        report.notes.append(message)
        warnings.warn(f"{report.source}: {message}", FacilityWarning, stacklevel=2)
    _check_declared_system(fac[~far], network, snapped.access_m[~far], report)
    off_ground = joined_off_ground(network, snapped)
    if off_ground.any():
        report.notes.append(f"{int(off_ground.sum())} facilities join the network on a tunnel "
                            "or bridge: no street-level way lies within max_access_m of them")
    off = ~snapped.ok & ~far
    metres = pd.Series(snapped.access_m).round(0).astype(int).astype(str)
    report.drop(fac[off], OFF_STREETS, (
        "nearest street " + metres[off] + f" m away (max_access_m = {max_access_m:g} m)"
    ).to_numpy())
    kept = fac[snapped.ok].reset_index(drop=True)
    counts = kept["category"].value_counts()
    report.counts = {k: int(counts.get(k, 0)) for k in report.counts}
    emptied = [k for k, n in report.counts.items() if n == 0 and k not in report.empty_categories]
    report.empty_categories += emptied
    if emptied:
        warnings.warn(
            f"{report.source}: no facility of {', '.join(emptied)} is within {max_access_m:g} m "
            "of a street; their coverage will be zero.", FacilityWarning, stacklevel=2)
    return kept


#: A declared coordinate system is questioned when another one puts the points at most this
#: share of the distance from the streets (median) ...
SYSTEM_HINT_RATIO = 0.5
#: ... and at most this far from them (median, metres): points where shops and services stand.
SYSTEM_HINT_NEAR_M = 60.0


def _check_declared_system(fac: gpd.GeoDataFrame, network: WalkNetwork, access_m: np.ndarray,
                           report: FacilityReport) -> None:
    """Note (and warn) when the points sit markedly closer to the streets read in another of
    WGS-84 / GCJ-02 / BD-09 than in the declared one: mixing up Amap's GCJ-02 and Baidu's BD-09
    shifts every point by several hundred metres, which no single point reveals."""
    from planner.io.coords import SYSTEMS, convert

    declared = report.coords
    if declared not in SYSTEMS or len(fac) < 3:
        return
    lonlat = fac.geometry.to_crs(4326)
    raw = convert(lonlat.x.to_numpy(), lonlat.y.to_numpy(), "wgs84", declared)
    median = float(np.median(access_m))
    for other in (s for s in SYSTEMS if s != declared):
        lon, lat = convert(*raw, other, "wgs84")
        xy = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326).to_crs(network.crs)
        alt = float(np.median(snap_points(network, xy.get_coordinates().to_numpy()).access_m))
        if alt <= SYSTEM_HINT_NEAR_M and alt <= SYSTEM_HINT_RATIO * median:
            message = (f"the points were declared {declared}, but read as {other} they lie much "
                       f"closer to the streets (median {alt:.0f} m against {median:.0f} m from "
                       f"the nearest street); check the declared coordinate system (coords)")
            report.notes.append(message)
            warnings.warn(f"{report.source}: {message}", FacilityWarning, stacklevel=3)
            return


def _far_message(fac: gpd.GeoDataFrame, network: WalkNetwork, access_m: np.ndarray,
                 source: str) -> str:
    lonlat = fac.to_crs(4326).geometry
    swapped = gpd.GeoSeries(gpd.points_from_xy(lonlat.y, lonlat.x), crs=4326)
    ok = np.isfinite(swapped.x) & (np.abs(swapped.y) <= 90)
    near = np.zeros(len(fac), dtype=bool)
    if ok.any():
        xy = swapped[ok].to_crs(network.crs).get_coordinates().to_numpy()
        near[np.flatnonzero(ok)] = snap_points(network, xy, FAR_OUTSIDE_M).ok
    hint = ("Longitude and latitude look swapped: swapped, the points lie near the streets. "
            "Swap the lon/lat columns." if near.mean() > 0.5 else
            "Likely causes: longitude and latitude swapped, a wrong coordinate system declared "
            "(coords), or a file of another city.")
    x0, y0, x1, y1 = lonlat.total_bounds
    return (f"{source}: every facility lies far outside the walk network (the nearest at "
            f"{access_m.min() / 1000:.1f} km from a street; facilities span lon {x0:.4f}–"
            f"{x1:.4f}, lat {y0:.4f}–{y1:.4f}). {hint}")


def validate_facilities(fac: gpd.GeoDataFrame) -> None:
    """Raise InputError unless ``fac`` has the standard columns, point geometry, a projected
    CRS, unique ids and known statuses."""
    missing = [c for c in FACILITY_COLUMNS if c not in fac.columns]
    if missing:
        raise InputError(
            f"The facilities table lacks {missing}; read it with planner.io.facilities."
            "load_facilities, which adds every standard column."
        )
    require_metric_crs(fac.crs, "CRS of the facilities (pass to_crs=network.crs)")
    if len(fac) and not (shapely.get_type_id(fac.geometry.to_numpy()) == 0).all():
        raise InputError("Facilities must be points; use representative points of polygons.")
    bad = sorted(set(fac["status"]) - set(STATUSES))
    if bad:
        raise InputError(f"Unknown facility status {bad}; use one of {list(STATUSES)}.")
    if fac["id"].duplicated().any():
        dup = fac.loc[fac["id"].duplicated(), "id"].head(5).tolist()
        raise InputError(f"Facility ids repeat (e.g. {dup}); make every id unique.")
