"""Independent references for the catchment tests: networkx graphs with snapped points inserted,
and random graphs to feed them."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np

from planner.network import WalkNetwork
from planner.snap import Snapped
from planner.synthetic import network_from_arrays

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TAIYUAN_ROADS = SHARED_DATA / "taiyuan" / "road.json"


def reference_graph(network: WalkNetwork, **points: Snapped) -> nx.Graph:
    """The network as a networkx graph, every snapped point inserted as its own node.

    Network nodes keep their integer ids; point ``i`` of the set named ``name`` becomes node
    ``(name, i)``, joined by its access leg to a node ``("on", name, i)`` that splits its edge at
    the snapped offset.
    """
    graph = nx.Graph()
    graph.add_nodes_from(range(network.n_nodes))
    on_edge: dict[int, list[tuple[float, object]]] = {}
    for name, snapped in points.items():
        for i in range(len(snapped)):
            graph.add_node((name, i))
            if not snapped.ok[i]:
                continue
            split = ("on", name, i)
            graph.add_edge((name, i), split, weight=float(snapped.access_m[i]))
            on_edge.setdefault(int(snapped.edge[i]), []).append((float(snapped.offset_m[i]), split))
    for e in range(network.n_edges):
        u, v, length = int(network.edge_u[e]), int(network.edge_v[e]), float(network.edge_length[e])
        prev, prev_off = u, 0.0
        for off, split in sorted(on_edge.get(e, []), key=lambda item: item[0]):
            graph.add_edge(prev, split, weight=off - prev_off)
            prev, prev_off = split, off
        graph.add_edge(prev, v, weight=length - prev_off)
    return graph


def random_network(rng: np.random.Generator, n_nodes: int, extra: int, parts: int) -> WalkNetwork:
    """A random graph of straight edges on ``n_nodes`` points in a 1 km square, made of
    ``parts`` separately connected groups plus ``extra`` random edges within groups."""
    xy = rng.uniform(0, 1000, size=(n_nodes, 2))
    group = rng.permutation(np.arange(n_nodes) % parts)
    edges = set()
    for g in range(parts):
        members = np.flatnonzero(group == g)
        order = rng.permutation(members)
        for k in range(1, len(order)):
            a, b = int(order[k]), int(order[rng.integers(0, k)])
            edges.add((min(a, b), max(a, b)))
        for _ in range(extra if len(members) > 2 else 0):
            a, b = rng.choice(members, size=2, replace=False)
            edges.add((int(min(a, b)), int(max(a, b))))
    if not edges:
        edges.add((0, 1))
    uv = np.array(sorted(edges))
    return network_from_arrays(xy, uv[:, 0], uv[:, 1])


def random_points(rng: np.random.Generator, network: WalkNetwork, n: int) -> np.ndarray:
    """Points: half near random edges (mid-edge, a little to the side), half anywhere."""
    e = rng.integers(0, network.n_edges, size=n)
    a = network.node_xy[network.edge_u[e]]
    b = network.node_xy[network.edge_v[e]]
    t = rng.uniform(0, 1, size=(n, 1))
    near = a + t * (b - a) + rng.normal(0, 15, size=(n, 2))
    anywhere = rng.uniform(-100, 1100, size=(n, 2))
    return np.where(rng.random((n, 1)) < 0.6, near, anywhere)
