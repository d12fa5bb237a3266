"""Census counts by polygon (e.g. 七普 counts per 街道) → DemandGrid: people spread over
each polygon by area, or by residential floor area when buildings are given (dasymetric).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.crs import require_metric_crs
from planner.demand import (
    AGE_GROUPS,
    DEFAULT_CELL_M,
    GRID_CRS,
    DemandGrid,
    check_cell_size,
    geometry_cell_areas,
    grid_from_cells,
    piece_fractions,
)
from planner.errors import InputError
from planner.io.area import finish_grid, read_area
from planner.io.buildings import (
    BuildingDefaults,
    BuildingUse,
    check_lonlat,
    read_buildings,
    read_layer,
    residential_floor_area,
)

#: Column names taken as the population count of a census table (case-insensitive).
CENSUS_COLUMNS = ("total", "population", "pop", "常住人口", "人口", "人口数", "总人口")


def census_column(table: pd.DataFrame, column: str | None = None,
                  how: str = "population_column (CLI: --column)") -> str:
    """The population-count column of a census table (given, or found by common names);
    ``how`` names the option that gives it, for the error."""
    if column is not None:
        if column not in table.columns:
            raise InputError(
                f"The census layer has no column {column!r}; its columns are "
                f"{[c for c in table.columns if c != 'geometry']}."
            )
        return column
    lower = {str(c).lower(): c for c in table.columns}
    for name in CENSUS_COLUMNS:
        if name in lower:
            return lower[name]
    raise InputError(
        "The census layer has no population column (looked for "
        f"{', '.join(CENSUS_COLUMNS)}); its columns are "
        f"{[c for c in table.columns if c != 'geometry']}. Name it with {how}."
    )


def census_counts(table: pd.DataFrame, column: str) -> np.ndarray:
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        rows = list(table.index[bad][:5])
        raise InputError(f"Census column {column!r} is empty or not a number in rows {rows}; "
                         "fill in the counts (0 for no residents).")
    if (values < 0).any():
        rows = list(table.index[values < 0][:5])
        raise InputError(f"Census column {column!r} has negative counts in rows {rows}; "
                         "people cannot be negative — fix those rows.")
    return values


def disaggregate(
    polygons: np.ndarray,
    counts: np.ndarray,
    cell_m: float,
    *,
    building_geoms: np.ndarray | None = None,
    building_floor_m2: np.ndarray | None = None,
    area: shapely.Geometry | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split counts of polygons (metric CRS) over grid cells.

    Areal weighting: a polygon's people follow its area. Dasymetric (when buildings are given):
    they follow the residential floor area of the buildings whose representative point lies in
    the polygon (a building's floor area split over cells by footprint area); polygons without
    such buildings fall back to areal weighting.

    Args:
        polygons: (n,) polygons; counts: (n, k) people per polygon and column.
        area: keep only the people living inside this polygon (same CRS): each piece (the part
            of a polygon or building in a cell) keeps the share of it inside.

    Returns:
        (polygon index, ix, iy, people (m, k), polygons that fell back to areal weighting).
        Each polygon's people sum exactly to its counts.
    """
    counts = np.asarray(counts, dtype=np.float64).reshape(len(polygons), -1)
    pi, ix, iy, weight = geometry_cell_areas(polygons, cell_m)
    piece_geoms, piece_index = polygons, pi
    fallback = np.zeros(0, np.int64)
    if building_geoms is not None and len(building_geoms):
        bi, bx, by, barea = geometry_cell_areas(building_geoms, cell_m)
        foot = np.bincount(bi, weights=barea, minlength=len(building_geoms))
        tree = shapely.STRtree(polygons)
        pts, owner = tree.query(shapely.point_on_surface(building_geoms), predicate="within")
        poly_of = np.full(len(building_geoms), -1)
        poly_of[pts[::-1]] = owner[::-1]  # first polygon wins when polygons overlap
        use = poly_of[bi] >= 0
        floor = building_floor_m2[bi[use]] * barea[use] / foot[bi[use]]
        has = np.bincount(poly_of[bi[use]], weights=floor, minlength=len(polygons)) > 0
        areal = ~has[pi]
        fallback = np.flatnonzero(~has & (counts.sum(axis=1) > 0))
        pi = np.concatenate([poly_of[bi[use]], pi[areal]])
        ix = np.concatenate([bx[use], ix[areal]])
        iy = np.concatenate([by[use], iy[areal]])
        weight = np.concatenate([floor, weight[areal]])
        piece_geoms = np.concatenate([building_geoms, polygons])
        piece_index = np.concatenate([bi[use], len(building_geoms) + pi[areal]])
    total_w = np.bincount(pi, weights=weight, minlength=len(polygons))
    lost = (total_w <= 0) & (counts.sum(axis=1) > 0)
    if lost.any():
        raise InputError(
            f"{int(lost.sum())} census polygons with people have no area (e.g. row "
            f"{int(np.flatnonzero(lost)[0])}); fix or drop those geometries."
        )
    share = weight / total_w[pi]
    if area is not None:
        share = share * piece_fractions(piece_geoms, piece_index, ix, iy, cell_m, area)
    return pi, ix, iy, counts[pi] * share[:, None], fallback


