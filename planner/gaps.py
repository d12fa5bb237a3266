"""Gap areas: uncovered demand cells of a category grouped into contiguous areas.

Cells are squares of a regular grid (``planner.demand``); two uncovered cells belong to the same
gap area when they share an edge (rook) or an edge or a corner (queen). Areas are ranked by the
people they leave uncovered, so the first rows are where a new site helps most.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from planner.coverage import Mode, check_distances, people_matrix, threshold_m
from planner.errors import InputError
from planner.standards import Category

Connectivity = Literal["queen", "rook"]
_OFFSETS = {
    "rook": ((1, 0), (0, 1)),
    "queen": ((1, 0), (0, 1), (1, 1), (1, -1)),
}

GAP_COLUMNS = [
    "category",
    "name_zh",
    "name_en",
    "rank",
    "gap_id",
    "cells",
    "group",
    "people",
    "people_total",
    "area_km2",
    "geometry",
]


def infer_cell_size(cells: gpd.GeoDataFrame) -> float:
    """Side of the square cells in metres (median width of the cell polygons)."""
    b = shapely.bounds(cells.geometry.values)
    return float(np.median(b[:, 2] - b[:, 0]))


def grid_index(xy: np.ndarray, cell_size_m: float) -> np.ndarray:
    """(n, 2) integer column/row of each cell centre on the grid of ``cell_size_m`` metres.

    Raises when the centres do not lie on one regular grid of that spacing.
    """
    if not cell_size_m > 0:
        raise InputError(f"cell_size_m must be a positive number of metres, not {cell_size_m}.")
    rel = (xy - xy.min(axis=0)) / cell_size_m
    ij = np.rint(rel).astype(np.int64)
    if np.abs(rel - ij).max(initial=0.0) > 1e-3:
        raise InputError(
            f"The demand cell centres do not lie on a regular grid of {cell_size_m:g} m; gap "
            "areas need the square cells of planner.demand (pass cell_size_m=grid.cell_size_m)."
        )
    return ij


def grid_adjacency(ij: np.ndarray, connectivity: Connectivity = "queen") -> coo_matrix:
    """Symmetric (n, n) adjacency of grid cells given their integer column/row."""
    if connectivity not in _OFFSETS:
        raise InputError(f"connectivity must be 'queen' or 'rook', not {connectivity!r}.")
    n = len(ij)
    if n == 0:
        return coo_matrix((0, 0))
    span = int(ij[:, 1].max()) + 3  # room for row offsets −1 … +1 without collisions
    code = ij[:, 0] * span + (ij[:, 1] + 1)
    order = np.argsort(code)
    sorted_code = code[order]
    rows, cols = [], []
    for di, dj in _OFFSETS[connectivity]:
        target = (ij[:, 0] + di) * span + (ij[:, 1] + dj + 1)
        pos = np.searchsorted(sorted_code, target)
        pos = np.minimum(pos, n - 1)
        hit = sorted_code[pos] == target
        rows.append(np.nonzero(hit)[0])
        cols.append(order[pos[hit]])
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    data = np.ones(2 * len(r))
    return coo_matrix((data, (np.concatenate([r, c]), np.concatenate([c, r]))), shape=(n, n))


def label_areas(ij: np.ndarray, connectivity: Connectivity = "queen") -> np.ndarray:
    """Connected-area label (0 … k−1) of each grid cell."""
    if len(ij) == 0:
        return np.zeros(0, dtype=np.int64)
    return connected_components(grid_adjacency(ij, connectivity).tocsr(), directed=False)[1]


def uncovered_mask(
    dist: np.ndarray,
    category: Category,
    *,
    mode: Mode = "compliance",
    speeds: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Cells beyond the category's threshold (compliance distance, or its level's walk at the
    speed of the group it serves)."""
    speed = 1.0
    if mode == "time":
        if speeds is None or category.group not in speeds:
            raise InputError(
                f"Time mode needs the walking speed of {category.group!r}; pass speeds=load_speeds()."
            )
        speed = float(speeds[category.group])
    return dist > threshold_m(category, mode, category.level_min, speed)


