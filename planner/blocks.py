"""Building blocks of the Python API (``import planner as pl``): scenarios, walk networks,
facilities, population and coverage, each taking and returning GeoDataFrames in a metric
CRS (distances in metres, people in persons, speeds in metres per second)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from planner import coverage as cov
from planner.catchment import nearest_by_category, snap_points
from planner.errors import InputError
from planner.facilities import drop_off_network
from planner.io.facilities import load_facilities
from planner.io.osm import load_network
from planner.io.population import load_population
from planner.network import WalkNetwork, build_network
from planner.optimize import candidate_sites
from planner.scenario import ScenarioResult, run_scenario
from planner.scenario_file import Scenario, load_scenario, parse_scenario
from planner.standards import Category, get_category, load_categories, load_speeds

DIST_PREFIX = "dist_"
COVERED_PREFIX = "covered_"


def build_scenario(base_dir: str | Path = ".", **fields: Any) -> Scenario:
    """A scenario from its keys, as a scenario TOML file would give them (``network``,
    ``facilities``, ``population``, ``analysis``, ``optimize`` …); relative file names start at
    ``base_dir``. Unknown keys fail with the closest valid one."""
    return parse_scenario(fields, Path(base_dir).resolve())


def compute(
    scenario: Scenario | str | Path | None = None,
    *,
    optimize: bool = True,
    cache_dir: str | Path | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> ScenarioResult:
    """Run a scenario (a :class:`Scenario`, a TOML path, or None for the bundled sample) without
    writing files; ``optimize=False`` skips its optimisation requests; parsed inputs are cached
    in ``cache_dir`` (None: not cached). ``pl.run`` adds the files."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if not optimize:
        scenario = scenario.model_copy(update={"optimize": []})
    return run_scenario(scenario, cache_dir=cache_dir, progress=progress)


def network_from_file(path: str | Path, *, crs: object | None = None,
                      tolerance_m: float = 0.0) -> WalkNetwork:
    """The walk network of an OSM file (.osm, .osm.bz2, .osm.pbf), a GIS line layer
    (GeoJSON, GeoPackage, Shapefile) or a folder written by ``WalkNetwork.save``; ``crs`` is
    the projected working CRS (default: the data's UTM zone); vertices closer than
    ``tolerance_m`` metres become one junction. ``network.edges_gdf()`` gives the streets."""
    return load_network(path, crs=crs, tolerance_m=tolerance_m)


def network_from_lines(lines: gpd.GeoDataFrame, *, crs: object | None = None,
                       tolerance_m: float = 0.0) -> WalkNetwork:
    """The walk network of street lines (a ``highway`` column; ``foot``, ``access`` optional)
    that meet at shared vertices."""
    return build_network(lines, crs=crs, tolerance_m=tolerance_m)


def read_facilities(
    source: str | Path | gpd.GeoDataFrame | pd.DataFrame,
    network: WalkNetwork | None = None,
    *,
    coords: str | None = None,
    lon: str | None = None,
    lat: str | None = None,
    category: str | None = None,
    category_column: str | None = None,
    max_access_m: float = 300.0,
    **options: Any,
) -> gpd.GeoDataFrame:
    """Facilities of an OSM file, a table (CSV/Excel, any encoding), a GIS layer or a
    (Geo)DataFrame: points with ``id, name, category, capacity, status, source``.

    Args:
        source: the input; tables need longitude/latitude columns (found by name).
        network: when given, points are in its CRS and those farther than ``max_access_m``
            metres from every street are dropped into the report.
        coords: the input's coordinate system: ``wgs84``, ``gcj02`` (Amap), ``bd09`` (Baidu)
            or an EPSG code (tables default to wgs84).
        lon, lat: a table's longitude/latitude columns (default: found by their usual names);
            these and the other options have the names of a scenario's ``[[facilities]]`` keys.
        category: one category key for every row; or ``category_column``: a column whose
            words (幼儿园, 养老院 …) give each row's category.
        options: further options of :func:`planner.io.facilities.load_facilities`
            (``name_column``, ``capacity_column``, ``status``, ``encoding``, ``study_area`` …).

    Returns:
        The facilities; ``.attrs["report"]`` says what was kept and dropped, and why.
    """
    fac = load_facilities(source, to_crs=None if network is None else network.crs, crs=coords,
                          lon_column=lon, lat_column=lat, category=category,
                          category_column=category_column, **options)
    report = fac.attrs.pop("report")
    if network is not None:
        fac = drop_off_network(fac, network, max_access_m, report)
    fac.attrs["report"] = report
    return fac


def read_population(
    source: str | Path | gpd.GeoDataFrame,
    network: WalkNetwork | None = None,
    *,
    cell_m: float = 100.0,
    **options: Any,
) -> gpd.GeoDataFrame:
    """Demand cells of ``cell_m`` metres from a population raster, a WorldPop age stack
    folder, census polygons (``column``) or buildings (an OSM file or building layer).

    Args:
        network: when given, the cells are in its CRS (default: the source's UTM zone).
        options: further options of :func:`planner.io.population.load_population`
            (``age_shares``, ``column``, ``building_use``, ``total``, ``districts`` …).

    Returns:
        Square cells with ``cell_id``, ``x``/``y`` (centre, m), ``total`` and the age groups
        (people); ``.attrs["notes"]`` lists what was assumed or left out.
    """
    if network is not None:
        options.setdefault("crs", network.crs)
    grid = load_population(source, cell_m=cell_m, **options)
    cells = grid.cells.copy()
    cells.attrs.update(notes=list(grid.notes), cell_size_m=grid.cell_size_m)
    return cells


