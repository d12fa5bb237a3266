"""Catchment engine against networkx's Dijkstra, hand computations and edge cases."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference_graph import (
    TAIYUAN_ROADS,
    random_network,
    random_points,
    reference_graph,
)

from planner.catchment import (
    coverage_matrix,
    minutes_by_group,
    nearest,
    nearest_by_category,
    nearest_distance,
    snap_points,
    walking_distance_m,
    walking_minutes,
)
from planner.errors import InputError
from planner.synthetic import network_from_arrays, street_network

TOL = 1e-6

graphs = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**32 - 1),
        "n_nodes": st.integers(2, 30),
        "extra": st.integers(0, 20),
        "parts": st.integers(1, 3),
        "n_demand": st.integers(1, 40),
        "n_sites": st.integers(1, 6),
        "bound": st.floats(0.0, 1500.0),
        "max_access": st.sampled_from([30.0, 150.0, 300.0]),
    }
)


def _case(p):
    rng = np.random.default_rng(p["seed"])
    parts = min(p["parts"], p["n_nodes"] // 2)
    net = random_network(rng, p["n_nodes"], p["extra"], max(parts, 1))
    demand = snap_points(net, random_points(rng, net, p["n_demand"]), p["max_access"])
    sites = snap_points(net, random_points(rng, net, p["n_sites"]), p["max_access"])
    return net, demand, sites


def _reference_nearest(net, demand, sites, bound):
    graph = reference_graph(net, d=demand, s=sites)
    sources = [("s", i) for i in range(len(sites)) if sites.ok[i]]
    ref = nx.multi_source_dijkstra_path_length(graph, sources) if sources else {}
    return np.array([ref.get(("d", i), np.inf) for i in range(len(demand))])


def _assert_bounded_equal(got, ref, bound):
    """Equal to 1e-6 m within the bound, inf beyond; pairs within 1e-6 m of the bound may go
    either way."""
    borderline = np.abs(ref - bound) <= TOL
    inside = (ref <= bound) & ~borderline
    outside = (ref > bound) & ~borderline
    np.testing.assert_allclose(got[inside], ref[inside], rtol=0, atol=TOL)
    assert np.all(np.isinf(got[outside]))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs)
def test_nearest_equals_networkx(p):
    net, demand, sites = _case(p)
    ref = _reference_nearest(net, demand, sites, p["bound"])
    got = nearest(net, demand, sites, p["bound"])
    _assert_bounded_equal(got.distance_m, ref, p["bound"])
    assert np.all(np.isinf(got.distance_m[~demand.ok]))
    # the facility named as nearest really is at that distance
    hit = np.flatnonzero(np.isfinite(got.distance_m))
    if len(hit):
        graph = reference_graph(net, d=demand, s=sites)
        for i in hit[:5]:
            d = nx.dijkstra_path_length(graph, ("s", int(got.facility[i])), ("d", int(i)))
            assert d == pytest.approx(got.distance_m[i], abs=TOL)
    assert np.all(got.facility[np.isinf(got.distance_m)] == -1)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs)
def test_coverage_equals_networkx(p):
    net, demand, sites = _case(p)
    bound = p["bound"]
    graph = reference_graph(net, d=demand, s=sites)
    cov = coverage_matrix(net, sites, demand, bound, workers=2)
    assert cov.shape == (len(sites), len(demand))
    for s in range(len(sites)):
        row = np.full(len(demand), np.inf)
        sl = slice(cov.indptr[s], cov.indptr[s + 1])
        row[cov.indices[sl]] = cov.data[sl]
        assert len(np.unique(cov.indices[sl])) == len(cov.indices[sl])
        if sites.ok[s]:
            lengths = nx.single_source_dijkstra_path_length(graph, ("s", s))
            ref = np.array([lengths.get(("d", i), np.inf) for i in range(len(demand))])
        else:
            ref = np.full(len(demand), np.inf)
        _assert_bounded_equal(row, ref, bound)


def test_same_edge_walk_is_direct():
    net = network_from_arrays([[0, 0], [100, 0], [100, 500]], [0, 1], [1, 2])
    d = nearest_distance(net, [[70, -3]], [[30, 5]], 1000)
    assert d[0] == pytest.approx(5 + 40 + 3, abs=1e-12)
    cov = coverage_matrix(net, [[30, 5]], [[70, -3], [100, 200]], 1000)
    assert cov.toarray()[0] == pytest.approx([48, 5 + 70 + 200])


def test_unreachable_is_inf_and_zero_distance_is_kept():
    # two components: 0-1 and 2-3, 1 km apart
    net = network_from_arrays([[0, 0], [100, 0], [1000, 0], [1100, 0]], [0, 2], [1, 3])
    demand = np.array([[50, 0], [1050, 0], [50, 900], [90, 0]])
    d = nearest_distance(net, demand, [[50, 0]], 30.0)
    assert d[0] == 0.0
    assert np.isinf(d[1])  # other component
    assert np.isinf(d[2])  # 900 m from any street: not snapped
    assert np.isinf(d[3])  # 40 m > bound 30 m
    cov = coverage_matrix(net, [[50, 0]], demand, 30.0)
    assert cov.indices.tolist() == [0] and cov.data.tolist() == [0.0]
    assert cov.nnz == 1  # the explicit zero is stored


def test_no_facilities_gives_all_inf():
    net = street_network(100, seed=1)
    d = nearest(net, net.node_xy[:10], np.empty((0, 2)), 500)
    assert np.all(np.isinf(d.distance_m)) and np.all(d.facility == -1)


def test_unbounded_nearest_matches_scipy_on_nodes():
    from scipy.sparse.csgraph import dijkstra

    net = street_network(900, seed=3)
    sources = [5, 400, 777]
    ref = dijkstra(net.adjacency(), indices=sources, directed=False).min(axis=0)
    got = nearest_distance(net, net.node_xy, net.node_xy[sources], np.inf)
    np.testing.assert_allclose(got, ref, rtol=0, atol=TOL)


def test_nearest_by_category_and_progress():
    import geopandas as gpd

    net = street_network(400, seed=2)
    facilities = gpd.GeoDataFrame(
        {"category": ["clinic", "pharmacy", "clinic"]},
        geometry=gpd.points_from_xy(*net.node_xy[[10, 200, 390]].T),
        crs=net.crs,
    )
    seen = []
    table = nearest_by_category(
        net, net.node_xy, facilities, {"clinic": 500.0, "pharmacy": 300.0, "kindergarten": 300.0},
        progress=seen.append,
    )  # fmt: skip
    assert list(table.columns) == ["clinic", "pharmacy", "kindergarten"]
    np.testing.assert_array_equal(
        table["clinic"], nearest_distance(net, net.node_xy, net.node_xy[[10, 390]], 500.0)
    )
    assert np.all(np.isinf(table["kindergarten"]))
    assert seen[-1] == 1.0 and seen == sorted(seen)


def test_coverage_progress_and_batches_agree():
    net = street_network(2500, seed=4)
    rng = np.random.default_rng(0)
    sites = net.node_xy[rng.choice(net.n_nodes, 300, replace=False)] + 7.0
    demand = net.node_xy + 11.0
    seen = []
    many = coverage_matrix(net, sites, demand, 400.0, progress=seen.append, workers=2)
    one = coverage_matrix(net, sites, demand, 400.0, workers=1)
    assert seen[-1] == pytest.approx(1.0) and len(seen) > 1
    assert np.array_equal(many.indptr, one.indptr) and many.nnz > 0
    assert np.array_equal(many.indices, one.indices) and np.array_equal(many.data, one.data)
    near = nearest_distance(net, demand, sites, 400.0)
    col_min = np.full(len(demand), np.inf)
    np.minimum.at(col_min, many.indices, many.data)
    np.testing.assert_array_equal(col_min, near)


@pytest.mark.shared
def test_taiyuan_sample_equals_networkx():
    if not TAIYUAN_ROADS.is_file():
        pytest.skip(f"Taiyuan street layer not found at {TAIYUAN_ROADS}")
    from planner.io.osm import load_network

    net = load_network(TAIYUAN_ROADS)
    rng = np.random.default_rng(42)
    lo, hi = net.node_xy.min(axis=0), net.node_xy.max(axis=0)
    demand = snap_points(net, rng.uniform(lo, hi, size=(3000, 2)))
    picks = rng.choice(net.n_edges, 12, replace=False)
    mid = (net.node_xy[net.edge_u[picks]] + net.node_xy[net.edge_v[picks]]) / 2
    sites = snap_points(net, mid + rng.normal(0, 20, size=mid.shape))
    graph = reference_graph(net, d=demand, s=sites)
    bound = 1000.0
    cov = coverage_matrix(net, sites, demand, bound)
    for s in range(len(sites)):
        lengths = nx.single_source_dijkstra_path_length(graph, ("s", s), cutoff=bound + 1)
        ref = np.array([lengths.get(("d", i), np.inf) for i in range(len(demand))])
        row = np.full(len(demand), np.inf)
        sl = slice(cov.indptr[s], cov.indptr[s + 1])
        row[cov.indices[sl]] = cov.data[sl]
        _assert_bounded_equal(row, ref, bound)
    ref = nx.multi_source_dijkstra_path_length(graph, [("s", s) for s in range(len(sites))])
    ref = np.array([ref.get(("d", i), np.inf) for i in range(len(demand))])
    _assert_bounded_equal(nearest_distance(net, demand, sites, bound), ref, bound)


def test_time_mode_helpers():
    assert walking_minutes(1080.0, 1.2) == pytest.approx(15.0)
    assert walking_distance_m(15, 0.8) == pytest.approx(720.0)
    assert np.isinf(walking_minutes(np.inf, 1.2))
    table = minutes_by_group(np.array([720.0, np.inf]), {"total": 1.2, "age_60_plus": 0.8})
    assert isinstance(table, pd.DataFrame)
    assert table["total"].iloc[0] == pytest.approx(10.0)
    assert table["age_60_plus"].iloc[0] == pytest.approx(15.0)
    with pytest.raises(InputError, match="positive"):
        walking_minutes(100.0, 0.0)


def test_bad_input_names_the_fix():
    net = street_network(100)
    with pytest.raises(InputError, match="max_distance_m"):
        coverage_matrix(net, net.node_xy[:2], net.node_xy, np.inf)
    with pytest.raises(InputError, match="max_distance_m"):
        nearest_distance(net, net.node_xy, net.node_xy[:2], -5)
    with pytest.raises(InputError, match=r"shape \(n, 2\)"):
        nearest_distance(net, np.zeros((3, 3)), net.node_xy[:2], 100)
    with pytest.raises(InputError, match="category"):
        nearest_by_category(net, net.node_xy, pd.DataFrame({"x": [1]}), {"clinic": 300.0})
