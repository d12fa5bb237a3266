"""The distance tie-break's exact reduction: sites that no optimal answer can open are left
out, checked against brute-force enumeration (count and money budgets)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.optimize import mclp
from planner.optimize.lpbound import forced_in_bounds, knapsack, knapsack_curve, lp_bound
from tests.test_optimize_mclp import coverage_from, frame, instances


def best_with(reach, w, cost, budget, j):
    """Most people any affordable set of sites holding site ``j`` covers (−inf if none)."""
    n = reach.shape[0]
    best = -np.inf
    others = [k for k in range(n) if k != j]
    for m in range(n):
        for s in itertools.combinations(others, m):
            chosen = [j, *s]
            if cost[chosen].sum() <= budget + 1e-9:
                best = max(best, float(w[reach[chosen].any(axis=0)].sum()))
    return best


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(statuses=False), st.integers(0, 6), st.booleans())
def test_forced_in_bound_holds_for_every_site(inst, budget, count):
    dist, w, _, cost = inst
    if count:
        cost = np.ones(len(cost))
    reach = np.isfinite(dist)
    lb = lp_bound(coverage_from(np.where(reach, 1.0, np.inf)), w, cost, float(budget), 10.0)
    bounds = forced_in_bounds(lb, cost, float(budget))
    for j in range(len(cost)):
        assert bounds[j] >= best_with(reach, w, cost, budget, j) - 1e-9


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 50), min_size=0, max_size=8), st.integers(0, 2**31 - 1))
def test_knapsack_curve_matches_single_budgets(values, seed):
    rng = np.random.default_rng(seed)
    v = np.array(values, dtype=np.float64)
    c = rng.integers(0, 4, len(v)).astype(np.float64)
    budgets = np.array([-1.0, 0.0, 0.5, 1.0, 2.5, 7.0, 30.0])
    curve = knapsack_curve(v, c, budgets)
    for b, got in zip(budgets, curve, strict=True):
        assert got == pytest.approx(knapsack(v, c, max(b, 0.0)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(statuses=False), st.integers(1, 6))
def test_tie_break_with_money_budget_picks_shortest_walks(inst, budget):
    dist, w, status, cost = inst
    res = mclp(coverage_from(dist), w, frame(status, cost), budget=float(budget))
    reach = np.isfinite(dist)
    n = len(status)
    sets = [list(s) for m in range(n + 1) for s in itertools.combinations(range(n), m)
            if cost[list(s)].sum() <= budget + 1e-9]
    best = max(float(w[reach[s].any(axis=0)].sum()) for s in sets)

    def walk(s):
        near = dist[s].min(axis=0) if s else np.full(dist.shape[1], np.inf)
        ok = np.isfinite(near)
        return float((w[ok] * near[ok]).sum())

    shortest = min(walk(s) for s in sets if float(w[reach[s].any(axis=0)].sum()) >= best - 1e-9)
    got = sorted(res.sites["site_row"].tolist())
    assert res.objective == pytest.approx(best)
    assert walk(got) == pytest.approx(shortest)
