"""Equity of access: older adults against everyone, per category: coverage at each group's
walking speed, mean, median and Gini of the walks, and what the figures leave out.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from planner.coverage.measure import (
    OLDER_GROUP,
    SEARCH_BOUND_M,
    check_distances,
    group_speeds,
    people_matrix,
    threshold_m,
)
from planner.errors import InputError
from planner.standards import Category


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
    speed = group_speeds(speeds, groups)
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
