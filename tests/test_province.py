"""Runs over units: a two-worker Dask cluster on the bundled Helsinki extract gives the same
per-cell distances and coverage as one run over the whole area; a broken unit is reported
while the others finish, and a rerun resumes."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from planner.errors import InputError
from planner.province import run_province
from planner.province.merge import ALL_UNITS, add_up
from planner.scenario import run_scenario
from planner.scenario_file import load_scenario

pytestmark = pytest.mark.filterwarnings("ignore")

SCENARIO = """
name = "units"
[network]
source = "sample:helsinki"
{network}
[[facilities]]
source = "osm"
[population]
source = "buildings"
building_use = "all"
cell_m = 100
age_shares = "shanxi"
[analysis]
max_access_m = 300
categories = ["convenience", "pharmacy", "clinic", "supermarket", "childcare"]
{extra}
"""
OPTIMIZE = """[[optimize]]
model = "mclp"
categories = ["pharmacy"]
new_sites = 2
time_limit_s = 5
"""
#: Four quadrants around every building of the extract (degrees).
WEST, SOUTH, EAST, NORTH, MID_X, MID_Y = 24.92, 60.155, 24.965, 60.19, 24.9443, 60.1712


def write_scenario(folder: Path, network: str = "", extra: str = "") -> Path:
    path = folder / "scenario.toml"
    path.write_text(SCENARIO.format(network=network, extra=extra), encoding="utf-8")
    return path


def quadrants(folder: Path, far_away: bool = False) -> Path:
    boxes = [shapely.box(WEST, SOUTH, MID_X, MID_Y), shapely.box(MID_X, SOUTH, EAST, MID_Y),
             shapely.box(WEST, MID_Y, MID_X, NORTH), shapely.box(MID_X, MID_Y, EAST, NORTH)]
    codes, names = ["SW", "SE", "NW", "NE"], ["西南", "东南", "西北", "东北"]
    if far_away:  # a unit out at sea: no streets, no people
        boxes.append(shapely.box(24.60, 59.90, 24.62, 59.91))
        codes.append("SEA")
        names.append("海上")
    path = folder / "units.geojson"
    gpd.GeoDataFrame({"code": codes, "name": names}, geometry=boxes, crs=4326).to_file(path)
    return path


@pytest.fixture(scope="module")
def province_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("province")
    scenario = load_scenario(write_scenario(folder))
    result = run_province(scenario, quadrants(folder), folder / "out", workers=2)
    return folder, result


@pytest.mark.slow
def test_units_on_two_workers_equal_one_run_over_the_whole_area(province_run):
    folder, result = province_run
    assert [o.status for o in result.outcomes] == ["done"] * 4
    whole_dir = folder / "whole"
    whole_dir.mkdir()
    whole = run_scenario(load_scenario(write_scenario(
        whole_dir, network=f'min_component_m = 1000\ncrs = "{result.crs}"')))
    cells = pd.read_parquet(folder / "out" / "layers" / "province_cells.parquet")
    reference = pd.DataFrame(whole.cells.drop(columns="geometry"))
    # every cell's people: the fragments in each unit add up to the whole cell
    people = cells.groupby(["ix", "iy"])["total"].sum()
    ref_people = reference.set_index(["ix", "iy"])["total"]
    assert set(people.index) == set(ref_people.index)
    np.testing.assert_allclose(people.sort_index(), ref_people.sort_index(), rtol=1e-9)
    # every fragment walks exactly as far as the whole cell does
    both = cells.merge(reference, on=["ix", "iy"], suffixes=("", "_whole"))
    assert len(both) == len(cells)
    for column in [c for c in cells.columns if c.startswith("dist_")]:
        np.testing.assert_allclose(both[column], both[f"{column}_whole"], atol=1e-6, rtol=0)
    # coverage: the units' counts add up to the whole run's
    summed = add_up(result.coverage)
    joined = whole.coverage.merge(summed, on=["category", "mode", "level_min", "group"],
                                  suffixes=("_whole", ""))
    assert len(joined) == len(whole.coverage)
    for column in ("people", "people_covered", "people_uncovered", "people_off_streets"):
        np.testing.assert_allclose(joined[column], joined[f"{column}_whole"], rtol=1e-9,
                                   atol=1e-9)
    assert (joined["coverage_pct"] == joined["coverage_pct_whole"]).all()


@pytest.mark.slow
def test_province_outputs_hold_every_unit_and_the_total(province_run):
    folder, result = province_run
    out = folder / "out"
    monitoring = pd.read_csv(out / "tables" / "province_monitoring.csv", dtype={"unit_code": str})
    assert set(monitoring["unit_code"]) == {"SW", "SE", "NW", "NE", ALL_UNITS[0]}
    assert len(monitoring) == 5 * 5  # units and their total × categories
    total = monitoring[monitoring["unit_code"] == ALL_UNITS[0]].set_index("category")
    per_unit = monitoring[monitoring["unit_code"] != ALL_UNITS[0]].groupby("category")
    np.testing.assert_allclose(per_unit["people_covered"].sum(),
                               total.loc[per_unit["people_covered"].sum().index,
                                         "people_covered"])
    for code in ("SW", "SE", "NW", "NE"):
        assert (out / "units" / code / "tables" / "headline.csv").is_file()
        assert (out / "units" / code / "unit.json").is_file()
    assert (out / "tables" / "province.xlsx").is_file()
    units = gpd.read_parquet(out / "layers" / "province_units.parquet")
    assert units.crs.to_epsg() == 4326 and len(units) == 4
    assert json.loads((out / "province.json").read_text(encoding="utf-8"))["failed"] == []


@pytest.mark.slow
def test_a_broken_unit_is_reported_and_a_rerun_resumes(tmp_path):
    scenario = load_scenario(write_scenario(tmp_path))
    units = quadrants(tmp_path, far_away=True)
    first = run_province(scenario, units, tmp_path / "out", workers=2)
    status = {o.code: o.status for o in first.outcomes}
    assert status == {"SW": "done", "SE": "done", "NW": "done", "NE": "done", "SEA": "failed"}
    sea = next(o for o in first.outcomes if o.code == "SEA")
    assert sea.error and sea.attempts == 2
    summary = json.loads((tmp_path / "out" / "province.json").read_text(encoding="utf-8"))
    assert [f["unit_code"] for f in summary["failed"]] == ["SEA"]
    layer = first.units.set_index("unit_code")
    assert layer.loc["SEA", "status"] == "failed" and layer.loc["SEA", "error"] == sea.error
    again = run_province(scenario, units, tmp_path / "out", serial=True)
    status = {o.code: o.status for o in again.outcomes}
    assert status == {"SW": "reused", "SE": "reused", "NW": "reused", "NE": "reused",
                      "SEA": "failed"}
    pd.testing.assert_frame_equal(again.monitoring, first.monitoring)


def test_a_unit_that_fails_once_is_retried(tmp_path, monkeypatch):
    from planner.province import engine

    calls = []
    real = engine.run_unit

    def flaky(task):
        calls.append(task.code)
        if calls.count(task.code) == 1:
            raise OSError("worker lost its disk for a moment")
        return real(task)

    monkeypatch.setattr(engine, "run_unit", flaky)
    scenario = load_scenario(write_scenario(tmp_path))
    units = gpd.read_file(quadrants(tmp_path)).iloc[[0]]
    result = run_province(scenario, units, tmp_path / "out", serial=True)
    assert [(o.status, o.attempts) for o in result.outcomes] == [("done", 2)]


@pytest.mark.parametrize("extra, fix", [
    ('[study_area]\nbbox = [24.93, 60.16, 24.95, 60.17]', "[study_area]"),
    ('[districts]\nfile = "d.geojson"', "[districts]"),
])
def test_one_area_settings_are_refused(tmp_path, extra, fix):
    (tmp_path / "d.geojson").write_text('{"type":"FeatureCollection","features":[]}')
    scenario = load_scenario(write_scenario(tmp_path, extra=extra))
    with pytest.raises(InputError, match=fix.replace("[", r"\[").replace("]", r"\]")):
        run_province(scenario, quadrants(tmp_path), tmp_path / "out", serial=True)


def test_auto_building_rule_and_calibration_are_refused(tmp_path):
    path = write_scenario(tmp_path)
    text = path.read_text().replace('building_use = "all"', 'building_use = "auto"\ntotal = 4000')
    path.write_text(text)
    with pytest.raises(InputError, match="building_use") as err:
        run_province(load_scenario(path), quadrants(tmp_path), tmp_path / "out", serial=True)
    assert "population.total" in str(err.value)


@pytest.mark.slow
def test_the_command_writes_the_overview_and_exits_2_on_a_failed_unit(tmp_path):
    from typer.testing import CliRunner

    from planner.cli import app

    path = write_scenario(tmp_path, extra=OPTIMIZE)
    frame = gpd.read_file(quadrants(tmp_path, far_away=True)).iloc[[0, 4]]
    harbour = gpd.GeoDataFrame({"code": ["HARBOUR"], "name": ["南港水面"]}, crs=4326,
                               geometry=[shapely.box(24.957, 60.155, 24.962, 60.158)])
    pd.concat([frame, harbour]).to_file(tmp_path / "three.geojson")
    out = tmp_path / "out"
    run = CliRunner().invoke(app, ["province", str(path), "--units",
                                   str(tmp_path / "three.geojson"), "-o", str(out), "--serial"])
    assert run.exit_code == 2, run.output
    assert "SEA" in run.output and "failed" in run.output
    assert "HARBOUR" in run.output and "no residents" in run.output
    page = (out / "overview.html").read_text(encoding="utf-8")
    assert "units/SW/gap_map.html" in page
    assert json.dumps("便利店")[1:-1] in page  # the layer of a category, by its Chinese name
    assert (out / "units" / "SW" / "gap_map.html").is_file()
    units = pd.read_csv(out / "tables" / "province_units.csv", dtype={"unit_code": str})
    assert units["unit_code"].tolist() == ["SW", "SEA", "HARBOUR", ALL_UNITS[0]]
    assert units["status"].tolist() == ["done", "failed", "empty", "1 of 3 units with figures"]
    assert units.set_index("unit_code").loc["HARBOUR", "people"] == 0
    sites = pd.read_csv(out / "tables" / "province_proposals.csv")
    assert len(sites) == 2 and sites["lon_gcj02"].notna().all()
    assert (sites["unit_code"] == "SW").all()
    layer = gpd.read_parquet(out / "layers" / "province_cells.parquet")
    assert layer.crs is not None and len(layer) and layer.geom_type.eq("Polygon").all()


def test_facility_files_are_checked_once_before_any_unit_runs(tmp_path):
    pd.DataFrame({"名称": ["便利店A"], "类型": ["便利店"], "经度": [60.17], "纬度": [24.94]}).to_csv(
        tmp_path / "pois.csv", index=False)  # longitude and latitude swapped
    path = write_scenario(tmp_path)
    text = path.read_text().replace('source = "osm"', 'source = "pois.csv"\ncoords = "wgs84"')
    path.write_text(text)
    with pytest.raises(InputError, match="swapped"):
        run_province(load_scenario(path), quadrants(tmp_path), tmp_path / "out", serial=True)
    assert not (tmp_path / "out" / "units").exists()


def test_a_unit_without_facilities_near_it_has_none_rather_than_an_error(tmp_path):
    from planner.io.facilities import load_facilities

    pd.DataFrame({"name": ["便利店A"], "category": ["convenience"], "lon": [24.94],
                  "lat": [60.17]}).to_csv(tmp_path / "pois.csv", index=False)
    far = gpd.GeoSeries([shapely.box(25.5, 60.5, 25.6, 60.6)], crs=4326)
    with pytest.raises(InputError, match="outside the study area"):
        load_facilities(tmp_path / "pois.csv", crs="wgs84", study_area=far)
    none = load_facilities(tmp_path / "pois.csv", crs="wgs84", study_area=far, outside_ok=True)
    assert len(none) == 0 and "category" in none.columns


@pytest.mark.slow
def test_units_run_on_a_running_scheduler_which_stays_up(tmp_path):
    from distributed import Client, LocalCluster

    scenario = load_scenario(write_scenario(tmp_path))
    units = gpd.read_file(quadrants(tmp_path)).iloc[[0, 1]]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        result = run_province(scenario, units, tmp_path / "out",
                              scheduler=cluster.scheduler_address)
        assert [o.status for o in result.outcomes] == ["done", "done"]
        with Client(cluster.scheduler_address) as client:  # the cluster is the caller's
            assert len(client.scheduler_info()["workers"]) == 2


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path):
    scenario = load_scenario(write_scenario(tmp_path))
    with pytest.raises(InputError, match="Dask scheduler at tcp://127.0.0.1:9"):
        run_province(scenario, quadrants(tmp_path), tmp_path / "out",
                     scheduler="tcp://127.0.0.1:9")
