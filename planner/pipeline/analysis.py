"""The analysis steps of a scenario run: coverage, equity, the complete living circle, cells
off the streets, gap areas, isochrones, capacity-aware access and district coverage."""

from __future__ import annotations

from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner import coverage as cov
from planner.access import access_split_table, capacity_access
from planner.catchment import coverage_matrix, network_part
from planner.errors import InputError
from planner.gaps import gap_areas, gap_cells
from planner.io.coords import coordinate_system
from planner.isochrones import isochrones
from planner.lonlat import with_lonlat
from planner.results import Capacity, Districts, Gaps, OffStreets
from planner.scenario_file import Scenario
from planner.standards import Category

if TYPE_CHECKING:
    from planner.scenario import ScenarioResult

Distances = dict[str, np.ndarray]


def coverage_step(result: ScenarioResult, keys: list[str], speeds: dict[str, float]) -> None:
    """Coverage, equity, complete circle, gaps, isochrones, capacity-aware access and district
    tables of the categories ``keys`` (walking speeds in m/s), set on ``result``."""
    cells = result.demand.cells
    dist = {k: result.distances[k].to_numpy() for k in keys}
    cats = {k: result.categories[k] for k in keys}
    off = result.off_streets
    table = cov.coverage_table(dist, cells, cats, speeds, facilities=result.facilities,
                               levels=result.scenario.analysis.levels_min, off_streets=off)
    mode = result.scenario.analysis.mode
    if mode != "both":
        table = table[table["mode"] == mode].reset_index(drop=True)
    result.coverage = table
    result.headline = cov.headline_table(table, cats)
    off_network, no_facility = _network_parts(result, keys)
    result.equity = cov.equity_table(dist, cells, cats, speeds,
                                     off_network=off_network, no_facility=no_facility)
    layer = cells.copy()
    _complete_circle(result, dist, cats, layer)
    result.off_street_cells = _cells_off_streets(result)
    result.gaps = _gaps(result, dist, cats)
    for k in keys:
        layer[f"dist_{k}"] = np.where(np.isfinite(dist[k]), dist[k], np.nan)
    result.cells = layer
    result.isochrones = isochrone_layer(result, keys, speeds)
    result.capacity = _capacity_access(result, cats)
    if result.scenario.districts is not None:
        result.districts = _districts(result, dist, cats, speeds)


def _gaps(result: ScenarioResult, dist: Distances, cats: dict[str, Category]) -> Gaps:
    cells = gap_cells(dist, result.demand.cells, cats, exclude=result.off_streets)
    areas = gap_areas(cells, cats)
    table = lonlat_table(result, pd.DataFrame(areas.drop(columns="geometry")),
                         shapely.get_coordinates(areas.geometry.representative_point().values))
    return Gaps(cells=cells, areas=areas, table=table)


def _cells_off_streets(result: ScenarioResult) -> OffStreets | None:
    """The inhabited cells farther than max_access_m from any street, and a note. Their people
    are "not reachable from the streets", apart from "uncovered"."""
    if result.off_streets is None:
        return None
    cells = result.demand.cells
    off = result.off_streets & (cells["total"].to_numpy() > 0)
    part = cells[off].copy()
    part.insert(1, "access_m", np.round(result.homes.access_m[off], 1))
    table = lonlat_table(result, pd.DataFrame(part.drop(columns="geometry")),
                         result.demand.points()[off])
    if len(part):
        limit = result.scenario.analysis.max_access_m
        result.notes.append(
            f"{len(part)} inhabited cells ({part['total'].sum():,.0f} people) lie farther than "
            f"{limit:g} m from any walkable street: they are counted as not reachable from the "
            "streets (people_off_streets), apart from uncovered, and listed in "
            "cells_off_streets. Complete the street layer there (paths inside 小区 are often "
            "missing) or raise max_access_m."
        )
    return OffStreets(cells=part, table=table)


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


def _complete_circle(result: ScenarioResult, dist: Distances, cats: dict[str, Category],
                     layer: gpd.GeoDataFrame) -> None:
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
    layer["categories_reached"] = circle.reached
    layer["complete_circle"] = circle.complete
    result.notes.append(
        f"Complete living circle ({', '.join(circle.keys)}): {circle.index:.1%} of people reach "
        "every one within its compliance distance."
    )


def _capacity_access(result: ScenarioResult, cats: dict[str, Category]) -> Capacity | None:
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
    if not splits:
        return None
    return Capacity(access=access_split_table(splits),
                    by_facility=pd.concat(ratios, ignore_index=True))


def _districts(result: ScenarioResult, dist: Distances, cats: dict[str, Category],
               speeds: dict[str, float]) -> Districts:
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
    if (note := cov.outside_districts(result.demand.cells, layer)) is not None:
        result.notes.append(note)
    return Districts(table=table, layer=layer.to_crs(result.network.crs))


def isochrone_layer(result: ScenarioResult, keys: list[str], speeds: dict[str, float]) -> gpd.GeoDataFrame:
    """5/10/15-minute (the scenario's levels) walking areas around every category's facilities,
    at the walking speed (m/s) of the group each category serves (in a window, around those
    whose walks can reach its residents)."""
    frames = []
    fac = result.facilities
    levels = np.asarray(result.scenario.analysis.levels_min, dtype=float)
    for key in keys:
        xy = fac.loc[fac["category"] == key].geometry.get_coordinates().to_numpy()
        cat = result.categories[key]
        speed = speeds.get(cat.group, speeds["total"])
        if result.window is not None:  # only walks that can reach the window's residents
            reach = levels.max() * 60 * speed + result.scenario.analysis.max_access_m
            xy = xy[shapely.dwithin(result.window.residents, shapely.points(xy), reach)]
        if len(xy) == 0:
            continue
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


def lonlat_table(result: ScenarioResult, table: pd.DataFrame, xy: np.ndarray,
                 crs: object | None = None) -> pd.DataFrame:
    """``table`` with the longitude/latitude of its points (``xy`` in the network CRS, metres)
    in WGS-84 and GCJ-02, and BD-09 when a facility or candidate input was BD-09."""
    crs = result.network.crs if crs is None else crs
    return with_lonlat(table, xy, crs, bd09=has_bd09_input(result.scenario))


def has_bd09_input(scenario: Scenario) -> bool:
    """Whether a facility or candidate file of the scenario is in BD-09 (Baidu), so tables also
    give BD-09 longitude/latitude."""
    declared = [f.coords for f in scenario.facilities if f.source != "osm"]
    declared += [o.candidates_coords for o in scenario.optimize if o.candidates is not None]
    return any(isinstance(c, str) and coordinate_system(c) == "bd09" for c in declared)
