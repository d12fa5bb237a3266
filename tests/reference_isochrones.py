"""The exact isochrone construction the drawn polygons are checked against, as the planner
built them before drawing on a grid: the union of ``buffer_m`` buffers of the street pieces
reached within the budget (whole and partial edges, each origin's own edge both ways, its
access leg). Used by the tests and by benchmarks/isochrones.py."""

from __future__ import annotations

import numpy as np
import shapely

from planner.isochrones import _node_distances, _union_length, reached_intervals
from planner.snap import snap_points


def exact_isochrone(net, xy, budget, buffer_m, max_access_m=300.0):
    """A function of the buffer width (m) giving the exact polygon of ``budget`` metres."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    snapped = snap_points(net, xy, max_access_m)
    dist = _node_distances(net, snapped, budget)
    pieces, _ = _reached_pieces(net, xy, snapped, dist, budget)
    # buffering each piece and merging with a cascaded union is much faster than buffering
    # one collection of thousands of pieces (GEOS unions those pairwise)
    return lambda r: shapely.union_all(shapely.buffer(pieces, r))


def _reached_pieces(network, xy, snapped, dist, budget):
    """Line pieces (and points, where a budget ends exactly on a node) reached within budget,
    and the length (m) of street they cover."""
    length = network.edge_length
    a = network.node_xy[network.edge_u]
    b = network.node_xy[network.edge_v]
    edge_ids, t0, t1 = reached_intervals(network, snapped, dist, budget)
    street_m = _union_length(edge_ids, t0, t1, 2.0 * length.max() + 1.0)

    frac0 = (t0 / length[edge_ids])[:, None]
    frac1 = (t1 / length[edge_ids])[:, None]
    ab = b[edge_ids] - a[edge_ids]
    segments = np.stack([a[edge_ids] + frac0 * ab, a[edge_ids] + frac1 * ab], axis=1)
    pieces = [shapely.linestrings(segments)]

    ok = np.flatnonzero(snapped.ok)
    o_edge, o_off, o_acc = snapped.edge[ok], snapped.offset_m[ok], snapped.access_m[ok]
    origin = xy[ok]
    proj = a[o_edge] + (o_off / length[o_edge])[:, None] * (b[o_edge] - a[o_edge])
    has_leg = o_acc > 0
    leg_frac = (np.minimum(budget, o_acc[has_leg]) / o_acc[has_leg])[:, None]
    leg_end = origin[has_leg] + leg_frac * (proj[has_leg] - origin[has_leg])
    pieces.append(shapely.linestrings(np.stack([origin[has_leg], leg_end], axis=1)))
    at_budget = np.flatnonzero(dist == budget)
    pieces.append(shapely.points(np.concatenate([origin, network.node_xy[at_budget]])))
    return np.concatenate(pieces), street_m