def gap_cells(
    distances: Mapping[str, np.ndarray],
    cells: gpd.GeoDataFrame,
    categories: Mapping[str, Category],
    *,
    mode: Mode = "compliance",
    speeds: Mapping[str, float] | None = None,
    cell_size_m: float | None = None,
    connectivity: Connectivity = "queen",
    exclude: np.ndarray | None = None,
) -> gpd.GeoDataFrame:
    """Uncovered, inhabited cells of every category, each with the gap area it belongs to.
    ``exclude`` flags cells left out (those farther than max_access_m from any street, which
    are reported apart).

    A cell is inhabited when the group the category serves (or, if that column is absent,
    ``total``) has people there. Columns: ``category``, ``cell_id`` (if present), ``group``,
    ``people`` (of that group), ``people_total``, ``distance_m``, ``gap_id`` (per category,
    ranked: 1 = the area with most uncovered people) and the cell geometry.
    """
    dist = check_distances(distances, len(cells), categories)
    size = float(cell_size_m) if cell_size_m is not None else infer_cell_size(cells)
    xy = _centres(cells)
    ij = grid_index(xy, size) if len(cells) else np.zeros((0, 2), dtype=np.int64)
    total = people_matrix(cells, ["total"])[:, 0]
    parts = []
    for key, d in dist.items():
        cat = categories[key]
        group = cat.group if cat.group in cells.columns else "total"
        people = people_matrix(cells, [group])[:, 0]
        keep = (people > 0) if exclude is None else (people > 0) & ~np.asarray(exclude, bool)
        sel = np.nonzero(uncovered_mask(d, cat, mode=mode, speeds=speeds) & keep)[0]
        label = label_areas(ij[sel], connectivity)
        rank = _rank(label, people[sel])
        frame = gpd.GeoDataFrame(
            {
                "category": key,
                "cell_id": cells["cell_id"].to_numpy()[sel] if "cell_id" in cells else sel,
                "group": group,
                "people": people[sel],
                "people_total": total[sel],
                "distance_m": d[sel],
                "gap_id": rank[label] if len(sel) else np.zeros(0, dtype=np.int64),
            },
            geometry=cells.geometry.values[sel],
            crs=cells.crs,
        )
        parts.append(frame)
    if not parts:
        raise InputError("No category distances were given; compute them with nearest_distance first.")
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=cells.crs)


def _rank(label: np.ndarray, people: np.ndarray) -> np.ndarray:
    """Rank (1 = most people) of each area label; ties keep the lower label first."""
    if len(label) == 0:
        return np.zeros(0, dtype=np.int64)
    sums = np.bincount(label, weights=people)
    order = np.lexsort((np.arange(len(sums)), -sums))
    rank = np.empty(len(sums), dtype=np.int64)
    rank[order] = np.arange(1, len(sums) + 1)
    return rank


def _centres(cells: gpd.GeoDataFrame) -> np.ndarray:
    if {"x", "y"} <= set(cells.columns):
        return cells[["x", "y"]].to_numpy(dtype=float)
    return shapely.get_coordinates(cells.geometry.centroid.values)


def gap_areas(
    gaps: gpd.GeoDataFrame, categories: Mapping[str, Category]
) -> gpd.GeoDataFrame:
    """Dissolve :func:`gap_cells` into one polygon per gap area, ranked by uncovered people.

    Columns: ``category``, names, ``rank`` (1 = most uncovered people within the category),
    ``gap_id`` (same as rank), ``cells``, ``group``, ``people`` (of the served group),
    ``people_total``, ``area_km2`` and the merged geometry.
    """
    if len(gaps) == 0:
        return gpd.GeoDataFrame(
            {c: [] for c in GAP_COLUMNS if c != "geometry"}, geometry=[], crs=gaps.crs
        )
    grouped = gaps.dissolve(
        by=["category", "gap_id"],
        aggfunc={"people": "sum", "people_total": "sum", "group": "first", "cell_id": "count"},
    ).reset_index()
    grouped = grouped.rename(columns={"cell_id": "cells"})
    grouped["rank"] = grouped["gap_id"]
    grouped["name_zh"] = [categories[k].name_zh for k in grouped["category"]]
    grouped["name_en"] = [categories[k].name_en for k in grouped["category"]]
    grouped["area_km2"] = np.round(grouped.geometry.area / 1e6, 4)
    grouped = grouped.sort_values(["category", "rank"], kind="stable").reset_index(drop=True)
    return gpd.GeoDataFrame(grouped[GAP_COLUMNS], geometry="geometry", crs=gaps.crs)
