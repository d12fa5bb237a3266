"""What coverage measures: the population groups and their people, the walking distances
checked against the categories, and the distance each category, level and group must reach.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from planner.errors import InputError
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


def group_speeds(speeds: Mapping[str, float], groups: Sequence[str]) -> np.ndarray:
    """Walking speed (m/s) of each group, in order; an InputError names missing groups."""
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
