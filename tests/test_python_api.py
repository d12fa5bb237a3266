"""The Python API (``import planner as pl``): every building block on small synthetic streets
against networkx and brute force, the from-GeoDataFrame siting against the scenario runner's
answer on the bundled sample, and an ``import planner`` that stays light."""

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

import planner as pl
from planner.io.coords import wgs84_to_gcj02
from planner.synthetic import street_network

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("geopandas", "numba", "osmnx", "folium", "pandas", "shapely", "scipy", "pyrosm")


def test_import_planner_is_light_and_fast():
    code = ("import sys, time; t = time.perf_counter(); import planner; "
            "s = time.perf_counter() - t; import json; "
            f"print(json.dumps([s, [m for m in {HEAVY!r} if m in sys.modules]]))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    seconds, loaded = json.loads(subprocess.run([sys.executable, "-c", code], env=env,
                                                capture_output=True, text=True,
                                                check=True).stdout)
    assert loaded == []
    assert seconds <= 1.0


def test_every_public_name_resolves_and_no_submodule_shadows_it():
    import planner.blocks  # noqa: F401  (the submodules a run imports are loaded first)
    import planner.coverage  # noqa: F401
    import planner.facilities  # noqa: F401
    import planner.scenario  # noqa: F401

    for name in pl.__all__:
        assert not isinstance(getattr(pl, name), ModuleType), name
        assert name in dir(pl)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        pl.nope  # noqa: B018


# --- building blocks on synthetic streets ----------------------------------------------------


@pytest.fixture(scope="module")
def streets():
    """A 36-node street network (80 m blocks) in UTM 49N, and its nodes as a GeoDataFrame."""
    net = street_network(36, seed=3)
    nodes = net.nodes_gdf()
    return net, nodes


def _graph(net) -> nx.Graph:
    graph = nx.Graph()
    for u, v, length in zip(net.edge_u, net.edge_v, net.edge_length, strict=True):
        graph.add_edge(int(u), int(v), weight=float(length))
    return graph


def test_network_from_lines_and_file_round_trip(streets, tmp_path):
    net, _ = streets
    lines = net.edges_gdf()[["geometry"]].assign(highway="residential")
    rebuilt = pl.network_from_lines(lines)
    assert rebuilt.total_length_m == pytest.approx(net.total_length_m)
    lines.to_file(tmp_path / "streets.geojson")
    again = pl.network_from_file(tmp_path / "streets.geojson", crs=net.crs)
    assert again.n_edges == rebuilt.n_edges
    assert again.total_length_m == pytest.approx(net.total_length_m, rel=1e-6)


def test_read_facilities_converts_gcj02_and_reports(streets, tmp_path):
    net, nodes = streets
    truth = nodes.iloc[[0, 7, 20]].geometry
    lonlat = truth.to_crs(4326)
    glon, glat = wgs84_to_gcj02(lonlat.x.to_numpy(), lonlat.y.to_numpy())
    csv = tmp_path / "clinics.csv"
    pd.DataFrame({"名称": ["甲", "乙", "丙"], "经度": glon, "纬度": glat}).to_csv(
        csv, index=False, encoding="gbk")
    fac = pl.read_facilities(csv, net, coords="gcj02", category="clinic")
    assert fac.crs == net.crs and list(fac["category"]) == ["clinic"] * 3
    error = fac.geometry.distance(truth.reset_index(drop=True), align=False)
    assert error.max() < 1.0
    assert "3 facilities kept" in " ".join(fac.attrs["report"].lines())


def test_cell_coverage_matches_networkx(streets):
    net, nodes = streets
    cells = nodes.iloc[::2].assign(total=10.0, age_60_plus=2.0)[["total", "age_60_plus",
                                                                  "geometry"]]
    fac_nodes = [3, 17, 30]
    fac = gpd.GeoDataFrame({"category": ["pharmacy", "pharmacy", "clinic"]},
                           geometry=nodes.geometry.iloc[fac_nodes].to_numpy(), crs=net.crs)
    out = pl.cell_coverage(net, cells, fac, distance_m={"pharmacy": 200.0})
    graph = _graph(net)
    for key, sources, limit in (("pharmacy", {3, 17}, 200.0), ("clinic", {30}, 300.0)):
        ref = nx.multi_source_dijkstra_path_length(graph, sources)
        want = np.array([ref.get(int(n), np.inf) for n in cells.index])
        got = out[f"dist_{key}"].fillna(np.inf).to_numpy()
        bounded = want <= 1000
        np.testing.assert_allclose(got[bounded], want[bounded], atol=1e-6)
        assert (out[f"covered_{key}"].to_numpy() == (want <= limit)).all()
    assert out.attrs["distance_m"] == {"pharmacy": 200.0, "clinic": 300.0}  # clinic: GB 50180
    assert not out["off_streets"].any()
    table = pl.coverage_table(out)
    row = table[(table["category"] == "pharmacy") & (table["mode"] == "compliance")
                & (table["group"] == "total")]
    within = (out["covered_pharmacy"] * out["total"]).sum() / out["total"].sum()
    assert row["coverage_pct"].iloc[0] == pytest.approx(100 * within, abs=0.05)


