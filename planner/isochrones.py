"""Walking-distance polygons that nest: the 300 m polygon lies inside the 500 m one, and so on.

A polygon is the area within ``buffer_m`` of the street reached within the budget: whole edges,
the partial edge where the budget runs out, the stretch of each origin's own edge either side
of it, and the origin's access leg. It is drawn on a grid of ``cell_m`` squares: every street
point is sampled (every half cell) with its walking distance, each cell keeps the smallest, and
a budget's polygon is the union of the cells within ``buffer_m`` (Euclidean distance transform)
of a cell reached within it. Drawn on one grid, the polygons nest exactly, every reached street
point lies inside its polygon, and the outline lies within one cell diagonal of the exact
buffer of the reached street. The cells are outlined by a compiled trace along their edges
(:mod:`planner.outline`); the whole is many times faster than buffering and unioning street
pieces (``benchmarks/isochrones.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import geopandas as gpd
import numpy as np
import shapely
from numba import njit

from planner.errors import InputError
from planner.kernels import graph_arrays, multi_source_search, search_step
from planner.network import WalkNetwork
from planner.outline import mask_polygons
from planner.snap import Snapped, points_xy, snap_points


def isochrones(
    network: WalkNetwork,
    origin_xy: np.ndarray,
    distances_m: Sequence[float],
    *,
    buffer_m: float = 25.0,
    max_access_m: float = 300.0,
    cell_m: float | None = None,
    progress: Callable[[float], None] | None = None,
) -> gpd.GeoDataFrame:
    """Polygons of the area within each walking distance of the origin(s).

    Args:
        network: the walk network.
        origin_xy: one point (2,) or several (k, 2) in metres (network CRS), e.g. every
            facility of a category; the polygon is then the area near any of them.
        distances_m: walking distances in metres (e.g. ``walking_distance_m([5, 10, 15], 1.2)``).
        buffer_m: how far (m) either side of a reached street the polygon extends.
        max_access_m: largest access leg (m) from an origin to the street.
        cell_m: grid cell (m) the polygons are drawn on, their tolerance (default
            ``buffer_m / CELLS_PER_BUFFER``, grown when the area would need more than MAX_CELLS cells).
        progress: called with the finished fraction (0–1) after each polygon.

    Returns:
        GeoDataFrame (network CRS), one row per distance in increasing order, with
        ``distance_m``, ``street_m`` (reached street length, m) and the polygon.
    """
    budgets = np.unique(np.asarray(distances_m, dtype=np.float64).ravel())
    if len(budgets) == 0 or not np.isfinite(budgets).all() or budgets[0] < 0:
        raise InputError(
            f"distances_m must be one or more finite distances ≥ 0 metres, not {distances_m!r}; "
            "e.g. [300, 500, 1000]."
        )
    if not np.isfinite(buffer_m) or buffer_m <= 0:
        raise InputError(f"buffer_m must be a positive width in metres, not {buffer_m}; try 25.")
    xy = points_xy(origin_xy, network, "isochrone origins")
    snapped = snap_points(network, xy, max_access_m)
    if not snapped.ok.any():
        raise InputError(f"No isochrone origin can reach the network: {snapped.describe_far()}.")
    dist = _node_distances(network, snapped, budgets[-1])
    grid = _walk_grid(network, xy, snapped, dist, budgets[-1], buffer_m, cell_m)
    rows, geoms = [], []
    for i, budget in enumerate(budgets):
        street_m = _reached_length(network, snapped, dist, budget)
        rows.append({"distance_m": float(budget), "street_m": street_m})
        geoms.append(grid.polygon(budget, buffer_m))
        if progress is not None:
            progress((i + 1) / len(budgets))
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=network.crs)


#: Cells across ``buffer_m``: the outline lies between the exact buffers of buffer_m − 2.5
#: cells and buffer_m + 1 cell (−12.5 m / +5 m for a 25 m buffer); the map simplifies it by 3 m.
CELLS_PER_BUFFER = 5
#: Largest grid (cells) one isochrone set is drawn on; larger areas get larger cells.
MAX_CELLS = 16_000_000


class _WalkGrid:
    """Per grid cell, the smallest walking distance (m) of a street point whose cell centre
    lies within ``buffer_m`` of this cell's centre (inf: none)."""

    def __init__(self, value: np.ndarray, x0: float, y1: float, cell_m: float):
        self.value, self.x0, self.y1, self.cell_m = value, x0, y1, cell_m

    def polygon(self, budget: float, buffer_m: float) -> shapely.Geometry:
        """The cells within ``buffer_m`` of a cell reached within ``budget``, as polygons."""
        near = self.value <= budget
        rows, cols = np.flatnonzero(near.any(axis=1)), np.flatnonzero(near.any(axis=0))
        if len(rows) == 0:
            return shapely.Polygon()
        # outline only the rows and columns holding the area (a level's own extent)
        parts = mask_polygons(near[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1],
                              self.x0 + cols[0] * self.cell_m, self.y1 - rows[0] * self.cell_m,
                              self.cell_m)
        return parts[0] if len(parts) == 1 else shapely.multipolygons(parts)


