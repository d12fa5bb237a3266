"""One scenario model: a TOML file, an API body and the CLI's options take the same keys with
the same limits, and docs/scenario.md lists every key as the model declares it."""

from __future__ import annotations

import re
import tomllib
import typing
from pathlib import Path

import pytest
import typer.main
from pydantic import BaseModel, ValidationError

from planner.api.models import DistrictsIn, FacilitiesIn, OptimizeIn, PopulationIn, ScenarioIn
from planner.api.scenario_doc import optimize_spec
from planner.cli import app
from planner.errors import InputError
from planner.scenario_file import load_scenario, parse_scenario
from planner.scenario_model import (
    DistrictSpec,
    FacilitySpec,
    NetworkSpec,
    OptimizeSpec,
    PopulationSpec,
    Scenario,
)
from planner.scenario_reference import COMMAND, INTRO, SECTIONS, reference

ROOT = Path(__file__).resolve().parents[1]
NET = "a" * 32
UPLOAD = "b" * 32

#: A scenario as a planner writes it: every section the API also takes.
TOML = """
name = "yingze-2025"
description = "kindergartens and elderly care"
[network]
source = "yingze.osm.pbf"
[[facilities]]
source = "osm"
[[facilities]]
source = "amap.csv"
coords = "gcj02"
lon = "经度"
lat = "纬度"
category_column = "类型"
name_column = "名称"
encoding = "gbk"
[population]
source = "worldpop.tif"
cell_m = 200
age_shares = "none"
districts = "jiedao.geojson"
districts_column = "常住人口"
building_use = "all"
[analysis]
categories = ["kindergarten", "elderly_day_care"]
mode = "time"
levels_min = [5, 10, 15, 20]
max_access_m = 250
[districts]
file = "jiedao.geojson"
name_column = "名称"
[speeds]
age_60_plus = 0.7
[categories.elderly_home]
distance_m = 800
"""


def _api_body(doc: dict) -> dict:
    """The same scenario as an API body: ids in place of files."""
    body = {k: v for k, v in doc.items() if k != "network"} | {"network_id": NET}
    body["facilities"] = [f if f["source"] == "osm" else
                          {**f, "source": "upload", "upload_id": UPLOAD}
                          for f in doc["facilities"]]
    body["population"] = {**doc["population"], "source": "upload", "upload_id": UPLOAD,
                          "districts": UPLOAD}
    body["districts"] = {k: v for k, v in doc["districts"].items() if k != "file"} | {
        "upload_id": UPLOAD}
    return body


FILE_KEYS = {"source", "upload_id", "districts", "geojson", "file"}


def _shared(model: BaseModel) -> dict:
    return {k: v for k, v in model.model_dump().items() if k not in FILE_KEYS}


def test_one_scenario_validates_alike_as_toml_and_as_api_body(tmp_path):
    (tmp_path / "s.toml").write_text(TOML, encoding="utf-8")
    scenario = load_scenario(tmp_path / "s.toml")
    body = ScenarioIn.model_validate(_api_body(tomllib.loads(TOML)))
    for key in ("name", "description", "speeds", "categories"):
        assert getattr(scenario, key) == getattr(body, key)
    assert scenario.categories == {"elderly_home": {"distance_m": 800}}
    assert _shared(scenario.districts) == _shared(body.districts) == {"name_column": "名称"}
    assert scenario.analysis == body.analysis
    assert _shared(scenario.population) == _shared(body.population)
    assert [_shared(f) for f in scenario.facilities] == [_shared(f) for f in body.facilities]
    assert scenario.population.age_shares is None  # 'none': no age groups, in both


@pytest.mark.parametrize(("section", "change", "where"), [
    ("population", {"cell_m": 5}, "cell_m"),
    ("population", {"age_shares": "mars"}, "age_shares"),
    ("population", {"total": 100}, "not both"),
    ("analysis", {"levels_min": [5, 5]}, "levels_min"),
    ("analysis", {"levels_min": [90]}, "levels_min"),
    ("analysis", {"max_access_m": 1e9}, "max_access_m"),
    ("analysis", {"mode": "fast"}, "mode"),
    ("facilities", {"coords": "amap-ish"}, "is no coordinate system"),
    ("facilities", {"encoding": "../x"}, "encoding"),
    ("facilities", {"category_map": "key"}, "category_map"),
    ("osm", {"coords": "wgs84"}, "do not apply to source = 'osm'"),
    ("osm", {"status": "candidate"}, "do not apply to source = 'osm'"),
    ("top", {"name": ""}, "name"),
])
def test_one_mistake_is_refused_alike_as_toml_and_as_api_body(section, change, where):
    doc = tomllib.loads(TOML)
    if section == "top":
        doc |= change
    elif section == "osm":
        doc["facilities"][0] |= change
    elif section == "facilities":
        doc["facilities"][1] |= change
    else:
        doc[section] |= change
    body = _api_body(doc)
    with pytest.raises(InputError, match=re.escape(where)):
        parse_scenario(doc, Path("."))
    with pytest.raises(ValidationError, match=re.escape(where)):
        ScenarioIn.model_validate(body)


def test_api_bodies_are_the_scenario_sections_with_ids_for_files():
    pairs = [(ScenarioIn, Scenario, {"network_id", "bbox"},
              {"network", "study_area", "optimize"}),
             (DistrictsIn, DistrictSpec, {"upload_id"}, {"file"}),
             (FacilitiesIn, FacilitySpec, {"upload_id", "geojson"}, set()),
             (PopulationIn, PopulationSpec, {"upload_id"}, set()),
             (OptimizeIn, OptimizeSpec, set(),
              {"candidates", "candidates_coords", "budget", "minimise"})]
    for api, spec, api_only, file_only in pairs:
        api_fields, spec_fields = set(api.model_fields), set(spec.model_fields) - {"base_dir"}
        assert api_fields - spec_fields == api_only, api
        assert spec_fields - api_fields == file_only, spec
        for name in api_fields & spec_fields - {"source", "districts", "facilities",
                                                "population"}:
            # declared once: the same limits and description on both sides
            a, s = api.model_fields[name], spec.model_fields[name]
            assert (a.metadata, a.description, a.default) == (s.metadata, s.description,
                                                               s.default), name


