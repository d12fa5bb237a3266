"""Swap, kicked swap and neighbourhood search: never worse, within budget, reproducible, never
above the brute-force optimum; swap search ends where no single swap helps."""

from __future__ import annotations

import itertools
import threading
import time

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.optimize import mclp
from planner.optimize.greedy import greedy_cover, kicked_swap_search, swap_search
from planner.optimize.neighbourhood import improve_by_neighbourhoods
from planner.optimize.problem import covered_by


def _value(A, w, chosen):
    return float(w[covered_by(A, np.asarray(chosen, dtype=np.int64))].sum())


@st.composite
def local_instances(draw):
    """Sites and cells on a line: each site covers the cells within a random reach, so
    catchments overlap locally the way they do on a street network."""
    n_sites = draw(st.integers(8, 13))
    n_cells = draw(st.integers(10, 30))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    site_x = np.sort(rng.random(n_sites))
    cell_x = rng.random(n_cells)
    reach = np.abs(site_x[:, None] - cell_x[None]) < rng.uniform(0.05, 0.25, n_sites)[:, None]
    A = sp.csr_matrix(reach.astype(np.float64))
    w = rng.integers(0, 9, n_cells).astype(np.float64)
    return A, w


def _brute(A, w, p):
    return max(_value(A, w, s) for s in itertools.combinations(range(A.shape[0]), p))


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(local_instances(), st.integers(6, 7))
def test_never_worse_never_above_optimum_and_within_budget(inst, p):
    A, w = inst
    p = min(p, A.shape[0])
    cost = np.ones(A.shape[0])
    start = np.sort(greedy_cover(A, w, cost, p).order)
    start = np.concatenate([start, np.setdiff1d(np.arange(A.shape[0]), start)[: p - len(start)]])
    out = improve_by_neighbourhoods(A, w, cost, float(p), start, time.perf_counter() + 30)
    assert len(out) == len(set(out.tolist())) <= p
    assert _value(A, w, out) >= _value(A, w, start) - 1e-9
    assert _value(A, w, out) <= _brute(A, w, p) + 1e-9
    again = improve_by_neighbourhoods(A, w, cost, float(p), start, time.perf_counter() + 30)
    assert np.array_equal(out, again)


def test_reaches_full_cover_from_decoy_sites():
    """Four sites cover two clusters exactly; the start holds four decoys that each cover
    scattered cells. Re-solving neighbourhoods of three sites finds the full cover."""
    # cells 0-5 left cluster, 6-11 right cluster; sites 0-3 cover halves, 4-7 decoys
    reach = np.zeros((8, 12), dtype=bool)
    reach[0, 0:3] = reach[1, 3:6] = reach[2, 6:9] = reach[3, 9:12] = True
    reach[4, [0, 3]] = reach[5, [1, 4]] = reach[6, [6, 9]] = reach[7, [7, 10]] = True
    A = sp.csr_matrix(reach.astype(float))
    w = np.ones(12)
    start = np.array([4, 5, 6, 7, 0, 2])
    out = improve_by_neighbourhoods(A, w, np.ones(8), 6.0, start, time.perf_counter() + 30,
                                    sizes=(3,))
    assert _value(A, w, out) == 12.0


def test_respects_cost_budget_and_allowed_sites():
    rng = np.random.default_rng(3)
    A = sp.csr_matrix((rng.random((30, 80)) < 0.1).astype(float))
    w = rng.integers(1, 9, 80).astype(float)
    cost = rng.integers(1, 4, 30).astype(float)
    allowed = np.ones(30, dtype=bool)
    allowed[::3] = False
    start = greedy_cover(A, w, np.where(allowed, cost, np.inf), 12.0).order
    out = improve_by_neighbourhoods(A, w, cost, 12.0, start, time.perf_counter() + 30,
                                    allowed=allowed)
    assert cost[out].sum() <= 12.0 + 1e-9
    assert allowed[np.setdiff1d(out, start)].all()
    assert _value(A, w, out) >= _value(A, w, start)


def test_stops_when_told():
    rng = np.random.default_rng(5)
    A = sp.csr_matrix((rng.random((200, 600)) < 0.05).astype(float))
    w = rng.integers(1, 9, 600).astype(float)
    start = np.arange(20)
    stop = threading.Event()
    stop.set()
    out = improve_by_neighbourhoods(A, w, np.ones(200), 20.0, start,
                                    time.perf_counter() + 30, stop=stop)
    assert np.array_equal(out, start)


def test_pipeline_optimal_on_a_street_instance_with_many_sites():
    """A count budget large enough for the neighbourhood search to run beside the MILP: the
    answer is proven optimal and reproducible."""
    from planner.catchment import coverage_matrix
    from planner.synthetic import street_network

    net = street_network(1500, seed=4, spacing_m=80.0)
    rng = np.random.default_rng(4)
    lo, hi = net.node_xy.min(axis=0), net.node_xy.max(axis=0)
    demand = lo + rng.random((800, 2)) * (hi - lo)
    sites = lo + rng.random((120, 2)) * (hi - lo)
    cov = coverage_matrix(net, sites, demand, 600.0)
    w = np.round(rng.gamma(2.0, 20.0, 800))
    table = pd.DataFrame({"status": ["candidate"] * 120})
    first = mclp(cov, w, table, p=14, time_limit_s=60, tie_break=False)
    second = mclp(cov, w, table, p=14, time_limit_s=60, tie_break=False)
    assert first.status == "optimal" and first.gap == 0
    assert first.objective == second.objective
    assert first.objective >= first.greedy_objective


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(local_instances(), st.integers(2, 5))
def test_kicked_swaps_never_worse_reproducible_and_bounded(inst, p):
    A, w = inst
    start = np.arange(p)
    out = kicked_swap_search(A, w, start, time.perf_counter() + 30, patience=20)
    assert len(set(out.tolist())) == p
    assert _value(A, w, start) - 1e-9 <= _value(A, w, out) <= _brute(A, w, p) + 1e-9
    again = kicked_swap_search(A, w, start, time.perf_counter() + 30, patience=20)
    assert np.array_equal(out, again)


