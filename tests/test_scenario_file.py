"""Scenario files: the sample validates; mistakes get named, with close matches."""

import re
from pathlib import Path

import pytest

from planner.errors import InputError
from planner.scenario_file import SAMPLE_SCENARIO, load_scenario, parse_scenario


def test_sample_scenario_loads():
    s = load_scenario()
    assert s.network.source == "sample:helsinki"
    assert s.base_dir == SAMPLE_SCENARIO.parent
    assert {c for o in s.optimize for c in o.categories} == {"elderly_day_care", "kindergarten"}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"network": {"sorce": "x.pbf"}}, "unknown key 'network.sorce' — did you mean 'source'"),
        ({"network": {"source": "x"}, "populaton": {}}, "did you mean 'population'"),
        ({"network": {"source": "x"}, "optimize": [{"categories": ["a"], "new_site": 3}]},
         "'optimize.0.new_site' — did you mean 'new_sites'"),
        ({"network": {"source": "x", "place": "y"}}, "exactly one of network.source"),
        ({"network": {"source": "x"}, "population": {"cell_m": 5}}, "population.cell_m"),
        ({"network": {"source": "x"}, "analysis": {"mode": "fast"}}, "analysis.mode"),
        ({"network": {"source": "x"}, "optimize": [{"model": "lscp", "categories": ["a"],
                                                     "new_sites": 3}]},
         "takes neither new_sites nor budget"),
        ({"network": {"source": "x"}, "optimize": [{"model": "joint", "categories": ["a", "a"],
                                                     "new_sites": 3}]},
         "name a category twice"),
        ({"network": {"source": "x"}, "optimize": [{"model": "joint", "categories": ["a", "b"],
                                                     "new_sites": 3,
                                                     "weights": {"a": 0, "b": 0}}]},
         "every category has weight 0"),
        ({"network": {"source": "x"}, "optimize": [{"categories": ["a"], "new_sites": 3,
                                                     "new_site_capacity": 40}]},
         'new_site_capacity applies to model = "capacitated" only'),
        ({"network": {"source": "x"}, "optimize": [{"categories": ["a"], "new_sites": 3,
                                                     "minimise": "cost"}]},
         "minimise applies to the lscp model only"),
        ({"network": {"source": "x"}, "optimize": [{"model": "joint", "categories": ["a", "b"],
                                                     "new_sites": 3, "weights": {"bb": 2}}]},
         "weights name ['bb'], which are not among this request's categories"),
        ({"network": {"source": "x"}, "optimize": [{"model": "joint", "categories": ["a", "b"],
                                                     "new_sites": 3, "weights": {"a": -1}}]},
         "weights must be finite numbers ≥ 0"),
        ({"network": {"source": "x"}, "optimize": [{"categories": ["a"], "new_sites": 3,
                                                     "weights": {"a": 2}}]},
         'weights apply to model = "joint" only'),
        ({"network": {"source": "x"}, "optimize": [{"categories": ["a"], "new_sites": 3,
                                                     "time_limit_s": "nan"}]},
         "optimize.0.time_limit_s"),
    ],
)
def test_mistakes_are_named(doc, message):
    with pytest.raises(InputError, match=re.escape(message)):
        parse_scenario(doc, Path("."))


def test_missing_scenario_file(tmp_path):
    with pytest.raises(InputError, match="does not exist. Copy"):
        load_scenario(tmp_path / "nope.toml")


