"""Population-weighted coverage of the living-circle categories.

Inputs are plain: the walking distance (metres, ``np.inf`` = no facility within the search
bound, on another network part, or the cell is off the streets) from every demand cell
to the nearest facility of each category, as computed by ``planner.catchment.nearest_distance``,
and the demand cells with their population columns (people per cell).

Two ways to measure (README, "Concepts"):

* **compliance** — a cell is covered when its walking distance is ≤ the category's compliance
  distance (``Category.distance_m``, e.g. 300 m);
* **time** — a person of group *g* is covered at level *L* minutes when the walk takes ≤ *L*
  minutes at *g*'s walking speed, i.e. distance ≤ 60·L·speed[g] metres.

Distances must have been computed with a search bound at least :func:`required_distance_m`,
otherwise cells between the bound and a threshold read as uncovered; the equity table's mean,
median and Gini cover the walks measured up to its ``search_bound_m`` (:data:`SEARCH_BOUND_M`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import csr_matrix

from planner.errors import CRSError, InputError
from planner.standards import GROUPS, LEVELS, Category, get_category

Mode = Literal["compliance", "time"]
#: MOFCOM basic formats (基本保障类) plus 一老一小 — the default set of the complete-circle index.
BASIC_CATEGORIES = (
    "convenience",
    "fresh_market",
    "pharmacy",
    "breakfast",
    "elderly_day_care",
    "childcare",
)
#: Group compared with everyone in the equity table.
OLDER_GROUP = "age_60_plus"
NO_FACILITIES = "no facilities of this category: coverage 0 %"
NONE_REACHABLE = "no facility reachable on foot: coverage 0 %"
NO_PEOPLE = "no people of this group in the area"
#: Walks to the nearest facility are measured exactly up to this distance (metres) for the
#: equity table's mean, median and Gini. 5 km is about 70 minutes on foot at 1.2 m/s and
#: 100 minutes at the older adults' 0.8 m/s — five times the largest living-circle radius
#: (1,000 m) and beyond any walk to an everyday service, yet small enough that one bounded
#: search per category stays cheap. People farther away are counted and named, never averaged.
SEARCH_BOUND_M = 5000.0

COVERAGE_COLUMNS = [
    "category",
    "name_zh",
    "name_en",
    "mode",
    "level_min",
    "threshold_m",
    "group",
    "speed_m_s",
    "people",
    "people_covered",
    "coverage_pct",
    "people_uncovered",
    "people_off_streets",
    "facilities",
    "note",
]


# --- validation ----------------------------------------------------------------------------------


def population_groups(cells: pd.DataFrame) -> list[str]:
    """The population columns of ``cells`` among the known groups, in the standard order."""
    groups = [g for g in GROUPS if g in cells.columns]
    if "total" not in groups:
        raise InputError(
            "The demand cells have no 'total' population column (people per cell); build them "
            "with planner.demand so every cell carries 'total' and the known age groups."
        )
    return groups


def people_matrix(cells: pd.DataFrame, groups: Sequence[str]) -> np.ndarray:
    """(cells, groups) people per cell; raises on missing, negative or non-finite values."""
    missing = [g for g in groups if g not in cells.columns]
    if missing:
        raise InputError(
            f"The demand cells lack population column(s) {missing}; present: "
            f"{population_groups(cells)}. Drop those groups or add the columns."
        )
    people = cells[list(groups)].to_numpy(dtype=float)
    bad = ~np.isfinite(people) | (people < 0)
    if bad.any():
        col = groups[int(np.nonzero(bad.any(axis=0))[0][0])]
        raise InputError(
            f"Population column {col!r} has {int(bad.sum())} negative, NaN or infinite value(s); "
            "people per cell must be finite and ≥ 0 (use 0 for empty cells)."
        )
    return people


def check_distances(
    distances: Mapping[str, np.ndarray], n_cells: int, categories: Mapping[str, Category]
) -> dict[str, np.ndarray]:
    """Validated float arrays of walking distance (m) per category, one value per cell."""
    out = {}
    for key, dist in distances.items():
        get_category(categories, key)
        arr = np.asarray(dist, dtype=float)
        if arr.shape != (n_cells,):
            raise InputError(
                f"Walking distances of {key!r} have shape {arr.shape}, but there are {n_cells} "
                "demand cells; pass one distance per cell in the cells' row order."
            )
        if np.isnan(arr).any() or (arr < 0).any():
            raise InputError(
                f"Walking distances of {key!r} contain NaN or negative values; use metres ≥ 0 "
                "and np.inf for cells that cannot reach a facility."
            )
        out[key] = arr
    return out


def facility_counts(facilities: pd.DataFrame | None, keys: Iterable[str]) -> dict[str, int] | None:
    """Number of facilities per category (None when no facility table is given)."""
    if facilities is None:
        return None
    if "category" not in facilities.columns:
        raise InputError(
            "The facilities table has no 'category' column; read facilities with "
            "planner.io.facilities so each row names its category key."
        )
    counts = facilities["category"].value_counts()
    return {k: int(counts.get(k, 0)) for k in keys}


def threshold_m(category: Category, mode: Mode, level_min: int, speed_m_s: float) -> float:
    """Covering distance in metres: the compliance distance, or the level's walk at a speed."""
    if mode == "compliance":
        return float(category.distance_m)
    if mode == "time":
        return 60.0 * level_min * float(speed_m_s)
    raise InputError(f"mode must be 'compliance' or 'time', not {mode!r}.")


