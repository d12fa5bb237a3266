"""Coverage tables: people within each category's distance or walking time, per level and
population group, and the headline table of one row per category.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from planner.coverage.measure import (
    COVERAGE_COLUMNS,
    NO_FACILITIES,
    NO_PEOPLE,
    NONE_REACHABLE,
    check_distances,
    facility_counts,
    group_speeds,
    people_matrix,
    population_groups,
    threshold_m,
)
from planner.errors import InputError
from planner.standards import LEVELS, Category


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


def coverage_long(
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
    speed = group_speeds(speeds, groups)
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
    out = coverage_long(distances, cells, categories, speeds, zone, 1, facilities, groups, levels,
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
