"""The input steps of a scenario run: the walk network, the facilities of every source, the
study area and the demand grid, each cached by a fingerprint of its sources and settings."""

from __future__ import annotations

import pickle
from pathlib import Path

import geopandas as gpd
import shapely

from planner.cache import cached, fingerprint
from planner.demand import DemandGrid
from planner.errors import InputError, OfflineError
from planner.facilities import FacilityReport, drop_off_network, merge_across_sources
from planner.io.area import OSM_READ_PAD_DEG, lonlat_box
from planner.io.facilities import load_facilities
from planner.io.osm import from_osm_online, is_osm_file, load_network, network_from_osmnx
from planner.io.population import load_population, read_area
from planner.network import WalkNetwork
from planner.pipeline.window import Window
from planner.sample import helsinki_pbf
from planner.scenario_file import SAMPLE_SOURCE, Scenario
from planner.standards import Category, get_category
from planner.walkable import WALK_FILTER_FILE


def osm_source(scenario: Scenario) -> Path | None:
    """The OSM file behind the scenario's network (None for a place name, a saved network
    without its source, or a GIS line layer, which holds streets only)."""
    src = scenario.network.source
    if src is None:
        return None
    if src == SAMPLE_SOURCE:
        return helsinki_pbf()
    path = scenario.path(src)
    if path.is_dir():  # a saved network keeps its OSM file in source/ (earlier: source.<ext>)
        original = sorted((path / "source").glob("*")) or sorted(path.glob("source.*"))
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


def build_network_step(scenario: Scenario, cache_dir: Path | None,
                       window: Window | None = None) -> WalkNetwork:
    spec = scenario.network
    if window is not None:
        return _window_network(scenario, cache_dir, window)
    if spec.place is not None:
        key = "network-" + fingerprint(spec.place, spec.crs, Path(WALK_FILTER_FILE))
        build = lambda: network_from_osmnx(spec.place, crs=spec.crs)  # noqa: E731
    else:
        src = helsinki_pbf() if spec.source == SAMPLE_SOURCE else scenario.path(spec.source)
        if src.is_dir():
            return load_network(src)
        key = "network-" + fingerprint(src, spec.crs, spec.tolerance_m, spec.min_component_m,
                                       Path(WALK_FILTER_FILE))
        build = lambda: load_network(src, crs=spec.crs, tolerance_m=spec.tolerance_m,  # noqa: E731
                                     min_component_m=spec.min_component_m)
    return cached(cache_dir, key, build, lambda net, p: net.save(p), WalkNetwork.load)


def _window_network(scenario: Scenario, cache_dir: Path | None, window: Window) -> WalkNetwork:
    """The streets of a window of the scenario's network file."""
    spec = scenario.network
    src = None if spec.source is None else (
        helsinki_pbf() if spec.source == SAMPLE_SOURCE else scenario.path(spec.source))
    if src is not None and src.is_dir():  # a saved network: the file it was built from
        kept = sorted((src / "source").glob("*")) or sorted(src.glob("source.*"))
        src = kept[0] if kept else None
    if src is None:
        raise InputError("A run over units reads each unit's streets from the network file; "
                         "give network.source as an OSM file (.osm.pbf, .osm) or a line layer, "
                         "not a place name or a network saved without its file.")
    key = "network-" + fingerprint(src, window.key(), spec.tolerance_m, Path(WALK_FILTER_FILE))
    build = lambda: load_network(  # noqa: E731
        src, crs=window.crs, tolerance_m=spec.tolerance_m, bounding_box=window.lonlat_box(),
        min_component_m=window.min_component_m, window=window.streets)
    return cached(cache_dir, key, build, lambda net, p: net.save(p), WalkNetwork.load)


def study_area(scenario: Scenario, crs) -> shapely.Geometry | None:
    """The scenario's study area (a file or a lon/lat box) in ``crs``, or None."""
    area = scenario.study_area
    if area is None:
        return None
    if area.file is not None:
        return read_area(scenario.path(area.file), crs)
    box = gpd.GeoSeries([shapely.box(*area.bbox)], crs=4326)
    return read_area(box, crs)


