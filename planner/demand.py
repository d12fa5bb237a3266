"""DemandGrid: people per square cell of a metric grid, and the exact geometry that builds it.

Every grid is aligned to multiples of its cell size in its metric CRS: cell (ix, iy) spans
``[ix·s, (ix+1)·s) × [iy·s, (iy+1)·s)`` metres, so grids built from different sources at the same
cell size line up cell for cell. Population moves into cells by exact overlap areas (area-weighted
redistribution), never by interpolation, so totals are preserved.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyproj
import shapely
from numba import njit

from planner.crs import require_metric_crs
from planner.errors import InputError

#: The population columns the project agrees on (people per cell).
GROUP_COLUMNS = ("total", "age_60_plus", "age_65_plus", "age_0_2", "age_3_5")
#: Age range (years, inclusive; None = open-ended) of each age group column.
AGE_GROUPS: dict[str, tuple[int, int | None]] = {
    "age_60_plus": (60, None),
    "age_65_plus": (65, None),
    "age_0_2": (0, 2),
    "age_3_5": (3, 5),
}
DEFAULT_CELL_M = 100.0
#: Cell sizes outside these bounds (metres) are refused.
MIN_CELL_M, MAX_CELL_M = 10.0, 5000.0
#: Cell sizes the analysis is designed for (metres); others work with a warning.
RECOMMENDED_CELL_M = (50.0, 1000.0)
#: Columns of ``DemandGrid.cells`` that are not population counts.
RESERVED_COLUMNS = ("cell_id", "x", "y", "ix", "iy", "geometry")
_META_KEY = b"planner_demand"


def check_cell_size(cell_m: float) -> float:
    """Validate a cell size in metres: error outside 10 m–5 km, warning outside 50–1000 m."""
    try:
        size = float(cell_m)
    except (TypeError, ValueError):
        raise InputError(f"Cell size {cell_m!r} is not a number; give metres, e.g. 100.") from None
    if not np.isfinite(size) or size < MIN_CELL_M or size > MAX_CELL_M:
        raise InputError(
            f"Cell size {cell_m} m is outside {MIN_CELL_M:g} m – {MAX_CELL_M:g} m. Use a size "
            f"between {RECOMMENDED_CELL_M[0]:g} and {RECOMMENDED_CELL_M[1]:g} m (default "
            f"{DEFAULT_CELL_M:g} m): smaller cells are finer than the population data, larger ones "
            "blur the 300 m five-minute radius."
        )
    if not RECOMMENDED_CELL_M[0] <= size <= RECOMMENDED_CELL_M[1]:
        warnings.warn(
            f"Cell size {size:g} m is outside the recommended {RECOMMENDED_CELL_M[0]:g}–"
            f"{RECOMMENDED_CELL_M[1]:g} m range; results may be slow or coarse.",
            stacklevel=2,
        )
    return size


#: How errors name the CRS of a demand grid.
GRID_CRS = "CRS of the demand grid"


@dataclass(eq=False)
class DemandGrid:
    """People per square cell of a metric grid.

    Attributes:
        cells: GeoDataFrame of square cell polygons in a metric CRS with columns ``cell_id``
            (0..n-1), ``x``/``y`` (cell centre, metres), ``ix``/``iy`` (grid indices: the cell
            spans ``ix·s..(ix+1)·s`` in x), ``total`` and the known group columns (people).
            Cells with no people are absent.
        cell_size_m: cell side in metres.
        meta: provenance: ``source``, ``notes`` (anomalies and assumptions, plain sentences),
            ``derived`` (group → how it was derived) and source/grid totals.
    """

    cells: gpd.GeoDataFrame
    cell_size_m: float
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cell_size_m = float(self.cell_size_m)
        require_metric_crs(self.cells.crs, GRID_CRS)
        missing = [c for c in ("cell_id", "x", "y", "ix", "iy", "total") if c not in self.cells]
        if missing:
            raise InputError(
                f"Demand cells lack the columns {missing}; build grids with "
                "planner.demand.grid_from_cells or DemandGrid.load."
            )
        self.meta.setdefault("notes", [])
        self.meta.setdefault("derived", {})

    @property
    def crs(self) -> pyproj.CRS:
        """The metric CRS of the cells."""
        return self.cells.crs

    @property
    def groups(self) -> list[str]:
        """Population columns present, ``total`` first (people per cell): every numeric column
        besides the cell's id, centre and indices."""
        return [c for c in self.cells.columns if c not in RESERVED_COLUMNS
                and pd.api.types.is_numeric_dtype(self.cells[c])]

    @property
    def notes(self) -> list[str]:
        """Anomalies and assumptions met while building the grid."""
        return self.meta["notes"]

    def __len__(self) -> int:
        return len(self.cells)

    def points(self) -> np.ndarray:
        """(n, 2) cell centres in metres, in ``cell_id`` order."""
        return self.cells[["x", "y"]].to_numpy(dtype=np.float64)

    def totals(self) -> dict[str, float]:
        """People per group over the whole grid."""
        return {g: float(self.cells[g].sum()) for g in self.groups}

    def save(self, path: str | Path) -> Path:
        """Write the grid as GeoParquet; cell size and ``meta`` go into the file metadata."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.cells.to_parquet(path, index=False)
        table = pq.read_table(path)
        extra = {"cell_size_m": self.cell_size_m, "meta": self.meta}
        metadata = {**(table.schema.metadata or {}), _META_KEY: json.dumps(extra).encode()}
        pq.write_table(table.replace_schema_metadata(metadata), path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> DemandGrid:
        """Read a grid written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"Demand grid file {path} does not exist; check the path.")
        metadata = pq.read_schema(path).metadata or {}
        if _META_KEY not in metadata:
            raise InputError(
                f"{path} is not a demand grid written by DemandGrid.save (no cell-size metadata). "
                "Build one with `planner population SOURCE -o grid.parquet`."
            )
        extra = json.loads(metadata[_META_KEY])
        return cls(gpd.read_parquet(path), extra["cell_size_m"], extra["meta"])


