"""LSCP and capacitated MCLP against brute force (capacitated flows checked with networkx)."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.errors import InputError
from planner.optimize import capacitated_mclp, lscp


def coverage_from(reach: np.ndarray, dist: float = 100.0) -> sp.csr_matrix:
    rows, cols = np.nonzero(reach)
    return sp.csr_matrix((np.full(len(rows), dist), (rows, cols)), shape=reach.shape)


def frame(status, **cols):
    return pd.DataFrame({"id": [f"s{i}" for i in range(len(status))], "status": status, **cols})


@st.composite
def reach_instances(draw, max_sites=7, max_cells=9):
    n_sites, n_cells = draw(st.integers(1, max_sites)), draw(st.integers(1, max_cells))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    reach = rng.random((n_sites, n_cells)) < draw(st.sampled_from([0.2, 0.4, 0.6]))
    w = rng.integers(0, 6, n_cells).astype(float)
    w[0] += 1
    status = rng.choice(["candidate", "candidate", "existing", "required"], n_sites)
    return reach, w, status, rng


@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reach_instances())
def test_lscp_matches_brute_force_and_reports_uncoverable(inst):
    reach, w, status, _ = inst
    res = lscp(coverage_from(reach), w, frame(status), demand_xy=np.zeros((len(w), 2)))
    base = np.isin(status, ["existing", "required"])
    cand = np.flatnonzero(status == "candidate")
    coverable = reach.any(axis=0) & (w > 0)
    best = None
    for k in range(len(cand) + 1):
        for s in itertools.combinations(cand, k):
            open_ = base.copy()
            open_[list(s)] = True
            if (reach[open_].any(axis=0) | ~coverable).all():
                best = k
                break
        if best is not None:
            break
    n_req = int((status == "required").sum())
    assert res.objective == pytest.approx(best + n_req)
    assert res.bound <= res.objective + 1e-9
    assert res.greedy_objective >= res.objective - 1e-9
    assert set(res.uncoverable["cell_id"]) == set(np.flatnonzero(~reach.any(axis=0) & (w > 0)))
    assert res.uncoverable["people"].sum() == pytest.approx(w[~reach.any(axis=0)].sum())
    assert res.cells.loc[coverable, "covered_after"].all()


def test_lscp_reports_unreachable_people_instead_of_failing():
    reach = np.array([[1, 1, 0, 0], [0, 1, 1, 0]], bool)
    w = np.array([3.0, 1, 2, 7])
    res = lscp(coverage_from(reach), pd.Series(w, index=["a", "b", "c", "d"]),
               frame(["candidate", "candidate"]))
    assert res.objective == 2 and res.proven_optimal
    assert res.uncoverable["cell_id"].tolist() == ["d"]
    assert res.uncoverable["people"].tolist() == [7.0]


def max_served(reach, w, cap, open_):
    """People served by the open sites: max flow source → cells → sites → sink (networkx)."""
    g = nx.DiGraph()
    for i in range(reach.shape[1]):
        g.add_edge("src", ("c", i), capacity=float(w[i]))
    for j in np.flatnonzero(open_):
        g.add_edge(("s", j), "sink", capacity=float(cap[j]))
        for i in np.flatnonzero(reach[j]):
            g.add_edge(("c", i), ("s", j), capacity=float(w[i]))
    if "sink" not in g:
        return 0.0
    return nx.maximum_flow_value(g, "src", "sink")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reach_instances(max_sites=6, max_cells=7), st.data())
def test_capacitated_matches_brute_force_and_respects_capacity(inst, data):
    reach, w, status, rng = inst
    cap = rng.integers(0, 8, len(status)).astype(float)
    n_new = int(np.isin(status, ["candidate", "required"]).sum())
    n_req = int((status == "required").sum())
    if n_new == 0:
        return
    p = data.draw(st.integers(n_req, n_new))
    res = capacitated_mclp(coverage_from(reach), w, frame(status, capacity=cap), p=p)
    base = np.isin(status, ["existing", "required"])
    cand = np.flatnonzero(status == "candidate")
    best = 0.0
    for s in itertools.combinations(cand, p - n_req):
        open_ = base.copy()
        open_[list(s)] = True
        best = max(best, max_served(reach, w, cap, open_))
    assert res.objective == pytest.approx(best, abs=1e-6)
    assert res.bound >= res.objective - 1e-9
    assert res.greedy_objective <= best + 1e-6
    loads = res.extra["loads"]
    assert (loads["served_people"] <= loads["capacity"] + 1e-6).all()
    served = res.cells["served_people"].to_numpy()
    assert (served <= w + 1e-6).all()
    assert (served[~res.cells["covered_after"].to_numpy()] == 0).all()
    # each new site, in funding order, is credited with what it adds to the sites before it
    open_ = status == "existing"
    before = max_served(reach, w, cap, open_)
    gains = []
    for row in res.sites["site_row"]:
        open_[row] = True
        gains.append(max_served(reach, w, cap, open_) - before - sum(gains))
    marginal = res.sites["marginal_people"].to_numpy()
    assert marginal == pytest.approx(gains, abs=1e-6)
    assert res.sites["served_people"].to_numpy() == pytest.approx(marginal, abs=1e-6)
    assert marginal.sum() == pytest.approx(res.coverage["people_newly_served"], abs=1e-6)
    assert loads.loc[loads["status"] == "existing", "served_people"].sum() == pytest.approx(
        before, abs=1e-6)
    if n_req == 0:  # one phase: greedy gains only fall
        assert (np.diff(marginal) <= 1e-6).all()


def test_capacity_binds_and_second_site_takes_the_rest():
    reach = np.array([[1, 1, 1], [0, 1, 1], [1, 0, 0]], bool)
    w = np.array([4.0, 4, 4])
    sites = frame(["existing", "candidate", "candidate"], capacity=[5.0, 10.0, 10.0])
    res = capacitated_mclp(coverage_from(reach), w, sites, p=1)
    assert res.objective == pytest.approx(12)
    assert res.coverage["people_served_before"] == pytest.approx(5)
    assert res.sites["served_people"].iloc[0] <= 10


def test_capacities_missing_is_an_error_unless_defaulted():
    reach = np.array([[1, 1], [0, 1]], bool)
    sites = frame(["existing", "candidate"], capacity=[3.0, np.nan])
    with pytest.raises(InputError, match="capacity"):
        capacitated_mclp(coverage_from(reach), np.array([2.0, 5]), sites, p=1)
    res = capacitated_mclp(coverage_from(reach), np.array([2.0, 5]), sites, p=1,
                           default_capacity=4.0)
    assert res.objective == pytest.approx(7)  # 2 + 1 by the existing site, 4 by the new one