def _categories(keys: Iterable[str] | None, facilities: gpd.GeoDataFrame,
                distance_m: float | Mapping[str, float] | None) -> dict[str, Category]:
    table = load_categories()
    if keys is None:
        keys = [k for k in dict.fromkeys(facilities["category"].dropna()) if k in table]
    cats = {k: get_category(table, k) for k in keys}
    if not cats:
        raise InputError("No category to measure: the facilities have no known category; "
                         "pass categories=[...] with keys of planner.standards.load_categories().")
    if distance_m is not None:
        given = distance_m if isinstance(distance_m, Mapping) else dict.fromkeys(cats, distance_m)
        cats = {k: dataclasses.replace(c, distance_m=float(given.get(k, c.distance_m)))
                for k, c in cats.items()}
    return cats


def cell_coverage(
    network: WalkNetwork,
    cells: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    categories: Sequence[str] | None = None,
    distance_m: float | Mapping[str, float] | None = None,
    max_access_m: float = 300.0,
) -> gpd.GeoDataFrame:
    """Per demand cell and category, the walking distance to the nearest facility along the
    streets and whether it is within the category's distance.

    Args:
        network: the walk network (cells and facilities are brought to its CRS).
        cells: demand cells or points (from :func:`read_population`, or any layer).
        facilities: points with a ``category`` column (from :func:`read_facilities`).
        categories: category keys (default: every known category among the facilities).
        distance_m: the covering distance in metres, one for all or per category (default:
            each category's GB 50180 distance).
        max_access_m: cells and facilities farther than this from every street are off the
            streets (not reachable; ``off_streets`` is True).

    Returns:
        ``cells`` with ``dist_<category>`` (m; NaN when no facility is within the search
        bound, at least the distance and 15 minutes of walking), ``covered_<category>``
        (bool) and ``off_streets``; ``.attrs["distance_m"]`` holds each covering distance.
    """
    cats = _categories(categories, facilities, distance_m)
    cells = cells.to_crs(network.crs)
    fac = facilities.to_crs(network.crs)
    xy = cells.geometry.representative_point().get_coordinates().to_numpy()
    homes = snap_points(network, xy, max_access_m)
    bounds = cov.search_bounds(cats, load_speeds())
    dist = nearest_by_category(network, homes, fac, bounds, max_access_m=max_access_m)
    out = cells.copy()
    for key, cat in cats.items():
        d = dist[key].to_numpy()
        out[f"{DIST_PREFIX}{key}"] = np.where(np.isfinite(d), d, np.nan)
        out[f"{COVERED_PREFIX}{key}"] = d <= cat.distance_m
    out["off_streets"] = ~homes.ok
    out.attrs["distance_m"] = {k: c.distance_m for k, c in cats.items()}
    return out


def coverage_table(
    cells: gpd.GeoDataFrame,
    *,
    speeds: Mapping[str, float] | None = None,
    levels: Sequence[int] = (5, 10, 15),
) -> pd.DataFrame:
    """Share of people covered per category × mode × level × group, from cells with
    ``dist_<category>`` columns (:func:`cell_coverage`, or a run's ``result.cells``). Compliance
    mode: within the category's distance; time mode: within each level in minutes at the
    walking speed of each group (``speeds`` in m/s override the bundled ones)."""
    keys = [c[len(DIST_PREFIX):] for c in cells.columns if str(c).startswith(DIST_PREFIX)]
    if not keys:
        raise InputError("The cells have no dist_<category> columns; measure them with "
                         "planner.cell_coverage(network, cells, facilities) first.")
    table = load_categories()
    given = cells.attrs.get("distance_m", {})
    cats = {k: dataclasses.replace(get_category(table, k),
                                   distance_m=given.get(k, table[k].distance_m)) for k in keys}
    dist = {k: np.nan_to_num(cells[f"{DIST_PREFIX}{k}"].to_numpy(dtype=float), nan=np.inf)
            for k in keys}
    off = cells["off_streets"].to_numpy(dtype=bool) if "off_streets" in cells else None
    return cov.coverage_table(dist, cells, cats, load_speeds(overrides=speeds), levels=levels,
                              off_streets=off)


def candidates(
    network: WalkNetwork,
    *,
    spacing_m: float = 100.0,
    existing: gpd.GeoDataFrame | None = None,
    category: str | None = None,
) -> gpd.GeoDataFrame:
    """Candidate sites every ``spacing_m`` metres along the streets, after the ``existing``
    facilities of ``category`` (status ``existing``), in the network CRS."""
    return candidate_sites(network=network, facilities=existing, category=category,
                           spacing_m=spacing_m)