# --- building a grid from per-cell contributions ------------------------------------------------


def cell_boxes(ix: np.ndarray, iy: np.ndarray, cell_m: float) -> np.ndarray:
    """Square polygons of grid cells (ix, iy) of side ``cell_m`` metres."""
    x0, y0 = ix * cell_m, iy * cell_m
    return shapely.box(x0, y0, x0 + cell_m, y0 + cell_m)


def grid_from_cells(
    ix: np.ndarray,
    iy: np.ndarray,
    values: Mapping[str, np.ndarray],
    *,
    cell_m: float,
    crs: object,
    meta: dict | None = None,
) -> DemandGrid:
    """Sum contributions per cell (repeated (ix, iy) pairs add up) into a DemandGrid.

    ``values`` maps column names (``total`` first) to people per contribution. Cells whose total
    is not positive are dropped.
    """
    if "total" not in values:
        raise InputError("Population values need a 'total' column (people per cell).")
    crs = require_metric_crs(crs, GRID_CRS)
    ix = np.asarray(ix, dtype=np.int64)
    iy = np.asarray(iy, dtype=np.int64)
    if len(ix):
        x0, y0 = ix.min(), iy.min()
        nx = int(ix.max() - x0) + 1
        key = (iy - y0) * nx + (ix - x0)
        uniq, inv = np.unique(key, return_inverse=True)
        sums = {k: np.bincount(inv, weights=np.asarray(v, float), minlength=len(uniq))
                for k, v in values.items()}
        keep = sums["total"] > 0
        uniq = uniq[keep]
        cix, ciy = uniq % nx + x0, uniq // nx + y0
        sums = {k: v[keep] for k, v in sums.items()}
    else:
        cix = ciy = np.zeros(0, np.int64)
        sums = {k: np.zeros(0) for k in values}
    data = {
        "cell_id": np.arange(len(cix), dtype=np.int64),
        "x": (cix + 0.5) * cell_m,
        "y": (ciy + 0.5) * cell_m,
        "ix": cix,
        "iy": ciy,
        **sums,
    }
    cells = gpd.GeoDataFrame(data, geometry=cell_boxes(cix, ciy, cell_m), crs=crs)
    return DemandGrid(cells, cell_m, dict(meta or {}))


def _reindexed(grid: DemandGrid, cells: gpd.GeoDataFrame) -> DemandGrid:
    cells = cells.reset_index(drop=True)
    cells["cell_id"] = np.arange(len(cells), dtype=np.int64)
    return DemandGrid(cells, grid.cell_size_m, grid.meta)


# --- exact overlaps -------------------------------------------------------------------------------


def _shoelace(pts: np.ndarray) -> np.ndarray:
    """Signed area of polygons given as (..., k, 2) closed-by-wrap vertex arrays."""
    x, y = pts[..., 0], pts[..., 1]
    return 0.5 * np.sum(x * np.roll(y, -1, axis=-1) - np.roll(x, -1, axis=-1) * y, axis=-1)