def test_cell_coverage_says_what_is_missing(streets):
    net, nodes = streets
    cells = nodes.assign(total=1.0)
    with pytest.raises(pl.InputError, match="categories="):
        pl.cell_coverage(net, cells, gpd.GeoDataFrame({"category": ["no_such"]},
                                                      geometry=[nodes.geometry.iloc[0]],
                                                      crs=net.crs))
    with pytest.raises(pl.InputError, match="cell_coverage"):
        pl.coverage_table(cells)


def test_candidates_follow_the_streets(streets):
    net, nodes = streets
    existing = gpd.GeoDataFrame({"category": ["clinic"]}, geometry=[nodes.geometry.iloc[4]],
                                crs=net.crs)
    sites = pl.candidates(net, spacing_m=80, existing=existing, category="clinic")
    assert sites["status"].iloc[0] == "existing"
    assert (sites["status"].iloc[1:] == "candidate").all()
    edges = shapely.union_all(net.edge_geometries())
    assert sites.geometry.iloc[1:].distance(edges).max() < 1e-6


def test_max_cover_from_geodataframe_is_the_brute_force_optimum(streets):
    net, nodes = streets
    rng = np.random.default_rng(0)
    demand = nodes.assign(total=rng.integers(1, 20, len(nodes)).astype(float))
    cand_nodes = [1, 6, 11, 14, 22, 27, 33]
    candidates = nodes.iloc[cand_nodes].reset_index(drop=True)
    answer = pl.MaxCover.from_geodataframe(demand, candidates, net, distance_m=170, p=2).solve()
    graph = _graph(net)
    reach = [{n for n, d in nx.single_source_dijkstra_path_length(graph, c, cutoff=170).items()}
             for c in cand_nodes]
    people = demand["total"].to_numpy()

    def covered(pick):
        return people[sorted(set().union(*(reach[i] for i in pick)))].sum()

    best = max(covered(pick) for pick in itertools.combinations(range(len(cand_nodes)), 2))
    assert answer.objective == pytest.approx(best)
    assert answer.covered_people == pytest.approx(best)
    assert answer.gap == pytest.approx(0.0, abs=1e-9) and answer.status in ("optimal", "trivial")
    chosen = [cand_nodes.index(int(n)) for n in _nodes_of(answer.sites, nodes)]
    assert covered(chosen) == pytest.approx(best)


def _nodes_of(sites: gpd.GeoDataFrame, nodes: gpd.GeoDataFrame) -> list[int]:
    return [int(nodes.geometry.distance(p).idxmin()) for p in sites.geometry]


def test_set_cover_and_capacities_from_geodataframe(streets):
    net, nodes = streets
    demand = nodes.assign(total=5.0)
    candidates = nodes.iloc[::3].reset_index(drop=True).assign(capacity=40.0)
    cover = pl.SetCover.from_geodataframe(demand, candidates, net, distance_m=200).solve()
    assert cover.answer.uncoverable["people"].sum() == 0
    assert cover.covered_people == pytest.approx(demand["total"].sum())
    assert cover.objective == len(cover.sites) and cover.gap == pytest.approx(0.0, abs=1e-9)
    capped = pl.CapacitatedMaxCover.from_geodataframe(demand, candidates, net, distance_m=200,
                                                      p=2).solve()
    assert capped.covered_people == pytest.approx(capped.answer.coverage["people_served_after"])
    assert capped.covered_people <= 2 * 40.0 + 1e-9  # no existing sites: two new ones of 40


def test_siting_names_a_missing_weight_column_and_crs(streets):
    net, nodes = streets
    with pytest.raises(pl.InputError, match="weight_col"):
        pl.MaxCover.from_geodataframe(nodes, nodes, net, distance_m=100, p=1)
    with pytest.raises(pl.CRSError, match="no CRS"):
        pl.MaxCover.from_geodataframe(nodes.assign(total=1.0), nodes.set_crs(None,
                                      allow_override=True), net, distance_m=100, p=1)


