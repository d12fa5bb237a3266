"""Coverage tables, districts, the complete-circle index and equity against hand computations."""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.catchment import nearest_by_category, network_part, snap_points
from planner.coverage import (
    NO_FACILITIES,
    SEARCH_BOUND_M,
    complete_circle,
    coverage_table,
    district_coverage,
    equity_table,
    headline_table,
    required_distance_m,
    search_bounds,
    weighted_gini,
    weighted_median,
)
from planner.errors import InputError, UnknownCategoryError
from planner.standards import load_categories, load_speeds
from planner.synthetic import network_from_arrays

CRS = "EPSG:32649"  # UTM 49N (Taiyuan)
X0, Y0 = 500_000.0, 4_180_000.0


def grid(nx: int, ny: int, size: float = 100.0, **people) -> gpd.GeoDataFrame:
    ix, iy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="xy")
    x = X0 + (ix.ravel() + 0.5) * size
    y = Y0 + (iy.ravel() + 0.5) * size
    geom = shapely.box(x - size / 2, y - size / 2, x + size / 2, y + size / 2)
    data = {"cell_id": np.arange(len(x)), "x": x, "y": y}
    for k, v in people.items():
        data[k] = np.asarray(v, dtype=float)
    return gpd.GeoDataFrame(data, geometry=geom, crs=CRS)


@pytest.fixture(scope="module")
def cats():
    return load_categories()


@pytest.fixture(scope="module")
def speeds():
    return load_speeds()


def row(table, category, mode, level, group):
    sel = table[
        (table["category"] == category)
        & (table["mode"] == mode)
        & (table["level_min"] == level)
        & (table["group"] == group)
    ]
    assert len(sel) == 1
    return sel.iloc[0]


def test_hand_case_both_modes(cats, speeds):
    cells = grid(4, 1, total=[100, 50, 30, 20], age_60_plus=[10, 20, 5, 0])
    d = {"convenience": np.array([100.0, 299.0, 301.0, np.inf])}
    t = coverage_table(d, cells, cats, speeds)
    # compliance: 300 m → cells 0 and 1
    r = row(t, "convenience", "compliance", 5, "total")
    assert r.people == 200 and r.people_covered == 150 and r.coverage_pct == 75.0
    assert row(t, "convenience", "compliance", 5, "age_60_plus").people_covered == 30
    # time: 5 min at 1.2 m/s = 360 m; at 0.8 m/s = 240 m; 10 min at 0.8 m/s = 480 m
    assert row(t, "convenience", "time", 5, "total").people_covered == 180
    assert row(t, "convenience", "time", 5, "age_60_plus").people_covered == 10
    assert row(t, "convenience", "time", 10, "age_60_plus").people_covered == 35
    assert row(t, "convenience", "time", 15, "total").threshold_m == pytest.approx(1080.0)
    head = headline_table(t)
    assert head.loc[0, "coverage_pct"] == 75.0 and head.loc[0, "within_5_min_pct"] == 90.0


def test_headline_times_the_served_group_at_its_own_speed(cats, speeds):
    cells = grid(4, 1, total=[100, 50, 30, 20], age_60_plus=[10, 20, 5, 0])
    d = np.array([100.0, 299.0, 301.0, np.inf])
    t = coverage_table({"convenience": d, "elderly_day_care": d}, cells, cats, speeds)
    head = headline_table(t, cats).set_index("category")
    old = head.loc["elderly_day_care"]
    assert cats["elderly_day_care"].group == "age_60_plus" == old.served_group
    assert old.coverage_pct == 75.0 and old.people == 200  # everyone, compliance
    assert old.served_people == 35 and old.served_coverage_pct == pytest.approx(85.71, abs=0.01)
    # 5 minutes at 0.8 m/s = 240 m: only the first cell's 10 older people
    assert old.within_5_min_pct == row(t, "elderly_day_care", "time", 5,
                                       "age_60_plus").coverage_pct
    assert old.within_5_min_pct == pytest.approx(100 * 10 / 35, abs=0.01)
    shop = head.loc["convenience"]
    assert shop.served_group == "total" and shop.within_5_min_pct == 90.0
    # time mode alone still gives one row per category
    only_time = headline_table(t[t["mode"] == "time"], cats)
    assert len(only_time) == 2 and only_time["within_5_min_pct"].notna().all()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.floats(0, 1500), st.just(np.inf)),
            st.floats(0, 500),
            st.floats(0, 100),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_matches_brute_force(rows):
    cats, speeds = load_categories(), load_speeds()
    d = np.array([r[0] for r in rows])
    cells = grid(len(rows), 1, total=[r[1] for r in rows], age_60_plus=[r[2] for r in rows])
    t = coverage_table({"pharmacy": d}, cells, cats, speeds)
    for _, r in t.iterrows():
        limit = 500.0 if r["mode"] == "compliance" else 60 * r["level_min"] * speeds[r["group"]]
        expected = sum(p for dist, p in zip(d, cells[r["group"]], strict=True) if dist <= limit)
        assert r["people_covered"] == pytest.approx(expected)
        assert r["people"] == pytest.approx(cells[r["group"]].sum())


