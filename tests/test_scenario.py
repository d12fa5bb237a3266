"""Scenario runner: same numbers as the library, every output written, caching, comparison."""

import inspect

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from planner.cache import cached
from planner.catchment import nearest_distance, snap_points
from planner.cli import app, run_cmd
from planner.cli.run_cmd import execute
from planner.compare import compare
from planner.coverage import coverage_table, search_bounds
from planner.errors import InputError, UnknownCategoryError
from planner.facilities import drop_off_network
from planner.io.facilities import facility_report, load_facilities
from planner.io.osm import load_network
from planner.io.population import load_population
from planner.maps.result import result_map
from planner.pipeline import inputs as inputs_mod
from planner.sample import helsinki_pbf
from planner.scenario import run_scenario
from planner.scenario_file import load_scenario, parse_scenario
from planner.standards import load_categories, load_speeds


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory, share_sample_cache):
    out = share_sample_cache(tmp_path_factory.mktemp("sample"))
    result, _ = execute(load_scenario(), out, report=True)  # what `planner run` does
    return result, out


@pytest.mark.slow
def test_same_numbers_as_the_library(sample_run):
    result, _ = sample_run
    net = load_network(helsinki_pbf())
    cats = load_categories()
    fac = load_facilities(helsinki_pbf(), to_crs=net.crs, categories=cats)
    fac = drop_off_network(fac, net, 300.0, facility_report(fac))
    grid = load_population(helsinki_pbf(), crs=net.crs, cell_m=100, age_shares="shanxi",
                           total=4000)  # the sample calibrates to 4,000 residents
    off = ~snap_points(net, grid.points(), 300.0).ok
    speeds = load_speeds(overrides={"total": 1.2, "age_60_plus": 0.8})
    dist = {}
    for key, cat in cats.items():
        xy = fac.loc[fac["category"] == key].geometry.get_coordinates().to_numpy()
        bound = search_bounds({key: cat}, speeds)[key]
        dist[key] = nearest_distance(net, grid.points(), xy, bound) if len(xy) else np.full(len(grid.cells), np.inf)
    expected = coverage_table(dist, grid.cells, cats, speeds, facilities=fac, off_streets=off)
    got = result.tables["coverage"]
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False
    )
    for key in cats:
        np.testing.assert_allclose(result.distances[key].to_numpy(), dist[key])


@pytest.mark.slow
def test_every_output_file_is_written(sample_run):
    result, out = sample_run
    for name in ("gap_map.html", "summary.json", "tables/coverage.xlsx", "tables/coverage.csv",
                 "tables/headline.csv", "tables/gap_areas.csv", "tables/equity.csv",
                 "tables/complete_circle.csv", "layers/layers.gpkg", "layers/cells.parquet",
                 "layers/proposals.parquet", "layers/gap_areas.parquet", "report.docx",
                 "maps/kindergarten.png"):
        assert (out / name).is_file(), name
    assert len(result.optimizations) == 2
    for res in result.optimizations:
        assert res.gap <= 1e-6 and len(res.sites) == 5
        assert res.bound >= res.objective - 1e-6
    html = (out / "gap_map.html").read_text(encoding="utf-8")
    assert "leaflet" in html.lower() and "https://cdn" not in html


@pytest.mark.slow
def test_rerun_reuses_the_parsed_network_and_facilities(sample_run, monkeypatch):
    result, out = sample_run

    def no_parsing(*args, **kwargs):
        raise AssertionError("an input was parsed again")

    monkeypatch.setattr(inputs_mod, "load_network", no_parsing)
    monkeypatch.setattr(inputs_mod, "load_facilities", no_parsing)
    s = load_scenario()
    again = run_scenario(s.model_copy(update={"optimize": s.optimize[:1]}), cache_dir=out / ".cache")
    assert again.network.n_edges == result.network.n_edges
    pd.testing.assert_frame_equal(again.tables["coverage"], result.tables["coverage"])
    pd.testing.assert_frame_equal(again.tables["facility_audit"], result.tables["facility_audit"])
    pd.testing.assert_frame_equal(again.facilities, result.facilities)


@pytest.mark.slow
def test_comparison_with_itself_shows_no_difference(sample_run):
    result, _ = sample_run
    cmp = compare(result, result)
    assert cmp.same_grid and cmp.identical
    assert (cmp.cells["people_newly_covered"] == 0).all()


