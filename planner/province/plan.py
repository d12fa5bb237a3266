"""From a scenario and a units layer to one task per unit: the working CRS shared by all
units, the halo that keeps each unit exact across its borders, and a fingerprint of every
input so that a rerun skips the units it has already done."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyproj
import shapely

from planner import coverage as cov
from planner.cache import fingerprint
from planner.errors import InputError
from planner.facilities import FacilityWarning
from planner.paths import STANDARDS_DIR
from planner.pipeline.inputs import analysed_categories
from planner.pipeline.window import Window, halo_m
from planner.province.units import safe_code
from planner.sample import helsinki_pbf
from planner.scenario_file import SAMPLE_SOURCE, Scenario
from planner.standards import load_categories, load_speeds

#: Street components shorter than this (metres) are dropped unless they run out of a unit's
#: window: the rule gives a unit the same streets as a run over the whole province.
MIN_COMPONENT_M = 1000.0


@dataclass(frozen=True)
class UnitTask:
    """One unit's run: what it reads, where it writes, and the key that says it is done.

    Attributes:
        code, name: the unit's code and name from the units layer.
        scenario: the province's scenario.
        window: the unit and its halo in the working CRS.
        out_dir: the unit's folder (``units/<code>``).
        inputs_key: fingerprint of the scenario and every input file.
        writer: draws the unit's gap map, or None for none.
        lang: language of the unit's workbook headers ("zh" or "en").
    """

    code: str
    name: str
    scenario: Scenario
    window: Window
    out_dir: Path
    inputs_key: str
    writer: Callable[[Any, Path], Any] | None = None
    lang: str = "zh"

    @property
    def key(self) -> str:
        """Equal keys mean equal results: a rerun with the same key is skipped."""
        return fingerprint(self.inputs_key, self.window.key(), self.code, self.name,
                           self.writer is not None, self.lang)


def check_scenario(scenario: Scenario) -> None:
    """Refuse settings that only make sense for one area, naming the fix."""
    problems = []
    if scenario.network.place is not None:
        problems.append("network.place downloads one area; give network.source, the "
                        "province's OSM file (.osm.pbf) or street layer")
    if scenario.study_area is not None:
        problems.append("[study_area] is replaced by the units layer: remove it")
    if scenario.districts is not None:
        problems.append("[districts] is replaced by the units layer: remove it, or run "
                        "with the districts as units")
    if scenario.population.total is not None or scenario.population.districts is not None:
        problems.append("population.total / population.districts calibrate one area as a "
                        "whole; give a population raster or census counts, or calibrate the "
                        "building estimate per unit in separate runs")
    if scenario.population.source == "buildings" and scenario.population.building_use == "auto":
        problems.append("population.building_use = 'auto' chooses its rule from the tagging "
                        "of the whole area read, so units could choose differently; set "
                        "'residential' or 'all'")
    if problems:
        raise InputError("This scenario cannot run over units: " + "; ".join(problems) + ".")


def working_crs(scenario: Scenario, units: gpd.GeoDataFrame) -> tuple[pyproj.CRS, list[str]]:
    """The scenario's network CRS, else the UTM zone of the units (said in the notes)."""
    if scenario.network.crs is not None:
        return pyproj.CRS.from_user_input(scenario.network.crs), []
    crs = units.estimate_utm_crs()
    return crs, [f"Working CRS: {crs.name} ({crs.to_string()}), the UTM zone of the units' "
                 "centre, for every unit; set network.crs to choose another."]


def unit_halo_m(scenario: Scenario) -> float:
    """The halo (metres) around each unit: its residents' longest counted walk, their ways to
    the streets, a facility's way to the streets, and half a cell."""
    categories = load_categories(overrides=scenario.categories or None)
    speeds = load_speeds(overrides=scenario.speeds or None)
    keys = analysed_categories(scenario, categories)
    bounds = cov.search_bounds({k: categories[k] for k in keys}, speeds,
                               scenario.analysis.levels_min)
    return halo_m(max(bounds.values()), scenario.analysis.max_access_m,
                  scenario.population.cell_m)


