"""Turning an API scenario request into a planner scenario (planner.scenario_file.Scenario).

The request names only ids (network, uploads); files are placed inside the scenario's own
directory and the scenario document refers to them by relative name. The network's location
is filled in when a job runs, so a moved data directory keeps working.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from planner.api.models import FacilitiesIn, OptimizeIn, ScenarioIn
from planner.api.store import Store
from planner.api.submission_checks import (
    check_categories,
    check_district_names,
    check_districts_file,
    check_facility_upload,
    check_feature_categories,
    check_inside,
    check_overlap,
    check_population_file,
)
from planner.api.uploads import FACILITY_SUFFIXES, POPULATION_SUFFIXES, link_or_copy, suffix_of
from planner.errors import InputError
from planner.scenario_file import OptimizeSpec, Scenario, parse_scenario
from planner.standards import get_category, load_categories, load_speeds


class NotReadyError(InputError):
    """A resource the request depends on exists but cannot be used yet."""


def _points_table(fc: dict[str, Any]) -> pd.DataFrame:
    """The points of a FeatureCollection as a table: ``lon``, ``lat`` and every property."""
    feats = fc["features"]
    table = pd.DataFrame([f.get("properties") or {} for f in feats])
    table = table.drop(columns=[c for c in ("lon", "lat") if c in table.columns])
    xy = np.array([f["geometry"]["coordinates"][:2] for f in feats], dtype=float)
    return pd.concat([pd.DataFrame({"lon": xy[:, 0], "lat": xy[:, 1]}), table], axis=1)


def _facility_entry(fac: FacilitiesIn, source: str) -> dict[str, Any]:
    entry = fac.model_dump(exclude={"geojson", "upload_id"}, exclude_unset=True,
                           exclude_none=True)
    entry["source"] = source
    return entry


def network_source(store: Store, network_id: str) -> Path:
    """The saved network of a scenario (with its OSM file beside it as ``source.<ext>``, where
    the scenario runner takes OSM facilities and buildings from)."""
    return store.path("networks", network_id) / "network"


def needs_osm_data(doc: dict[str, Any]) -> bool:
    """Whether a scenario document reads facilities or population from the network's OSM file."""
    return doc["population"]["source"] == "buildings" or any(
        f["source"] == "osm" for f in doc["facilities"]
    )


def create_scenario_files(
    store: Store, request: ScenarioIn, network: dict[str, Any], network_job: dict[str, Any],
    scenario_id: str,
) -> dict[str, Any]:
    """Validate a scenario request, place its files, and return the scenario document
    (without the network, which is resolved when a job runs)."""
    if network_job["status"] != "done":
        raise NotReadyError(
            f"Network {network['id']} is not ready (its build job is {network_job['status']}); "
            f"poll GET /v1/networks/{network['id']} until status is ready"
            + (", or upload the network again." if network_job["status"] != "running" else ".")
        )
    overrides = category_overrides(request.categories)
    check_categories(request.analysis.categories, overrides)
    check_categories(request.analysis.basic_categories, overrides)
    check_categories([f.category for f in request.facilities if f.category], overrides)
    load_speeds(overrides=request.speeds or None)  # names the group or speed that is wrong
    bbox = network_job["summary"]["bbox_lonlat"]
    folder = store.path("scenarios", scenario_id)
    folder.mkdir(parents=True, exist_ok=False)
    try:
        doc = _document(store, request, bbox, folder)
        if needs_osm_data(doc) and not network["source"]:
            raise InputError(
                f"Network {network['id']} was downloaded by place name, so it has no OSM file to "
                "take facilities ('osm') or population ('buildings') from; upload them instead."
            )
        parse_scenario({**doc, "network": {"source": str(network_source(store, network["id"]))}},
                       folder, f"for network {network['id']}")
        (folder / "scenario.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1),
                                              encoding="utf-8")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return doc


def upload_path(store: Store, upload_id: str, allowed: tuple[str, ...], what: str) -> Path:
    row = store.get("uploads", upload_id)
    if row is None:
        raise InputError(f"{what}: upload {upload_id} does not exist; POST the file to /v1/uploads "
                         "and use the id it returns.")
    if not suffix_of(row["filename"], allowed):
        raise InputError(f"{what}: upload {upload_id} ({row['filename']}) is not one of "
                         f"{', '.join(allowed)}.")
    return store.path("uploads", upload_id) / row["filename"]