def test_invalid_toml(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = ")
    with pytest.raises(InputError, match="not valid TOML"):
        load_scenario(bad)


def test_relative_paths_resolve_from_the_scenario_folder(tmp_path):
    (tmp_path / "streets.osm").write_text("<osm/>")
    s = parse_scenario({"network": {"source": "streets.osm"}}, tmp_path)
    assert s.path("streets.osm") == tmp_path / "streets.osm"
    with pytest.raises(InputError, match="'missing.csv', which does not exist"):
        s.path("missing.csv")


# --- population options: one name in the scenario TOML, the API and the CLI ----------------------

POPULATION_OPTIONS = ("building_use", "m2_per_person", "total", "districts", "districts_column")


def test_population_options_share_names_across_scenario_api_and_cli():
    import typer.main

    from planner.api.models import PopulationIn
    from planner.cli import app
    from planner.scenario_file import PopulationSpec

    assert set(POPULATION_OPTIONS) <= set(PopulationSpec.model_fields)
    assert set(POPULATION_OPTIONS) <= set(PopulationIn.model_fields)
    command = next(c for c in typer.main.get_command(app).commands.values()
                   if c.name == "population")
    cli = {p.name for p in command.params}
    assert set(POPULATION_OPTIONS) <= cli
    assert "all_buildings" not in cli
    assert PopulationIn(building_use="all", total=207000).total == 207000


def test_population_options_in_scenario_toml(tmp_path):
    (tmp_path / "s.toml").write_text(
        '[network]\nsource = "x.osm"\n[population]\nbuilding_use = "all"\ntotal = 207000\n'
        "m2_per_person = 34\n", encoding="utf-8")
    s = load_scenario(tmp_path / "s.toml")
    assert (s.population.building_use, s.population.total) == ("all", 207000)


@pytest.mark.parametrize(
    ("population", "message"),
    [
        ({"use": "all"}, "unknown key 'population.use'"),
        ({"building_use": "tagged"}, "population.building_use"),
        ({"total": 5, "districts": "jiedao.geojson"}, "population.total or population.districts"),
        ({"districts_column": "人口"}, "districts_column needs population.districts"),
        ({"m2_per_person": 0}, "population.m2_per_person"),
    ],
)
def test_population_mistakes_are_named(population, message):
    with pytest.raises(InputError, match=re.escape(message)):
        parse_scenario({"network": {"source": "x"}, "population": population}, Path("."))


# --- the limits the API applies hold for scenario files too -----------------------------------------


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"analysis": {"levels_min": [5, 5]}}, "names a level twice"),
        ({"analysis": {"levels_min": [0, 90]}}, "not walking times of 1 to 60 minutes"),
        ({"analysis": {"max_access_m": 9000}}, "analysis.max_access_m"),
        ({"optimize": [{"categories": ["a"], "new_sites": 3, "candidate_spacing_m": 2}]},
         "optimize.0.candidate_spacing_m"),
        ({"optimize": [{"categories": ["a"], "new_sites": 3, "time_limit_s": 86400}]},
         "optimize.0.time_limit_s"),
        ({"population": {"age_shares": "mars"}}, "no age structure for region 'mars'"),
        ({"facilities": [{"source": "a.csv", "coords": "mars"}]}, "is no coordinate system"),
        ({"facilities": [{"source": "osm", "encoding": "gbk"}]},
         "encoding do not apply to source = 'osm'"),
        ({"facilities": [{"source": "a.csv", "category_map": "key"}]},
         "'facilities.0.category_map' is no longer read: drop it"),
        ({"name": "x" * 101}, "name: String should have at most 100 characters"),
    ],
)
def test_scenario_files_get_the_same_limits_as_api_bodies(doc, message):
    with pytest.raises(InputError, match=re.escape(message)):
        parse_scenario({"network": {"source": "x"}, **doc}, Path("."))


def test_no_age_groups_and_coordinate_aliases(tmp_path):
    s = parse_scenario({"network": {"source": "x"}, "population": {"age_shares": "none"},
                        "facilities": [{"source": "a.csv", "coords": "amap"}],
                        "optimize": [{"categories": ["a"], "new_sites": 1,
                                      "candidates": "c.csv", "candidates_coords": "EPSG:4326"}]},
                       tmp_path)
    assert s.population.age_shares is None
    assert (s.facilities[0].coords, s.optimize[0].candidates_coords) == ("gcj02", "wgs84")