def _speeds(speeds: Mapping[str, float], groups: Sequence[str]) -> np.ndarray:
    missing = [g for g in groups if g not in speeds]
    if missing:
        raise InputError(
            f"No walking speed for group(s) {missing}; pass planner.standards.load_speeds() "
            "or a dict of metres per second for every population group."
        )
    return np.array([float(speeds[g]) for g in groups])


def required_distance_m(
    categories: Mapping[str, Category], speeds: Mapping[str, float], levels: Sequence[int] = LEVELS
) -> float:
    """Smallest search bound (metres) the distances need for every table of this module."""
    fastest = max(float(v) for v in speeds.values())
    longest = max(float(c.distance_m) for c in categories.values())
    return max(longest, 60.0 * max(levels) * fastest)


def search_bounds(
    categories: Mapping[str, Category], speeds: Mapping[str, float], levels: Sequence[int] = LEVELS
) -> dict[str, float]:
    """Search bound (metres) per category for the nearest-facility walks every table needs:
    :data:`SEARCH_BOUND_M`, or the category's :func:`required_distance_m` when that is farther."""
    return {k: max(SEARCH_BOUND_M, required_distance_m({k: c}, speeds, levels))
            for k, c in categories.items()}


# --- coverage tables -------------------------------------------------------------------------------


def _zone_matrix(zone: np.ndarray, n_zones: int) -> csr_matrix:
    """(zones, cells) 0/1 membership; cells with zone −1 belong to none."""
    inside = zone >= 0
    cols = np.nonzero(inside)[0]
    return csr_matrix(
        (np.ones(len(cols)), (zone[inside], cols)), shape=(n_zones, len(zone))
    )


def _note(n_facilities: int | None, dist: np.ndarray, people: float) -> str:
    if n_facilities == 0:
        return NO_FACILITIES
    if not np.isfinite(dist).any():
        return NONE_REACHABLE
    if people <= 0:
        return NO_PEOPLE
    return ""