def _document(store: Store, request: ScenarioIn, bbox: list[float], folder: Path) -> dict:
    facilities = []
    for i, fac in enumerate(request.facilities):
        where = f"facilities[{i}]"
        if fac.source == "osm":
            facilities.append(_facility_entry(fac, "osm"))
        elif fac.source == "geojson":
            fc = fac.geojson.model_dump(mode="json")
            check_inside(fc, fac.coords, bbox, where)
            check_feature_categories(fac, fc, where, request.categories or None)
            name = f"facilities_{i}.csv"
            _points_table(fc).to_csv(folder / name, index=False, encoding="utf-8")
            facilities.append({**_facility_entry(fac, name), "lon": "lon", "lat": "lat",
                               "encoding": "utf-8"})
        else:
            src = upload_path(store, fac.upload_id, FACILITY_SUFFIXES, where)
            check_facility_upload(src, fac, bbox, where, request.categories or None)
            name = f"facilities_{i}/{src.name}"  # the user's file name, shown in the audit
            link_or_copy(src, folder / name)
            facilities.append(_facility_entry(fac, name))
    pop = request.population
    population = pop.model_dump(exclude={"upload_id"}, exclude_none=True)
    population["age_shares"] = pop.age_shares  # None: no age groups
    if pop.source == "upload":
        src = upload_path(store, pop.upload_id, POPULATION_SUFFIXES, "population")
        check_population_file(src, pop.population_column, "population", bbox)
        population["source"] = f"population_{src.name}"
        link_or_copy(src, folder / population["source"])
    if pop.districts is not None:
        src = upload_path(store, pop.districts, (".geojson", ".json", ".gpkg"),
                           "population.districts")
        check_districts_file(src, pop.districts_column, "population.districts", bbox)
        population["districts"] = f"districts_{src.name}"
        link_or_copy(src, folder / population["districts"])
    doc: dict[str, Any] = {
        "name": request.name,
        "description": request.description,
        "facilities": facilities,
        "population": population,
        "analysis": request.analysis.model_dump(exclude_none=True),
        "speeds": request.speeds,
        "categories": request.categories,
    }
    if request.districts is not None:
        src = upload_path(store, request.districts.upload_id, (".geojson", ".json", ".gpkg"),
                           "districts")
        check_district_names(src, request.districts.name_column, "districts", bbox)
        doc["districts"] = {**request.districts.model_dump(exclude={"upload_id"},
                                                           exclude_none=True),
                            "file": f"districts/{src.name}"}
        link_or_copy(src, folder / doc["districts"]["file"])
    if request.bbox is not None:
        check_overlap(list(request.bbox), bbox, "bbox", "the study area",
                       "give (west, south, east, north) inside the network's area")
        doc["study_area"] = {"bbox": list(request.bbox)}
    return doc


def category_overrides(overrides: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]] | None:
    """A scenario's category overrides, checked as a scenario file's are (unknown fields named
    with the closest valid one); None when there are none."""
    if not overrides:
        return None
    load_categories(overrides=overrides)
    return overrides


def stored_categories(store: Store, scenario_id: str) -> dict[str, dict[str, Any]]:
    """The category overrides of a stored scenario ({} for none, and for scenarios stored by
    versions whose bodies took none)."""
    doc = json.loads((store.path("scenarios", scenario_id) / "scenario.json")
                     .read_text(encoding="utf-8"))
    return doc.get("categories") or {}


def optimize_spec(request: OptimizeIn,
                  overrides: dict[str, dict[str, Any]] | None = None) -> OptimizeSpec:
    """The scenario's optimisation request of an API body (the same fields), with its
    categories checked against the scenario's ``overrides``; the capacitated model needs the
    places of a new site."""
    check_categories(request.categories, overrides or None)
    if request.model == "capacitated" and request.new_site_capacity is None:
        key = request.categories[0]
        category = get_category(load_categories(overrides=overrides or None), key)
        if category.capacity_per_site is None:
            raise InputError(
                f"The capacitated model needs the places of a new {key} site, and {key} has no "
                "norm capacity per site; give new_site_capacity (e.g. 100), or use model "
                "'mclp'."
            )
    return OptimizeSpec(**request.model_dump())


def load_stored_scenario(store: Store, scenario_id: str, params: dict[str, Any]) -> Scenario:
    """The planner scenario of a stored scenario, set up for one job.

    ``params`` holds ``optimize`` (a list of OptimizeSpec dicts; empty for coverage) and, in
    jobs stored by earlier versions, ``categories`` (category overrides, applied on top of the
    scenario's own).
    """
    row = store.get("scenarios", scenario_id)
    folder = store.path("scenarios", scenario_id)
    doc = json.loads((folder / "scenario.json").read_text(encoding="utf-8"))
    doc["network"] = {"source": str(network_source(store, row["network_id"]))}
    for fac in doc["facilities"]:  # earlier versions stored a setting the reader never used
        fac.pop("category_map", None)
    doc["optimize"] = params.get("optimize", [])
    doc["categories"] = {**doc.get("categories", {}), **params.get("categories", {})}
    return parse_scenario(doc, folder, f"{row['name']} ({scenario_id})")