@njit(cache=True, nogil=True)
def _spread_min(value, d_row, d_col):
    """Each cell's minimum over the cells at the offsets (d_row, d_col) around it: a minimum
    filter over a disk, run from the cells that hold a street point."""
    out = np.full(value.shape, np.inf)
    height, width = value.shape
    for r in range(height):
        for c in range(width):
            v = value[r, c]
            if v == np.inf:
                continue
            for k in range(d_row.shape[0]):
                rr, cc = r + d_row[k], c + d_col[k]
                if 0 <= rr < height and 0 <= cc < width and v < out[rr, cc]:
                    out[rr, cc] = v
    return out


def _walk_grid(network, xy, snapped, dist, bound, buffer_m, cell_m) -> _WalkGrid:
    """Sample every street point reached within ``bound`` every half cell, with its walking
    distance, onto a grid covering them and ``buffer_m`` around; spread each cell's minimum
    over the cells within ``buffer_m``."""
    cell = float(cell_m or buffer_m / CELLS_PER_BUFFER)
    sx, sy, sv = _street_samples(network, xy, snapped, dist, bound, cell)
    x0, x1 = sx.min() - buffer_m, sx.max() + buffer_m
    y0, y1 = sy.min() - buffer_m, sy.max() + buffer_m
    wide = float(np.sqrt((x1 - x0) * (y1 - y0) / MAX_CELLS))
    if cell_m is None and wide > cell:  # a large area: larger cells, sampled at their spacing
        cell = wide
        sx, sy, sv = _street_samples(network, xy, snapped, dist, bound, cell)
    x0, y1 = x0 - cell, y1 + cell  # one cell of margin so outlines never touch the grid's edge
    width = int(np.ceil((x1 + cell - x0) / cell)) + 1
    height = int(np.ceil((y1 - (y0 - cell)) / cell)) + 1
    value = np.full((height, width), np.inf)
    col = ((sx - x0) / cell).astype(np.int64)
    row = ((y1 - sy) / cell).astype(np.int64)
    np.minimum.at(value, (row, col), sv)
    # a cell joins when its centre is within buffer_m less half a cell of a reached cell's
    # centre: its own half cell then brings the outline to buffer_m on average
    radius = max(buffer_m - cell / 2, 0.0)
    reach = int(radius / cell)
    d_row, d_col = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    disk = (d_row**2 + d_col**2) * cell**2 <= radius**2
    return _WalkGrid(_spread_min(value, d_row[disk].astype(np.int64),
                                 d_col[disk].astype(np.int64)), x0, y1, cell)