def _coverage_rows(
    dist: np.ndarray,
    category: Category,
    people: np.ndarray,
    groups: Sequence[str],
    speed: np.ndarray,
    members: csr_matrix,
    levels: Sequence[int],
    off_people: np.ndarray,
) -> pd.DataFrame:
    """Long table of one category for every zone (rows of ``members``); ``off_people``
    (zones, groups) are the people not reachable from the streets."""
    n_zones = members.shape[0]
    # (specs, groups) thresholds: the compliance distance, then each level at each group's speed.
    specs = [("compliance", category.level_min)] + [("time", lv) for lv in levels]
    thr = np.array(
        [[threshold_m(category, mode, lv, s) for s in speed] for mode, lv in specs]
    )
    covered = dist[:, None, None] <= thr[None]  # (cells, specs, groups)
    weighted = covered * people[:, None, :]
    got = members @ weighted.reshape(len(dist), -1)  # (zones, specs*groups)
    got = np.asarray(got).reshape(n_zones, len(specs), len(groups))
    tot = np.asarray(members @ people)  # (zones, groups)
    z, s, g = np.meshgrid(np.arange(n_zones), np.arange(len(specs)), np.arange(len(groups)), indexing="ij")
    z, s, g = z.ravel(), s.ravel(), g.ravel()
    modes = np.array([m for m, _ in specs])[s]
    frame = pd.DataFrame(
        {
            "zone": z,
            "category": category.key,
            "name_zh": category.name_zh,
            "name_en": category.name_en,
            "mode": modes,
            "level_min": np.array([lv for _, lv in specs])[s],
            "threshold_m": np.round(thr[s, g], 1),
            "group": np.asarray(groups)[g],
            "speed_m_s": np.where(modes == "time", speed[g], np.nan),
            "people": tot[z, g],
            "people_covered": got[z, s, g],
            "people_off_streets": off_people[z, g],
        }
    )
    frame["people_uncovered"] = frame["people"] - frame["people_covered"] - frame["people_off_streets"]
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["coverage_pct"] = np.round(100.0 * frame["people_covered"] / frame["people"], 2)
    return frame


def _coverage_long(
    distances: Mapping[str, np.ndarray],
    cells: pd.DataFrame,
    categories: Mapping[str, Category],
    speeds: Mapping[str, float],
    zone: np.ndarray,
    n_zones: int,
    facilities: pd.DataFrame | None,
    groups: Sequence[str] | None,
    levels: Sequence[int],
    off_streets: np.ndarray | None,
) -> pd.DataFrame:
    dist = check_distances(distances, len(cells), categories)
    groups = list(groups) if groups is not None else population_groups(cells)
    people = people_matrix(cells, groups)
    speed = _speeds(speeds, groups)
    counts = facility_counts(facilities, dist)
    members = _zone_matrix(zone, n_zones)
    off = _off_streets(off_streets, dist, len(cells))
    off_people = np.asarray(members @ (people * off[:, None]))
    parts = []
    for key, d in dist.items():
        frame = _coverage_rows(d, categories[key], people, groups, speed, members, levels,
                               off_people)
        frame["facilities"] = counts[key] if counts is not None else pd.NA
        frame["note"] = [
            _note(counts[key] if counts is not None else None, d, p) for p in frame["people"]
        ]
        parts.append(frame)
    if not parts:
        raise InputError("No category distances were given; compute them with nearest_distance first.")
    return pd.concat(parts, ignore_index=True)


def _off_streets(off_streets: np.ndarray | None, dist: Mapping[str, np.ndarray],
                 n_cells: int) -> np.ndarray:
    """The cells farther than max_access_m from any street as a checked boolean array."""
    if off_streets is None:
        return np.zeros(n_cells, dtype=bool)
    off = np.asarray(off_streets, dtype=bool)
    if off.shape != (n_cells,):
        raise InputError(f"off_streets has {off.shape} values for {n_cells} demand cells; give "
                         "one flag per cell (True = farther than max_access_m from any street).")
    if any(np.isfinite(d[off]).any() for d in dist.values()):
        raise InputError("A cell flagged off_streets has a finite walking distance; the flags "
                         "must come from the same snapping as the distances.")
    return off