def test_the_optimize_body_round_trips_into_the_scenario_request():
    body = {"model": "capacitated", "categories": ["kindergarten"], "new_sites": 4,
            "new_site_capacity": 120, "candidate_spacing_m": 50, "time_limit_s": 10}
    spec = optimize_spec(OptimizeIn.model_validate(body))
    assert spec == OptimizeSpec(**body)
    assert OptimizeIn.model_validate(spec.model_dump(exclude=set(OptimizeSpec.model_fields)
                                                     - set(OptimizeIn.model_fields))) \
        == OptimizeIn.model_validate(body)
    assert parse_scenario({"network": {"source": "x"}, "optimize": [body]},
                          Path(".")).optimize[0] == spec


@pytest.mark.parametrize("change", [{"candidate_spacing_m": 5}, {"candidate_spacing_m": 9000},
                                    {"time_limit_s": 7200}, {"new_sites": 100_000}])
def test_optimize_limits_are_the_same_in_a_scenario_and_the_api(change):
    body = {"categories": ["kindergarten"], "new_sites": 3} | change
    with pytest.raises(ValidationError):
        OptimizeIn.model_validate(body)
    with pytest.raises(InputError, match=next(iter(change))):
        parse_scenario({"network": {"source": "x"}, "optimize": [body]}, Path("."))


def test_cell_limits_are_the_demand_grids():
    from planner.demand import MAX_CELL_M, MIN_CELL_M

    limits = {type(m).__name__: m for m in PopulationSpec.model_fields["cell_m"].metadata}
    assert (limits["Ge"].ge, limits["Le"].le) == (MIN_CELL_M, MAX_CELL_M)


# --- the CLI takes the scenario's names ------------------------------------------------------------

#: Command → (scenario section, CLI options that set one of its keys).
CLI_KEYS = {
    "network": (NetworkSpec, {"crs", "tolerance_m"}),
    "facilities": (FacilitySpec, {"coords", "lon", "lat", "category", "category_column",
                                  "name_column", "capacity_column", "encoding", "status"}),
    "population": (PopulationSpec, {"cell_m", "population_column", "age_shares",
                                    "building_use", "m2_per_person", "total", "districts",
                                    "districts_column"}),
    "optimize": (OptimizeSpec, {"model", "categories", "new_sites", "budget", "minimise",
                                "candidates", "candidates_coords", "weights",
                                "new_site_capacity", "time_limit_s", "candidate_spacing_m"}),
}


@pytest.mark.parametrize("command", sorted(CLI_KEYS))
def test_cli_options_are_named_as_the_scenario_keys(command):
    spec, keys = CLI_KEYS[command]
    cmd = next(c for c in typer.main.get_command(app).commands.values() if c.name == command)
    options = {p.name: p.opts for p in cmd.params}
    assert keys <= set(spec.model_fields)
    for key in keys:
        assert f"--{key.replace('_', '-')}" == options[key][0], (command, key)
    assert "--crs" not in {o for p in cmd.params if not p.hidden for o in p.opts} \
        or command in ("network", "population")  # the projected working CRS, as network.crs
    if command == "facilities":
        assert "--lon-column" not in {o for opts in options.values() for o in opts}


# --- the reference -------------------------------------------------------------------------------


def test_docs_scenario_md_is_current():
    current = (ROOT / "docs" / "scenario.md").read_text(encoding="utf-8")
    assert current == reference(), f"docs/scenario.md is stale; regenerate it: {COMMAND}"


def _numeric(annotation) -> bool:
    return any(a in (int, float) for a in (annotation, *typing.get_args(annotation)))


UNITS = ("metres", "seconds", "minutes", "m/s", "m²", "people", "places", "degrees", "cost",
         "weight", "number of")


@pytest.mark.parametrize(("section", "model"), SECTIONS, ids=[s or "top" for s, _ in SECTIONS])
def test_every_key_is_described_with_its_unit(section, model):
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        assert field.description, f"{section} {name} has no description"
        if _numeric(field.annotation):
            assert any(u in field.description for u in UNITS), f"{section} {name}: unit?"


def test_the_reference_example_is_a_valid_scenario():
    example = INTRO.split("```toml\n")[1].split("```")[0]
    scenario = parse_scenario(tomllib.loads(example), Path("."))
    assert scenario.optimize[0].new_sites == 10
    for section, _ in SECTIONS[1:]:
        assert f"### {section}" in reference()


def test_readme_and_api_docs_link_the_reference():
    assert "docs/scenario.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(scenario.md)" in (ROOT / "docs" / "api.md").read_text(encoding="utf-8")



def test_openapi_examples_are_valid_bodies():
    for model in (ScenarioIn, OptimizeIn):
        for example in model.model_config["json_schema_extra"]["examples"]:
            model.model_validate(example)


def test_facility_settings_are_the_readers_arguments():
    import inspect

    from planner.io.facilities import load_facilities

    options = FacilitySpec(source="a.csv", coords="gcj02", lon="经度").reader_options()
    assert set(options) <= set(inspect.signature(load_facilities).parameters)
    assert (options["crs"], options["lon_column"]) == ("gcj02", "经度")
    assert set(FacilitiesIn.model_fields) - set(options) - {"coords", "lon", "lat"} \
        == {"source", "upload_id", "geojson"}
