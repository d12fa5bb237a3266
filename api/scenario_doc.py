"""Turning an API scenario request into a planner scenario (planner.scenario_file.Scenario).

The request names only ids (network, uploads); files are placed inside the scenario's own
directory and the scenario document refers to them by relative name. The network's location
is filled in when a job runs, so a moved data directory keeps working.
"""

from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from api.models import FacilitiesIn, OptimizeIn, ScenarioIn
from api.store import Store
from api.uploads import FACILITY_SUFFIXES, POPULATION_SUFFIXES, link_or_copy, suffix_of
from planner.errors import CRSError, InputError
from planner.io.coords import in_china, undeclared_in_china
from planner.scenario_file import OptimizeSpec, Scenario, parse_scenario
from planner.standards import get_category, load_categories, load_speeds

#: Extra margin around the network's bounding box a facility may lie in, metres (the GCJ-02 and
#: BD-09 shifts in China reach ≈ 1.5 km).
BBOX_MARGIN_M = {"wgs84": 2000.0, "gcj02": 2500.0, "bd09": 3500.0}
_M_PER_DEG = 111_320.0


class NotReadyError(InputError):
    """A resource the request depends on exists but cannot be used yet."""


def check_categories(keys: list[str] | None, overrides: dict[str, Any] | None = None) -> None:
    """Raise UnknownCategoryError (listing the known keys) for any unknown key."""
    if not keys:
        return
    categories = load_categories(overrides=overrides)
    for key in keys:
        get_category(categories, key)


def _check_inside(fc: dict[str, Any], coords: str | None, bbox: list[float], where: str) -> None:
    """Facility points must lie in the network's area; swapped lon/lat is named as such, and
    points in China need a declared coordinate system."""
    w, s, e, n = bbox
    margin = BBOX_MARGIN_M.get(coords, 2000.0)
    dlat = margin / _M_PER_DEG
    dlon = margin / (_M_PER_DEG * max(math.cos(math.radians((s + n) / 2)), 0.05))

    def inside(lon: float, lat: float) -> bool:
        return w - dlon <= lon <= e + dlon and s - dlat <= lat <= n + dlat

    points = [f["geometry"]["coordinates"][:2] for f in fc["features"]]
    outside = [i for i, (lon, lat) in enumerate(points) if not inside(lon, lat)]
    if not outside:
        if coords is None:
            xy = np.asarray(points, dtype=float).reshape(-1, 2)
            n_china = int(in_china(xy[:, 0], xy[:, 1]).sum())
            if n_china:
                raise undeclared_in_china(where, n_china)
        return
    i = outside[0]
    lon, lat = points[i]
    swapped = sum(inside(points[j][1], points[j][0]) for j in outside)
    hint = (
        "The points fall inside the network when longitude and latitude are swapped: GeoJSON "
        "positions are [longitude, latitude]; swap them."
        if swapped == len(outside)
        else "Check the coordinates and the declared coordinate system (coords)."
    )
    raise CRSError(
        f"{where}: {len(outside)} of {len(points)} points lie outside the network's area "
        f"(west {w:.5f}, south {s:.5f}, east {e:.5f}, north {n:.5f}), e.g. feature {i} at "
        f"[{lon}, {lat}]. {hint}"
    )