@pytest.mark.slow
def test_comparison_counts_people_newly_covered(sample_run):
    result, out = sample_run
    s = load_scenario()
    doc = s.model_dump(exclude={"base_dir"})
    doc["categories"] = {"convenience": {"distance_m": 500}}
    doc["optimize"] = []
    wider = run_scenario(parse_scenario(doc, s.base_dir), cache_dir=out / ".cache")
    cmp = compare(result, wider)
    row = cmp.cells.set_index("category").loc["convenience"]
    assert row["people_newly_covered"] > 0 and row["people_no_longer_covered"] == 0
    cells = result.demand.cells
    d = result.distances["convenience"].to_numpy()
    gained = np.isfinite(d) & (d > 300) & (d <= 500)
    assert row["people_newly_covered"] == pytest.approx(cells["total"].to_numpy()[gained].sum())


def test_unknown_category_in_an_optimisation_request():
    s = load_scenario()
    doc = s.model_dump(exclude={"base_dir"})
    doc["optimize"] = [{"categories": ["kindergarden"], "new_sites": 3}]
    with pytest.raises(UnknownCategoryError, match="kindergarten"):
        run_scenario(parse_scenario(doc, s.base_dir))


def test_missing_input_file_is_named(tmp_path):
    doc = {"network": {"source": "streets.osm.pbf"}}
    with pytest.raises(InputError, match="'streets.osm.pbf', which does not exist"):
        run_scenario(parse_scenario(doc, tmp_path))


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"categories": ["kindergarten", "childcare"], "new_sites": 2}, 'model = "joint"'),
        ({"categories": ["kindergarten"]}, "exactly one of new_sites or budget"),
        ({"categories": [], "new_sites": 2}, "at least one category"),
    ],
)
def test_inconsistent_optimisation_requests(request_, message):
    s = load_scenario()
    doc = s.model_dump(exclude={"base_dir"})
    doc["optimize"] = [request_]
    with pytest.raises(InputError, match=message):
        parse_scenario(doc, s.base_dir)


def test_planner_run_writes_the_report_unless_told_not_to():
    assert inspect.signature(run_cmd.run).parameters["report"].default is True


@pytest.mark.slow
def test_cli_coverage_writes_the_map_and_a_missing_scenario_is_named(tmp_path, share_sample_cache):
    share_sample_cache(tmp_path / "cov")
    runner = CliRunner()
    res = runner.invoke(app, ["coverage", "-o", str(tmp_path / "cov")])
    assert res.exit_code == 0, res.output
    assert "Coverage" in res.output and (tmp_path / "cov" / "gap_map.html").exists()
    bad = runner.invoke(app, ["run", str(tmp_path / "nope.toml")])
    assert bad.exit_code == 2 and "does not exist" in bad.output


@pytest.mark.slow
def test_districts_and_capacity_tables(sample_run, tmp_path):
    result, out = sample_run
    west, south, east, north = result.demand.cells.to_crs(4326).total_bounds + [-0.01, -0.01, 0.01, 0.01]
    mid = (west + east) / 2

    halves = gpd.GeoDataFrame(
        {"name": ["西区", "东区"]},
        geometry=[shapely.box(west, south, mid, north), shapely.box(mid, south, east, north)],
        crs=4326,
    )
    halves.to_file(tmp_path / "districts.geojson")
    s = load_scenario()
    doc = s.model_dump(exclude={"base_dir"})
    doc.update(optimize=[], districts={"file": str(tmp_path / "districts.geojson"),
                                       "name_column": "name"})
    doc["analysis"]["categories"] = ["childcare", "pharmacy"]  # no complete-circle set needed
    run = run_scenario(parse_scenario(doc, s.base_dir), cache_dir=out / ".cache")
    by_district = run.tables["coverage_by_district"]
    assert set(by_district["district_name"]) == {"西区", "东区"}
    whole = run.tables["coverage"].set_index(["category", "mode", "level_min", "group"])
    parts = by_district.groupby(["category", "mode", "level_min", "group"])[
        ["people", "people_covered"]].sum()
    joined = parts.join(whole[["people", "people_covered"]].add_suffix("_all"))
    np.testing.assert_allclose(joined["people"], joined["people_all"])
    np.testing.assert_allclose(joined["people_covered"], joined["people_covered_all"])
    rows = by_district[(by_district["mode"] == "compliance") & (by_district["group"] == "total")]
    inside = rows.groupby("category")["facilities"].sum()
    assert inside["pharmacy"] == (run.facilities["category"] == "pharmacy").sum()  # all inside
    assert rows.loc[rows["category"] == "pharmacy", "facilities"].min() < inside["pharmacy"]
    split = run.tables["capacity_access"].set_index("category").loc["childcare"]
    assert split["people"] == pytest.approx(
        split["served"] + split["over_capacity"] + split["uncovered"])
    assert run.complete is not None and set(run.complete.keys) == {"pharmacy", "childcare"}
    # the named parts are what the tables and layers hold
    assert run.district_table is by_district is run.districts.table
    assert run.layers["districts"] is run.districts.layer
    assert run.capacity.access is run.tables["capacity_access"]
    assert list(run.layers)[-2:] == ["isochrones", "districts"]  # no proposals without requests