def _street_samples(network, xy, snapped, dist, bound, cell):
    """Points every half ``cell`` (m) along every edge reached within ``bound``, along each
    origin's own edge and access leg, with their walking distance: x, y, metres."""
    step = cell / 2
    length = network.edge_length
    du, dv = dist[network.edge_u], dist[network.edge_v]
    edges = np.flatnonzero(np.minimum(du, dv) <= bound)
    ok = np.flatnonzero(snapped.ok)
    o_edge, o_off, o_acc = snapped.edge[ok], snapped.offset_m[ok], snapped.access_m[ok]
    # every edge sampled from both ends; an origin's own edge also from the origin
    e = np.concatenate([edges, o_edge])
    n = np.ceil(length[e] / step).astype(np.int64) + 1
    which = np.repeat(np.arange(len(e)), n)
    t = (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)) * np.repeat(length[e] / (n - 1), n)
    edge = e[which]
    value = np.minimum(du[edge] + t, dv[edge] + length[edge] - t)
    own = which >= len(edges)
    origin = which[own] - len(edges)
    value[own] = o_acc[origin] + np.abs(t[own] - o_off[origin])
    a, b = network.node_xy[network.edge_u[edge]], network.node_xy[network.edge_v[edge]]
    pts = a + (t / length[edge])[:, None] * (b - a)
    # access legs: from the origin (0 m) to its projection on the street
    m = np.ceil(o_acc / step).astype(np.int64) + 1
    leg = np.repeat(np.arange(len(ok)), m)
    s = (np.arange(m.sum()) - np.repeat(np.cumsum(m) - m, m)) / np.repeat(np.maximum(m - 1, 1), m)
    proj = network.node_xy[network.edge_u[o_edge]] + (o_off / length[o_edge])[:, None] * (
        network.node_xy[network.edge_v[o_edge]] - network.node_xy[network.edge_u[o_edge]])
    leg_pts = xy[ok][leg] + s[:, None] * (proj[leg] - xy[ok][leg])
    leg_value = s * o_acc[leg]
    keep = value <= bound
    x = np.concatenate([pts[keep, 0], leg_pts[:, 0]])
    y = np.concatenate([pts[keep, 1], leg_pts[:, 1]])
    return x, y, np.concatenate([value[keep], leg_value])


def _node_distances(network: WalkNetwork, snapped: Snapped, bound: float) -> np.ndarray:
    """Walking distance (m) from the nearest origin to every node, up to ``bound``."""
    ok = np.flatnonzero(snapped.ok)
    edge, off, acc = snapped.edge[ok], snapped.offset_m[ok], snapped.access_m[ok]
    seeds = np.concatenate([network.edge_u[edge], network.edge_v[edge]]).astype(np.int64)
    start = np.concatenate([acc + off, acc + network.edge_length[edge] - off])
    dist, _ = multi_source_search(
        *graph_arrays(network),
        seeds,
        start,
        np.zeros(len(seeds), np.int64),
        bound,
        False,
        search_step(network),
    )
    return dist


def reached_intervals(network, snapped, dist, budget) -> tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray]:
    """The stretches of street reached within ``budget`` (m): whole edges, partial edges from
    each reached end, and each origin's own edge either side of it, as (edge, t0, t1) with
    t0 ≤ t1 metres from the edge's ``edge_u`` (stretches may overlap)."""
    length = network.edge_length
    ru = np.clip(budget - dist[network.edge_u], 0.0, length)
    rv = np.clip(budget - dist[network.edge_v], 0.0, length)
    whole = ru + rv >= length
    from_u = ~whole & (ru > 0)
    from_v = ~whole & (rv > 0)
    e_whole, e_u, e_v = np.flatnonzero(whole), np.flatnonzero(from_u), np.flatnonzero(from_v)
    edge_ids = np.concatenate([e_whole, e_u, e_v])
    t0 = np.concatenate([np.zeros(len(e_whole)), np.zeros(len(e_u)), length[e_v] - rv[e_v]])
    t1 = np.concatenate([length[e_whole], ru[e_u], length[e_v]])
    ok = np.flatnonzero(snapped.ok)
    o_edge, o_off, o_acc = snapped.edge[ok], snapped.offset_m[ok], snapped.access_m[ok]
    rem = budget - o_acc
    on_edge = rem > 0
    edge_ids = np.concatenate([edge_ids, o_edge[on_edge]])
    t0 = np.concatenate([t0, np.maximum(o_off - rem, 0.0)[on_edge]])
    t1 = np.concatenate([t1, np.minimum(o_off + rem, length[o_edge])[on_edge]])
    return edge_ids, t0, t1


def _reached_length(network, snapped, dist, budget) -> float:
    """Length (m) of street reached within ``budget`` (overlaps counted once)."""
    edge_ids, t0, t1 = reached_intervals(network, snapped, dist, budget)
    return _union_length(edge_ids, t0, t1, 2.0 * network.edge_length.max() + 1.0)


def _union_length(edge, t0, t1, stride):
    """Total length (m) of the union of intervals [t0, t1] along each edge.

    Intervals are shifted by ``edge * stride`` (stride > twice the longest edge) so one sort
    and one running maximum handle every edge at once.
    """
    start = t0 + edge * stride
    end = t1 + edge * stride
    order = np.argsort(start, kind="stable")
    start, end = start[order], end[order]
    reach = np.maximum.accumulate(end)
    before = np.concatenate([[-np.inf], reach[:-1]])
    return float(np.maximum(end - np.maximum(start, before), 0.0).sum())