def read_census(
    source: str | Path | gpd.GeoDataFrame, *, crs: object | None = None,
    cell_m: float = DEFAULT_CELL_M, area: object = None, column: str | None = None,
    buildings: str | Path | gpd.GeoDataFrame | None = None,
    building_defaults: BuildingDefaults | None = None, building_use: BuildingUse = "auto",
    age_shares: Mapping[str, float] | None = None, shares_source: str = "age shares",
) -> DemandGrid:
    """Census counts by polygon (e.g. 社区/街道 from the 7th census) → DemandGrid.

    The count column is ``column`` or the first of ``CENSUS_COLUMNS`` found; group columns
    (``age_60_plus``…) present in the table are split the same way. With ``buildings`` the split
    is dasymetric by residential floor area, otherwise areal.
    """
    cell_m = check_cell_size(cell_m)
    table = read_layer(source, "census")
    name = source if isinstance(source, (str, Path)) else "census layer"
    check_lonlat(table, "census layer")
    col = census_column(table, column)
    groups = [g for g in AGE_GROUPS if g in table.columns]
    counts = np.stack([census_counts(table, c) for c in [col, *groups]], axis=1)
    kinds = table.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    if not kinds.all():
        raise InputError(
            f"The census layer has {int((~kinds).sum())} non-polygon features (e.g. "
            f"{table.geometry.geom_type[~kinds].iloc[0]}); census counts need area polygons."
        )
    crs = require_metric_crs(crs, GRID_CRS) if crs is not None else table.estimate_utm_crs()
    polys = shapely.make_valid(table.to_crs(crs).geometry.to_numpy())
    notes: list[str] = []
    overlap = float(shapely.area(polys).sum() - shapely.area(shapely.union_all(polys)))
    if overlap > 1e-3 * float(shapely.area(polys).sum()):
        notes.append(
            f"Census polygons overlap ({overlap / 1e6:.3f} km² counted twice); people in the "
            "overlaps come from more than one polygon. Check that the units do not nest "
            "(e.g. 街道 and 社区 in one layer)."
        )
    bgeoms = bfloor = None
    if buildings is not None:
        est = residential_floor_area(read_buildings(buildings), crs, building_defaults,
                                     building_use)
        bgeoms, bfloor = est.footprints, est.floor_m2
        notes += est.notes
    clip = read_area(area, crs)
    pi, ix, iy, people, fallback = disaggregate(
        polys, counts, cell_m, building_geoms=bgeoms, building_floor_m2=bfloor, area=clip)
    if bgeoms is not None:
        method = "dasymetric (residential floor area)"
        if len(fallback):
            notes.append(
                f"{len(fallback)} census polygons hold no residential building; their people "
                f"are spread by area (rows {list(table.index[fallback][:5])}…)."
            )
    else:
        method = "areal weighting"
    meta = {"source": str(name), "notes": notes, "method": method,
            "source_total": float(counts[:, 0].sum()), "census_column": str(col),
            "derived": {g: f"census column {g}" for g in groups}}
    values = {"total": people[:, 0], **{g: people[:, i + 1] for i, g in enumerate(groups)}}
    if clip is not None:
        meta["unclipped_total"] = float(counts[:, 0].sum())
    grid = grid_from_cells(ix, iy, values, cell_m=cell_m, crs=crs, meta=meta)
    return finish_grid(grid, None, age_shares, shares_source)
