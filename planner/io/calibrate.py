"""Calibrating a demand grid to known totals: one number for the whole grid, or one per
district (e.g. 街道 counts of the 7th census), so an estimate from buildings or rasters matches
the official count while keeping its pattern inside each district.

A cell belongs to one district by :data:`planner.district_cells.RULE` — the rule of the coverage
per district as well — so each district's cells hold exactly its total. Every group column is
scaled with ``total``.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import shapely

from planner.demand import DemandGrid, geometry_cell_areas, grid_from_cells
from planner.district_cells import RULE, districts_of_cells
from planner.errors import InputError


def _target(value: float, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InputError(f"The {what} {value!r} is not a number of people.") from None
    if not np.isfinite(out) or out < 0:
        raise InputError(f"The {what} {value!r} must be a finite number of people ≥ 0.")
    return out


def calibrate_total(grid: DemandGrid, total: float) -> DemandGrid:
    """Scale every cell so the grid holds ``total`` people (group columns alike)."""
    total = _target(total, "population total")
    before = float(grid.cells["total"].sum())
    if before <= 0:
        raise InputError("The demand grid holds no people, so it cannot be scaled to a total.")
    factor = total / before
    cells = grid.cells.copy()
    for g in grid.groups:
        cells[g] = cells[g].to_numpy() * factor
    meta = {**grid.meta, "notes": list(grid.notes)}
    meta["calibration"] = {"method": "total", "target_total": total, "estimated_total": before,
                           "factor": factor}
    meta["notes"].append(
        f"Calibrated to the given total of {total:,.0f} people: every cell × {factor:.4g} "
        f"(the estimate was {before:,.0f}).")
    meta["grid_total"] = float(cells["total"].sum())
    return DemandGrid(cells, grid.cell_size_m, meta)


def _cells_of_empty(polys: np.ndarray, which: np.ndarray, size: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(district, ix, iy) of every grid cell whose centre the districts ``which`` hold."""
    if len(which) == 0:
        return (np.zeros(0, np.int64),) * 3
    j, ix, iy, _ = geometry_cell_areas(polys[which], size)
    owner = districts_of_cells(ix, iy, size, polys)
    own = owner == which[j]
    return which[j][own], ix[own], iy[own]


def calibrate_districts(
    grid: DemandGrid, districts: gpd.GeoSeries, totals: Sequence[float],
    names: Sequence[str] | None = None,
) -> DemandGrid:
    """Scale the people of each district's cells to the district's total.

    Args:
        districts: district polygons (any CRS with one set).
        totals: people per district (≥ 0), in the order of ``districts``.
        names: labels of the districts for the notes (default: row numbers).

    A cell belongs to a district by :data:`planner.district_cells.RULE`, the rule of the
    coverage per district too, so each district's cells end up holding exactly its total. A
    district where the estimate has nobody gets its total spread evenly over the cells whose
    centre it holds (a district holding no cell centre cannot be placed and is reported). People
    in cells outside every district are kept as estimated and reported.
    """
    totals = np.array([_target(t, "district total") for t in totals], dtype=np.float64)
    names = [str(n) for n in (names if names is not None else range(len(totals)))]
    if len(totals) != len(districts) or len(totals) == 0:
        raise InputError("Give one total per district polygon, and at least one district.")
    polys = shapely.make_valid(districts.to_crs(grid.crs).to_numpy())
    size = grid.cell_size_m
    cells = grid.cells
    ix, iy = cells["ix"].to_numpy(), cells["iy"].to_numpy()
    zone = districts_of_cells(ix, iy, size, polys)
    inside = zone >= 0
    groups = grid.groups
    people = {g: cells[g].to_numpy(dtype=np.float64) for g in groups}
    estimated = np.bincount(zone[inside], weights=people["total"][inside], minlength=len(totals))
    empty = (estimated <= 0) & (totals > 0)
    factor = np.divide(totals, estimated, out=np.zeros_like(totals), where=estimated > 0)
    scale = np.where(inside, factor[np.maximum(zone, 0)], 1.0)
    ed, ex, ey = _cells_of_empty(polys, np.flatnonzero(empty), size)
    n_cells = np.bincount(ed, minlength=len(totals))
    unplaced = empty & (n_cells == 0)
    grand = people["total"].sum()
    share = {g: (people[g].sum() / grand if grand > 0 else float(g == "total")) for g in groups}
    values = {g: np.concatenate([people[g] * scale, totals[ed] / n_cells[ed] * share[g]])
              for g in groups}
    out = grid_from_cells(np.concatenate([ix, ex]), np.concatenate([iy, ey]), values,
                          cell_m=size, crs=grid.crs, meta={**grid.meta, "notes": list(grid.notes)})
    outside = float(people["total"][~inside].sum())
    outside_cells = int((~inside & (people["total"] > 0)).sum())
    notes = out.meta["notes"]
    lo, hi = factor[~empty].min(initial=np.inf), factor[~empty].max(initial=0)
    span = (f"factor {lo:.3g}" if lo == hi else f"factors {lo:.3g}–{hi:.3g}") if lo <= hi else \
        "none has estimated residents"
    notes.append(
        f"Calibrated to {len(totals)} district total{'s' * (len(totals) != 1)} "
        f"({totals.sum():,.0f} people; the estimate held {estimated.sum():,.0f} in them): each "
        f"district's cells scaled to its total, {span}; {RULE}.")
    spread = empty & ~unplaced
    if spread.any():
        notes.append(
            f"{int(spread.sum())} districts with people hold no estimated residents "
            f"({', '.join(np.array(names)[spread][:5])}); their totals are spread evenly over "
            "the cells whose centre they hold.")
    if unplaced.any():
        notes.append(
            f"{int(unplaced.sum())} districts hold no cell centre of their own at {size:g} m "
            f"cells ({', '.join(np.array(names)[unplaced][:5])}); their "
            f"{totals[unplaced].sum():,.0f} people are not placed. A smaller cell_m places a "
            "small district; a district inside one listed earlier needs its own polygon.")
    removed = (totals == 0) & (estimated > 0)
    if removed.any():
        notes.append(
            f"{int(removed.sum())} districts have a total of 0 "
            f"({', '.join(np.array(names)[removed][:5])}); the {estimated[removed].sum():,.0f} people estimated there are removed.")
    if outside > 0:
        notes.append(
            f"{outside:,.0f} estimated people in {outside_cells:,} "
            f"cell{'s' * (outside_cells != 1)} whose centre lies outside every district with a "
            "total are kept as estimated, not scaled.")
    area = shapely.area(polys)
    overlap = float(area.sum() - shapely.area(shapely.union_all(polys)))
    if overlap > 1e-6 * float(area.sum()):
        notes.append(f"District polygons overlap ({overlap / 1e6:.3f} km²); a cell whose "
                     "centre lies in several belongs to the district listed first.")
    out.meta["calibration"] = {
        "method": "districts", "rule": RULE, "districts": len(totals),
        "target_total": float(totals.sum()), "estimated_total": float(estimated.sum()),
        "outside_people": outside, "outside_cells": outside_cells,
        "factors": {n: float(f) for n, f in zip(names, factor, strict=True)},
        "spread_by_area": [n for n, e in zip(names, spread, strict=True) if e],
        "unplaced": {n: float(t) for n, t, u in zip(names, totals, unplaced, strict=True) if u},
    }
    out.meta["grid_total"] = float(out.cells["total"].sum())
    return out