def coverage_table(
    distances: Mapping[str, np.ndarray],
    cells: pd.DataFrame,
    categories: Mapping[str, Category],
    speeds: Mapping[str, float],
    *,
    facilities: pd.DataFrame | None = None,
    groups: Sequence[str] | None = None,
    levels: Sequence[int] = LEVELS,
    off_streets: np.ndarray | None = None,
) -> pd.DataFrame:
    """Population-weighted coverage per category × mode × level × group (long table).

    Args:
        distances: category key → walking distance (m) per demand cell, ``np.inf`` none found.
        cells: demand cells with population columns (people); row order matches the distances.
        categories: the standards' categories (``planner.standards.load_categories()``).
        speeds: walking speed (m/s) per population group (``load_speeds()``).
        facilities: optional facility table; its counts per category fill ``facilities`` and a
            category with none is reported as 0 % with a note instead of failing.
        groups: population columns to report (default every known group present).
        levels: time-mode levels, minutes.
        off_streets: per cell, True when it lies farther than max_access_m from any street;
            its people are counted in ``people_off_streets``, apart from ``people_uncovered``.

    Returns:
        One row per category × (compliance at the category's level, time at each level) ×
        group: ``people``, ``people_covered``, ``people_uncovered`` (on the streets, beyond the
        threshold), ``people_off_streets`` (people), ``coverage_pct`` and ``threshold_m``.
    """
    zone = np.zeros(len(cells), dtype=np.int64)
    out = _coverage_long(distances, cells, categories, speeds, zone, 1, facilities, groups, levels,
                         off_streets)
    return out.drop(columns="zone")[COVERAGE_COLUMNS]


def headline_table(
    coverage: pd.DataFrame, categories: Mapping[str, Category] | None = None,
) -> pd.DataFrame:
    """One row per category of a :func:`coverage_table` (percent of people): compliance coverage
    of everyone (``coverage_pct``) and of the group the category serves
    (``served_coverage_pct``), and time-mode coverage of that group at its own walking speed at
    each level (``within_<m>_min_pct``). Without ``categories`` (or when the grid lacks the
    group) the served group is everyone."""
    groups = set(coverage["group"])

    def served(key: str) -> str:
        group = categories[key].group if categories and key in categories else "total"
        return group if group in groups else "total"

    rows = coverage.assign(served=coverage["category"].map(served))
    mine = rows[rows["group"] == rows["served"]]
    comp = rows[rows["mode"] == "compliance"]
    head = rows.drop_duplicates("category")[["category", "name_zh", "name_en", "facilities",
                                             "note", "served"]]
    head = head.rename(columns={"served": "served_group"})
    total = comp[comp["group"] == "total"][["category", "level_min", "threshold_m", "people",
                                            "people_covered", "coverage_pct", "people_uncovered",
                                            "people_off_streets"]]
    head = head.merge(total.rename(columns={"threshold_m": "distance_m"}), on="category",
                      how="left")
    own = mine[mine["mode"] == "compliance"][["category", "people", "coverage_pct"]]
    head = head.merge(own.rename(columns={"people": "served_people",
                                          "coverage_pct": "served_coverage_pct"}),
                      on="category", how="left")
    time = mine[mine["mode"] == "time"]
    wide = time.pivot(index="category", columns="level_min", values="coverage_pct")
    wide.columns = [f"within_{c}_min_pct" for c in wide.columns]
    head = head.merge(wide, left_on="category", right_index=True, how="left")
    first = ["category", "name_zh", "name_en", "level_min", "distance_m", "facilities", "people",
             "people_covered", "coverage_pct", "people_uncovered", "people_off_streets",
             "served_group", "served_people",
             "served_coverage_pct"]
    return head[first + [c for c in head.columns if c not in first]].reset_index(drop=True)


# --- districts ---------------------------------------------------------------------------------


