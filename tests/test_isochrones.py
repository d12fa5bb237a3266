"""Isochrone polygons: they nest, and every reached street point lies inside its polygon."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_graph import random_network, reference_graph
from reference_isochrones import exact_isochrone

from planner.catchment import isochrones, snap_points, walking_distance_m
from planner.errors import InputError
from planner.synthetic import network_from_arrays, street_network


def _street_points(rng, net, n):
    """Points exactly on random edges."""
    e = rng.integers(0, net.n_edges, size=n)
    t = rng.uniform(0, 1, size=(n, 1))
    a, b = net.node_xy[net.edge_u[e]], net.node_xy[net.edge_v[e]]
    return a + t * (b - a)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(2, 20),
    st.integers(1, 3),
    st.lists(st.floats(0, 1500), min_size=1, max_size=4),
)
def test_isochrones_nest_and_hold_every_reached_point(seed, n_nodes, n_origins, budgets):
    rng = np.random.default_rng(seed)
    net = random_network(rng, n_nodes, 8, 2 if n_nodes > 5 else 1)
    origins = _street_points(rng, net, n_origins) + rng.normal(0, 10, size=(n_origins, 2))
    gdf = isochrones(net, origins, budgets, buffer_m=10.0)
    assert gdf["distance_m"].tolist() == sorted(set(budgets))
    polys = gdf.geometry.values
    for small, big in zip(polys[:-1], polys[1:], strict=False):
        assert shapely.difference(small, big).area <= 1e-6
    assert np.all(np.diff(gdf["street_m"]) >= -1e-9)

    samples = snap_points(net, _street_points(rng, net, 60))
    o = snap_points(net, origins)
    graph = reference_graph(net, o=o, p=samples)
    ref = nx.multi_source_dijkstra_path_length(graph, [("o", i) for i in range(n_origins)])
    dist = np.array([ref.get(("p", i), np.inf) for i in range(len(samples))])
    pts = shapely.points(_on_edge(net, samples))
    for budget, poly in zip(gdf["distance_m"], polys, strict=True):
        inside = dist <= budget
        assert shapely.covers(poly, pts[inside]).all()


def _on_edge(net, snapped):
    a = net.node_xy[net.edge_u[snapped.edge]]
    b = net.node_xy[net.edge_v[snapped.edge]]
    return a + (snapped.offset_m / net.edge_length[snapped.edge])[:, None] * (b - a)


def test_partial_edge_where_budget_ends():
    net = network_from_arrays([[0, 0], [100, 0], [200, 0]], [0, 1], [1, 2])
    gdf = isochrones(net, [[0.0, 0.0]], [50, 150], buffer_m=10, cell_m=1.0)
    p50, p150 = gdf.geometry.values
    assert gdf["street_m"].tolist() == pytest.approx([50, 150])
    assert p50.covers(shapely.Point(55, 0)) and not p50.covers(shapely.Point(65, 0))
    assert p150.covers(shapely.Point(155, 0)) and not p150.covers(shapely.Point(165, 0))
    # the buffer of the 50 m segment, drawn on 1 m cells: between the exact buffers of
    # 10 − 2.5 and 10 + 1 cells, and of about the same area
    segment = shapely.LineString([(0, 0), (50, 0)])
    assert p50.covers(segment.buffer(10 - 2.5)) and segment.buffer(10 + 1).covers(p50)
    assert p50.area == pytest.approx(50 * 20 + np.pi * 100, rel=0.06)


def test_origin_mid_edge_spreads_both_ways_and_includes_access_leg():
    net = network_from_arrays([[0, 0], [1000, 0]], [0], [1])
    gdf = isochrones(net, [[500.0, 40.0]], [100.0], buffer_m=5)
    poly = gdf.geometry.values[0]
    assert gdf["street_m"].iloc[0] == pytest.approx(2 * 60)  # access leg is not street
    assert poly.covers(shapely.Point(500, 20))  # on the access leg
    assert poly.covers(shapely.Point(559, 0)) and poly.covers(shapely.Point(441, 0))
    assert not poly.covers(shapely.Point(570, 0))


def test_minutes_and_several_origins():
    net = street_network(900, seed=5)
    levels = walking_distance_m([5, 10, 15], 1.2)
    seen = []
    gdf = isochrones(net, net.node_xy[[0, 899]], levels, progress=seen.append)
    assert seen == pytest.approx([1 / 3, 2 / 3, 1])
    assert gdf.crs == net.crs and len(gdf) == 3
    for xy in net.node_xy[[0, 899]]:
        assert gdf.geometry.values[0].covers(shapely.Point(xy))
    assert gdf.geometry.values[2].area > gdf.geometry.values[0].area


def test_bad_requests_name_the_fix():
    net = network_from_arrays([[0, 0], [100, 0]], [0], [1])
    with pytest.raises(InputError, match="distances_m"):
        isochrones(net, [[0.0, 0.0]], [])
    with pytest.raises(InputError, match="buffer_m"):
        isochrones(net, [[0.0, 0.0]], [100], buffer_m=0)
    with pytest.raises(InputError, match="max_access_m"):
        isochrones(net, [[0.0, 5000.0]], [100])


# --- against the exact construction: buffers of the reached street pieces, unioned ----------


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 30), st.integers(1, 3),
       st.floats(50, 1500), st.sampled_from([10.0, 25.0]))
def test_polygons_lie_within_two_cells_of_the_exact_buffers(seed, n_nodes, n_origins, budget,
                                                             buffer_m):
    """Drawn on cells of buffer_m / CELLS_PER_BUFFER, each polygon covers the exact buffer of
    the reached street shrunk by 2.5 cells and lies inside it grown by one cell."""
    rng = np.random.default_rng(seed)
    net = random_network(rng, n_nodes, 8, 2 if n_nodes > 5 else 1)
    origins = _street_points(rng, net, n_origins) + rng.normal(0, 10, size=(n_origins, 2))
    poly = isochrones(net, origins, [budget], buffer_m=buffer_m).geometry.values[0]
    exact = exact_isochrone(net, origins, budget, buffer_m)
    from planner.isochrones import CELLS_PER_BUFFER

    cell = buffer_m / CELLS_PER_BUFFER
    assert shapely.difference(exact(buffer_m - 2.5 * cell), poly).area <= 1e-6
    assert shapely.difference(poly, exact(buffer_m + cell)).area <= 1e-6


def test_sample_network_matches_the_exact_polygons():
    """On a real street network (central Helsinki) the drawn polygons differ from the exact
    ones by under 4 % of their area and stay within their stated tolerance."""
    import time

    from planner.io.osm import load_network
    from planner.sample import helsinki_pbf

    net = load_network(helsinki_pbf())
    origins = net.node_xy[np.random.default_rng(1).choice(net.n_nodes, 6, replace=False)]
    budget = 15 * 60 * 1.2
    t0 = time.perf_counter()
    poly = isochrones(net, origins, [budget]).geometry.values[0]
    drawn_s = time.perf_counter() - t0
    exact = exact_isochrone(net, origins, budget, 25.0)
    t0 = time.perf_counter()
    reference = exact(25.0)
    exact_s = time.perf_counter() - t0
    assert shapely.symmetric_difference(poly, reference).area <= 0.04 * reference.area
    assert shapely.difference(exact(25.0 - 12.5), poly).area <= 1e-6
    assert shapely.difference(poly, exact(25.0 + 5.0)).area <= 1e-6
    print(f"drawn {drawn_s:.3f} s, exact union {exact_s:.3f} s")
