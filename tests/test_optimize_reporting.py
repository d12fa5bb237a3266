"""What the models report beside the objective: per-site marginals that add up to the totals,
head counts versus weighted people, and bounds that hold when the solver stops early."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.errors import InputError
from planner.optimize import JointCategory, capacitated_mclp, joint_mclp, lscp, mclp, milp
from planner.optimize.lpbound import knapsack
from planner.optimize.milp import MilpOutcome
from tests.test_optimize_lscp_capacity import coverage_from, frame, max_served, reach_instances


def _stopped_solver(bound: float | None):
    """A stand-in for the MILP that stops at once with no answer and the given bound."""
    return lambda *a, **k: MilpOutcome(None, None, bound, "time_limit", 0.0, 0)


def test_capacitated_new_site_is_credited_with_what_it_adds():
    reach = np.ones((2, 2), bool)
    sites = frame(["existing", "candidate"], capacity=[10.0, 20.0])
    res = capacitated_mclp(coverage_from(reach), np.array([10.0, 10]), sites, p=1)
    assert res.objective == pytest.approx(20)
    assert res.coverage["people_newly_served"] == pytest.approx(10)
    assert res.sites["marginal_people"].tolist() == pytest.approx([10])
    assert res.sites["served_people"].tolist() == pytest.approx([10])
    loads = res.extra["loads"].set_index("id")["served_people"]
    assert loads.to_dict() == pytest.approx({"s0": 10, "s1": 10})


def test_capacitated_closure_is_reconciled():
    # closing s0 (serves 1) pays for s1, which serves 10
    reach = np.array([[1, 0], [1, 1]], bool)
    sites = frame(["closable", "candidate"], capacity=[1.0, 10.0])
    res = capacitated_mclp(coverage_from(reach), np.array([5.0, 5]), sites, p=0)
    assert res.closed["id"].tolist() == ["s0"] and res.objective == pytest.approx(10)
    cov = res.coverage
    assert cov["people_newly_served"] == pytest.approx(9)
    assert cov["people_lost_by_closures"] == pytest.approx(1)
    assert res.sites["marginal_people"].sum() == pytest.approx(
        cov["people_newly_served"] + cov["people_lost_by_closures"])


def test_capacitated_bound_respects_p_at_a_tiny_time_limit():
    rng = np.random.default_rng(7)
    n_sites, n_cells = 300, 2000
    reach = rng.random((n_sites, n_cells)) < 0.03
    w = rng.integers(0, 50, n_cells).astype(float)
    sites = frame(["candidate"] * n_sites, capacity=np.full(n_sites, 300.0))
    res = capacitated_mclp(coverage_from(reach), w, sites, p=10, time_limit_s=0.01)
    assert res.objective == pytest.approx(3000)
    assert res.bound == pytest.approx(3000) and res.status == "optimal" and res.gap == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reach_instances(max_sites=6, max_cells=7), st.integers(0, 6), st.booleans())
def test_capacitated_bound_without_the_milp_is_valid_and_simple(inst, spend, by_cost):
    reach, w, status, rng = inst
    cap = rng.integers(0, 12, len(status)).astype(float)
    cost = rng.integers(1, 4, len(status)).astype(float)
    new = np.isin(status, ["candidate", "required"])
    fixed = np.isin(status, ["existing", "required"])
    if not by_cost:
        cost = np.ones(len(status))
        spend = int(np.clip(spend, (status == "required").sum(), new.sum()))
    if cost[status == "required"].sum() > spend:
        return
    sites = frame(status, capacity=cap, cost=cost)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(milp, "solve", _stopped_solver(-1e9))
        res = capacitated_mclp(coverage_from(reach), w, sites,
                               **({"budget": float(spend)} if by_cost else {"p": spend}))
    best = 0.0
    cand = np.flatnonzero(status == "candidate")
    left = spend - cost[status == "required"].sum()
    for k in range(len(cand) + 1):
        for s in itertools.combinations(cand, k):
            if cost[list(s)].sum() <= left + 1e-9:
                open_ = fixed.copy()
                open_[list(s)] = True
                best = max(best, max_served(reach, w, cap, open_))
    site_max = np.minimum(cap, reach @ w)
    simple = min(w[reach.any(axis=0)].sum(),
                 site_max[fixed].sum() + knapsack(site_max[~fixed], cost[~fixed], left))
    assert best - 1e-6 <= res.bound <= max(simple, res.objective) + 1e-6
    assert res.objective <= best + 1e-6
    proven = res.bound - res.objective <= 1e-9 * max(1.0, res.objective)
    assert res.status == ("optimal" if proven else "time_limit")


def _joint_instance(seed: int):
    rng = np.random.default_rng(seed)
    n_sites, n_cells = 6, 8
    status = np.array(["existing", "existing", "candidate", "candidate", "candidate", "required"])
    reach = {k: rng.random((n_sites, n_cells)) < 0.4 for k in ("elderly", "kindergarten")}
    people = {k: rng.integers(0, 9, n_cells).astype(float) + 0.5 for k in reach}
    sites = frame(status, category=["elderly", "kindergarten", "", "", "", ""])
    return reach, people, sites


@pytest.mark.parametrize("seed", range(6))
def test_joint_head_counts_and_weighted_totals_add_up(seed):
    reach, people, sites = _joint_instance(seed)
    weights = {"elderly": 1.0, "kindergarten": 3.0}
    res = joint_mclp({k: JointCategory(coverage_from(reach[k]), people[k], weights[k])
                      for k in reach}, sites, p=2)
    cov, table = res.coverage, res.sites
    assert cov["people_total"] == pytest.approx(sum(d.sum() for d in people.values()))
    before = after = 0.0
    for k, col in (("elderly", 0), ("kindergarten", 1)):  # existing site `col` serves only k
        served_after = reach[k][np.r_[col, table["site_row"].to_numpy()]].any(axis=0)
        before += people[k][reach[k][col]].sum()
        after += people[k][served_after].sum()
        assert table[f"people_{k}"].sum() == pytest.approx(
            people[k][served_after & ~reach[k][col]].sum())
    assert cov["people_covered_before"] == pytest.approx(before)
    assert cov["people_covered_after"] == pytest.approx(after)
    assert table["marginal_people"].to_numpy() == pytest.approx(
        (table["people_elderly"] + table["people_kindergarten"]).to_numpy())
    assert table["marginal_people"].sum() == pytest.approx(cov["people_newly_covered"])
    assert table["marginal_weighted_people"].to_numpy() == pytest.approx(
        (table["people_elderly"] + 3 * table["people_kindergarten"]).to_numpy())
    assert cov["weighted_people_covered_after"] == pytest.approx(res.objective)
    assert table["marginal_weighted_people"].sum() == pytest.approx(
        res.objective - cov["weighted_people_covered_before"])
    assert res.cells["people"].sum() == pytest.approx(cov["people_total"])
    assert res.cells["weighted_people"].sum() == pytest.approx(cov["weighted_people_total"])


def test_joint_category_without_people_adds_nothing_and_is_named():
    reach, people, _ = _joint_instance(0)
    sites = frame(["candidate"] * 6)
    cats = {"elderly": JointCategory(coverage_from(reach["elderly"]), people["elderly"]),
            "kindergarten": JointCategory(coverage_from(reach["kindergarten"]),
                                          np.zeros(len(people["elderly"])), 3.0)}
    with pytest.warns(UserWarning, match="'kindergarten'"):
        res = joint_mclp(cats, sites, p=2)
    alone = mclp(coverage_from(reach["elderly"]), people["elderly"], sites, p=2)
    assert res.objective == pytest.approx(alone.objective)
    assert "'kindergarten'" in res.message
    assert (res.sites["people_kindergarten"] == 0).all()


def test_joint_without_weighted_people_names_every_category():
    reach, people, _ = _joint_instance(0)
    cats = {"elderly": JointCategory(coverage_from(reach["elderly"]), people["elderly"], 0.0),
            "kindergarten": JointCategory(coverage_from(reach["kindergarten"]),
                                          np.zeros(len(people["elderly"])))}
    with pytest.raises(InputError, match=r"'elderly' \(weight 0\).*'kindergarten' \(no people\)"):
        joint_mclp(cats, frame(["candidate"] * 6), p=1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reach_instances(), st.booleans())
def test_lscp_bound_without_the_milp_is_valid_and_positive(inst, by_cost):
    reach, w, status, rng = inst
    cost = rng.integers(0, 4, len(status)).astype(float) if by_cost else np.ones(len(status))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(milp, "solve", _stopped_solver(None))
        res = lscp(coverage_from(reach), w, frame(status, cost=cost), use_cost=by_cost)
    base = np.isin(status, ["existing", "required"])
    cand = np.flatnonzero(status == "candidate")
    need = reach.any(axis=0) & (w > 0) & ~reach[base].any(axis=0)
    best = min(cost[list(s)].sum() for k in range(len(cand) + 1)
               for s in itertools.combinations(cand, k) if reach[list(s)].any(axis=0)[need].all())
    required = cost[status == "required"].sum()
    assert res.bound <= best + required + 1e-9
    if need.any() and not by_cost:
        assert res.bound >= required + 1


def test_lscp_bound_at_a_tiny_time_limit_is_not_zero():
    rng = np.random.default_rng(7)
    n_sites, n_cells = 300, 2000
    reach = rng.random((n_sites, n_cells)) < 0.05
    w = rng.integers(1, 50, n_cells).astype(float)
    res = lscp(coverage_from(reach), w, frame(["candidate"] * n_sites), time_limit_s=0.01,
               tie_break=False)
    assert res.bound >= 1 and res.bound <= res.objective and res.gap < 1
