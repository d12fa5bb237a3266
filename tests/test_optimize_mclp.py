"""MCLP and joint siting against brute-force enumeration, plus hand-built status cases."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.optimize import JointCategory, joint_mclp, mclp

STATUSES = ["candidate", "candidate", "candidate", "existing", "required", "closable"]


def coverage_from(dist: np.ndarray) -> sp.csr_matrix:
    """CSR with explicit entries where dist is finite (zeros kept as real zero metres)."""
    rows, cols = np.nonzero(np.isfinite(dist))
    return sp.csr_matrix((dist[rows, cols], (rows, cols)), shape=dist.shape)


@st.composite
def instances(draw, max_sites=7, max_cells=9, statuses=True):
    n_sites = draw(st.integers(1, max_sites))
    n_cells = draw(st.integers(1, max_cells))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    density = draw(st.sampled_from([0.2, 0.4, 0.7]))
    reach = rng.random((n_sites, n_cells)) < density
    dist = np.where(reach, rng.integers(0, 4, (n_sites, n_cells)) * 100.0, np.inf)
    w = rng.integers(0, 6, n_cells).astype(float)
    if w.sum() == 0:
        w[0] = 1.0
    status = (rng.choice(STATUSES, n_sites) if statuses else np.array(["candidate"] * n_sites))
    if not np.isin(status, ["candidate", "required"]).any():
        status[0] = "candidate"
    cost = rng.integers(1, 4, n_sites).astype(float)
    return dist, w, status, cost


def brute_mclp(dist, w, status, cost, budget):
    """Most people covered: new sites (candidate, required) paid from the budget, existing free,
    each closable site either kept at its cost or closed (its cost freed)."""
    reach = np.isfinite(dist)
    cand = np.flatnonzero(status == "candidate")
    clos = np.flatnonzero(status == "closable")
    base = np.isin(status, ["existing", "required"])
    spend0 = cost[status == "required"].sum()
    best, best_sets = -1.0, []
    for k in range(len(cand) + 1):
        for s in itertools.combinations(cand, k):
            for m in range(len(clos) + 1):
                for kept in itertools.combinations(clos, m):
                    closed_cost = cost[clos].sum() - cost[list(kept)].sum()
                    if spend0 + cost[list(s)].sum() > budget + closed_cost + 1e-9:
                        continue
                    open_ = base.copy()
                    open_[list(s)] = True
                    open_[list(kept)] = True
                    v = w[reach[open_].any(axis=0)].sum()
                    if v > best + 1e-9:
                        best, best_sets = v, [open_]
                    elif abs(v - best) <= 1e-9:
                        best_sets.append(open_)
    return best, best_sets


def frame(status, cost=None):
    df = pd.DataFrame({"id": [f"s{i}" for i in range(len(status))], "status": status})
    if cost is not None:
        df["cost"] = cost
    return df


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.data())
def test_mclp_count_budget_matches_brute_force(inst, data):
    dist, w, status, cost = inst
    n_new = int(np.isin(status, ["candidate", "required"]).sum())
    n_req = int((status == "required").sum())
    p = data.draw(st.integers(n_req, n_new))
    res = mclp(coverage_from(dist), w, frame(status), p=p)
    best, _ = brute_mclp(dist, w, status, np.ones(len(status)), p)
    assert res.objective == pytest.approx(best)
    assert res.bound >= res.objective - 1e-9
    assert res.greedy_objective <= best + 1e-9
    assert res.proven_optimal and res.gap == pytest.approx(0.0, abs=1e-9)
    assert len(res.sites) <= p + len(res.closed)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.integers(0, 8))
def test_mclp_cost_budget_matches_brute_force(inst, budget):
    dist, w, status, cost = inst
    if cost[status == "required"].sum() > budget:
        return
    res = mclp(coverage_from(dist), w, frame(status, cost), budget=float(budget))
    best, _ = brute_mclp(dist, w, status, cost, budget)
    assert res.objective == pytest.approx(best)
    assert res.greedy_objective <= best + 1e-9
    spent = res.sites["cost"].sum() - res.closed["cost"].sum() if len(res.sites) else 0.0
    assert spent <= budget + 1e-9 or res.closed["cost"].sum() > 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(statuses=False), st.integers(1, 3))
def test_tie_break_picks_shortest_walks_among_optima(inst, p):
    dist, w, status, _ = inst
    p = min(p, len(status))
    res = mclp(coverage_from(dist), w, frame(status), p=p)
    best, sets = brute_mclp(dist, w, status, np.ones(len(status)), p)
    d = np.where(np.isfinite(dist), dist, np.inf)

    def walk(open_):
        near = d[open_].min(axis=0) if open_.any() else np.full(d.shape[1], np.inf)
        ok = np.isfinite(near)
        return float((w[ok] * near[ok]).sum())

    shortest = min(walk(s) for s in sets)
    got = np.zeros(len(status), bool)
    got[res.sites["site_row"].to_numpy()] = True
    assert res.objective == pytest.approx(best)
    assert walk(got) == pytest.approx(shortest)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_sites=6, max_cells=6, statuses=False), st.integers(0, 2**31 - 1),
       st.integers(1, 3))
def test_joint_matches_brute_force(inst, seed, p):
    dist_a, w_a, status, cost = inst
    rng = np.random.default_rng(seed)
    n_sites, n_cells = dist_a.shape
    dist_b = np.where(rng.random((n_sites, n_cells)) < 0.4, 50.0, np.inf)
    w_b = rng.integers(0, 5, n_cells).astype(float) + 1
    p = min(p, n_sites)
    res = joint_mclp(
        {"elderly": JointCategory(coverage_from(dist_a), w_a, 1.0),
         "child": JointCategory(coverage_from(dist_b), w_b, 2.5)},
        frame(status), p=p,
    )
    best = -1.0
    for s in itertools.combinations(range(n_sites), p):
        s = list(s)
        v = (w_a[np.isfinite(dist_a[s]).any(0)].sum()
             + 2.5 * w_b[np.isfinite(dist_b[s]).any(0)].sum())
        best = max(best, v)
    assert res.objective == pytest.approx(best)
    assert res.greedy_objective <= best + 1e-9
    total = res.sites["people_elderly"].sum() + 2.5 * res.sites["people_child"].sum()
    assert total == pytest.approx(best)


def test_existing_sites_count_and_stay():
    # cell 0 is covered by the existing site; new site 1 covers 0 and 1, new site 2 covers 2, 3
    dist = np.array([[0.0, np.inf, np.inf, np.inf],
                     [100, 100, np.inf, np.inf],
                     [np.inf, np.inf, 50, 50]])
    w = np.array([10.0, 3, 2, 2])
    res = mclp(coverage_from(dist), w, frame(["existing", "candidate", "candidate"]), p=1)
    assert list(res.sites["id"]) == ["s2"]
    assert res.objective == 14
    assert res.coverage["people_covered_before"] == 10
    assert res.reduction.cells_covered_by_fixed == 1
    assert res.sites["marginal_people"].tolist() == [4]


def test_required_site_is_forced_and_uses_budget():
    dist = np.array([[0, 0, np.inf], [np.inf, np.inf, 0], [np.inf, 0, np.inf]], dtype=float)
    w = np.array([5.0, 5, 1])
    res = mclp(coverage_from(dist), w, frame(["candidate"] * 3), p=1, required=["s1"])
    assert list(res.sites["id"]) == ["s1"]
    assert res.objective == 1
    res2 = mclp(coverage_from(dist), w, frame(["candidate"] * 3), p=2, required=["s1"])
    assert list(res2.sites["id"]) == ["s1", "s0"] or set(res2.sites["id"]) == {"s0", "s1"}
    assert res2.objective == 11


def test_closable_site_relocates_when_it_pays():
    # the closable site covers few people; closing it frees one slot for a better site
    dist = np.array([[0, np.inf, np.inf], [np.inf, 0, np.inf], [np.inf, np.inf, 0]], float)
    w = np.array([1.0, 50, 40])
    res = mclp(coverage_from(dist), w, frame(["closable", "candidate", "candidate"]), p=1)
    assert list(res.closed["id"]) == ["s0"]
    assert set(res.sites["id"]) == {"s1", "s2"}
    assert res.objective == 90
    # the one person s0 covered loses coverage; the new sites' marginals add up with it
    cov = res.coverage
    assert cov["people_no_longer_covered"] == 1 and cov["people_newly_covered"] == 89
    assert res.sites["marginal_people"].sum() == cov["people_newly_covered"] + 1


def test_closable_site_kept_when_budget_allows():
    dist = np.array([[0, np.inf], [np.inf, 0]], float)
    w = np.array([1.0, 5])
    res = mclp(coverage_from(dist), w, frame(["closable", "candidate"]), p=1)
    assert len(res.closed) == 0 and res.objective == 6


def test_explicit_zero_distances_count_as_covered():
    cov = sp.csr_matrix((np.array([0.0, 0.0]), np.array([0, 1]), np.array([0, 2])), shape=(1, 2))
    assert cov.nnz == 2
    res = mclp(cov, np.array([3.0, 4.0]), frame(["candidate"]), p=1)
    assert res.objective == 7


def test_deterministic():
    rng = np.random.default_rng(5)
    dist = np.where(rng.random((15, 40)) < 0.2, rng.random((15, 40)) * 300, np.inf)
    w = rng.integers(0, 50, 40).astype(float)
    a = mclp(coverage_from(dist), w, frame(["candidate"] * 15), p=3)
    b = mclp(coverage_from(dist), w, frame(["candidate"] * 15), p=3)
    assert a.sites["id"].tolist() == b.sites["id"].tolist()
    assert a.objective == b.objective and a.bound == b.bound


def test_time_limit_returns_best_with_gap():
    rng = np.random.default_rng(0)
    xy_d, xy_s = rng.random((4000, 2)) * 5000, rng.random((400, 2)) * 5000
    from scipy.spatial import cKDTree

    cov = cKDTree(xy_s).sparse_distance_matrix(cKDTree(xy_d), 600, output_type="coo_matrix")
    w = rng.integers(1, 100, 4000).astype(float)
    res = mclp(cov.tocsr(), w, frame(["candidate"] * 400), p=15, time_limit_s=0.05,
               tie_break=False)
    assert res.time_limit_reached and res.status == "time_limit"
    assert len(res.sites) == 15
    assert res.bound >= res.objective >= res.greedy_objective
    assert np.isfinite(res.gap) and "Time limit" in res.message


def test_greedy_solver_reports_bound():
    rng = np.random.default_rng(2)
    dist = np.where(rng.random((20, 80)) < 0.1, 10.0, np.inf)
    w = rng.integers(0, 9, 80).astype(float)
    exact = mclp(coverage_from(dist), w, frame(["candidate"] * 20), p=4, tie_break=False)
    fast = mclp(coverage_from(dist), w, frame(["candidate"] * 20), p=4, solver="greedy")
    assert fast.status == "greedy"
    assert fast.objective <= exact.objective <= fast.bound + 1e-9


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_sites=7, max_cells=9), st.data(), st.booleans(), st.booleans())
def test_bound_without_the_exact_stage_is_valid(inst, data, first_order, by_cost):
    """With the LP and MILP ruled out (as for instances too large for them) the answer comes
    from the searches and the bound from PDLP's duals and/or subgradient steps alone: the
    bound must still hold, for count and cost budgets."""
    from planner.optimize import exact, maxcover, neighbourhood

    dist, w, status, cost = inst
    if by_cost:
        required = int(cost[status == "required"].sum())  # may exceed 8 on seven sites
        budget = float(data.draw(st.integers(required, max(required, 8))))
        kwargs, costs, sites = {"budget": budget}, cost, frame(status, cost)
    else:
        n_new = int(np.isin(status, ["candidate", "required"]).sum())
        budget = data.draw(st.integers(int((status == "required").sum()), n_new))
        kwargs, costs, sites = {"p": budget}, np.ones(len(status)), frame(status)
    best, _ = brute_mclp(dist, w, status, costs, budget)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(exact, "EXACT_MAX_PAIRS", -1)
        mp.setattr(exact, "LP_SECONDS_PER_PAIR", np.inf)
        mp.setattr(maxcover, "SUBGRADIENT_MIN_PAIRS", -1)
        if not first_order:
            mp.setattr(exact, "FIRST_ORDER_MAX_PAIRS", -1)
        mp.setattr(neighbourhood, "NEIGHBOURHOOD_SIZES", (1, 2))
        res = mclp(coverage_from(dist), w, sites, tie_break=False, time_limit_s=5, **kwargs)
    assert res.objective <= best + 1e-9
    assert res.bound >= best - 1e-9
    assert res.status in ("optimal", "size_limit", "trivial")
    if res.status == "optimal":
        assert res.objective == pytest.approx(best)


@pytest.mark.slow
@pytest.mark.parametrize("first_order", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_approximate_lp_bounds_hold_on_harder_instances(monkeypatch, first_order, seed):
    """Instances where greedy is not optimal reach the approximate-LP path (PDLP, then
    subgradient steps): its bound must hold against the proven optimum."""
    from planner.optimize import exact as stage

    rng = np.random.default_rng(seed)
    dist = np.where(rng.random((40, 120)) < 0.12, 100.0, np.inf)
    w = rng.integers(1, 30, 120).astype(float)
    sites = frame(np.array(["candidate"] * 40))
    exact = mclp(coverage_from(dist), w, sites, p=6, tie_break=False)
    assert exact.proven_optimal
    used = []
    for name in ("first_order_bound", "subgradient_bound"):
        orig = getattr(stage, name)
        monkeypatch.setattr(stage, name,
                            lambda *a, _o=orig, _n=name, **k: used.append(_n) or _o(*a, **k))
    monkeypatch.setattr(stage, "EXACT_MAX_PAIRS", -1)
    monkeypatch.setattr(stage, "LP_SECONDS_PER_PAIR", np.inf)
    if not first_order:
        monkeypatch.setattr(stage, "FIRST_ORDER_MAX_PAIRS", -1)
    res = mclp(coverage_from(dist), w, sites, p=6, tie_break=False, time_limit_s=1.5)
    assert ("first_order_bound" in used) == first_order
    assert "subgradient_bound" in used
    assert res.objective <= exact.objective + 1e-9 <= res.bound + 2e-9
    assert res.status in ("optimal", "size_limit")


def test_error_in_the_exact_stage_reaches_the_caller(monkeypatch):
    from planner.optimize import maxcover

    def broken(*args):
        raise RuntimeError("exact stage failed")

    monkeypatch.setattr(maxcover, "exact_stage", broken)
    rng = np.random.default_rng(1)
    dist = np.where(rng.random((30, 60)) < 0.15, 100.0, np.inf)
    with pytest.raises(RuntimeError, match="exact stage failed"):
        mclp(coverage_from(dist), rng.integers(1, 9, 60).astype(float),
             frame(np.array(["candidate"] * 30)), p=8, tie_break=False)


@settings(max_examples=60, deadline=None)
@given(instances(statuses=False), st.integers(1, 3), st.booleans())
def test_distance_stage_starts_from_a_feasible_point(inst, p, cover_all):
    """The tie-break MILP starts from the first-stage answer: as a point of the distance model
    it meets every row and bound, for MCLP (coverage floor, budget) and LSCP (everyone)."""
    from planner.optimize.milp import distance_model
    from planner.optimize.tiebreak import distance_start

    dist, w, _, cost = inst
    pairs = coverage_from(dist)
    rows = np.arange(pairs.shape[0])
    if cover_all:  # LSCP: every site open covers every coverable cell
        keep = np.flatnonzero(np.diff(sp.csc_matrix(pairs).indptr) > 0)
        pairs, w, chosen = sp.csr_matrix(pairs[:, keep]), w[keep], rows
        value = float(cost.sum())
        model = distance_model(pairs, w, cost, np.inf, None, value + 1e-9)
    else:
        chosen = rows[: min(p, len(rows))]
        value = float(w[np.diff(sp.csc_matrix(pairs[chosen]).indptr) > 0].sum())
        budget = float(cost[chosen].sum())
        model = distance_model(pairs, w, cost, budget, value - 1e-9, None)
    c, A, row_lo, row_hi, lo, hi, _ = model
    v = distance_start(pairs, rows, chosen)
    assert ((lo - 1e-9 <= v) & (v <= hi + 1e-9)).all()
    av = A @ v
    assert ((row_lo - 1e-6 <= av) & (av <= row_hi + 1e-6)).all()


def test_started_milp_returns_its_answer_when_presolve_solves_it():
    """HiGHS can hand back the start instead of the optimum when presolve solves the MIP
    outright; the started solve notices and solves again without presolve."""
    from planner.optimize.milp import distance_model, solve
    from planner.optimize.tiebreak import distance_start

    inf = np.inf
    dist = np.array([[200, 300, inf, inf, inf, 300, inf], [0, inf, inf, inf, inf, 100, 100],
                     [0, inf, inf, 300, inf, 0, inf], [200, inf, 200, 300, inf, 0, 300],
                     [100, inf, inf, 300, 200, 100, inf], [inf, 300, 100, 100, 200, 300, inf],
                     [0, inf, 100, inf, inf, inf, 200]], float)
    w = np.array([3.0, 4, 5, 4, 5, 4, 0])
    pairs = coverage_from(dist)
    model = distance_model(pairs, w, np.ones(7), 2.0, 25.0 - 1e-9, None)
    start = distance_start(pairs, np.arange(7), np.array([0, 5]))  # walks 4,900 m·people
    out = solve(*model, time_limit_s=10, mip_gap=1e-6, start=start)
    assert out.status == "optimal" and out.fun == pytest.approx(3100)
    assert model[0] @ out.x == pytest.approx(3100)
    res = mclp(pairs, w, frame(np.array(["candidate"] * 7)), p=2)
    assert sorted(res.sites["site_row"]) == [2, 5]
