"""Walking-distance polygons that nest: the 300 m polygon lies inside the 500 m one, and so on.

A polygon is the buffer of the street pieces reached within the budget: whole edges, the
partial edge where the budget runs out (from each end that is reached), the stretch of each
origin's own edge either side of it, and the origin's access leg. The pieces for a smaller budget
are a subset of those for a larger one, and each polygon is also unioned with the previous one,
so the polygons nest by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import geopandas as gpd
import numpy as np
import shapely

from planner.errors import InputError
from planner.kernels import graph_arrays, multi_source_dijkstra
from planner.network import WalkNetwork
from planner.snap import Snapped, points_xy, snap_points


def isochrones(
    network: WalkNetwork,
    origin_xy: np.ndarray,
    distances_m: Sequence[float],
    *,
    buffer_m: float = 25.0,
    max_access_m: float = 300.0,
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
    rows, geoms = [], []
    previous = None
    for i, budget in enumerate(budgets):
        pieces, street_m = _reached_pieces(network, xy, snapped, dist, budget)
        # buffering each piece and merging with a cascaded union is ~40x faster than
        # buffering one collection of thousands of pieces (GEOS unions those pairwise)
        poly = shapely.union_all(shapely.buffer(pieces, buffer_m))
        if previous is not None:
            poly = shapely.union(poly, previous)
        previous = poly
        rows.append({"distance_m": float(budget), "street_m": street_m})
        geoms.append(poly)
        if progress is not None:
            progress((i + 1) / len(budgets))
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=network.crs)


def _node_distances(network: WalkNetwork, snapped: Snapped, bound: float) -> np.ndarray:
    """Walking distance (m) from the nearest origin to every node, up to ``bound``."""
    ok = np.flatnonzero(snapped.ok)
    edge, off, acc = snapped.edge[ok], snapped.offset_m[ok], snapped.access_m[ok]
    seeds = np.concatenate([network.edge_u[edge], network.edge_v[edge]]).astype(np.int64)
    start = np.concatenate([acc + off, acc + network.edge_length[edge] - off])
    dist, _ = multi_source_dijkstra(
        *graph_arrays(network), seeds, start, np.zeros(len(seeds), np.int64), bound, False
    )
    return dist


def _reached_pieces(network, xy, snapped, dist, budget):
    """Line pieces (and points, where a budget ends exactly on a node) reached within budget,
    and the length (m) of street they cover."""
    length = network.edge_length
    a = network.node_xy[network.edge_u]
    b = network.node_xy[network.edge_v]
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

    street_m = _union_length(edge_ids, t0, t1, 2.0 * length.max() + 1.0)

    frac0 = (t0 / length[edge_ids])[:, None]
    frac1 = (t1 / length[edge_ids])[:, None]
    ab = b[edge_ids] - a[edge_ids]
    segments = np.stack([a[edge_ids] + frac0 * ab, a[edge_ids] + frac1 * ab], axis=1)
    pieces = [shapely.linestrings(segments)]

    origin = xy[ok]
    proj = a[o_edge] + (o_off / length[o_edge])[:, None] * (b[o_edge] - a[o_edge])
    has_leg = o_acc > 0
    leg_frac = (np.minimum(budget, o_acc[has_leg]) / o_acc[has_leg])[:, None]
    leg_end = origin[has_leg] + leg_frac * (proj[has_leg] - origin[has_leg])
    pieces.append(shapely.linestrings(np.stack([origin[has_leg], leg_end], axis=1)))
    at_budget = np.flatnonzero(dist == budget)
    pieces.append(shapely.points(np.concatenate([origin, network.node_xy[at_budget]])))
    return np.concatenate(pieces), street_m


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
