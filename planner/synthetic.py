"""Deterministic street-like walk networks for tests and benchmarks, and networks from arrays.

:func:`street_network` lays out a jittered grid of street junctions, keeps a random spanning
tree so the network is always connected, removes a share of the other streets (blocks merged,
dead ends) and adds diagonal footpaths across some blocks. The same ``(n_nodes, seed)`` always
gives the same network.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyproj
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

from planner.errors import InputError
from planner.network import BuildReport, WalkNetwork, _assemble

#: UTM zone 49N, the zone of Taiyuan; synthetic coordinates sit near the city.
DEFAULT_CRS = "EPSG:32649"
ORIGIN_XY = (460_000.0, 4_190_000.0)


def network_from_arrays(
    node_xy: np.ndarray,
    edge_u: np.ndarray,
    edge_v: np.ndarray,
    *,
    crs: object = DEFAULT_CRS,
    edge_way: np.ndarray | None = None,
    ways: pd.DataFrame | None = None,
) -> WalkNetwork:
    """A WalkNetwork from node coordinates (m) and straight edges between them.

    Edge lengths are the straight distances between their end nodes. Loops (u == v), repeated
    edges and zero-length edges are refused.
    """
    node_xy = np.asarray(node_xy, dtype=np.float64)
    u = np.asarray(edge_u, dtype=np.int64)
    v = np.asarray(edge_v, dtype=np.int64)
    if node_xy.ndim != 2 or node_xy.shape[1] != 2 or not np.isfinite(node_xy).all():
        raise InputError("node_xy must be a finite (n, 2) array of x, y in metres.")
    if u.shape != v.shape or u.ndim != 1 or len(u) == 0:
        raise InputError("edge_u and edge_v must be equally long, non-empty 1-D node index arrays.")
    n = len(node_xy)
    if u.min() < 0 or v.min() < 0 or u.max() >= n or v.max() >= n:
        raise InputError(f"Edge end nodes must be node indices in 0..{n - 1}.")
    pairs = np.unique(np.minimum(u, v) * n + np.maximum(u, v))
    if np.any(u == v) or len(pairs) != len(u):
        raise InputError(
            "Edges must join two different nodes and appear once; drop loops and repeats."
        )
    length = np.hypot(*(node_xy[u] - node_xy[v]).T)
    if np.any(length <= 0):
        raise InputError("Some edges join nodes at the same coordinates; merge those nodes first.")
    if ways is None:
        ways = pd.DataFrame({"osm_id": ["0"], "highway": ["residential"], "name": [pd.NA]})
    ways = ways.astype({"osm_id": "string", "highway": "string", "name": "string"})
    way = np.zeros(len(u), np.int32) if edge_way is None else np.asarray(edge_way, np.int32)
    graph = coo_matrix((np.ones(len(u)), (u, v)), shape=(n, n))
    n_comp, labels = connected_components(graph, directed=False)
    report = BuildReport(
        ways_in=len(ways),
        ways_walkable=len(ways),
        components=int(n_comp),
        largest_component_nodes=int(np.bincount(labels).max()),
        kept_length_m=float(length.sum()),
        dropped_length_m=0.0,
        dropped_components=0,
        merged_vertices=0,
    )
    return _assemble(
        pyproj.CRS.from_user_input(crs),
        node_xy,
        u.astype(np.int32),
        v.astype(np.int32),
        length,
        way,
        ways,
        report,
    )


def street_network(
    n_nodes: int,
    seed: int = 0,
    spacing_m: float = 80.0,
    *,
    removed: float = 0.12,
    diagonals: float = 0.05,
    jitter: float = 0.2,
) -> WalkNetwork:
    """A connected street-like network of exactly ``n_nodes`` nodes.

    Args:
        n_nodes: number of nodes (≥ 4).
        seed: random seed; the same seed gives the same network.
        spacing_m: grid spacing between neighbouring junctions (m).
        removed: share of the streets outside a random spanning tree that are removed.
        diagonals: share of blocks crossed by a diagonal footpath.
        jitter: junctions move by up to this share of ``spacing_m`` in x and y.
    """
    if n_nodes < 4:
        raise InputError(f"n_nodes must be at least 4, not {n_nodes}.")
    if not 0 <= jitter < 0.5 or not 0 <= removed <= 1 or not 0 <= diagonals <= 1:
        raise InputError("jitter must be in [0, 0.5); removed and diagonals in [0, 1].")
    rng = np.random.default_rng(seed)
    cols = int(np.ceil(np.sqrt(n_nodes)))
    node = np.arange(n_nodes)
    row, col = node // cols, node % cols
    xy = np.column_stack([col, row]).astype(np.float64) * spacing_m
    xy += rng.uniform(-jitter, jitter, size=xy.shape) * spacing_m
    xy += np.asarray(ORIGIN_XY)

    right = node[(col < cols - 1) & (node + 1 < n_nodes)]
    up = node[node + cols < n_nodes]
    u = np.concatenate([right, up])
    v = np.concatenate([right + 1, up + cols])
    weights = rng.uniform(1.0, 2.0, size=len(u))
    tree = minimum_spanning_tree(coo_matrix((weights, (u, v)), shape=(n_nodes, n_nodes)))
    tree = tree.tocoo()
    in_tree = np.zeros(len(u), dtype=bool)
    key = u * n_nodes + v
    tree_key = np.minimum(tree.row, tree.col).astype(np.int64) * n_nodes + np.maximum(
        tree.row, tree.col
    )
    in_tree[np.isin(key, tree_key)] = True
    keep = in_tree | (rng.random(len(u)) >= removed)
    u, v = u[keep], v[keep]

    corner = node[(col < cols - 1) & (node + cols + 1 < n_nodes)]
    corner = corner[rng.random(len(corner)) < diagonals]
    flip = rng.random(len(corner)) < 0.5
    du = np.where(flip, corner + 1, corner)
    dv = np.where(flip, corner + cols, corner + cols + 1)
    ways = pd.DataFrame(
        {
            "osm_id": ["street", "path"],
            "highway": ["residential", "footway"],
            "name": ["synthetic street", "synthetic footpath"],
        }
    )
    edge_way = np.concatenate([np.zeros(len(u)), np.ones(len(du))])
    return network_from_arrays(
        xy,
        np.concatenate([u, du]),
        np.concatenate([v, dv]),
        edge_way=edge_way,
        ways=ways,
    )