def test_category_without_facilities_is_zero_with_note(cats, speeds):
    cells = grid(2, 1, total=[10, 20])
    facilities = pd.DataFrame({"category": ["pharmacy"]})
    d = {"pharmacy": np.array([10.0, 20.0]), "childcare": np.full(2, np.inf)}
    t = coverage_table(d, cells, cats, speeds, facilities=facilities)
    r = row(t, "childcare", "compliance", 5, "total")
    assert r.coverage_pct == 0 and r.note == NO_FACILITIES and r.facilities == 0
    assert row(t, "pharmacy", "compliance", 10, "total").coverage_pct == 100


def test_bad_inputs(cats, speeds):
    cells = grid(2, 1, total=[10, 20])
    with pytest.raises(InputError, match="shape"):
        coverage_table({"pharmacy": np.zeros(3)}, cells, cats, speeds)
    with pytest.raises(InputError, match="np.inf"):
        coverage_table({"pharmacy": np.array([np.nan, 1.0])}, cells, cats, speeds)
    with pytest.raises(UnknownCategoryError, match="Known categories"):
        coverage_table({"bakery": np.zeros(2)}, cells, cats, speeds)
    with pytest.raises(InputError, match="'total'"):
        coverage_table({"pharmacy": np.zeros(2)}, cells.drop(columns="total"), cats, speeds)


def test_required_distance(cats, speeds):
    assert required_distance_m(cats, speeds) == pytest.approx(max(1080.0, 1000.0))


def test_districts_reprojected_and_checked(cats, speeds):
    cells = grid(4, 2, total=np.arange(1, 9) * 10.0, age_60_plus=np.ones(8))
    d = {"convenience": np.array([0, 400, 0, 400, 0, 0, 999, np.inf], dtype=float)}
    west = shapely.box(X0, Y0, X0 + 200, Y0 + 200)
    east = shapely.box(X0 + 200, Y0, X0 + 400, Y0 + 200)
    districts = gpd.GeoDataFrame({"name": ["西街道", "东街道"]}, geometry=[west, east], crs=CRS)
    t = district_coverage(d, cells, cats, speeds, districts.to_crs(4326))
    # brute force: a cell belongs to the district containing its centre
    is_west = cells["x"].to_numpy() < X0 + 200
    for idx, mask in ((0, is_west), (1, ~is_west)):
        sel = t[(t["district"] == idx) & (t["mode"] == "compliance") & (t["group"] == "total")]
        covered = cells["total"].to_numpy()[mask & (d["convenience"] <= 300)].sum()
        assert sel["people_covered"].item() == pytest.approx(covered)
        assert sel["people"].item() == pytest.approx(cells["total"].to_numpy()[mask].sum())
        assert sel["district_name"].item() == districts["name"][idx]
    far = districts.translate(50_000, 0)
    with pytest.raises(InputError, match="does not overlap"):
        district_coverage(d, cells, cats, speeds, far)


def test_complete_circle_known_case(cats):
    cells = grid(4, 1, total=[100, 200, 300, 400])
    near, far = 10.0, 2000.0
    d = {
        "convenience": np.array([near, near, near, far]),
        "fresh_market": np.array([near, near, far, far]),
        "pharmacy": np.array([near, near, near, near]),
        "breakfast": np.array([near, 499.0, near, far]),
        "elderly_day_care": np.array([near, 300.0, near, far]),
        "childcare": np.array([near, 301.0, near, far]),  # 300 m threshold: cell 1 misses it
    }
    res = complete_circle(d, cells, cats)
    assert res.keys == tuple(d)
    assert res.reached.tolist() == [6, 5, 5, 1]
    assert res.complete.tolist() == [True, False, False, False]
    assert res.index == pytest.approx(100 / 1000)
    assert res.table["people"].tolist() == [0, 400, 0, 0, 0, 500, 100]
    # the default set uses those present and lists the absent ones
    part = complete_circle({k: d[k] for k in ("convenience", "pharmacy")}, cells, cats)
    assert part.keys == ("convenience", "pharmacy") and "childcare" in part.missing
    assert part.index == pytest.approx(600 / 1000)
    with pytest.raises(InputError, match="no walking distances"):
        complete_circle(d, cells, cats, keys=["convenience", "clinic"])