def _assert_no_better_move(A, w, out, entering, cost=None, budget=None):
    """Try every swap bringing in a site of ``entering`` (and, with costs, every addition)
    that fits the budget: none may cover more people than ``out``."""
    cost = np.ones(A.shape[0]) if cost is None else cost
    slack = 0.0 if budget is None else budget - cost[out].sum()
    here = _value(A, w, out)
    for j in np.setdiff1d(entering, out):
        if budget is not None and cost[j] <= slack + 1e-9:
            assert _value(A, w, np.append(out, j)) <= here + 1e-9
        for q in range(len(out)):
            if cost[j] <= cost[out[q]] + slack + 1e-9:
                swapped = out.copy()
                swapped[q] = j
                assert _value(A, w, swapped) <= here + 1e-9


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(local_instances(), st.integers(1, 5), st.data())
def test_swap_search_ends_swap_optimal_among_its_candidates(inst, p, data):
    """Checked by trying every (in, out) pair: no swap bringing in a candidate improves the
    answer, only candidates come in, and the answer is never worse than the start."""
    A, w = inst
    n = A.shape[0]
    start = np.sort(data.draw(st.permutations(range(n)))[:p])
    cand = np.flatnonzero(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    for candidates in (None, cand):
        out = swap_search(A, w, start, time.perf_counter() + 30, candidates=candidates)
        allowed = np.arange(n) if candidates is None else candidates
        assert len(set(out.tolist())) == p
        assert set(out.tolist()) <= set(start.tolist()) | set(allowed.tolist())
        assert _value(A, w, out) >= _value(A, w, start) - 1e-9
        _assert_no_better_move(A, w, out, allowed)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(local_instances(), st.integers(2, 4), st.data())
def test_kicks_bring_in_allowed_sites_only(inst, p, data):
    A, w = inst
    n = A.shape[0]
    allowed = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    start = np.arange(p)
    out = kicked_swap_search(A, w, start, time.perf_counter() + 30, allowed=allowed,
                             patience=30)
    assert set(out.tolist()) <= set(start.tolist()) | set(np.flatnonzero(allowed).tolist())
    assert _value(A, w, out) >= _value(A, w, start) - 1e-9


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(local_instances(), st.integers(1, 4), st.integers(0, 4), st.data())
def test_priced_swap_search_stays_in_budget_and_ends_locally_optimal(inst, p, extra, data):
    """With costs: within the budget, never worse, and neither an affordable swap nor an
    affordable added site improves the answer (checked by trying them all)."""
    A, w = inst
    n = A.shape[0]
    cost = np.array(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), float)
    start = np.sort(data.draw(st.permutations(range(n)))[:p])
    budget = float(cost[start].sum() + extra)
    out = swap_search(A, w, start, time.perf_counter() + 30, cost=cost, budget=budget)
    assert len(set(out.tolist())) == len(out)
    assert cost[out].sum() <= budget + 1e-9
    assert _value(A, w, out) >= _value(A, w, start) - 1e-9
    _assert_no_better_move(A, w, out, np.arange(n), cost, budget)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(local_instances(), st.integers(2, 6), st.data())
def test_priced_kicks_stay_in_budget_never_worse_never_above_optimum(inst, budget, data):
    A, w = inst
    n = A.shape[0]
    cost = np.array(data.draw(st.lists(st.integers(1, 3), min_size=n, max_size=n)), float)
    start = greedy_cover(A, w, cost, float(budget), ratio=True).order
    out = kicked_swap_search(A, w, start, time.perf_counter() + 30, patience=30, cost=cost,
                             budget=float(budget))
    assert cost[out].sum() <= budget + 1e-9
    best = max(_value(A, w, s) for k in range(n + 1) for s in itertools.combinations(range(n), k)
               if cost[list(s)].sum() <= budget)
    assert _value(A, w, start) - 1e-9 <= _value(A, w, out) <= best + 1e-9


def test_priced_kicks_follow_an_answer_with_fewer_sites():
    """Three cheap sites each covering one person, or one site costing all three covering
    seven: kicks must grow to free the whole budget, find the single site, and keep kicking
    from an answer smaller than the first."""
    rows = [[0], [1], [2], list(range(3, 10))]
    A = sp.csr_matrix((np.ones(10), np.concatenate(rows), np.cumsum([0, 1, 1, 1, 7])),
                      shape=(4, 10))
    out = kicked_swap_search(A, np.ones(10), np.array([0, 1, 2]), time.perf_counter() + 30,
                             patience=150, cost=np.array([1.0, 1.0, 1.0, 3.0]), budget=3.0)
    assert list(out) == [3]


def test_warm_up_compiles_the_swap_kernel():
    from planner.optimize import greedy

    greedy.warm_up()
    assert greedy._swap_moves.signatures
