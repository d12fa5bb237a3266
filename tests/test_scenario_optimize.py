"""Optimisation requests in scenarios and the ``planner optimize`` command: candidate files (with
status, cost, GCJ-02 coordinates), cost budgets, joint siting around required sites, and the
people no candidate can reach reported in the outputs."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.errors import InputError
from planner.io.coords import wgs84_to_gcj02
from planner.scenario import run_scenario
from planner.scenario_file import SAMPLE_SCENARIO, load_scenario, parse_scenario

#: Candidate sites in central Helsinki (WGS-84), with a status, a cost and a capacity.
SITES = pd.DataFrame({
    "id": [f"c{i}" for i in range(10)],
    "lon": [24.946191, 24.936656, 24.949012, 24.945706, 24.944698, 24.949054, 24.949718,
            24.947674, 24.949811, 24.940795],
    "lat": [60.168237, 60.165198, 60.175953, 60.173754, 60.176221, 60.165033, 60.165403,
            60.167108, 60.171498, 60.170072],
    "status": ["candidate"] * 8 + ["required", "closable"],
    "cost": [1, 2, 3, 1, 2, 3, 1, 2, 3, 1],
    "capacity": [50, 60, 70, 80, 90, 100, 110, 120, 130, 140],
})


@pytest.fixture(scope="module")
def folder(tmp_path_factory, share_sample_cache):
    path = share_sample_cache(tmp_path_factory.mktemp("scenario"))
    SITES.to_csv(path / "sites.csv", index=False)
    x, y = wgs84_to_gcj02(SITES["lon"].to_numpy(), SITES["lat"].to_numpy())
    SITES.assign(lon=np.round(x, 7), lat=np.round(y, 7)).to_csv(path / "sites_gcj.csv", index=False)
    return path


def run(folder, request: dict):
    doc = load_scenario().model_dump(exclude={"base_dir"})
    doc["optimize"] = [{"time_limit_s": 20, **request}]
    scenario = parse_scenario(doc, folder, "test")
    return run_scenario(scenario, cache_dir=folder / ".cache")


@pytest.mark.slow
def test_cost_budget_with_a_candidates_file(folder):
    result = run(folder, {"categories": ["elderly_day_care"], "budget": 4,
                          "candidates": "sites.csv"})
    res = result.optimizations[0]
    assert res.status == "optimal"
    cost = SITES.set_index("id")["cost"]
    # required and new sites, and the closable site if kept, are paid from the budget plus
    # what closing the closable site frees
    kept = set() if "c9" in set(res.closed["id"]) else {"c9"}
    assert cost[res.sites["id"]].sum() + cost[list(kept)].sum() <= 4 + cost["c9"]
    assert "c8" in set(res.sites["id"])
    told = result.summary()["optimizations"][0]
    assert told["budget"] == 4 and told["new_sites_cost"] == pytest.approx(
        cost[res.sites["id"]].sum())
    # the sites' marginal people add up to everyone covered after, less those still covered by
    # existing sites (people only the closed site reached count again when a new site reaches them)
    kept_before = res.coverage["people_covered_before"] - res.coverage["people_no_longer_covered"]
    assert res.sites["marginal_people"].sum() == pytest.approx(res.objective - kept_before,
                                                               abs=1e-6)


def test_cost_budget_without_costs_fails_before_the_heavy_steps(folder):
    with pytest.raises(InputError, match="generated along the streets have none"):
        run(folder, {"categories": ["elderly_day_care"], "budget": 4})


@pytest.mark.slow
def test_joint_siting_keeps_required_sites(folder):
    SITES.iloc[:9].to_csv(folder / "no_closable.csv", index=False)
    request = {"model": "joint", "categories": ["elderly_day_care", "kindergarten"],
               "new_sites": 3, "weights": {"kindergarten": 3}}
    result = run(folder, {**request, "candidates": "no_closable.csv"})
    assert "c8" in set(result.optimizations[0].sites["id"])
    with pytest.raises(InputError, match="The joint model does not close sites"):
        run(folder, {**request, "candidates": "sites.csv"})


@pytest.mark.slow
def test_lscp_lists_the_people_no_candidate_reaches(folder):
    result = run(folder, {"model": "lscp", "categories": ["elderly_day_care"],
                          "candidates": "sites.csv"})
    res = result.optimizations[0]
    name = "optimize_1_lscp_elderly_day_care"
    assert res.uncoverable["people"].sum() > 0  # ten sites cannot reach all of Helsinki
    table = result.tables[f"{name}_uncoverable"]
    assert table["people"].sum() == pytest.approx(res.uncoverable["people"].sum())
    assert table["lon_wgs84"].between(24.8, 25.1).all()
    assert table["lat_wgs84"].between(60.1, 60.3).all()
    # outside China GCJ-02 is WGS-84; no BD-09 input, so no BD-09 columns
    assert (table["lon_gcj02"] == table["lon_wgs84"]).all() and "lon_bd09" not in table
    summary = result.summary()["optimizations"][0]
    assert summary["uncoverable_people"] == pytest.approx(res.uncoverable["people"].sum())
    assert any("beyond the reach of every candidate site" in n for n in result.notes)
    assert summary["closed_sites"] == len(res.closed)
    assert (f"{name}_closed" in result.tables) == bool(len(res.closed))


@pytest.mark.slow
def test_every_table_names_the_system_of_its_degrees(folder):
    result = run(folder, {"model": "lscp", "categories": ["elderly_day_care"],
                          "candidates": "sites.csv", "candidates_coords": "bd09"})
    bare = {n: [c for c in t.columns if str(c).lower() in ("lon", "lat", "lng")]
            for n, t in result.tables.items()}
    assert not any(bare.values()), bare
    sites = result.tables["optimize_1_lscp_elderly_day_care_sites"]
    gaps = result.tables["gap_areas"]
    for table in (sites, gaps, result.tables["optimize_1_lscp_elderly_day_care_uncoverable"]):
        assert {"lon_wgs84", "lat_wgs84", "lon_gcj02", "lat_gcj02", "lon_bd09", "lat_bd09"} <= set(table)
    # a site's degrees are where its point is
    lonlat = result.optimizations[0].sites.geometry.to_crs(4326)
    assert np.allclose(sites["lon_wgs84"], lonlat.x, atol=2e-6)
    assert np.allclose(sites["lat_wgs84"], lonlat.y, atol=2e-6)
    # a gap area's point lies inside it
    areas = result.layers["gap_areas"].to_crs(4326)
    pts = gpd.points_from_xy(gaps["lon_wgs84"], gaps["lat_wgs84"], crs=4326)
    assert areas.geometry.buffer(1e-6).contains(gpd.GeoSeries(pts, index=areas.index)).all()


@pytest.mark.slow
def test_gcj02_candidates_land_where_the_wgs84_ones_do(folder):
    request = {"categories": ["elderly_day_care"], "new_sites": 2}
    plain = run(folder, {**request, "candidates": "sites.csv"})
    shifted = run(folder, {**request, "candidates": "sites_gcj.csv",
                           "candidates_coords": "gcj02"})
    a, b = plain.optimizations[0].sites, shifted.optimizations[0].sites
    assert list(a["id"]) == list(b["id"])
    assert np.allclose(a.geometry.x, b.geometry.x, atol=1.0)
    assert np.allclose(a.geometry.y, b.geometry.y, atol=1.0)


@pytest.mark.slow
def test_cli_optimize_uses_the_scenarios_candidates_and_names_bad_options(folder, tmp_path,
                                                                         share_sample_cache):
    share_sample_cache(tmp_path / "out")
    doc = folder / "scenario.toml"
    sample = SAMPLE_SCENARIO.read_text(encoding="utf-8").split("[[optimize]]")[0]
    doc.write_text(sample + '[[optimize]]\ncategories = ["elderly_day_care"]\nnew_sites = 1\n'
                   'candidates = "sites.csv"\n', encoding="utf-8")
    runner = CliRunner()
    out = runner.invoke(app, ["optimize", str(doc), "--category", "elderly_day_care",
                              "--new-sites", "2", "-o", str(tmp_path / "out")])
    assert out.exit_code == 0, out.output
    sites = pd.read_csv(tmp_path / "out" / "tables" /
                        "optimize_1_mclp_elderly_day_care_sites.csv")
    assert set(sites["id"]) <= set(SITES["id"])
    for args, message in [
        (["--model", "lscp", "--new-sites", "3"], "takes neither new_sites nor budget"),
        (["--new-sites", "-2"], "new_sites: Input should be greater than or equal to 0"),
        (["--model", "joint", "--category", "kindergarten", "--new-sites", "2", "--weight",
          "kindergarten:3"], "write KEY=NUMBER"),
    ]:
        out = runner.invoke(app, ["optimize", str(doc), "--category", "elderly_day_care", *args,
                                  "-o", str(tmp_path / "bad")])
        assert out.exit_code == 2 and message in " ".join(out.output.split()), out.output


@pytest.mark.slow
def test_new_site_capacity_leaves_existing_facilities_their_own(folder):
    result = run(folder, {"model": "capacitated", "categories": ["childcare"], "new_sites": 2,
                          "new_site_capacity": 10})
    res = result.optimizations[0]
    loads = res.extra["loads"].set_index("status")
    assert (res.sites["capacity"] == 10).all()
    # the sample's one childcare facility gives no capacity: it keeps the norm's 75 places
    assert (loads.loc[["existing"], "capacity"] == 75).all()


@pytest.mark.slow
def test_capacitated_without_any_capacity_says_what_to_give(folder):
    SITES.drop(columns="capacity").iloc[:8].to_csv(folder / "no_capacity.csv", index=False)
    with pytest.raises(InputError, match="no norm capacity per site: give new_site_capacity"):
        run(folder, {"model": "capacitated", "categories": ["elderly_day_care"],
                     "new_sites": 2, "candidates": "no_capacity.csv"})


@pytest.mark.slow
def test_joint_siting_counts_people_existing_facilities_already_cover(folder):
    result = run(folder, {"model": "joint", "categories": ["childcare", "convenience"],
                          "new_sites": 2})
    res = result.optimizations[0]
    table = result.tables["coverage"]
    comp = table[table["mode"] == "compliance"]
    expected = sum(
        float(comp[(comp["category"] == key) & (comp["group"] == group)]["people_covered"]
              .iloc[0])
        for key, group in (("childcare", "age_0_2"), ("convenience", "total")))
    assert expected > 0
    assert res.coverage["people_covered_before"] == pytest.approx(expected, rel=1e-9)
    people = result.demand.cells
    assert res.coverage["people_total"] == pytest.approx(
        people["age_0_2"].sum() + people["total"].sum())
