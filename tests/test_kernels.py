"""The multi-source search kernel against a plain heap Dijkstra and scipy's csgraph.dijkstra.

``heap_search`` is the engine's earlier multi-source kernel (Dijkstra, 4-ary heap, lazy
deletion), kept here as a reference; benchmarks/nearest.py times it too.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numba import njit
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from planner.kernels import _pop, _push, graph_arrays, multi_source_search, search_step
from planner.synthetic import street_network


@njit(cache=True, nogil=True)
def heap_search(indptr, indices, weights, seed_node, seed_dist, seed_label, bound, with_label):
    """Reference: bounded multi-source Dijkstra with a 4-ary heap; same outputs as
    :func:`planner.kernels.multi_source_search`."""
    n = indptr.shape[0] - 1
    dist = np.full(n, np.inf)
    label = np.full(n if with_label else 0, -1, dtype=np.int64)
    cap = indices.shape[0] + seed_node.shape[0] + 1
    hkey = np.empty(cap, dtype=np.float64)
    hnode = np.empty(cap, dtype=np.int32)
    size = 0
    for i in range(seed_node.shape[0]):
        node = seed_node[i]
        d = seed_dist[i]
        if d <= bound and d < dist[node]:
            dist[node] = d
            if with_label:
                label[node] = seed_label[i]
            size = _push(hkey, hnode, size, d, node)
    while size > 0:
        d, node, size = _pop(hkey, hnode, size)
        if d > dist[node]:
            continue
        lab = label[node] if with_label else -1
        for k in range(indptr[node], indptr[node + 1]):
            nd = d + weights[k]
            if nd > bound:
                continue
            nb = indices[k]
            if nd < dist[nb]:
                dist[nb] = nd
                if with_label:
                    label[nb] = lab
                size = _push(hkey, hnode, size, nd, nb)
    return dist, label


def _csr(n, u, v, w):
    """Symmetric CSR (both directions, shortest of parallel edges, explicit zeros kept)."""
    rows = np.concatenate([u, v])
    cols = np.concatenate([v, u])
    vals = np.concatenate([w, w])
    key = rows * n + cols
    order = np.lexsort((vals, key))
    first = np.ones(len(order), bool)
    first[1:] = key[order][1:] != key[order][:-1]
    keep = order[first]
    rows, cols, vals = rows[keep], cols[keep], vals[keep]
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return indptr, cols.astype(np.int32), vals.astype(np.float64)


cases = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**32 - 1),
        "n": st.integers(1, 60),
        "m": st.integers(0, 150),
        # integer lengths make many ties; a share of zero-length edges
        "integer": st.booleans(),
        "zero_share": st.sampled_from([0.0, 0.2, 0.6]),
        "n_seeds": st.integers(0, 12),
        "seed_zero": st.booleans(),
        "bound": st.one_of(st.sampled_from([0.0, 3.0, 10.0, np.inf]), st.floats(0.0, 40.0)),
        "step": st.sampled_from([1e-3, 0.5, 4.0, 50.0, np.inf]),
        "reverse": st.booleans(),
    }
)


def _build(p):
    rng = np.random.default_rng(p["seed"])
    n = p["n"]
    u = rng.integers(0, n, p["m"])
    v = rng.integers(0, n, p["m"])
    w = rng.integers(0, 6, p["m"]).astype(float) if p["integer"] else rng.uniform(0, 8, p["m"])
    w[rng.random(p["m"]) < p["zero_share"]] = 0.0
    loop = u == v
    u, v, w = u[~loop], v[~loop], w[~loop]
    if p["reverse"]:  # node order against the direction of travel
        u, v = n - 1 - u, n - 1 - v
    # seeds may repeat a node, with different distances and labels
    seed_node = rng.integers(0, n, p["n_seeds"]).astype(np.int64)
    if p["seed_zero"]:
        seed_dist = np.zeros(p["n_seeds"])
    else:
        seed_dist = rng.integers(0, 4, p["n_seeds"]).astype(float)
    seed_label = rng.permutation(p["n_seeds"]).astype(np.int64) + 100
    return n, (u, v, w), _csr(n, u, v, w), seed_node, seed_dist, seed_label


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases)
def test_search_equals_heap_dijkstra_and_scipy(p):
    n, (u, v, w), (indptr, indices, weights), s_node, s_dist, s_label = _build(p)
    bound = p["bound"]
    args = (indptr, indices, weights, s_node, s_dist, s_label, bound, True)
    dist, label = multi_source_search(*args, p["step"])
    ref_dist, _ = heap_search(*args)
    # same sums in path order: equal to the last bit, not just within a tolerance
    np.testing.assert_array_equal(dist, ref_dist)
    no_label, empty = multi_source_search(*args[:-1], False, p["step"])
    np.testing.assert_array_equal(no_label, dist)
    assert empty.shape == (0,)

    # labels: the label's own seed must be a nearest one (any of them where several tie)
    reached = np.isfinite(dist)
    assert np.all(label[~reached] == -1)
    adj = csr_matrix((weights, indices, indptr), shape=(n, n))
    if len(s_node):
        # scipy keeps explicit zeros as edges, counts distance == limit as reached
        each = dijkstra(adj, indices=s_node) + s_dist[:, None]
        best = each.min(axis=0)
        within = best <= bound
        np.testing.assert_allclose(dist[within], best[within], rtol=1e-12, atol=1e-12)
        assert np.all(np.isinf(dist[~within]))
        for node in np.flatnonzero(reached):
            via = min(each[i, node] for i, lab in enumerate(s_label) if lab == label[node])
            assert via <= best[node] + 1e-9, node
        if p["seed_zero"]:
            ref = dijkstra(adj, indices=s_node, min_only=True, limit=bound)
            np.testing.assert_allclose(dist, ref, rtol=1e-12, atol=1e-12)
    else:
        assert not reached.any()


def test_street_network_matches_heap_and_scipy_labels_unique():
    net = street_network(20_000, seed=3)
    indptr, indices, weights = graph_arrays(net)
    rng = np.random.default_rng(1)
    seeds = rng.choice(net.n_nodes, 300, replace=False).astype(np.int64)
    s_dist = rng.uniform(0, 50, len(seeds))
    args = (indptr, indices, weights, seeds, s_dist, np.arange(len(seeds)), 900.0, True)
    dist, label = multi_source_search(*args, search_step(net))
    ref_dist, ref_label = heap_search(*args)
    np.testing.assert_array_equal(dist, ref_dist)
    np.testing.assert_array_equal(label, ref_label)  # real-valued lengths: no ties
    zero = (indptr, indices, weights, seeds, np.zeros(len(seeds)), np.arange(len(seeds)))
    got, _ = multi_source_search(*zero, 900.0, False, search_step(net))
    ref = dijkstra(net.adjacency(), indices=seeds, min_only=True, limit=900.0)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=0)


def test_step_must_be_positive():
    indptr, indices, weights = _csr(2, np.array([0]), np.array([1]), np.array([1.0]))
    one = np.zeros(1, np.int64)
    with pytest.raises(ValueError, match="step"):
        multi_source_search(indptr, indices, weights, one, np.zeros(1), one, 5.0, False, 0.0)


def test_band_narrower_than_the_spacing_of_large_distances():
    """A band too narrow to change a large distance (1e20 + 1e-3 == 1e20) still advances."""
    indptr, indices, weights = _csr(3, np.array([0, 1]), np.array([1, 2]), np.array([1.0, 2.0]))
    args = (indptr, indices, weights, np.array([0]), np.array([1e20]), np.array([7]), np.inf)
    dist, label = multi_source_search(*args, True, 1e-3)
    np.testing.assert_array_equal(dist, np.full(3, 1e20))  # 1e20 + 1 == 1e20
    np.testing.assert_array_equal(label, [7, 7, 7])
