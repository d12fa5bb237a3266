"""Bad inputs, the reductions, and candidate generation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.errors import InfeasibleError, InputError
from planner.optimize import mclp, network_candidates
from planner.optimize.problem import dominated_sites, merge_cells


def cov(reach):
    r, c = np.nonzero(np.asarray(reach, bool))
    return sp.csr_matrix((np.ones(len(r)), (r, c)), shape=np.shape(reach))


def frame(status, **cols):
    return pd.DataFrame({"id": [f"s{i}" for i in range(len(status))], "status": status, **cols})


REACH = [[1, 0, 1], [0, 1, 1]]


def test_p_larger_than_candidates():
    with pytest.raises(InputError, match="only 2 candidate sites"):
        mclp(cov(REACH), [1.0, 1, 1], frame(["candidate", "candidate"]), p=3)


def test_required_site_must_be_a_candidate():
    with pytest.raises(InputError, match="not candidates"):
        mclp(cov(REACH), [1.0, 1, 1], frame(["existing", "candidate"]), p=1, required=["s0"])
    with pytest.raises(InputError, match="not in the site table"):
        mclp(cov(REACH), [1.0, 1, 1], frame(["candidate", "candidate"]), p=1, required=["x"])


def test_required_sites_over_budget():
    with pytest.raises(InfeasibleError, match="required"):
        mclp(cov(REACH), [1.0, 1, 1], frame(["candidate", "candidate"]), p=1,
             required=["s0", "s1"])


def test_required_needs_a_list_and_unique_ids():
    with pytest.raises(InputError, match=r"a list of site ids, e\.g\. \['s0'\]"):
        mclp(cov(REACH), [1.0, 1, 1], frame(["candidate", "candidate"]), p=1, required="s0")
    twins = frame(["candidate", "candidate"]).assign(id=["a", "a"])
    with pytest.raises(InputError, match=r"Site ids repeat \(e\.g\. \['a'\]\)"):
        mclp(cov(REACH), [1.0, 1, 1], twins, p=1, required=["a"])


@pytest.mark.parametrize("model", ["mclp", "lscp", "capacitated", "joint"])
@pytest.mark.parametrize(("option", "value"), [("time_limit_s", -5), ("time_limit_s", np.nan),
                                               ("time_limit_s", None), ("mip_gap", -1)])
def test_solver_options_are_checked(model, option, value):
    from planner.optimize import JointCategory, capacitated_mclp, joint_mclp, lscp

    sites, w = frame(["candidate", "candidate"], capacity=[5.0, 5.0]), [1.0, 1, 1]
    run = {"mclp": lambda **o: mclp(cov(REACH), w, sites, p=1, **o),
           "lscp": lambda **o: lscp(cov(REACH), w, sites, **o),
           "capacitated": lambda **o: capacitated_mclp(cov(REACH), w, sites, p=1, **o),
           "joint": lambda **o: joint_mclp({"a": JointCategory(cov(REACH), np.array(w), 1.0)},
                                           sites, p=1, **o)}[model]
    with pytest.raises(InputError, match=f"{option} must be a finite number"):
        run(**{option: value})


def test_zero_demand():
    with pytest.raises(InputError, match="demand is zero"):
        mclp(cov(REACH), [0.0, 0, 0], frame(["candidate", "candidate"]), p=1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"demand": [1.0, 1]}, "demand has 2 cells"),
        ({"demand": [1.0, -1, 1]}, "≥ 0"),
        ({"sites": frame(["candidate"])}, "1 rows"),
        ({"sites": frame(["candidate", "planned"])}, "Unknown site status"),
        ({"sites": pd.DataFrame({"x": [1, 2]})}, "no 'status' column"),
        ({"coverage": np.ones((2, 3))}, "scipy.sparse"),
    ],
)
def test_bad_inputs_name_the_fix(kwargs, match):
    args = {"coverage": cov(REACH), "demand": [1.0, 1, 1],
            "sites": frame(["candidate", "candidate"])}
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        mclp(args["coverage"], args["demand"], args["sites"], p=1)


def test_cost_budget_needs_costs():
    with pytest.raises(InputError, match="cost"):
        mclp(cov(REACH), [1.0, 1, 1], frame(["candidate", "candidate"]), budget=2.0)


def test_budget_given_twice_or_never():
    with pytest.raises(InputError, match="exactly one budget"):
        mclp(cov(REACH), [1.0, 1, 1], frame(["candidate", "candidate"]))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 8), st.integers(1, 30), st.integers(0, 2**31 - 1))
def test_merge_cells_groups_exactly_identical_sets(n_sites, n_cells, seed):
    rng = np.random.default_rng(seed)
    reach = rng.random((n_sites, n_cells)) < 0.3
    group, n_groups = merge_cells(cov(reach))
    keys = [tuple(np.flatnonzero(reach[:, i])) for i in range(n_cells)]
    assert n_groups == len(set(keys))
    for i in range(n_cells):
        for k in range(n_cells):
            assert (group[i] == group[k]) == (keys[i] == keys[k])
    first = [int(np.flatnonzero(group == g)[0]) for g in range(n_groups)]
    assert first == sorted(first)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 8), st.integers(1, 12), st.integers(0, 2**31 - 1))
def test_dominated_sites_against_pairwise_check(n_sites, n_cells, seed):
    rng = np.random.default_rng(seed)
    reach = rng.random((n_sites, n_cells)) < 0.4
    cost = rng.integers(1, 3, n_sites).astype(float)
    mask = dominated_sites(cov(reach), cost)
    for j in range(n_sites):
        expect = False
        for k in range(n_sites):
            if k == j or cost[k] > cost[j]:
                continue
            subset = not (reach[j] & ~reach[k]).any()
            bigger = reach[k].sum() > reach[j].sum()
            if subset and (bigger or cost[k] < cost[j] or k < j):
                expect = True
        assert mask[j] == expect
    # every dominated site has an undominated dominator, so the optimum is unchanged
    assert (~mask).any()


def test_network_candidates_spacing_and_study_area():
    from planner.network import _assemble

    node_xy = np.array([[0.0, 0], [1000, 0], [1000, 500]])
    import pyproj

    net = _assemble(pyproj.CRS("EPSG:32650"), node_xy, np.array([0, 1]), np.array([1, 2]),
                    np.array([1000.0, 500.0]), np.array([0, 0]),
                    pd.DataFrame({"osm_id": ["1"], "highway": ["footway"], "name": [None]}),
                    None)
    pts = network_candidates(net, spacing_m=100)
    assert len(pts) == 15
    xy = shapely.get_coordinates(pts.geometry.values)
    assert np.allclose(xy[:10, 0], np.arange(50, 1000, 100)) and np.allclose(xy[:10, 1], 0)
    assert np.allclose(xy[10:, 0], 1000) and np.allclose(xy[10:, 1], np.arange(50, 500, 100))
    area = shapely.box(-1, -1, 600, 1)
    inside = network_candidates(net, spacing_m=100, study_area=area)
    assert len(inside) == 6 and (inside["status"] == "candidate").all()
    with pytest.raises(InputError, match="spacing_m"):
        network_candidates(net, spacing_m=0)


def _random_cover(rng, n_sites, n_cells, p):
    """A random 0/1 coverage instance with p ≤ n_sites, and the people every set of at most p
    sites covers (by enumeration)."""
    import itertools

    reach = rng.random((n_sites, n_cells)) < 0.4
    w = rng.integers(0, 9, n_cells).astype(float)
    p = min(p, n_sites)
    value = {s: w[reach[list(s)].any(axis=0)].sum()
             for k in range(p + 1) for s in itertools.combinations(range(n_sites), k)}
    return cov(reach), w, p, value


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 7), st.integers(1, 9), st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_lagrangian_bound_and_fixing_are_sound(n_sites, n_cells, p, seed):
    from planner.optimize.lpbound import fix_sites, lagrangian, lp_bound

    rng = np.random.default_rng(seed)
    a, w, p, value = _random_cover(rng, n_sites, n_cells, p)
    cost = np.ones(n_sites)
    best = max(value.values())
    random_lam = lagrangian(a, w, cost, p, rng.random(n_cells) * w, np.zeros(n_sites))
    assert random_lam.bound >= best - 1e-9
    lb = lp_bound(a, w, cost, p, 10.0)
    assert lb.bound >= best - 1e-7
    incumbent = best - rng.integers(0, 3)
    fix0, fix1, worst = fix_sites(lb, p, incumbent)
    for s, v in value.items():
        if any(fix0[j] for j in s) or any(fix1[j] and j not in s for j in range(n_sites)):
            assert v <= worst + 1e-7 and v < incumbent


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 8), st.integers(1, 12), st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_first_order_bound_is_sound_and_near_the_lp(n_sites, n_cells, p, seed):
    """PDLP's duals, certified through the Lagrangian, bound the optimum and come close to the
    LP bound; subgradient steps warm-started from them never make the bound worse."""
    import time

    from planner.optimize.lpbound import first_order_bound, lp_bound, subgradient_bound

    a, w, p, value = _random_cover(np.random.default_rng(seed), n_sites, n_cells, p)
    cost = np.ones(n_sites)
    best = max(value.values())
    fo = first_order_bound(a, w, cost, p, 5.0)
    lp = lp_bound(a, w, cost, p, 10.0)
    assert fo is not None
    assert fo.bound >= best - 1e-9
    assert fo.bound == pytest.approx(lp.bound, rel=1e-3, abs=1e-3)
    assert ((fo.x_lp >= 0) & (fo.x_lp <= 1)).all()
    warm = subgradient_bound(a, w, p, best, time.perf_counter() + 1.0, lam0=fo.lam, step=0.1)
    assert best - 1e-9 <= warm.bound <= fo.bound + 1e-9


@pytest.mark.slow
def test_highs_banner_stays_off_stdout():
    """HiGHS prints a banner when its first instance is built; CLI output must not show it."""
    import subprocess
    import sys

    code = ("import numpy as np, scipy.sparse as sp\n"
            "from planner.optimize.lpbound import first_order_bound\n"
            "a = sp.csr_matrix(np.eye(3))\n"
            "print('bound', first_order_bound(a, np.ones(3), np.ones(3), 1.0, 5.0).bound)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    lines = out.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bound ")
    assert float(lines[0].split()[1]) == pytest.approx(1.0, abs=1e-6)
    assert "HiGHS" not in out.stderr


def test_race_meets_when_answer_and_bound_are_within_the_gap():
    import threading

    from planner.optimize.race import Race

    race = Race(90.0, 0.0, integral=True)
    race.offer_bound(100.4)
    assert not race.met.is_set() and race.bound == 100.4
    workers = [threading.Thread(target=race.offer_value, args=(v,)) for v in (95.0, 99.0, 97.0)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert race.value == 99.0 and not race.met.is_set()
    race.offer_bound(100.2)  # floors to 100: still above 99
    assert not race.met.is_set()
    race.offer_value(100.0)
    assert race.met.is_set()
    # the floor (answers excluded by fixing) keeps the race open, and a gap tolerance closes it
    fixed = Race(100.0, 0.0, integral=False, floor=103.0)
    fixed.offer_bound(100.0)
    assert not fixed.met.is_set()
    loose = Race(100.0, 0.05, integral=False, floor=103.0)
    loose.offer_bound(100.0)
    assert loose.met.is_set()


def test_subgradient_stops_once_the_race_is_met():
    import time

    from planner.optimize.lpbound import subgradient_bound
    from planner.optimize.race import Race

    rng = np.random.default_rng(3)
    a = cov(rng.random((40, 200)) < 0.1)
    w = rng.integers(1, 9, 200).astype(float)
    race = Race(float(w.sum()), 0.0, integral=True)  # an answer covering everyone
    t0 = time.perf_counter()
    out = subgradient_bound(a, w, 5, 0.0, t0 + 60, max_iter=10**6, patience=10**6, race=race)
    assert time.perf_counter() - t0 < 5
    assert race.met.is_set() and out.bound >= race.bound - 1e-9
