"""Calibrating a demand grid to known totals: one number for the whole grid, or one per
district (e.g. 街道 counts of the 7th census), so an estimate from buildings or rasters matches
the official count while keeping its pattern inside each district.

People are taken as spread evenly within a cell, so a cell straddling a district boundary is
split by the exact overlap area. Every group column is scaled with ``total``.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import shapely

from planner.demand import DemandGrid, geometry_cell_areas, grid_from_cells
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


def _cell_rows(cell_ix: np.ndarray, cell_iy: np.ndarray, ix: np.ndarray, iy: np.ndarray
               ) -> np.ndarray:
    """Row of each (ix, iy) among the grid's cells, -1 where the grid has no such cell."""
    if len(cell_ix) == 0 or len(ix) == 0:
        return np.full(len(ix), -1, dtype=np.int64)
    x0, y0 = min(cell_ix.min(), ix.min()), min(cell_iy.min(), iy.min())
    width = int(max(cell_ix.max(), ix.max()) - x0) + 1
    keys = (cell_iy - y0) * width + (cell_ix - x0)
    order = np.argsort(keys)
    wanted = (iy - y0) * width + (ix - x0)
    pos = np.minimum(np.searchsorted(keys[order], wanted), len(keys) - 1)
    return np.where(keys[order][pos] == wanted, order[pos], -1).astype(np.int64)


def calibrate_districts(
    grid: DemandGrid, districts: gpd.GeoSeries, totals: Sequence[float],
    names: Sequence[str] | None = None,
) -> DemandGrid:
    """Scale the people of each district's cells to the district's total.

    Args:
        districts: district polygons (any CRS with one set).
        totals: people per district (≥ 0), in the order of ``districts``.
        names: labels of the districts for the notes (default: row numbers).

    A district's people end up exactly at its total. A district where the estimate has nobody
    gets its total spread by area. People in cells (or parts of cells) outside every district
    are kept as estimated and reported; overlapping districts split a shared cell by overlap area.
    """
    totals = np.array([_target(t, "district total") for t in totals], dtype=np.float64)
    names = [str(n) for n in (names if names is not None else range(len(totals)))]
    if len(totals) != len(districts) or len(totals) == 0:
        raise InputError("Give one total per district polygon, and at least one district.")
    polys = shapely.make_valid(districts.to_crs(grid.crs).to_numpy())
    size = grid.cell_size_m
    di, ix, iy, overlap = geometry_cell_areas(polys, size)
    cells = grid.cells
    row = _cell_rows(cells["ix"].to_numpy(), cells["iy"].to_numpy(), ix, iy)
    frac = overlap / (size * size)
    covered = np.bincount(row[row >= 0], weights=frac[row >= 0], minlength=len(cells))
    excess = np.where(covered > 1 + 1e-9, covered, 1.0)
    frac = np.where(row >= 0, frac / excess[np.maximum(row, 0)], frac)
    covered = np.minimum(covered, 1.0)
    groups = grid.groups
    people = {g: cells[g].to_numpy(dtype=np.float64) for g in groups}
    inside = row >= 0
    estimated = np.bincount(di[inside], weights=people["total"][row[inside]] * frac[inside],
                            minlength=len(totals))
    empty = (estimated <= 0) & (totals > 0)
    factor = np.divide(totals, estimated, out=np.zeros_like(totals), where=estimated > 0)
    # contributions: scaled district parts, areal parts of empty districts, unscaled remainders
    area = np.bincount(di, weights=overlap, minlength=len(totals))
    if (empty & (area <= 0)).any():
        bad = np.array(names)[empty & (area <= 0)][:5]
        raise InputError(f"District polygons {list(bad)} have people but no area; fix or drop "
                         "those geometries.")
    areal = empty[di]
    scaled = inside & ~areal
    share = {g: (people[g].sum() / people["total"].sum()) for g in groups}
    parts_ix = [ix[scaled], ix[areal], cells["ix"].to_numpy()]
    parts_iy = [iy[scaled], iy[areal], cells["iy"].to_numpy()]
    values = {}
    rest = 1.0 - covered
    for g in groups:
        values[g] = np.concatenate([
            people[g][row[scaled]] * frac[scaled] * factor[di[scaled]],
            totals[di[areal]] * overlap[areal] / area[di[areal]] * share[g],
            people[g] * rest,
        ])
    out = grid_from_cells(np.concatenate(parts_ix), np.concatenate(parts_iy), values,
                          cell_m=size, crs=grid.crs, meta={**grid.meta, "notes": list(grid.notes)})
    outside = float((people["total"] * rest).sum())
    outside_cells = int((rest > 1e-9).sum())
    notes = out.meta["notes"]
    lo, hi = factor[~empty].min(initial=np.inf), factor[~empty].max(initial=0)
    span = (f"factor {lo:.3g}" if lo == hi else f"factors {lo:.3g}–{hi:.3g}") if lo <= hi else \
        "none has estimated residents"
    notes.append(
        f"Calibrated to {len(totals)} district total{'s' * (len(totals) != 1)} "
        f"({totals.sum():,.0f} people; the estimate held {estimated.sum():,.0f} in them): each "
        f"district's cells scaled to its total, {span}.")
    if empty.any():
        notes.append(
            f"{int(empty.sum())} districts with people hold no estimated residents "
            f"({', '.join(np.array(names)[empty][:5])}); their totals are spread by area.")
    removed = (totals == 0) & (estimated > 0)
    if removed.any():
        notes.append(
            f"{int(removed.sum())} districts have a total of 0 "
            f"({', '.join(np.array(names)[removed][:5])}); the {estimated[removed].sum():,.0f} people estimated there are removed.")
    if outside > 0:
        notes.append(
            f"{outside:,.0f} estimated people in {outside_cells:,} cells lie outside every "
            "district with a total; they are kept as estimated, not scaled.")
    if (excess > 1 + 1e-9).any():
        notes.append(f"District polygons overlap in {int((excess > 1 + 1e-9).sum())} cells; "
                     "those cells' people are split among the districts by overlap area.")
    out.meta["calibration"] = {
        "method": "districts", "districts": len(totals), "target_total": float(totals.sum()),
        "estimated_total": float(estimated.sum()), "outside_people": outside,
        "outside_cells": outside_cells,
        "factors": {n: float(f) for n, f in zip(names, factor, strict=True)},
        "spread_by_area": [n for n, e in zip(names, empty, strict=True) if e],
    }
    out.meta["grid_total"] = float(out.cells["total"].sum())
    return out