@pytest.mark.slow
def test_no_basic_category_analysed(sample_run):
    _, out = sample_run
    s = load_scenario()
    doc = s.model_dump(exclude={"base_dir"})
    doc["optimize"] = [{"categories": ["kindergarten"], "new_sites": 2}]
    doc["analysis"]["categories"] = ["kindergarten"]
    run = run_scenario(parse_scenario(doc, s.base_dir), cache_dir=out / ".cache")
    assert run.complete is None and "complete_circle" not in run.tables
    assert any("Complete living circle not computed" in n for n in run.notes)
    assert len(run.optimizations[0].sites) == 2
    assert result_map(run) is not None


@pytest.mark.slow
def test_only_the_analysed_categories_count_and_the_rest_are_not_requested(sample_run):
    _, out = sample_run
    s = load_scenario()
    doc = s.model_dump(exclude={"base_dir"})
    doc["optimize"] = []
    doc["analysis"]["categories"] = ["pharmacy", "convenience"]
    run = run_scenario(parse_scenario(doc, s.base_dir), cache_dir=out / ".cache")
    assert set(run.facilities["category"]) == {"pharmacy", "convenience"}
    audit = run.tables["facility_audit"]
    assert audit["reasons"].astype(str).str.contains("not requested").any()
    assert not any("breakfast" in n or "kindergarten" in n for n in run.notes
                   if "no facilities found" in n)


def test_cache_entries_appear_whole_and_bad_ones_are_rebuilt(tmp_path):
    built = []

    def build():
        built.append(1)
        return {"value": len(built)}

    def save(value, path):
        path.write_text(str(value["value"]))

    def load(path):
        return {"value": int(path.read_text())}

    assert cached(tmp_path, "entry", build, save, load) == {"value": 1}
    assert cached(tmp_path, "entry", build, save, load) == {"value": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]  # no temporary names left
    (tmp_path / "entry").write_text("half a fi")
    assert cached(tmp_path, "entry", build, save, load) == {"value": 2}


@pytest.mark.slow
def test_comparison_of_walking_speeds_shows_the_time_mode_change(sample_run):
    """Slower walkers change no compliance figure, but fewer reach a pharmacy within its 10
    minutes: the comparison says so, in its table and on screen."""
    result, out = sample_run
    s = load_scenario()
    doc = s.model_dump(exclude={"base_dir"})
    doc.update(optimize=[], speeds={**doc["speeds"], "total": 0.6})
    slow = run_scenario(parse_scenario(doc, s.base_dir), cache_dir=out / ".cache")
    cmp = compare(result, slow)
    row = cmp.cells.set_index("category").loc["pharmacy"]
    assert row["people_newly_covered"] == 0 and row["people_no_longer_covered"] == 0
    d = result.distances["pharmacy"].to_numpy()
    lost = (d > 10 * 60 * 0.6) & (d <= 10 * 60 * 1.2)
    assert row["people_no_longer_within_level"] == pytest.approx(
        result.demand.cells["total"].to_numpy()[lost].sum())
    assert row["people_no_longer_within_level"] > 0
    from planner.cli.compare_cmd import _time_table

    assert _time_table(cmp).row_count == len(cmp.cells)