def assign_districts(cells: gpd.GeoDataFrame, districts: gpd.GeoDataFrame) -> np.ndarray:
    """Row of ``districts`` holding each cell's centre (−1 outside all districts).

    The district layer is reprojected to the cells' CRS; a layer without a CRS or one that
    covers no cell centre raises an error.
    """
    if districts.crs is None or cells.crs is None:
        raise CRSError(
            "The district layer or the demand cells have no CRS; set it when reading the layer, "
            "e.g. districts.set_crs('EPSG:4326')."
        )
    if len(districts) == 0:
        raise InputError("The district layer is empty; give at least one polygon.")
    poly = districts.to_crs(cells.crs).geometry.values
    kinds = set(shapely.get_type_id(poly).tolist())
    if not kinds <= {3, 6}:
        raise InputError(
            "The district layer must hold polygons (街道/社区 boundaries); found geometry types "
            f"{sorted(set(districts.geom_type))}."
        )
    centres = shapely.points(_cell_centres(cells))
    tree = shapely.STRtree(poly)
    pt_idx, poly_idx = tree.query(centres, predicate="intersects")
    zone = np.full(len(cells), -1, dtype=np.int64)
    # a centre on a shared border goes to the first district listed
    order = np.lexsort((poly_idx, pt_idx))
    pt_idx, poly_idx = pt_idx[order], poly_idx[order]
    first = np.ones(len(pt_idx), dtype=bool)
    first[1:] = pt_idx[1:] != pt_idx[:-1]
    zone[pt_idx[first]] = poly_idx[first]
    if (zone < 0).all():
        b = np.round(districts.to_crs(cells.crs).total_bounds, 0)
        c = np.round(cells.total_bounds, 0)
        raise InputError(
            f"The district layer does not overlap the demand cells: districts span {b.tolist()} "
            f"and cells span {c.tolist()} in {cells.crs.to_string()}. Check that the layer covers "
            "the study area and declares the CRS it was written in."
        )
    return zone


def _cell_centres(cells: gpd.GeoDataFrame) -> np.ndarray:
    if {"x", "y"} <= set(cells.columns):
        return cells[["x", "y"]].to_numpy(dtype=float)
    return shapely.get_coordinates(cells.geometry.centroid.values)


def district_names(districts: pd.DataFrame, name_column: str | None) -> np.ndarray:
    """Labels of the districts: ``name_column``, else a 'name' column, else 'district N'."""
    if name_column is not None:
        if name_column not in districts.columns:
            raise InputError(
                f"The district layer has no column {name_column!r}; columns: "
                f"{[c for c in districts.columns if c != 'geometry']}."
            )
        return districts[name_column].astype(str).to_numpy()
    if "name" in districts.columns:
        return districts["name"].astype(str).to_numpy()
    return np.array([f"district {i + 1}" for i in range(len(districts))])


def district_coverage(
    distances: Mapping[str, np.ndarray],
    cells: gpd.GeoDataFrame,
    categories: Mapping[str, Category],
    speeds: Mapping[str, float],
    districts: gpd.GeoDataFrame,
    *,
    name_column: str | None = None,
    facilities: pd.DataFrame | None = None,
    groups: Sequence[str] | None = None,
    levels: Sequence[int] = LEVELS,
    off_streets: np.ndarray | None = None,
) -> pd.DataFrame:
    """:func:`coverage_table` per district (街道/社区/any admin polygon).

    A cell belongs to the district containing its centre; cells outside every district are left
    out (so a district's people can differ from a census total it was calibrated to by the
    cells straddling its border). ``facilities`` counts those inside the district. Adds columns
    ``district`` (row of the layer) and ``district_name``.
    """
    zone = assign_districts(cells, districts)
    names = district_names(districts, name_column)
    out = _coverage_long(
        distances, cells, categories, speeds, zone, len(districts), facilities, groups, levels,
        off_streets,
    )
    if facilities is not None and len(facilities) and isinstance(facilities, gpd.GeoDataFrame):
        out["facilities"] = _facilities_per_district(facilities, districts, cells.crs, out)
    out.insert(0, "district_name", names[out["zone"].to_numpy()])
    out.insert(0, "district", out.pop("zone"))
    return out[["district", "district_name", *COVERAGE_COLUMNS]]


