"""Run a scenario end to end: inputs → catchments → coverage and gaps → optimisation → outputs.

The CLI, the API and notebooks all call :func:`run_scenario`. Parsed inputs (network, demand
grid) are cached by a fingerprint of their sources and settings, so a rerun that changes only
the analysis or the optimisation does not parse the city again.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner import coverage as cov
from planner.access import access_split_table, capacity_access
from planner.catchment import (
    Snapped,
    coverage_matrix,
    nearest_by_category,
    network_part,
    snap_points,
)
from planner.demand import DemandGrid
from planner.errors import InputError, OfflineError
from planner.facilities import FacilityReport, drop_off_network, merge_across_sources
from planner.gaps import gap_areas, gap_cells
from planner.io.coords import coordinate_system
from planner.io.facilities import load_facilities
from planner.io.osm import from_osm_online, is_osm_file, load_network, network_from_osmnx
from planner.io.population import load_population, read_area
from planner.isochrones import isochrones
from planner.lonlat import with_lonlat
from planner.network import WalkNetwork
from planner.optimize import (
    JointCategory,
    OptimizeResult,
    candidate_sites,
    capacitated_mclp,
    joint_mclp,
    lscp,
    mclp,
)
from planner.optimize.greedy import warm_up
from planner.outputs import write_result
from planner.sample import helsinki_pbf
from planner.scenario_file import SAMPLE_SOURCE, OptimizeSpec, Scenario
from planner.standards import Category, get_category, load_categories, load_speeds
from planner.walkable import WALK_FILTER_FILE

Progress = Callable[[str, float], None]
CACHE_VERSION = "1"


@dataclass
class ScenarioResult:
    """Everything a scenario run produced (GeoDataFrames in the network's metric CRS)."""

    scenario: Scenario
    network: WalkNetwork
    facilities: gpd.GeoDataFrame
    demand: DemandGrid
    categories: dict[str, Category]
    distances: pd.DataFrame
    homes: Snapped | None = None  # where each demand cell joins the streets
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    optimizations: list[OptimizeResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    complete: cov.CompleteCircle | None = None
    district_table: pd.DataFrame | None = None
    output_dir: Path | None = None
    map_path: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Headline numbers, JSON-serialisable."""
        headline = self.tables.get("headline")
        return {
            "scenario": self.scenario.name,
            "network": self.network.summary(),
            "people": {k: round(v, 1) for k, v in self.demand.totals().items()},
            "population_source": {k: self.demand.meta[k] for k in ("source", "buildings",
                                                                   "calibration")
                                  if k in self.demand.meta},
            "cells": len(self.demand),
            "facilities": self.facilities["category"].value_counts().to_dict(),
            "not_reachable_from_streets": self._off_streets_summary(),
            "headline": [] if headline is None else json.loads(headline.to_json(orient="records")),
            "optimizations": [
                {
                    "model": r.model,
                    "categories": spec.categories,
                    "status": r.status,
                    "objective": r.objective,
                    "bound": r.bound,
                    "gap": r.gap,
                    "new_sites": len(r.sites),
                    "new_sites_cost": (float(r.sites["cost"].sum()) if "cost" in r.sites
                                       and r.sites["cost"].notna().any() else None),
                    "budget": spec.budget,
                    "closed_sites": len(r.closed),
                    "uncoverable_people": float(r.uncoverable["people"].sum()),
                    "message": r.message,
                }
                for spec, r in zip(self.scenario.optimize, self.optimizations, strict=True)
            ],
            "notes": self.notes,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
            "map": str(self.map_path) if self.map_path else None,
        }

    @property
    def off_streets(self) -> np.ndarray | None:
        """Per demand cell: farther than max_access_m from any street."""
        return None if self.homes is None else ~self.homes.ok

    def _off_streets_summary(self) -> dict[str, Any]:
        table = self.tables.get("cells_off_streets")
        if table is None:
            return {"cells": 0, "people": 0.0}
        return {"cells": len(table), "people": round(float(table["total"].sum()), 1),
                "max_access_m": self.scenario.analysis.max_access_m}


# --- fingerprints and caching -----------------------------------------------------------------


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(f.name.encode())
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def fingerprint(*parts: object) -> str:
    """A short, stable hash of input files (their bytes) and settings."""
    h = hashlib.sha256(CACHE_VERSION.encode())
    for part in parts:
        h.update(_file_digest(part).encode() if isinstance(part, Path) else repr(part).encode())
    return h.hexdigest()[:16]


def _cached(cache_dir: Path | None, key: str, build: Callable[[], Any], save, load) -> Any:
    """``build()``, or its copy under ``cache_dir/key``. Entries are written under a temporary
    name and renamed into place, so runs sharing a cache (API workers) never read half a file."""
    if cache_dir is None:
        return build()
    path = cache_dir / key
    if path.exists():
        try:
            return load(path)
        except Exception:  # any unreadable entry is simply rebuilt
            _remove(path)
    value = build()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{uuid.uuid4().hex}-{key}"
    save(value, tmp)
    try:
        os.replace(tmp, path)
    except OSError:  # another run stored the same entry first
        _remove(tmp)
    return value


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# --- steps ------------------------------------------------------------------------------------


def osm_source(scenario: Scenario) -> Path | None:
    """The OSM file behind the scenario's network (None for a place name, a saved network
    without its source, or a GIS line layer, which holds streets only)."""
    src = scenario.network.source
    if src is None:
        return None
    if src == SAMPLE_SOURCE:
        return helsinki_pbf()
    path = scenario.path(src)
    if path.is_dir():
        original = sorted(path.glob("source.*"))
        path = original[0] if original else None
    if path is None or not is_osm_file(path):
        return None
    return path


def _no_osm_file(scenario: Scenario, what: str, instead: str) -> InputError:
    src = scenario.network.source
    kind = ("a GIS line layer, which holds streets only" if src and not scenario.path(src).is_dir()
            else "a saved network without its OSM file")
    return InputError(f"{what} reads the network's OSM file (.osm, .osm.bz2, .osm.pbf), but the "
                      f"network source {src!r} is {kind}. {instead}")


def build_network_step(scenario: Scenario, cache_dir: Path | None) -> WalkNetwork:
    spec = scenario.network
    if spec.place is not None:
        key = "network-" + fingerprint(spec.place, spec.crs, Path(WALK_FILTER_FILE))
        build = lambda: network_from_osmnx(spec.place, crs=spec.crs)  # noqa: E731
    else:
        src = helsinki_pbf() if spec.source == SAMPLE_SOURCE else scenario.path(spec.source)
        if src.is_dir():
            return load_network(src)
        key = "network-" + fingerprint(src, spec.crs, spec.tolerance_m, Path(WALK_FILTER_FILE))
        build = lambda: load_network(src, crs=spec.crs, tolerance_m=spec.tolerance_m)  # noqa: E731
    return _cached(cache_dir, key, build, lambda net, p: net.save(p), WalkNetwork.load)


def _study_area(scenario: Scenario, crs) -> object:
    area = scenario.study_area
    if area is None:
        return None
    if area.file is not None:
        return read_area(scenario.path(area.file), crs)
    import shapely

    box = gpd.GeoSeries([shapely.box(*area.bbox)], crs=4326)
    return read_area(box, crs)


def load_facilities_step(
    scenario: Scenario, network: WalkNetwork, categories: dict[str, Category], area, notes,
    reports: list[FacilityReport], cache_dir: Path | None = None,
) -> gpd.GeoDataFrame:
    """Every facility source of the scenario in one table (network CRS); each source's report
    (what it kept and dropped, and why) is appended to ``reports``. Sources read from files are
    cached under ``cache_dir`` by a fingerprint of the file, its options, the category rules
    and the network."""
    frames = []
    for spec in scenario.facilities:
        src = osm_source(scenario) if spec.source == "osm" else scenario.path(spec.source)
        if spec.source == "osm" and src is None:
            if scenario.network.place is None:
                raise _no_osm_file(scenario, "facilities source 'osm'",
                                   "Name a facility file (CSV, Excel, GeoJSON …) instead.")
            fac, report = _facility_source(scenario, spec, None, network, categories, area)
        else:
            key = "facilities-" + fingerprint(
                src, spec.model_dump(), repr(sorted(categories.items())), network.crs.to_wkt(),
                network.summary(), scenario.study_area.model_dump() if scenario.study_area
                else None, scenario.analysis.max_access_m) + ".pkl"
            fac, report = _cached(
                cache_dir, key,
                lambda spec=spec, src=src: _facility_source(scenario, spec, src, network,
                                                            categories, area),
                lambda value, path: path.write_bytes(pickle.dumps(value)),
                lambda path: pickle.loads(path.read_bytes()))
        frames.append(fac)
        reports.append(report)
    out = merge_across_sources(frames, reports)
    for report in reports:
        notes.extend(report.lines())
    return out


def _facility_source(scenario: Scenario, spec, src: Path | None, network: WalkNetwork,
                     categories: dict[str, Category], area) -> tuple[gpd.GeoDataFrame,
                                                                     FacilityReport]:
    """One facility source read, classified and checked against the network, with its report
    (``src`` None: the online OSM data of the scenario's place)."""
    if src is None:
        fac = load_facilities(scenario.network.place, online=True, to_crs=network.crs,
                              categories=categories, study_area=area)
    elif spec.source == "osm":
        fac = load_facilities(src, to_crs=network.crs, categories=categories, study_area=area)
    else:
        fac = load_facilities(
            src, to_crs=network.crs, categories=categories,
            crs=spec.coords, category=spec.category, category_column=spec.category_column,
            lon_column=spec.lon, lat_column=spec.lat, name_column=spec.name_column,
            capacity_column=spec.capacity_column, status=spec.status, encoding=spec.encoding,
            study_area=area,
        )
    report = fac.attrs.pop("report")
    return drop_off_network(fac, network, scenario.analysis.max_access_m, report), report


def _online_buildings(place: str) -> gpd.GeoDataFrame:
    """Building footprints of a place from OpenStreetMap via osmnx (needs internet), with the
    land use around each building and the use points inside it, as the file readers give them."""
    import osmnx as ox

    from planner.io.buildings import attach_landuse, attach_uses, osm_feature_tags, split_features

    try:
        features = from_osm_online(
            lambda: ox.features.features_from_place(place, tags=osm_feature_tags()))
    except OfflineError:
        raise
    except (ox._errors.InsufficientResponseError, ValueError, TypeError) as exc:
        raise InputError(
            f"OpenStreetMap returned no buildings for {place!r}: {exc}. Give a population "
            "raster or census layer in the scenario instead."
        ) from exc
    buildings, landuse, points = split_features(features)
    if buildings is None:
        raise InputError(f"OpenStreetMap holds no buildings for {place!r}; give a population "
                         "raster or census layer in the scenario instead.")
    return attach_uses(attach_landuse(buildings, landuse), points)


def build_demand_step(scenario: Scenario, network: WalkNetwork, area, cache_dir) -> DemandGrid:
    """The scenario's demand grid: its population source (buildings of the network's OSM data
    by default) with the building rule and calibration of ``[population]``."""
    from planner.io.buildings import load_building_defaults
    from planner.paths import STANDARDS_DIR

    spec = scenario.population
    if spec.source == "buildings" and scenario.network.place is not None:
        src = _online_buildings(scenario.network.place)
    elif spec.source == "buildings":
        src = osm_source(scenario)
        if src is None:
            raise _no_osm_file(scenario, "population source 'buildings'",
                               "Name a population raster, census layer or building file instead.")
    else:
        src = scenario.path(spec.source)
    districts = scenario.path(spec.districts) if spec.districts else None
    options = dict(
        crs=network.crs, cell_m=spec.cell_m, area=area, age_shares=spec.age_shares,
        column=spec.population_column, building_use=spec.building_use,
        building_defaults=load_building_defaults(m2_per_person=spec.m2_per_person),
        total=spec.total, districts=districts, districts_column=spec.districts_column,
    )
    if isinstance(src, gpd.GeoDataFrame):
        return load_population(src, **options)
    area_key = scenario.study_area.model_dump() if scenario.study_area else None
    key = "demand-" + fingerprint(src, spec.model_dump(), network.crs.to_wkt(), area_key,
                                  districts, STANDARDS_DIR / "population.toml") + ".parquet"
    return _cached(cache_dir, key, lambda: load_population(src, **options),
                   lambda grid, p: grid.save(p), DemandGrid.load)


def _analysed_categories(scenario: Scenario, categories: dict[str, Category]) -> list[str]:
    keys = scenario.analysis.categories or list(categories)
    for key in keys:
        get_category(categories, key)
    for spec in scenario.optimize:
        for key in spec.categories:
            get_category(categories, key)
            if key not in keys:
                keys.append(key)
    return keys


def coverage_step(result: ScenarioResult, keys: list[str], speeds: dict[str, float]) -> None:
    """Coverage, equity, complete circle, gaps, capacity-aware access and district tables."""
    cells = result.demand.cells
    dist = {k: result.distances[k].to_numpy() for k in keys}
    cats = {k: result.categories[k] for k in keys}
    levels = result.scenario.analysis.levels_min
    off = result.off_streets
    table = cov.coverage_table(dist, cells, cats, speeds, facilities=result.facilities,
                               levels=levels, off_streets=off)
    mode = result.scenario.analysis.mode
    if mode != "both":
        table = table[table["mode"] == mode].reset_index(drop=True)
    result.tables["coverage"] = table
    result.tables["headline"] = cov.headline_table(table, cats)
    off_network, no_facility = _network_parts(result, keys)
    result.tables["equity"] = cov.equity_table(dist, cells, cats, speeds,
                                               off_network=off_network, no_facility=no_facility)
    layer = cells.copy()
    _complete_circle(result, dist, cats, layer)
    _cells_off_streets(result)
    gaps = gap_cells(dist, cells, cats, exclude=off)
    areas = gap_areas(gaps, cats)
    result.tables["gap_areas"] = _with_lonlat(
        result, pd.DataFrame(areas.drop(columns="geometry")),
        shapely.get_coordinates(areas.geometry.representative_point().values))
    result.layers["gap_cells"] = gaps
    result.layers["gap_areas"] = areas
    for k in keys:
        layer[f"dist_{k}"] = np.where(np.isfinite(dist[k]), dist[k], np.nan)
    result.layers["cells"] = layer
    result.layers["facilities"] = result.facilities
    result.layers["isochrones"] = isochrone_layer(result, keys, speeds)
    _capacity_access(result, cats)
    if result.scenario.districts is not None:
        _districts(result, dist, cats, speeds)


def _cells_off_streets(result: ScenarioResult) -> None:
    """The inhabited cells farther than max_access_m from any street: a table, a layer and a
    note. Their people are "not reachable from the streets", apart from "uncovered"."""
    if result.off_streets is None:
        return
    cells = result.demand.cells
    off = result.off_streets & (cells["total"].to_numpy() > 0)
    part = cells[off].copy()
    part.insert(1, "access_m", np.round(result.homes.access_m[off], 1))
    result.layers["cells_off_streets"] = part
    result.tables["cells_off_streets"] = _with_lonlat(
        result, pd.DataFrame(part.drop(columns="geometry")), result.demand.points()[off])
    if len(part):
        limit = result.scenario.analysis.max_access_m
        result.notes.append(
            f"{len(part)} inhabited cells ({part['total'].sum():,.0f} people) lie farther than "
            f"{limit:g} m from any walkable street: they are counted as not reachable from the "
            "streets (people_off_streets), apart from uncovered, and listed in "
            "cells_off_streets. Complete the street layer there (paths inside 小区 are often "
            "missing) or raise max_access_m."
        )


def _network_parts(result: ScenarioResult, keys: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Cells off the streets (farther than max_access_m), and per category the cells whose
    part of the network holds none of its facilities — the two kinds of "no walk" that are not
    "farther than the search bound"."""
    max_access = result.scenario.analysis.max_access_m
    cell_part = network_part(result.network, result.homes, max_access_m=max_access)
    fac = result.facilities
    fac_xy = fac.geometry.get_coordinates().to_numpy()
    fac_part = (network_part(result.network, fac_xy, max_access_m=max_access) if len(fac_xy)
                else np.empty(0, dtype=np.int64))
    on = cell_part >= 0
    no_facility = {}
    for k in keys:
        parts = fac_part[(fac["category"] == k).to_numpy() & (fac_part >= 0)]
        no_facility[k] = on & ~np.isin(cell_part, parts)
    return ~on, no_facility


def _complete_circle(result: ScenarioResult, dist, cats, layer: gpd.GeoDataFrame) -> None:
    basic = result.scenario.analysis.basic_categories or [
        k for k in cov.BASIC_CATEGORIES if k in dist
    ]
    if not basic:
        result.notes.append(
            "Complete living circle not computed: none of its basic categories "
            f"({', '.join(cov.BASIC_CATEGORIES)}) is analysed."
        )
        return
    circle = cov.complete_circle(dist, result.demand.cells, cats, keys=basic)
    result.complete = circle
    result.tables["complete_circle"] = circle.table
    layer["categories_reached"] = circle.reached
    layer["complete_circle"] = circle.complete
    result.notes.append(
        f"Complete living circle ({', '.join(circle.keys)}): {circle.index:.1%} of people reach "
        "every one within its compliance distance."
    )


def _capacity_access(result: ScenarioResult, cats: dict[str, Category]) -> None:
    """Served / covered but over capacity / uncovered, for categories with capacity norms."""
    fac = result.facilities
    splits, ratios = [], []
    for key, cat in cats.items():
        own = fac[fac["category"] == key].reset_index(drop=True)
        if cat.capacity_unit is None or len(own) == 0:
            continue
        xy = own.geometry.get_coordinates().to_numpy()
        catchment = coverage_matrix(result.network, xy, result.homes, cat.distance_m,
                                    max_access_m=result.scenario.analysis.max_access_m)
        access = capacity_access(catchment, own, result.demand.cells, cat)
        splits.append(access)
        table = access.facilities.copy()
        table.insert(1, "name", own["name"].to_numpy())
        table.insert(0, "category", key)
        ratios.append(table)
        if access.note:
            result.notes.append(f"{key}: {access.note}")
    if splits:
        result.tables["capacity_access"] = access_split_table(splits)
        result.tables["capacity_by_facility"] = pd.concat(ratios, ignore_index=True)


def _districts(result: ScenarioResult, dist, cats, speeds) -> None:
    spec = result.scenario.districts
    path = result.scenario.path(spec.file)
    try:
        layer = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InputError(f"Cannot read the district layer {path}: {exc}.") from exc
    table = cov.district_coverage(dist, result.demand.cells, cats, speeds, layer,
                                  name_column=spec.name_column, facilities=result.facilities,
                                  levels=result.scenario.analysis.levels_min,
                                  off_streets=result.off_streets)
    result.tables["coverage_by_district"] = table
    result.layers["districts"] = layer.to_crs(result.network.crs)
    result.district_table = table


def isochrone_layer(result: ScenarioResult, keys: list[str], speeds: dict[str, float]) -> gpd.GeoDataFrame:
    """5/10/15-minute (the scenario's levels) walking areas around every category's facilities,
    at the walking speed of the group each category serves."""
    frames = []
    fac = result.facilities
    levels = np.asarray(result.scenario.analysis.levels_min, dtype=float)
    for key in keys:
        xy = fac.loc[fac["category"] == key].geometry.get_coordinates().to_numpy()
        if len(xy) == 0:
            continue
        cat = result.categories[key]
        speed = speeds.get(cat.group, speeds["total"])
        try:
            iso = isochrones(result.network, xy, levels * 60 * speed,
                             max_access_m=result.scenario.analysis.max_access_m)
        except InputError:  # every facility of the category is too far from a street
            continue
        frames.append(iso.assign(category=key, minutes=levels, speed_m_s=speed))
    if not frames:
        return gpd.GeoDataFrame(
            {"category": [], "minutes": [], "distance_m": []},
            geometry=gpd.GeoSeries([], crs=result.network.crs),
        )
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=result.network.crs)


def _site_table(result: ScenarioResult, spec: OptimizeSpec, key: str | None, area) -> gpd.GeoDataFrame:
    user = None
    if spec.candidates is not None:
        user = load_facilities(result.scenario.path(spec.candidates), to_crs=result.network.crs,
                               crs=spec.candidates_coords, category=key or spec.categories[0],
                               status="candidate")
        report = user.attrs.pop("report")
        user = drop_off_network(user, result.network, result.scenario.analysis.max_access_m,
                                report)
        _record_report(result, report)
    return candidate_sites(
        network=result.network if user is None else None,
        user_sites=user,
        facilities=result.facilities,
        category=key,
        spacing_m=spec.candidate_spacing_m,
        study_area=area,
    )


def _record_report(result: ScenarioResult, report: FacilityReport) -> None:
    """Add a candidates file's report to the notes, the audit and the dropped rows, once."""
    audit = result.tables.get("facility_audit", pd.DataFrame())
    if len(audit) and (audit["source"] == report.source).any():
        return
    result.notes.extend(report.lines())
    for name, frame in (("facility_audit", report.audit()),
                        ("facilities_dropped", report.dropped.assign(source=report.source))):
        old = result.tables.get(name)
        result.tables[name] = frame if old is None or not len(old) else pd.concat(
            [old, frame], ignore_index=True)


def check_requests(scenario: Scenario) -> None:
    """Fail before any heavy step on optimisation requests that cannot run: a missing
    candidates file, or a cost budget without a file to give the costs."""
    for i, spec in enumerate(scenario.optimize, start=1):
        if spec.candidates is not None:
            scenario.path(spec.candidates)
        elif spec.budget is not None or spec.minimise == "cost":
            raise InputError(
                f"Optimisation request {i} is by cost, and sites generated along the streets "
                "have none: give candidates = a file of sites with a cost column (费用/造价), "
                "or ask for new_sites instead."
            )


def _demand_of(result: ScenarioResult, cat: Category) -> pd.Series:
    cells = result.demand.cells
    group = cat.group if cat.group in cells.columns else "total"
    return pd.Series(cells[group].to_numpy(dtype=float), index=cells["cell_id"].to_numpy())


def optimize_step(result: ScenarioResult, spec: OptimizeSpec, area, progress) -> OptimizeResult:
    cats = [result.categories[k] for k in spec.categories]
    demand_xy = result.demand.points()
    if spec.model == "joint":
        sites = _site_table(result, spec, None, area)
        # existing facilities of the requested categories count for their own category
        own = (sites["status"] != "existing") | sites["category"].isin(spec.categories)
        sites = sites[own.to_numpy()].reset_index(drop=True)
        site_xy = np.column_stack([sites.geometry.x, sites.geometry.y])
        joint = {}
        for cat in cats:
            matrix = coverage_matrix(result.network, site_xy, result.homes, cat.distance_m,
                                     max_access_m=result.scenario.analysis.max_access_m)
            weight = (spec.weights or {}).get(cat.key, 1.0)
            joint[cat.key] = JointCategory(matrix, _demand_of(result, cat), weight)
        return joint_mclp(joint, sites, p=spec.new_sites, budget=spec.budget,
                          time_limit_s=spec.time_limit_s)
    cat = cats[0]
    sites = _site_table(result, spec, cat.key, area)
    site_xy = np.column_stack([sites.geometry.x, sites.geometry.y])
    matrix = coverage_matrix(result.network, site_xy, result.homes, cat.distance_m,
                             max_access_m=result.scenario.analysis.max_access_m,
                             progress=lambda f: progress(f"catchments of {cat.key} sites", f))
    demand = _demand_of(result, cat)
    opts = dict(time_limit_s=spec.time_limit_s)
    if spec.model == "mclp":
        return mclp(matrix, demand, sites, p=spec.new_sites, budget=spec.budget,
                    demand_xy=demand_xy, **opts)
    if spec.model == "lscp":
        return lscp(matrix, demand, sites, use_cost=spec.minimise == "cost",
                    demand_xy=demand_xy, **opts)
    return capacitated_mclp(matrix, demand, _with_capacities(sites, spec, cat),
                            p=spec.new_sites, budget=spec.budget, **opts)


def _with_capacities(sites: gpd.GeoDataFrame, spec: OptimizeSpec, cat: Category) -> gpd.GeoDataFrame:
    """Sites whose data give no capacity get one: new sites ``spec.new_site_capacity``, else
    the category's norm; existing facilities the norm. Without either, say what to add."""
    cap = pd.to_numeric(sites["capacity"], errors="coerce").astype(float)
    new = sites["status"].isin(["candidate", "required"]).to_numpy()
    norm = np.nan if cat.capacity_per_site is None else float(cat.capacity_per_site)
    fill_new = norm if spec.new_site_capacity is None else float(spec.new_site_capacity)
    cap = cap.where(~(new & cap.isna()), fill_new).where(~(~new & cap.isna()), norm)
    if cap[new].isna().any():
        raise InputError(
            f"{int(cap[new].isna().sum())} candidate sites have no capacity and {cat.key} has "
            "no norm capacity per site: give new_site_capacity (places of one new site) or a "
            "capacity column in the candidates file."
        )
    if cap.isna().any():
        raise InputError(
            f"{int(cap.isna().sum())} existing {cat.key} facilities have no capacity and the "
            "category has no norm to assume: add a capacity column (床位/学位/托位) to the "
            'facility data, or use model = "mclp".'
        )
    return sites.assign(capacity=cap.to_numpy())


def _with_lonlat(result: ScenarioResult, table: pd.DataFrame, xy: np.ndarray,
                 crs: object | None = None) -> pd.DataFrame:
    """``table`` with the longitude/latitude of its points (``xy`` in the network CRS) in
    WGS-84 and GCJ-02, and BD-09 when a facility or candidate input was BD-09."""
    crs = result.network.crs if crs is None else crs
    return with_lonlat(table, xy, crs, bd09=has_bd09_input(result.scenario))


def has_bd09_input(scenario: Scenario) -> bool:
    """Whether a facility or candidate file of the scenario is in BD-09 (Baidu), so tables also
    give BD-09 longitude/latitude."""
    declared = [f.coords for f in scenario.facilities if f.source != "osm"]
    declared += [o.candidates_coords for o in scenario.optimize if o.candidates is not None]
    return any(isinstance(c, str) and coordinate_system(c) == "bd09" for c in declared)


def _record_optimization(result: ScenarioResult, i: int, spec: OptimizeSpec, res: OptimizeResult) -> None:
    name = f"optimize_{i + 1}_{spec.model}_{'_'.join(spec.categories)}"
    sites = res.sites
    table = pd.DataFrame(sites.drop(columns="geometry", errors="ignore"))
    if isinstance(sites, gpd.GeoDataFrame) and len(sites):
        table = _with_lonlat(result, table.assign(x=sites.geometry.x.round(1),
                                                  y=sites.geometry.y.round(1)),
                             sites.geometry.get_coordinates().to_numpy(), sites.crs)
    result.tables[f"{name}_sites"] = table
    result.tables[f"{name}_coverage"] = pd.DataFrame([{**res.coverage, "status": res.status,
                                                       "objective": res.objective,
                                                       "bound": res.bound, "gap": res.gap,
                                                       "seconds": res.solve_seconds}])
    if isinstance(sites, gpd.GeoDataFrame) and len(sites):
        proposals = sites.copy()
        proposals["request"] = name
        proposals["categories"] = ",".join(spec.categories)
        proposals["category"] = spec.categories[0]
        prev = result.layers.get("proposals")
        result.layers["proposals"] = (
            proposals if prev is None
            else gpd.GeoDataFrame(pd.concat([prev, proposals], ignore_index=True), crs=prev.crs)
        )
    result.notes.append(f"{name}: {res.message}")
    _record_exceptions(result, name, res)


def _record_exceptions(result: ScenarioResult, name: str, res: OptimizeResult) -> None:
    """Tables and notes for what the answer cannot do or takes away: people no candidate site
    can reach (with their location) and existing sites it closes."""
    unc = res.uncoverable
    if len(unc) and unc["people"].sum() > 0:
        cells = result.demand.cells.set_index("cell_id")
        xy = cells.loc[unc["cell_id"], ["x", "y"]].to_numpy()
        result.tables[f"{name}_uncoverable"] = _with_lonlat(
            result, unc.drop(columns=["x", "y"], errors="ignore").assign(
                x=xy[:, 0].round(1), y=xy[:, 1].round(1)), xy)
        result.notes.append(
            f"{name}: {unc['people'].sum():,.0f} people in {len(unc)} cells are beyond the reach "
            f"of every candidate site (table {name}_uncoverable); add candidates near them."
        )
    if len(res.closed):
        result.tables[f"{name}_closed"] = pd.DataFrame(res.closed.drop(columns="geometry",
                                                                       errors="ignore"))
        result.notes.append(
            f"{name}: closes {len(res.closed)} existing site(s) "
            f"({', '.join(map(str, res.closed['id'].head(5)))}); table {name}_closed."
        )


def run_scenario(
    scenario: Scenario,
    *,
    output_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> ScenarioResult:
    """Run every step of a scenario; write the outputs when ``output_dir`` is given.

    Args:
        scenario: a validated scenario (:func:`planner.scenario_file.load_scenario`).
        output_dir: where tables, layers and summary.json go (None: not written; see
            :func:`planner.outputs.write_result`, which also takes the map's writer).
        cache_dir: where parsed networks and demand grids are kept between runs (default
            ``<output_dir>/.cache``; None without an output directory).
        progress: called with (step name, finished fraction 0–1).
    """
    report = progress or (lambda step, fraction: None)
    out = Path(output_dir) if output_dir is not None else None
    cache = Path(cache_dir) if cache_dir is not None else (out / ".cache" if out else None)
    timings: dict[str, float] = {}
    notes: list[str] = []
    reports: list[FacilityReport] = []

    def timed(name: str, func: Callable[[], Any]) -> Any:
        report(name, 0.0)
        t0 = time.perf_counter()
        value = func()
        timings[name] = time.perf_counter() - t0
        report(name, 1.0)
        return value

    categories = load_categories(overrides=scenario.categories or None)
    speeds = load_speeds(overrides=scenario.speeds or None)
    if speeds["age_65_plus"] > speeds["age_60_plus"]:
        notes.append(
            f"Walking speeds: age_65_plus ({speeds['age_65_plus']:g} m/s) is faster than "
            f"age_60_plus ({speeds['age_60_plus']:g} m/s), so the older group looks better "
            "served; set both under [speeds].")
    keys = _analysed_categories(scenario, categories)
    check_requests(scenario)
    if scenario.optimize:  # the optimizer's compiled kernel gets ready while the city is read
        threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
    network = timed("network", lambda: build_network_step(scenario, cache))
    area = _study_area(scenario, network.crs)
    facilities = timed("facilities", lambda: load_facilities_step(
        scenario, network, categories, area, notes, reports, cache))
    demand = timed("population", lambda: build_demand_step(scenario, network, area, cache))
    notes.extend(demand.notes)
    cats = {k: categories[k] for k in keys}
    bounds = cov.search_bounds(cats, speeds, scenario.analysis.levels_min)
    homes = snap_points(network, demand.points(), scenario.analysis.max_access_m)
    distances = timed("catchments", lambda: nearest_by_category(
        network, homes, facilities, bounds,
        max_access_m=scenario.analysis.max_access_m,
        progress=lambda f: report("catchments", f)))
    result = ScenarioResult(scenario, network, facilities, demand, categories, distances,
                            homes=homes,
                            notes=notes, timings=timings)
    result.tables["facility_audit"] = (
        pd.concat([r.audit() for r in reports], ignore_index=True) if reports else pd.DataFrame()
    )
    result.tables["facilities_dropped"] = (
        pd.concat([r.dropped.assign(source=r.source) for r in reports], ignore_index=True)
        if reports else pd.DataFrame()
    )
    timed("coverage", lambda: coverage_step(result, keys, speeds))
    for i, spec in enumerate(scenario.optimize):
        res = timed(f"optimize_{i + 1}", lambda spec=spec: optimize_step(result, spec, area, report))
        result.optimizations.append(res)
        _record_optimization(result, i, spec, res)
    if out is not None:
        timed("outputs", lambda: write_result(result, out))
    return result
