"""Compare two scenario results: coverage side by side, people newly covered, a difference layer."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from planner.scenario import ScenarioResult
from planner.standards import load_speeds

KEYS = ["category", "name_zh", "name_en", "mode", "level_min", "group"]


@dataclass
class Comparison:
    """Scenario B against scenario A.

    Attributes:
        coverage: every coverage row of both with ``coverage_pct_a/_b``, ``people_covered_a/_b``
            and the differences (``diff_pp`` percentage points, ``diff_people`` people).
        cells: per category, people of the group it serves newly covered and no longer
            covered at the category's compliance distance, and newly within / no longer within
            the category's level in minutes at that group's walking speed in each scenario
            (only when both runs share one demand grid).
        changes: demand cells whose compliance coverage changed, per category
            (``change`` = "newly covered" | "no longer covered"), for the difference map.
        same_grid: whether the two runs used the same demand cells.
    """

    name_a: str
    name_b: str
    coverage: pd.DataFrame
    cells: pd.DataFrame
    changes: gpd.GeoDataFrame
    same_grid: bool

    @property
    def identical(self) -> bool:
        """True when nothing differs: every coverage figure equal and no cell changed."""
        return bool(
            np.allclose(self.coverage["diff_pp"], 0) and np.allclose(self.coverage["diff_people"], 0)
            and len(self.changes) == 0
        )


def _same_grid(a: ScenarioResult, b: ScenarioResult) -> bool:
    ca, cb = a.demand.cells, b.demand.cells
    return (
        len(ca) == len(cb)
        and a.network.crs == b.network.crs
        and np.allclose(ca[["x", "y"]].to_numpy(), cb[["x", "y"]].to_numpy())
    )


def _covered(result: ScenarioResult, key: str) -> np.ndarray:
    dist = result.distances[key].to_numpy() if key in result.distances else None
    if dist is None:
        return np.zeros(len(result.demand.cells), dtype=bool)
    return np.isfinite(dist) & (dist <= result.categories[key].distance_m)


def _within_level(result: ScenarioResult, key: str) -> np.ndarray:
    """Cells within the category's level (minutes) at the walking speed of its group."""
    dist = result.distances[key].to_numpy() if key in result.distances else None
    if dist is None:
        return np.zeros(len(result.demand.cells), dtype=bool)
    cat = result.categories[key]
    speeds = load_speeds(overrides=result.scenario.speeds or None)
    limit_m = cat.level_min * 60.0 * speeds.get(cat.group, speeds["total"])
    return np.isfinite(dist) & (dist <= limit_m)


def compare(a: ScenarioResult, b: ScenarioResult) -> Comparison:
    """How scenario ``b`` differs from ``a`` (coverage tables, people, changed cells)."""
    ta, tb = a.tables["coverage"], b.tables["coverage"]
    cols = ["people", "people_covered", "coverage_pct", "facilities"]
    merged = ta[KEYS + cols].merge(tb[KEYS + cols], on=KEYS, how="outer", suffixes=("_a", "_b"))
    merged["diff_pp"] = merged["coverage_pct_b"].fillna(0) - merged["coverage_pct_a"].fillna(0)
    merged["diff_people"] = merged["people_covered_b"].fillna(0) - merged["people_covered_a"].fillna(0)
    served = {k: c.group for k, c in {**a.categories, **b.categories}.items()}
    merged["served_group"] = merged["group"] == merged["category"].map(served)

    same = _same_grid(a, b)
    rows, frames = [], []
    if same:
        cells = a.demand.cells
        keys = sorted(set(a.distances.columns) | set(b.distances.columns))
        for key in keys:
            cat = a.categories.get(key) or b.categories[key]
            group = cat.group if cat.group in cells.columns else "total"
            people = cells[group].to_numpy(dtype=float)
            before, after = _covered(a, key), _covered(b, key)
            gained, lost = after & ~before, before & ~after
            t_before, t_after = _within_level(a, key), _within_level(b, key)
            rows.append({
                "category": key, "name_zh": cat.name_zh, "name_en": cat.name_en, "group": group,
                "people_newly_covered": float(people[gained].sum()),
                "people_no_longer_covered": float(people[lost].sum()),
                "cells_newly_covered": int(gained.sum()),
                "cells_no_longer_covered": int(lost.sum()),
                "level_min": cat.level_min,
                "people_newly_within_level": float(people[t_after & ~t_before].sum()),
                "people_no_longer_within_level": float(people[t_before & ~t_after].sum()),
            })
            for mask, label in ((gained, "newly covered"), (lost, "no longer covered")):
                if mask.any():
                    part = cells.loc[mask, ["cell_id", group, "geometry"]].rename(columns={group: "people"})
                    frames.append(part.assign(category=key, change=label))
    changes = (
        gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=a.demand.crs)
        if frames
        else gpd.GeoDataFrame(
            {"cell_id": [], "people": [], "category": [], "change": []},
            geometry=gpd.GeoSeries([], crs=a.demand.crs),
        )
    )
    return Comparison(a.scenario.name, b.scenario.name, merged, pd.DataFrame(rows), changes, same)