def test_complete_circle_time_mode_uses_group_speed(cats, speeds):
    cells = grid(1, 1, total=[10], age_60_plus=[10])
    d = {"convenience": np.array([250.0])}  # 5 min: 360 m adults, 240 m older adults
    assert complete_circle(d, cells, cats, mode="time", speeds=speeds).index == 1.0
    older = complete_circle(d, cells, cats, mode="time", speeds=speeds, group="age_60_plus")
    assert older.index == 0.0


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.just(0.0), st.floats(0.01, 1000)),  # metres
            st.one_of(st.just(0.0), st.floats(0.01, 50)),  # people
        ),
        min_size=1,
        max_size=25,
    )
)
def test_gini_matches_double_sum(rows):
    x = np.array([r[0] for r in rows])
    w = np.array([r[1] for r in rows])
    mean = (w * x).sum() / w.sum() if w.sum() > 0 else 0
    g = weighted_gini(x, w)
    if w.sum() <= 0 or mean <= 0:
        assert np.isnan(g)
        return
    brute = sum(wi * wj * abs(xi - xj) for xi, wi in zip(x, w, strict=True) for xj, wj in zip(x, w, strict=True))
    assert g == pytest.approx(brute / (2 * w.sum() ** 2 * mean), rel=1e-9, abs=1e-12)


def test_gini_known_values():
    assert weighted_gini(np.array([100.0, 100.0]), np.array([3.0, 7.0])) == 0.0
    # two people, one walks 0 m and one 100 m: G = 1/2
    assert weighted_gini(np.array([0.0, 100.0]), np.array([1.0, 1.0])) == pytest.approx(0.5)


def test_equity_older_vs_everyone(cats, speeds):
    cells = grid(3, 1, total=[100, 100, 100], age_60_plus=[0, 10, 30])
    d = {"convenience": np.array([200.0, 300.0, np.inf])}
    e = equity_table(d, cells, cats, speeds).iloc[0]
    assert e.compliance_pct_total == pytest.approx(200 / 3, abs=0.01)
    assert e.compliance_pct_older == 25.0
    assert e.speed_m_s_older == 0.8 and e.speed_m_s_total == 1.2
    assert e.time_pct_older == 0.0  # 5 min at 0.8 m/s = 240 m; cell 0 has no older adults
    assert e.beyond_bound_pct_older == 75.0  # no network facts given: counted beyond the bound
    assert e.measured_pct_older == 25.0
    assert e.mean_distance_m_total == 250.0 and e.median_distance_m_total == 200.0
    assert e.mean_walk_min_older == round(300 / 0.8 / 60, 1)
    assert e.gini_distance_total == pytest.approx(weighted_gini(np.array([200.0, 300]), np.array([100.0, 100])))
    assert e.compliance_gap_pp == pytest.approx(25.0 - 200 / 3, abs=0.01)
    assert "100 people (1 cells) walk beyond 5,000 m" in e.note
    assert not [c for c in e.index if "unreachable" in c]


def line_city():
    """A 3 km street along y = 0 (nodes every 100 m), a separate 200 m street 1 km north, one
    convenience store at the west end; 30 cells 20 m south of the long street (people 1…30),
    one cell on the separate street and one 700 m from every street."""
    xs = np.arange(0.0, 3001.0, 100.0)
    nodes = np.vstack([np.column_stack([xs, np.zeros_like(xs)]), [[0.0, 1000.0], [200.0, 1000.0]]])
    n = len(xs)
    net = network_from_arrays(nodes, [*range(n - 1), n], [*range(1, n), n + 1])
    cell_xy = np.vstack([np.column_stack([xs[:-1] + 50.0, np.full(n - 1, -20.0)]),
                         [[100.0, 1010.0], [1500.0, 500.0]]])
    people = np.arange(1.0, len(cell_xy) + 1)
    cells = pd.DataFrame({"cell_id": np.arange(len(cell_xy)), "x": cell_xy[:, 0],
                          "y": cell_xy[:, 1], "total": people, "age_60_plus": 0.2 * people})
    facilities = pd.DataFrame({"category": ["convenience"], "x": [0.0], "y": [0.0]})
    return net, cells, facilities