def _check_upload(path: Path, fac: FacilitiesIn, bbox: list[float], where: str) -> None:
    """Read an uploaded facility file as the job will, so that an undeclared or wrong
    coordinate system, swapped or missing coordinate columns and unknown categories are refused
    at submission rather than in a job that ends at 0 % coverage."""
    from planner.facilities import FacilityWarning
    from planner.io.facilities import load_facilities

    west, south, east, north = bbox
    lon, lat = (west + east) / 2, (south + north) / 2
    utm = (32600 if lat >= 0 else 32700) + int((lon + 180) // 6) % 60 + 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FacilityWarning)
            points = load_facilities(
                path, to_crs=f"EPSG:{utm}", crs=fac.coords, category=fac.category,
                category_column=fac.category_column, lon_column=fac.lon, lat_column=fac.lat,
                name_column=fac.name_column, capacity_column=fac.capacity_column,
                status=fac.status, encoding=fac.encoding, dedupe_m=0,
            )
    except InputError as exc:
        raise type(exc)(f"{where} ({path.name}): {exc}") from None
    xy = points.to_crs(4326).get_coordinates().to_numpy()
    fc = {"features": [{"geometry": {"coordinates": list(p)}} for p in xy]}
    _check_inside(fc, "wgs84", bbox, f"{where} ({path.name})")


def _check_feature_categories(fac: FacilitiesIn, fc: dict[str, Any], where: str) -> None:
    if fac.category_column and fac.category_map == "key":
        values = {
            str((f.get("properties") or {}).get(fac.category_column)) for f in fc["features"]
        }
        try:
            check_categories(sorted(values))
        except InputError as exc:
            raise type(exc)(f"{where}, property {fac.category_column!r}: {exc}") from None
    elif fac.category is None and fac.category_column is None:
        raise InputError(
            f"{where}: say which category the points are — give `category` (one key for every "
            "point) or `category_column` (a property holding keys or names)."
        )
    elif fac.category_column and not any(
        fac.category_column in (f.get("properties") or {}) for f in fc["features"]
    ):
        raise InputError(
            f"{where}: no feature has the property {fac.category_column!r}; name the property "
            "that holds the category."
        )


def _points_table(fc: dict[str, Any]) -> pd.DataFrame:
    """The points of a FeatureCollection as a table: ``lon``, ``lat`` and every property."""
    feats = fc["features"]
    table = pd.DataFrame([f.get("properties") or {} for f in feats])
    table = table.drop(columns=[c for c in ("lon", "lat") if c in table.columns])
    xy = np.array([f["geometry"]["coordinates"][:2] for f in feats], dtype=float)
    return pd.concat([pd.DataFrame({"lon": xy[:, 0], "lat": xy[:, 1]}), table], axis=1)


def _facility_entry(fac: FacilitiesIn, source: str) -> dict[str, Any]:
    entry = fac.model_dump(exclude={"geojson", "upload_id"}, exclude_none=True)
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
    check_categories(request.analysis.categories)
    check_categories(request.analysis.basic_categories)
    check_categories([f.category for f in request.facilities if f.category])
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


def _upload_path(store: Store, upload_id: str, allowed: tuple[str, ...], what: str) -> Path:
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
            _check_inside(fc, fac.coords, bbox, where)
            _check_feature_categories(fac, fc, where)
            name = f"facilities_{i}.csv"
            _points_table(fc).to_csv(folder / name, index=False, encoding="utf-8")
            facilities.append({**_facility_entry(fac, name), "lon": "lon", "lat": "lat",
                               "encoding": "utf-8"})
        else:
            src = _upload_path(store, fac.upload_id, FACILITY_SUFFIXES, where)
            _check_upload(src, fac, bbox, where)
            name = f"facilities_{i}_{src.name}"
            link_or_copy(src, folder / name)
            facilities.append(_facility_entry(fac, name))
    pop = request.population
    population = pop.model_dump(exclude={"upload_id"}, exclude_none=True)
    if pop.source == "upload":
        src = _upload_path(store, pop.upload_id, POPULATION_SUFFIXES, "population")
        population["source"] = f"population_{src.name}"
        link_or_copy(src, folder / population["source"])
    if pop.districts is not None:
        src = _upload_path(store, pop.districts, (".geojson", ".json", ".gpkg"),
                           "population.districts")
        population["districts"] = f"districts_{src.name}"
        link_or_copy(src, folder / population["districts"])
    doc: dict[str, Any] = {
        "name": request.name,
        "description": request.description,
        "facilities": facilities,
        "population": population,
        "analysis": request.analysis.model_dump(exclude_none=True),
        "speeds": request.speeds,
    }
    if request.bbox is not None:
        doc["study_area"] = {"bbox": list(request.bbox)}
    return doc


def optimize_spec(request: OptimizeIn) -> OptimizeSpec:
    """The optimisation spec of a request; ``capacities`` give the capacitated model the
    places of one new site (existing facilities keep their own, or the norm)."""
    check_categories(request.categories)
    check_categories(list(request.capacities or {}))
    fields = request.model_dump(exclude={"capacities"})
    if request.capacities:
        other = sorted(set(request.capacities) - set(request.categories))
        if request.model != "capacitated" or other:
            raise InputError(
                "capacities set the places of a new site for the capacitated model and its "
                f"category; this request is model {request.model!r} with categories "
                f"{request.categories}. Drop capacities or use model 'capacitated'."
            )
        fields["new_site_capacity"] = request.capacities[request.categories[0]]
    try:
        return OptimizeSpec(**fields)
    except ValidationError as exc:
        reasons = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise InputError(f"The optimisation request is not valid: {reasons}.") from None


def load_stored_scenario(store: Store, scenario_id: str, params: dict[str, Any]) -> Scenario:
    """The planner scenario of a stored scenario, set up for one job.

    ``params`` holds ``optimize`` (a list of OptimizeSpec dicts; empty for coverage) and, in
    jobs stored by earlier versions, ``categories`` (category overrides).
    """
    row = store.get("scenarios", scenario_id)
    folder = store.path("scenarios", scenario_id)
    doc = json.loads((folder / "scenario.json").read_text(encoding="utf-8"))
    doc["network"] = {"source": str(network_source(store, row["network_id"]))}
    doc["optimize"] = params.get("optimize", [])
    doc["categories"] = params.get("categories", {})
    return parse_scenario(doc, folder, f"{row['name']} ({scenario_id})")