def _facilities_per_district(facilities: gpd.GeoDataFrame, districts: gpd.GeoDataFrame, crs,
                             rows: pd.DataFrame) -> np.ndarray:
    """Facilities of each row's category inside each row's district (``zone``)."""
    try:
        zone = assign_districts(facilities.to_crs(crs), districts)
    except InputError:  # no facility inside any district
        zone = np.full(len(facilities), -1)
    counts = pd.Series(1, index=pd.MultiIndex.from_arrays(
        [zone, facilities["category"].to_numpy()])).groupby(level=[0, 1]).sum()
    keys = pd.MultiIndex.from_arrays([rows["zone"].to_numpy(), rows["category"].to_numpy()])
    return counts.reindex(keys, fill_value=0).to_numpy()


# --- complete living circle ----------------------------------------------------------------------


@dataclass(frozen=True)
class CompleteCircle:
    """Result of :func:`complete_circle`.

    Attributes:
        keys: categories the index requires.
        missing: requested default categories absent from the distances (not counted).
        reached: per cell, number of the ``keys`` categories within their threshold.
        complete: per cell, whether every category is reached.
        index: share (0–1) of people of ``group`` living in complete cells.
        people: people of ``group`` in all cells; ``people_complete`` those in complete cells.
        table: cells and people by number of categories reached (0 … len(keys)).
    """

    keys: tuple[str, ...]
    missing: tuple[str, ...]
    mode: str
    group: str
    reached: np.ndarray
    complete: np.ndarray
    index: float
    people: float
    people_complete: float
    table: pd.DataFrame