def networkx_walks(net, cell_xy, fac_xy):
    import networkx as nx
    from reference_graph import reference_graph

    cells, fac = snap_points(net, cell_xy, 300.0), snap_points(net, fac_xy, 300.0)
    graph = reference_graph(net, cell=cells, fac=fac)
    reach = nx.multi_source_dijkstra_path_length(graph, [("fac", i) for i in range(len(fac))])
    return np.array([reach.get(("cell", i), np.inf) for i in range(len(cells))])


def test_equity_measures_walks_past_the_category_bound(cats, speeds):
    net, cells, fac = line_city()
    cat = {"convenience": cats["convenience"]}
    bounds = search_bounds(cat, speeds)
    assert bounds["convenience"] == SEARCH_BOUND_M > required_distance_m(cat, speeds)
    xy = cells[["x", "y"]].to_numpy()
    fac_gdf = gpd.GeoDataFrame(fac, geometry=gpd.points_from_xy(fac.x, fac.y), crs=net.crs)
    d = nearest_by_category(net, xy, fac_gdf, bounds)["convenience"].to_numpy()
    part = network_part(net, xy)
    fac_part = network_part(net, fac[["x", "y"]].to_numpy())
    off, cut = part < 0, (part >= 0) & ~np.isin(part, fac_part)
    e = equity_table({"convenience": d}, cells, cat, speeds, off_network=off,
                     no_facility={"convenience": cut}).iloc[0]
    truth = networkx_walks(net, xy, fac[["x", "y"]].to_numpy())
    long_street = np.arange(30)
    assert np.isfinite(truth[long_street]).all() and truth[long_street].max() > 2900
    p = cells["total"].to_numpy()[long_street]
    assert e.mean_distance_m_total == pytest.approx((p * truth[long_street]).sum() / p.sum(), abs=0.05)
    assert e.median_distance_m_total == pytest.approx(weighted_median(truth[long_street], p), abs=0.05)
    assert e.gini_distance_total == pytest.approx(weighted_gini(truth[long_street], p), abs=1e-4)
    people = cells["total"].sum()
    assert e.measured_pct_total == pytest.approx(100 * p.sum() / people, abs=0.01)
    assert e.no_facility_on_part_pct_total == pytest.approx(100 * 31 / people, abs=0.01)
    assert e.off_network_pct_total == pytest.approx(100 * 32 / people, abs=0.01)
    assert e.beyond_bound_pct_total == 0.0
    assert "31 people (1 cells) live on streets that connect to no facility" in e.note
    assert "32 people (1 cells) are excluded" in e.note
    # a search bound shorter than the street: the far cells are counted beyond it, not averaged
    near = nearest_by_category(net, xy, fac_gdf, {"convenience": 2000.0})["convenience"].to_numpy()
    e2 = equity_table({"convenience": near}, cells, cat, speeds, search_bound_m=2000.0,
                      off_network=off, no_facility={"convenience": cut}).iloc[0]
    far = truth[long_street] > 2000
    assert e2.beyond_bound_pct_total == pytest.approx(100 * p[far].sum() / people, abs=0.01)
    assert f"{p[far].sum():,.0f} people ({far.sum()} cells) walk beyond 2,000 m" in e2.note
    assert e2.mean_distance_m_total == pytest.approx(
        (p[~far] * truth[long_street][~far]).sum() / p[~far].sum(), abs=0.05)


def test_weighted_median_by_hand():
    assert weighted_median(np.array([300.0, 100.0, 200.0]), np.array([1.0, 1.0, 5.0])) == 200.0
    assert weighted_median(np.array([100.0, 200.0]), np.array([3.0, 1.0])) == 100.0
    assert np.isnan(weighted_median(np.array([100.0]), np.array([0.0])))


def test_equity_flags_must_match_the_cells(cats, speeds):
    cells = grid(2, 1, total=[1, 1])
    with pytest.raises(InputError, match="off_network has shape"):
        equity_table({"convenience": np.array([1.0, 2.0])}, cells, cats, speeds,
                      off_network=np.array([True]))


def test_time_thresholds_follow_overridden_speed(cats):
    fast = {**load_speeds(), "total": 1.5}
    cells = grid(1, 1, total=[1])
    cat = dataclasses.replace(cats["convenience"], distance_m=100.0)
    t = coverage_table({"convenience": np.array([440.0])}, cells, {**cats, "convenience": cat}, fast)
    assert row(t, "convenience", "time", 5, "total").people_covered == 1  # 450 m
    assert row(t, "convenience", "compliance", 5, "total").people_covered == 0