def test_build_scenario_and_run_without_optimisation(monkeypatch, tmp_path):
    import planner.blocks as blocks

    s = pl.build_scenario(tmp_path, network={"source": "sample:helsinki"},
                          optimize=[{"model": "mclp", "categories": ["clinic"], "new_sites": 1}])
    assert s.base_dir == tmp_path.resolve() and len(s.optimize) == 1
    with pytest.raises(pl.InputError, match="did you mean 'optimize'"):
        pl.build_scenario(network={"source": "sample:helsinki"}, optimise=[])
    seen = {}
    monkeypatch.setattr(blocks, "run_scenario", lambda sc, **kw: seen.update(sc=sc, **kw))
    pl.run(s, optimize=False)
    assert seen["sc"].optimize == [] and s.optimize  # the caller's scenario is left as it was


# --- the sample, end to end ------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_result():
    s = pl.load_scenario()
    one = s.optimize[1].model_copy(update={"new_sites": 3})  # kindergartens
    return pl.run(s.model_copy(update={"optimize": [one]}))


@pytest.mark.slow  # runs the sample scenario
def test_result_parts_are_typed_and_tables_read_only(sample_result):
    r = sample_result
    assert list(r.tables) == [
        "facility_audit", "facilities_dropped", "coverage", "headline", "equity",
        "complete_circle", "cells_off_streets", "gap_areas", "capacity_access",
        "capacity_by_facility", "optimize_1_mclp_kindergarten_sites",
        "optimize_1_mclp_kindergarten_coverage"]
    assert list(r.layers) == ["cells_off_streets", "gap_cells", "gap_areas", "cells",
                              "facilities", "isochrones", "proposals"]
    assert r.tables["headline"] is r.headline and r.layers["gap_areas"] is r.gaps.areas
    with pytest.raises(TypeError):
        r.tables["extra"] = pd.DataFrame()
    opt = r.optimizations[0]
    assert opt.name == "optimize_1_mclp_kindergarten" and opt.request.new_sites == 3
    assert opt.sites is opt.answer.sites and len(opt.sites_table) == 3
    assert {"lon_wgs84", "lat_wgs84"} <= set(opt.sites_table.columns)
    assert json.dumps(r.summary(), default=str)


@pytest.mark.slow  # runs the sample scenario
def test_max_cover_agrees_with_the_scenario_runner(sample_result):
    r = sample_result
    cat = r.categories["kindergarten"]
    sites = pl.candidates(r.network, existing=r.facilities, category=cat.key,
                          spacing_m=r.scenario.optimize[0].candidate_spacing_m)
    answer = pl.MaxCover.from_geodataframe(r.demand.cells, sites, r.network,
                                           distance_m=cat.distance_m, weight_col=cat.group,
                                           p=3).solve(time_limit_s=20)
    ref = r.optimizations[0]
    assert answer.objective == pytest.approx(ref.objective)
    assert answer.gap <= 1e-6 and ref.gap <= 1e-6


@pytest.mark.slow  # runs the sample scenario
def test_coverage_table_of_a_run_matches_its_coverage(sample_result):
    r = sample_result
    again = pl.coverage_table(r.cells, speeds=r.scenario.speeds)
    key = ["category", "mode", "level_min", "group"]
    got = again.set_index(key)["coverage_pct"]
    want = r.coverage.set_index(key)["coverage_pct"]
    pd.testing.assert_series_equal(got.loc[want.index], want, check_exact=False, atol=1e-9)


def test_docs_and_notebooks_name_only_public_api():
    texts = [(ROOT / "docs" / "python.md").read_text(encoding="utf-8"),
             *((p.read_text(encoding="utf-8")) for p in (ROOT / "notebooks").glob("*.ipynb"))]
    used = {m for text in texts for m in re.findall(r"\bpl\.(\w+)", text)}
    assert used and used <= set(pl.__all__), used - set(pl.__all__)


@pytest.mark.slow  # runs the sample scenario
def test_building_blocks_give_the_runs_inputs(sample_result):
    r = sample_result
    net = pl.network_from_file(pl.sample_osm())
    assert (net.n_edges, net.crs) == (r.network.n_edges, r.network.crs)
    fac = pl.read_facilities(pl.sample_osm(), net)
    pd.testing.assert_frame_equal(fac.drop(columns="geometry"),
                                  r.facilities.drop(columns="geometry"), check_dtype=False)
    cells = pl.read_population(pl.sample_osm(), net, total=4000)  # as the sample scenario
    pd.testing.assert_frame_equal(pd.DataFrame(cells), pd.DataFrame(r.demand.cells))
    assert cells["total"].sum() == pytest.approx(4000)
    assert any("calibrat" in n.lower() for n in cells.attrs["notes"])