def check_facility_files(scenario: Scenario, tasks: list[UnitTask]) -> pd.DataFrame:
    """Read every facility file once for all units, so that a coordinate problem (undeclared,
    swapped, another system) fails here, before any unit runs, and a file none of whose
    facilities lies near a unit is refused; a single unit may then have none near it.

    Returns the files' audit: every input row, its category and rule, and whether it lies
    within reach of some unit's residents (rows beyond every unit are dropped as outside)."""
    from planner.io.facilities import load_facilities

    audits: list[pd.DataFrame] = []
    if not tasks:
        return pd.DataFrame()
    categories = load_categories(overrides=scenario.categories or None)
    analysed = {k: categories[k] for k in analysed_categories(scenario, categories)}
    reach = shapely.union_all([t.window.reach for t in tasks])
    for spec in scenario.facilities:
        if spec.source != "osm":
            with warnings.catch_warnings():  # each unit's notes say what the file lacks
                warnings.simplefilter("ignore", FacilityWarning)
                fac = load_facilities(scenario.path(spec.source), to_crs=tasks[0].window.crs,
                                      categories=analysed, study_area=reach,
                                      **spec.reader_options())
            audits.append(fac.attrs["report"].audit())
    return pd.concat(audits, ignore_index=True) if audits else pd.DataFrame()


def inputs_key(scenario: Scenario) -> str:
    """A fingerprint of the scenario's settings and the bytes of every file it names."""
    files: list[Path] = []
    src = scenario.network.source
    files.append(helsinki_pbf() if src == SAMPLE_SOURCE else scenario.path(src))
    for spec in scenario.facilities:
        if spec.source != "osm":
            files.append(scenario.path(spec.source))
    if scenario.population.source != "buildings":
        files.append(scenario.path(scenario.population.source))
    files.extend(scenario.path(o.candidates) for o in scenario.optimize if o.candidates)
    settings = json.dumps(scenario.model_dump(mode="json", exclude={"base_dir"}), sort_keys=True,
                          default=str)
    return fingerprint(settings, *files, STANDARDS_DIR)


def plan_units(
    scenario: Scenario, units: gpd.GeoDataFrame, out_dir: Path, *,
    writer: Callable[[Any, Path], Any] | None = None, lang: str = "zh",
    min_component_m: float | None = None,
) -> tuple[list[UnitTask], list[str]]:
    """One task per unit (the units' order), and notes on what was assumed.

    Street components shorter than ``min_component_m`` (default: the scenario's
    ``network.min_component_m``, else :data:`MIN_COMPONENT_M`) are dropped."""
    check_scenario(scenario)
    crs, notes = working_crs(scenario, units)
    if min_component_m is None:
        min_component_m = scenario.network.min_component_m
    if min_component_m is None:
        min_component_m = MIN_COMPONENT_M
        notes.append(f"Street components shorter than {MIN_COMPONENT_M:,.0f} m are dropped "
                     "(network.min_component_m): a unit keeps every longer one, and any that "
                     "runs out of its window, so that it sees the streets a run over the whole "
                     "area would.")
    halo = unit_halo_m(scenario)
    key = inputs_key(scenario)
    local = units.to_crs(crs)
    notes.append(f"Each unit reads the streets and facilities within {halo:,.0f} m of it, so "
                 "residents near a border are credited with facilities across it.")
    tasks = [
        UnitTask(code=row.unit_code, name=row.unit_name, scenario=scenario,
                 window=Window(residents=row.geometry, halo_m=halo,
                               access_m=scenario.analysis.max_access_m, crs=crs,
                               min_component_m=min_component_m),
                 out_dir=out_dir / "units" / safe_code(row.unit_code), inputs_key=key,
                 writer=writer, lang=lang)
        for row in local.itertuples()
    ]
    return tasks, notes