@njit(cache=True, nogil=True)
def _clipped_area(xs: np.ndarray, ys: np.ndarray, size: float) -> float:
    """Signed area of the polygon (xs, ys) inside the square [0, size]².

    Exact for any simple polygon: clamping the plane onto the square maps the polygon's
    boundary onto a curve whose signed area is the area of the intersection. Each edge is split
    where it crosses the square's four lines, so every piece maps to a straight segment.
    """
    k = len(xs)
    t = np.empty(6)
    area = 0.0
    for e in range(k):
        px, py = xs[e], ys[e]
        dx, dy = xs[(e + 1) % k] - px, ys[(e + 1) % k] - py
        t[0], t[5] = 0.0, 1.0
        t[1] = -px / dx if dx != 0.0 else 0.0
        t[2] = (size - px) / dx if dx != 0.0 else 0.0
        t[3] = -py / dy if dy != 0.0 else 0.0
        t[4] = (size - py) / dy if dy != 0.0 else 0.0
        for i in range(1, 5):
            t[i] = min(max(t[i], 0.0), 1.0)
        for i in range(2, 5):  # insertion sort of the four crossings
            v, j = t[i], i - 1
            while j >= 1 and t[j] > v:
                t[j + 1] = t[j]
                j -= 1
            t[j + 1] = v
        x0 = min(max(px, 0.0), size)
        y0 = min(max(py, 0.0), size)
        for i in range(1, 6):
            x1 = min(max(px + t[i] * dx, 0.0), size)
            y1 = min(max(py + t[i] * dy, 0.0), size)
            area += x0 * y1 - x1 * y0
            x0, y0 = x1, y1
    return 0.5 * area


@njit(cache=True, nogil=True)
def _fractions_kernel(quads, cell_m, lo, span, full, src, ix, iy, frac) -> int:
    n, k = quads.shape[0], quads.shape[1]
    xs, ys = np.empty(k), np.empty(k)
    m = 0
    for q in range(n):
        if full[q] == 0.0:
            continue
        for a in range(span[q, 0]):
            for b in range(span[q, 1]):
                cx, cy = lo[q, 0] + a, lo[q, 1] + b
                for v in range(k):
                    xs[v] = quads[q, v, 0] - cx * cell_m
                    ys[v] = quads[q, v, 1] - cy * cell_m
                f = _clipped_area(xs, ys, cell_m) / full[q]
                if f > 1e-12:
                    src[m], ix[m], iy[m], frac[m] = q, cx, cy, f
                    m += 1
    return m