def complete_circle(
    distances: Mapping[str, np.ndarray],
    cells: pd.DataFrame,
    categories: Mapping[str, Category],
    *,
    keys: Sequence[str] | None = None,
    mode: Mode = "compliance",
    speeds: Mapping[str, float] | None = None,
    group: str = "total",
) -> CompleteCircle:
    """Complete living-circle index: the share of people whose cell reaches every category.

    Args:
        keys: the required categories; default :data:`BASIC_CATEGORIES` among those present in
            ``distances`` (the absent ones are listed in ``missing``). Explicit keys must all
            have distances.
        mode: ``"compliance"`` (each category's distance_m) or ``"time"`` (each category's
            level at the walking speed of ``group``; needs ``speeds``).
        group: population column the index weights by.
    """
    dist = check_distances(distances, len(cells), categories)
    if keys is None:
        chosen = tuple(k for k in BASIC_CATEGORIES if k in dist)
        missing = tuple(k for k in BASIC_CATEGORIES if k not in dist)
    else:
        for k in keys:
            get_category(categories, k)
        absent = [k for k in keys if k not in dist]
        if absent:
            raise InputError(
                f"The complete-circle set names {absent}, but no walking distances were computed "
                f"for them (have: {sorted(dist)}). Compute them or drop them from the set."
            )
        chosen, missing = tuple(keys), ()
    if not chosen:
        raise InputError(
            f"None of the complete-circle categories {list(keys or BASIC_CATEGORIES)} has walking "
            "distances; compute distances for them or pass keys=[...]."
        )
    speed = 1.0
    if mode == "time":
        if speeds is None:
            raise InputError("Time mode needs walking speeds; pass speeds=load_speeds().")
        speed = float(_speeds(speeds, [group])[0])
    thr = np.array(
        [threshold_m(categories[k], mode, categories[k].level_min, speed) for k in chosen]
    )
    stack = np.stack([dist[k] for k in chosen], axis=1)
    reached = (stack <= thr[None]).sum(axis=1).astype(np.int64)
    complete = reached == len(chosen)
    people = people_matrix(cells, [group])[:, 0]
    total = float(people.sum())
    done = float(people[complete].sum())
    by_count = np.bincount(reached, weights=people, minlength=len(chosen) + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.round(100.0 * by_count / total, 2)
    table = pd.DataFrame(
        {
            "categories_reached": np.arange(len(chosen) + 1),
            "cells": np.bincount(reached, minlength=len(chosen) + 1),
            "people": by_count,
            "people_pct": pct,
        }
    )
    return CompleteCircle(
        keys=chosen,
        missing=missing,
        mode=mode,
        group=group,
        reached=reached,
        complete=complete,
        index=done / total if total > 0 else float("nan"),
        people=total,
        people_complete=done,
        table=table,
    )


# --- equity ------------------------------------------------------------------------------------


def weighted_gini(values: np.ndarray, weights: np.ndarray) -> float:
    """Gini coefficient of ``values`` across people (``weights`` = people per value).

    0 when everyone walks the same distance, towards 1 when a few walk far. Values must be
    finite and ≥ 0; NaN when there are no people or the mean is 0.
    """
    x = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    if x.shape != w.shape:
        raise InputError(f"values {x.shape} and weights {w.shape} differ in shape.")
    if not np.isfinite(x).all() or (x < 0).any() or (w < 0).any():
        raise InputError("Gini needs finite values ≥ 0 and weights ≥ 0; drop unreachable cells first.")
    keep = w > 0
    x, w = x[keep], w[keep]
    if len(x) == 0 or x.max() <= 0:
        return float("nan")
    order = np.argsort(x, kind="stable")
    x, w = x[order] / x.max(), w[order] / w.max()  # the Gini does not change with scale
    total_w = w.sum()
    total_xw = (w * x).sum()
    if total_w <= 0 or total_xw <= 0:
        return float("nan")
    cw = np.cumsum(w) - w  # people with a smaller value
    cxw = np.cumsum(w * x) - w * x
    # Σ_i Σ_j w_i w_j |x_i − x_j| / (2 W Σ w x), with the double sum taken over ordered pairs
    return float((w * (x * cw - cxw)).sum() / (total_w * total_xw))


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value within which half of the people live: the smallest ``v`` whose people at
    values ≤ ``v`` reach half of all (NaN without people)."""
    x = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    keep = w > 0
    x, w = x[keep], w[keep]
    if len(x) == 0:
        return float("nan")
    order = np.argsort(x, kind="stable")
    x, cum = x[order], np.cumsum(w[order])
    return float(x[np.searchsorted(cum, 0.5 * cum[-1])])


def equity_table(
    distances: Mapping[str, np.ndarray],
    cells: pd.DataFrame,
    categories: Mapping[str, Category],
    speeds: Mapping[str, float],
    *,
    older: str = OLDER_GROUP,
    search_bound_m: float = SEARCH_BOUND_M,
    off_network: np.ndarray | None = None,
    no_facility: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Older adults vs everyone, per category.

    Every cell's walk is sorted into one of four kinds: *measured* (a finite distance, searched
    up to ``search_bound_m``), *beyond the bound* (on the street network, with a facility on its
    part of the network, but farther than ``search_bound_m``), *no facility on its network
    part* (``no_facility``: the streets it joins do not connect to any facility of the category,
    or the category has none), and *off the network* (``off_network``: farther than the largest
    access leg from any street; excluded from every distance figure). Without ``no_facility``,
    every on-network cell without a distance is counted beyond the bound — exact for a network
    kept to its largest connected part, the default of the network readers.

    Columns, per group (``_total`` everyone, ``_older`` the ``older`` group): ``people_``;
    ``compliance_pct_`` within the category's distance; ``speed_m_s_`` the walking speed of
    the group and ``time_pct_`` within the category's level (minutes) at that speed;
    ``mean_distance_m_``, ``median_distance_m_`` and ``gini_distance_`` over the people whose
    walk was measured, ``mean_walk_min_`` their mean walk in minutes at ``speed_m_s_``; and
    the shares of people in each kind (``measured_pct_``, ``beyond_bound_pct_``,
    ``no_facility_on_part_pct_``, ``off_network_pct_``; percent of all the group's people, as
    are the coverage shares). ``compliance_gap_pp`` / ``time_gap_pp``: older − everyone,
    percentage points. ``note`` says what the figures leave out, with people counts.
    """
    dist = check_distances(distances, len(cells), categories)
    groups = ["total"] + ([older] if older in cells.columns and older != "total" else [])
    people = people_matrix(cells, groups)
    speed = _speeds(speeds, groups)
    bound = float(search_bound_m)
    off = _cell_flags(off_network, len(cells), "off_network")
    rows = []
    for key, d in dist.items():
        cat = categories[key]
        cut = _cell_flags((no_facility or {}).get(key), len(cells), f"no_facility[{key!r}]")
        measured = np.isfinite(d) & ~off
        no_part = ~measured & ~off & cut
        beyond = ~measured & ~off & ~cut
        row: dict[str, object] = {"category": key, "name_zh": cat.name_zh, "name_en": cat.name_en,
                                  "level_min": cat.level_min, "distance_m": cat.distance_m,
                                  "search_bound_m": bound}
        for gi, g in enumerate(groups):
            p = people[:, gi]
            tag = "total" if g == "total" else "older"
            t_time = threshold_m(cat, "time", cat.level_min, speed[gi])
            row.update(_equity_figures(tag, d, p, measured, speed[gi], cat.distance_m, t_time))
            row.update(_kind_shares(tag, p, measured, beyond, no_part, off))
        if len(groups) > 1:
            row["compliance_gap_pp"] = round(
                row["compliance_pct_older"] - row["compliance_pct_total"], 2
            )
            row["time_gap_pp"] = round(row["time_pct_older"] - row["time_pct_total"], 2)
        row["note"] = _equity_note(people[:, 0], measured, beyond, no_part, off, bound)
        rows.append(row)
    return pd.DataFrame(rows)


def _cell_flags(flags: np.ndarray | None, n_cells: int, name: str) -> np.ndarray:
    if flags is None:
        return np.zeros(n_cells, dtype=bool)
    arr = np.asarray(flags, dtype=bool)
    if arr.shape != (n_cells,):
        raise InputError(
            f"{name} has shape {arr.shape}, but there are {n_cells} demand cells; pass one "
            "True/False per cell in the cells' row order."
        )
    return arr


def _equity_figures(tag, d, p, measured, speed, distance_m, t_time) -> dict[str, float]:
    tot = p.sum()
    pm, dm = p[measured], d[measured]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = float((pm * dm).sum() / pm.sum())
        return {
            f"people_{tag}": round(float(tot), 1),
            f"compliance_pct_{tag}": round(100 * p[d <= distance_m].sum() / tot, 2),
            f"speed_m_s_{tag}": float(speed),
            f"time_pct_{tag}": round(100 * p[d <= t_time].sum() / tot, 2),
            f"mean_distance_m_{tag}": round(mean, 1),
            f"median_distance_m_{tag}": round(weighted_median(dm, pm), 1),
            f"gini_distance_{tag}": round(weighted_gini(dm, pm), 4),
            f"mean_walk_min_{tag}": round(mean / speed / 60.0, 1),
        }


def _kind_shares(tag, p, measured, beyond, no_part, off) -> dict[str, float]:
    tot = p.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            f"{name}_pct_{tag}": round(100 * p[mask].sum() / tot, 2)
            for name, mask in (("measured", measured), ("beyond_bound", beyond),
                               ("no_facility_on_part", no_part), ("off_network", off))
        }


def _equity_note(p, measured, beyond, no_part, off, bound) -> str:
    parts = []
    if beyond.any():
        parts.append(f"{p[beyond].sum():,.0f} people ({int(beyond.sum())} cells) walk beyond "
                     f"{bound:,.0f} m (not in the mean, median and Gini)")
    if no_part.any() and not (measured | beyond).any():
        parts.append("no facility of this category on the walk network: no walk to measure")
    elif no_part.any():
        parts.append(f"{p[no_part].sum():,.0f} people ({int(no_part.sum())} cells) live on "
                     "streets that connect to no facility of this category")
    if off.any():
        parts.append(f"{p[off].sum():,.0f} people ({int(off.sum())} cells) are excluded: "
                     "farther than the largest access walk from any street")
    return "; ".join(parts)
