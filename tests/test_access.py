"""2SFCA against a hand computation; the served / over-capacity / uncovered split."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import csr_matrix

from planner.access import access_split_table, capacity_access, two_step_fca
from planner.coverage import coverage_table, headline_table
from planner.errors import InputError
from planner.standards import load_categories, load_speeds
from tests.test_coverage import grid


def test_two_step_fca_by_hand():
    # facility A reaches cells 0, 1; facility B reaches cells 1, 2 (the 0-distance pair counts)
    m = csr_matrix((np.array([0.0, 120.0, 200.0, 50.0]), np.array([0, 1, 1, 2]), np.array([0, 2, 4])), shape=(2, 4))
    capacity = np.array([30.0, 10.0])
    demand = np.array([100.0, 50.0, 150.0, 80.0])
    ratio, access = two_step_fca(m, capacity, demand)
    # R_A = 30 / (100 + 50) = 0.2; R_B = 10 / (50 + 150) = 0.05
    assert ratio == pytest.approx([0.2, 0.05])
    assert access == pytest.approx([0.2, 0.25, 0.05, 0.0])


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5), st.integers(1, 8), st.data())
def test_two_step_fca_matches_loops(nf, nc, data):
    pairs = data.draw(st.lists(st.tuples(st.integers(0, nf - 1), st.integers(0, nc - 1)), unique=True))
    cap = np.array(data.draw(st.lists(st.floats(0, 100), min_size=nf, max_size=nf)))
    dem = np.array(data.draw(st.lists(st.floats(0.5, 100), min_size=nc, max_size=nc)))
    rows = np.array([p[0] for p in pairs], dtype=int)
    cols = np.array([p[1] for p in pairs], dtype=int)
    m = csr_matrix((np.zeros(len(pairs)), (rows, cols)), shape=(nf, nc))  # all explicit zeros
    ratio, access = two_step_fca(m, cap, dem)
    for j in range(nf):
        tot = sum(dem[c] for f, c in pairs if f == j)
        if tot > 0:
            assert ratio[j] == pytest.approx(cap[j] / tot)
    for i in range(nc):
        exp = sum(cap[f] / sum(dem[c] for g, c in pairs if g == f) for f, c in pairs if c == i)
        assert access[i] == pytest.approx(exp)


def test_split_with_norm_and_missing_capacity():
    cats = load_categories()
    home = cats["elderly_home"]  # 40 beds per 1,000 older residents; 200 beds default
    cells = grid(3, 1, total=[1000, 1000, 1000], age_60_plus=[5000, 2500, 1000])
    m = csr_matrix((np.ones(3), np.array([0, 1, 1]), np.array([0, 2, 3])), shape=(2, 3))
    fac = pd.DataFrame({"id": ["a", "b"], "category": "elderly_home", "capacity": [150.0, np.nan]})
    res = capacity_access(m, fac, cells, home)
    assert res.facilities["capacity"].tolist() == [150.0, 200.0]
    assert res.facilities["capacity_source"].tolist() == ["given", "norm"]
    assert "1 of 2 facilities had no capacity" in res.note and "200 beds" in res.note
    # demand (beds): 200, 100, 40. R_a = 150 / 300 = 0.5; R_b = 200 / 100 = 2
    assert res.facilities["ratio"].tolist() == pytest.approx([0.5, 2.0])
    assert res.cells["access"].tolist() == pytest.approx([0.5, 2.5, 0.0])
    # served: 5000·0.5 + 2500·1 = 5000; over capacity 2500; uncovered 1000
    s = res.split.iloc[0]
    assert (s.served, s.over_capacity, s.uncovered) == (5000, 2500, 1000)
    assert s.served_pct + s.over_capacity_pct + s.uncovered_pct == pytest.approx(100, abs=0.02)
    med = capacity_access(m, fac, cells, dataclasses.replace(home, capacity_per_site=None))
    assert med.facilities["capacity"].tolist() == [150.0, 150.0] and "median" in med.note
    table = access_split_table([res, med])
    assert table["category"].tolist() == ["elderly_home", "elderly_home"]


def test_capacity_problems_are_explained():
    cats = load_categories()
    home = dataclasses.replace(cats["elderly_home"], capacity_per_site=None)
    cells = grid(1, 1, total=[10], age_60_plus=[10])
    m = csr_matrix(np.ones((1, 1)))
    fac = pd.DataFrame({"capacity": [np.nan]})
    with pytest.raises(InputError, match="missing='drop'"):
        capacity_access(m, fac, cells, home)
    dropped = capacity_access(m, fac, cells, home, missing="drop")
    assert dropped.split.iloc[0].over_capacity == 10
    with pytest.raises(InputError, match="same order"):
        capacity_access(csr_matrix(np.ones((2, 1))), fac, cells, home, missing="drop")
    with pytest.raises(InputError, match="scipy.sparse"):
        two_step_fca(np.ones((1, 1)), np.ones(1), np.ones(1))


def test_no_facilities_means_everyone_uncovered():
    cats = load_categories()
    cells = grid(2, 1, total=[300, 700])
    fac = pd.DataFrame({"id": [], "capacity": []})
    res = capacity_access(csr_matrix((0, 2)), fac, cells, cats["childcare"])
    assert res.split.iloc[0].uncovered == 1000
    assert res.group == "total" and "no 'age_0_2' column, so everyone is counted" in res.note


def test_childcare_counts_its_served_group_with_the_norm_on_residents():
    """Childcare serves 0–2-year-olds, the headline's base; its norm (4.5 places per 1,000
    residents) sets the need from everyone."""
    care = load_categories()["childcare"]
    assert care.group == "age_0_2" and care.demand_group == "total"
    cells = grid(3, 1, total=[2000, 4000, 1000], age_0_2=[60, 100, 30])
    # facility a reaches cells 0 and 1, facility b nothing populated
    m = csr_matrix((np.zeros(2), np.array([0, 1]), np.array([0, 2, 2])), shape=(2, 3))
    fac = pd.DataFrame({"id": ["a", "b"], "category": "childcare", "capacity": [13.5, 20.0]})
    res = capacity_access(m, fac, cells, care)
    # need: 4.5/1000 × (2000 + 4000) = 27 places; R_a = 13.5 / 27 = 0.5
    assert res.facilities["catchment_demand"].tolist() == pytest.approx([27.0, 0.0])
    assert res.facilities["catchment_people"].tolist() == pytest.approx([160.0, 0.0])
    s = res.split.iloc[0]
    assert (s.group, s.demand_group) == ("age_0_2", "total")
    assert s.people == 190 and s.capacity_needed == pytest.approx(4.5 * 7)
    assert (s.served, s.over_capacity, s.uncovered) == pytest.approx((80, 80, 30))
    # the same base as the headline: uncovered = served-group people beyond the distance
    dist = {"childcare": np.array([100.0, 250.0, 900.0])}
    head = headline_table(coverage_table(dist, cells, {"childcare": care}, load_speeds()),
                          {"childcare": care}).iloc[0]
    assert head.served_people == s.people
    assert 100 - head.served_coverage_pct == pytest.approx(s.uncovered_pct, abs=0.01)
    # capacity is not over-spent in the norm's units
    demand = 0.0045 * cells["total"].to_numpy()
    assert (demand * np.minimum(res.cells["access"], 1)).sum() <= fac["capacity"].sum() + 1e-9
    notes = res.facilities["note"].tolist()
    assert notes[0].startswith("ratio = 13.5 places / 27.00 places the norm (4.5 places per 1,000 "
                               "people of total) asks for") and "below 1" in notes[0]
    assert "serves no one, ratio undefined" in notes[1]


def test_ratio_notes_say_why_a_ratio_is_infinite_or_huge():
    home = load_categories()["elderly_home"]  # 40 beds per 1,000 older residents, 200 by norm
    cells = grid(3, 1, total=[100, 100, 100], age_60_plus=[0, 2, 500])
    m = csr_matrix((np.zeros(3), np.array([0, 1, 2]), np.array([0, 1, 2, 3])), shape=(3, 3))
    fac = pd.DataFrame({"id": list("abc"), "capacity": [50.0, np.nan, 10.0]})
    res = capacity_access(m, fac, cells, home)
    ratio, notes = res.facilities["ratio"].tolist(), res.facilities["note"].tolist()
    assert np.isinf(ratio[0]) and "nobody of age_60_plus lives in its catchment" in notes[0]
    assert ratio[1] == pytest.approx(200 / 0.08) and "far above 1" in notes[1]
    assert notes[1].startswith("capacity assumed (norm); ratio = 200 beds / 0.08 beds")
    assert ratio[2] == pytest.approx(0.5) and "below 1" in notes[2]


def test_on_the_catchment_engine_matrix():
    """Covered cells of the 2SFCA equal the cells whose nearest facility is within the
    threshold; served people never exceed what the capacity supports."""
    from planner.catchment import coverage_matrix, nearest_distance
    from planner.synthetic import street_network

    cats = load_categories()
    care = cats["childcare"]  # 4.5 places per 1,000 residents, 75 places per site by default
    net = street_network(225, seed=5, spacing_m=80.0)
    x0, y0 = net.node_xy.min(axis=0)
    cells = grid(12, 12, total=np.random.default_rng(5).gamma(2.0, 200.0, 144).round())
    cells["x"] += x0 - cells["x"].min() + 50
    cells["y"] += y0 - cells["y"].min() + 50
    xy = cells[["x", "y"]].to_numpy()
    site_xy = net.node_xy[[10, 100, 200]]
    matrix = coverage_matrix(net, site_xy, xy, care.distance_m)
    fac = pd.DataFrame({"id": ["a", "b", "c"], "capacity": [30.0, np.nan, 5.0]})
    res = capacity_access(matrix, fac, cells, care)
    nearest = nearest_distance(net, xy, site_xy, care.distance_m)
    assert (res.cells["covered"].to_numpy() == np.isfinite(nearest)).all()
    s = res.split.iloc[0]
    assert s.served <= (30 + 75 + 5) / 0.0045 + 1e-6
    assert s.uncovered == pytest.approx(cells["total"].to_numpy()[~np.isfinite(nearest)].sum())
    assert s.served + s.over_capacity + s.uncovered == pytest.approx(cells["total"].sum())