def polygon_cell_fractions(
    quads: np.ndarray, cell_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact share of each small polygon's area falling in each grid cell.

    Args:
        quads: (n, k, 2) vertices (metres) of n simple polygons, e.g. source raster cells with
            their corners projected into the grid's CRS.
        cell_m: grid cell size in metres.

    Returns:
        (source index, ix, iy, fraction) per overlapping (polygon, cell) pair; the fractions of
        each polygon of non-zero area sum to 1. Degenerate polygons get no pairs.
    """
    quads = np.ascontiguousarray(quads, dtype=np.float64)
    lo = np.floor(quads.min(axis=1) / cell_m).astype(np.int64)
    span = np.floor(quads.max(axis=1) / cell_m).astype(np.int64) - lo + 1
    full = _shoelace(quads - quads[:, :1, :])
    size = int((span[:, 0] * span[:, 1]).sum()) if len(quads) else 0
    src, ix, iy = (np.empty(size, np.int64) for _ in range(3))
    frac = np.empty(size)
    m = _fractions_kernel(quads, float(cell_m), lo, span, full, src, ix, iy, frac)
    return src[:m], ix[:m], iy[:m], frac[:m]


def geometry_cell_areas(
    geoms: np.ndarray, cell_m: float, *, max_pairs: int = 2_000_000
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exact overlap area (m²) of each (multi)polygon with each grid cell it touches.

    Cells wholly inside a polygon count the full cell area without clipping; only boundary
    cells are intersected (shapely, vectorised). Invalid polygons are repaired first.

    Returns:
        (geometry index, ix, iy, area_m2) per overlapping pair.
    """
    geoms = np.array(geoms, dtype=object)
    invalid = ~shapely.is_valid(geoms)
    geoms[invalid] = shapely.make_valid(geoms[invalid])
    shapely.prepare(geoms)
    bounds = shapely.bounds(geoms)
    lo = np.floor(bounds[:, :2] / cell_m).astype(np.int64)
    hi = np.maximum(np.ceil(bounds[:, 2:] / cell_m).astype(np.int64) - 1, lo)
    n = hi - lo + 1
    count = n[:, 0] * n[:, 1]
    count[shapely.is_empty(geoms) | ~np.isfinite(bounds).all(axis=1)] = 0
    ends = np.cumsum(count)
    out: list[tuple[np.ndarray, ...]] = []
    first = 0
    while first < len(geoms):  # batches of geometries holding about max_pairs candidate cells
        base = ends[first - 1] if first else 0
        last = max(int(np.searchsorted(ends, base + max_pairs, side="right")), first + 1)
        gi = np.repeat(np.arange(first, last), count[first:last])
        starts = np.repeat(ends[first:last] - count[first:last], count[first:last])
        k = np.arange(len(gi)) + base - starts  # position of each cell within its geometry
        ix = lo[gi, 0] + k % n[gi, 0]
        iy = lo[gi, 1] + k // n[gi, 0]
        boxes = cell_boxes(ix, iy, cell_m)
        area = np.where(shapely.contains_properly(geoms[gi], boxes), cell_m * cell_m, 0.0)
        edge = (area == 0) & shapely.intersects(geoms[gi], boxes)
        area[edge] = shapely.area(shapely.intersection(geoms[gi[edge]], boxes[edge]))
        hit = area > 0
        out.append((gi[hit], ix[hit], iy[hit], area[hit]))
        first = last
    if not out:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty, np.zeros(0)
    gi, ix, iy, area = (np.concatenate(a) for a in zip(*out, strict=True))
    return gi, ix, iy, area


def area_fractions(cells: gpd.GeoSeries, area: shapely.Geometry) -> np.ndarray:
    """Share (0–1) of each cell polygon's area inside a study-area polygon (same CRS)."""
    geoms = np.asarray(cells.values, dtype=object)
    shapely.prepare(area)
    frac = np.where(shapely.contains_properly(area, geoms), 1.0, 0.0)
    edge = (frac == 0) & shapely.intersects(area, geoms)
    frac[edge] = shapely.area(shapely.intersection(geoms[edge], area)) / shapely.area(geoms[edge])
    return frac


def piece_fractions(geoms: np.ndarray, index: np.ndarray, ix: np.ndarray, iy: np.ndarray,
                    cell_m: float, area: shapely.Geometry) -> np.ndarray:
    """Share (0–1) inside ``area`` of each piece: the part of ``geoms[index]`` (a census
    polygon, a building) in cell (ix, iy). Where people live in a cell decides, not the cell's
    area: a cell on the area's border keeps all its people when they live inside."""
    boxes = cell_boxes(np.asarray(ix), np.asarray(iy), cell_m)
    shapely.prepare(area)
    frac = np.where(shapely.contains_properly(area, boxes), 1.0, 0.0)
    edge = (frac == 0) & shapely.intersects(area, boxes)
    if edge.any():
        pieces = shapely.intersection(np.asarray(geoms)[np.asarray(index)[edge]], boxes[edge])
        whole = shapely.area(pieces)
        inside = shapely.area(shapely.intersection(pieces, area))
        frac[edge] = np.where(whole > 0, inside / np.where(whole > 0, whole, 1.0), 0.0)
    return frac


def clip_grid(grid: DemandGrid, area: shapely.Geometry) -> DemandGrid:
    """Keep the people of each cell in proportion to the cell's area inside ``area``
    (a polygon in the grid's CRS); cells left empty are dropped."""
    frac = area_fractions(grid.cells.geometry, area)
    cells = grid.cells.copy()
    for g in grid.groups:
        cells[g] = cells[g].to_numpy() * frac
    return _reindexed(grid, cells[cells["total"].to_numpy() > 0])


# --- age structure --------------------------------------------------------------------------------


def apply_age_shares(
    grid: DemandGrid, shares: Mapping[str, float], *, source: str = "age shares"
) -> DemandGrid:
    """Add group columns as ``share × total`` for groups the grid does not have yet.

    ``shares`` maps group columns to the share (0–1) of the total population in the group.
    """
    cells = grid.cells.copy()
    meta = {**grid.meta, "derived": dict(grid.meta.get("derived", {}))}
    meta["notes"] = list(grid.meta.get("notes", []))
    for group, share in shares.items():
        if group == "total" or group in cells.columns:
            continue
        if not 0.0 <= float(share) <= 1.0:
            raise InputError(f"Age share {group} = {share} is not between 0 and 1; fix the setting.")
        cells[group] = cells["total"].to_numpy() * float(share)
        meta["derived"][group] = f"{float(share):.4f} × total ({source})"
    added = [g for g in shares if g in meta["derived"] and g not in grid.cells.columns]
    if added:
        meta["notes"].append(
            f"The source has no age structure: {', '.join(added)} are total × fixed shares "
            f"from {source}, the same in every cell."
        )
    return DemandGrid(cells, grid.cell_size_m, meta)