def load_facilities_step(
    scenario: Scenario, network: WalkNetwork, categories: dict[str, Category], area,
    cache_dir: Path | None = None, outside_ok: bool = False,
) -> tuple[gpd.GeoDataFrame, list[FacilityReport]]:
    """Every facility source of the scenario in one table (network CRS), and each source's
    report (what it kept and dropped, and why). Sources read from files are cached under
    ``cache_dir`` by a fingerprint of the file, its options, the category rules and the
    network. ``outside_ok``: an area holding none of a source's facilities is not an error
    (a unit of a province)."""
    frames, reports = [], []
    for spec in scenario.facilities:
        src = osm_source(scenario) if spec.source == "osm" else scenario.path(spec.source)
        if spec.source == "osm" and src is None:
            if scenario.network.place is None:
                raise _no_osm_file(scenario, "facilities source 'osm'",
                                   "Name a facility file (CSV, Excel, GeoJSON …) instead.")
            fac, report = _facility_source(scenario, spec, None, network, categories, area,
                                           outside_ok)
        else:
            key = "facilities-" + fingerprint(
                src, spec.model_dump(), repr(sorted(categories.items())), network.crs.to_wkt(),
                network.summary(), None if area is None else shapely.to_wkb(area).hex(),
                scenario.analysis.max_access_m) + ".pkl"
            fac, report = cached(
                cache_dir, key,
                lambda spec=spec, src=src: _facility_source(scenario, spec, src, network,
                                                            categories, area, outside_ok),
                lambda value, path: path.write_bytes(pickle.dumps(value)),
                lambda path: pickle.loads(path.read_bytes()))
        frames.append(fac)
        reports.append(report)
    return merge_across_sources(frames, reports), reports


def _facility_source(scenario: Scenario, spec, src: Path | None, network: WalkNetwork,
                     categories: dict[str, Category], area, outside_ok: bool = False
                     ) -> tuple[gpd.GeoDataFrame, FacilityReport]:
    """One facility source read, classified and checked against the network, with its report
    (``src`` None: the online OSM data of the scenario's place)."""
    if src is None:
        fac = load_facilities(scenario.network.place, online=True, to_crs=network.crs,
                              categories=categories, study_area=area)
    elif spec.source == "osm":
        fac = load_facilities(src, to_crs=network.crs, categories=categories, study_area=area,
                              bounding_box=_padded_box(area, network.crs), outside_ok=outside_ok)
    else:
        fac = load_facilities(src, to_crs=network.crs, categories=categories, study_area=area,
                              outside_ok=outside_ok, **spec.reader_options())
    report = fac.attrs.pop("report")
    return drop_off_network(fac, network, scenario.analysis.max_access_m, report), report


def _padded_box(area: shapely.Geometry | None, crs) -> list[float] | None:
    """An OSM read box (degrees) around a study area, padded by about 1 km so that features
    whose centre lies inside but whose nodes lie outside the area are read too."""
    return None if area is None else lonlat_box(area.bounds, crs, OSM_READ_PAD_DEG)


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
    area_key = None if area is None else shapely.to_wkb(area).hex()
    key = "demand-" + fingerprint(src, spec.model_dump(), network.crs.to_wkt(), area_key,
                                  districts, STANDARDS_DIR / "population.toml") + ".parquet"
    return cached(cache_dir, key, lambda: load_population(src, **options),
                   lambda grid, p: grid.save(p), DemandGrid.load)


def analysed_categories(scenario: Scenario, categories: dict[str, Category]) -> list[str]:
    """The categories a run analyses: the scenario's list (default all), then those only an
    optimisation request names; unknown keys fail with the closest valid one."""
    keys = scenario.analysis.categories or list(categories)
    for key in keys:
        get_category(categories, key)
    for spec in scenario.optimize:
        for key in spec.categories:
            get_category(categories, key)
            if key not in keys:
                keys.append(key)
    return keys
