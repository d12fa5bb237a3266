"""Population sources → DemandGrid: one entry point choosing the reader by the source
(rasters and WorldPop stacks in :mod:`planner.io.raster`, census polygons in
:mod:`planner.io.census`, buildings here), calibration to known totals, and age shares.

Every reader leaves io/ with a :class:`planner.demand.DemandGrid` in one metric CRS whose cells
are aligned to multiples of the cell size, so grids from different sources line up. People move
into cells by exact overlap areas, so totals are preserved; anomalies (nodata, negative values,
missing age bands, untagged buildings) are written to ``grid.notes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np

from planner.crs import require_metric_crs
from planner.demand import (
    AGE_GROUPS,
    DEFAULT_CELL_M,
    GRID_CRS,
    DemandGrid,
    check_cell_size,
    geometry_cell_areas,
    grid_from_cells,
    piece_fractions,
)
from planner.errors import InputError
from planner.io.area import OSM_READ_PAD_DEG, finish_grid, lonlat_box, read_area
from planner.io.buildings import (
    BuildingDefaults,
    BuildingUse,
    check_lonlat,
    load_building_defaults,
    osm_format,
    read_buildings,
    read_layer,
    read_settings,
    residential_floor_area,
)
from planner.io.calibrate import calibrate_districts, calibrate_total
from planner.io.census import CENSUS_COLUMNS, census_column, census_counts, read_census
from planner.io.raster import RASTER_SUFFIXES, read_age_stack, read_raster
from planner.paths import STANDARDS_DIR
from planner.standards_schema import AgeStructureFile, validate

VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb", ".parquet", ".geoparquet")


def load_age_shares(region: str = "shanxi", path: str | Path | None = None) -> dict[str, float]:
    """Age-group shares (0–1 of the total) of a region in ``data/standards/age_structure.toml``."""
    path = Path(path or STANDARDS_DIR / "age_structure.toml")
    regions = validate(AgeStructureFile, read_settings(path), str(path), strip=1).regions
    if region not in regions:
        raise InputError(
            f"No age structure for region {region!r}; known regions: {sorted(regions)}. "
            "Add it to age_structure.toml or give the shares directly."
        )
    return {k: v.share for k, v in regions[region].shares.items()}


def _read_box(area: object, crs: object | None) -> list[float] | None:
    """The part of an OSM file (degrees) to read buildings from for a study area: its box,
    padded by about 1 km for buildings and land use that reach into it from outside."""
    if area is None or crs is None:
        return None
    geom = read_area(area, require_metric_crs(crs, GRID_CRS))
    return lonlat_box(geom.bounds, crs, OSM_READ_PAD_DEG)


def read_buildings_population(
    source: str | Path | gpd.GeoDataFrame, *, crs: object | None = None,
    cell_m: float = DEFAULT_CELL_M, area: object = None,
    defaults: BuildingDefaults | None = None, use: BuildingUse = "auto",
    age_shares: Mapping[str, float] | None = None, shares_source: str = "age shares",
) -> DemandGrid:
    """Residents estimated from buildings alone: residential floor area (m²) ÷ m² per person,
    each building's people split over cells by footprint area.

    ``use`` chooses the homes (see :func:`residential_floor_area`); the rule applied and the
    buildings used and left out, by reason, are in ``grid.meta["buildings"]`` and the notes.
    """
    cell_m = check_cell_size(cell_m)
    d = defaults or load_building_defaults()
    frame = read_buildings(source, _read_box(area, crs))
    crs = require_metric_crs(crs, GRID_CRS) if crs is not None else frame.estimate_utm_crs()
    est = residential_floor_area(frame, crs, d, use)
    people = est.floor_m2 / d.m2_per_person
    bi, ix, iy, part = geometry_cell_areas(est.footprints, cell_m)
    share = part / np.bincount(bi, weights=part, minlength=len(est.footprints))[bi]
    clip = read_area(area, crs)
    if clip is not None:  # the people living inside the area, not the cells' area inside it
        share = share * piece_fractions(est.footprints, bi, ix, iy, cell_m, clip)
    name = source if isinstance(source, (str, Path)) else "building layer"
    notes = [*est.notes, f"Residents = residential floor area ÷ {d.m2_per_person:g} m² per "
             f"person: {people.sum():,.0f} people."]
    meta = {"source": str(name), "notes": notes, "method": "buildings",
            "source_total": float(people.sum()), "residential_buildings": len(est.footprints),
            "floor_area_m2": float(est.floor_m2.sum()),
            "buildings": {**est.info(), "m2_per_person": d.m2_per_person,
                          "people": float(people.sum())}}
    if clip is not None:
        meta["unclipped_total"] = float(people.sum())
    grid = grid_from_cells(ix, iy, {"total": people[bi] * share}, cell_m=cell_m, crs=crs, meta=meta)
    return finish_grid(grid, None, age_shares, shares_source)


def _shares(age_shares: str | Mapping[str, float] | None) -> tuple[dict[str, float] | None, str]:
    if age_shares is None:
        return None, ""
    if isinstance(age_shares, str):
        return load_age_shares(age_shares), f"the {age_shares} defaults in age_structure.toml"
    return {k: float(v) for k, v in age_shares.items()}, "the scenario's age shares"


def load_population(
    source: str | Path | gpd.GeoDataFrame | DemandGrid,
    *,
    crs: object | None = None,
    cell_m: float = DEFAULT_CELL_M,
    area: object = None,
    age_shares: str | Mapping[str, float] | None = "shanxi",
    pattern: str | None = None,
    column: str | None = None,
    buildings: str | Path | gpd.GeoDataFrame | None = None,
    building_use: BuildingUse = "auto",
    building_defaults: BuildingDefaults | None = None,
    total: float | None = None,
    districts: str | Path | gpd.GeoDataFrame | None = None,
    districts_column: str | None = None,
    groups: Mapping[str, tuple[int, int | None]] = AGE_GROUPS,
) -> DemandGrid:
    """Build a DemandGrid from any population source, chosen by its type:

    - a directory of age/sex rasters (``pattern``, WorldPop layout) → age groups from bands;
    - a raster file (.tif) → one total raster;
    - OSM data (.osm, .osm.xml, .osm.bz2, .osm.pbf), or a layer with a ``building`` column →
      buildings only;
    - a polygon layer with a population column (``column``) → census counts, dasymetric when
      ``buildings`` is given;
    - a GeoParquet written by ``DemandGrid.save`` (or a DemandGrid) → returned as it is.

    Args:
        crs: metric CRS of the grid (default: the source's UTM zone).
        cell_m: cell size in metres (10 m–5 km; 50–1000 m recommended).
        area: study area to clip to (file, GeoDataFrame, or polygon in ``crs``).
        age_shares: applied when the source has no ages: a region key of
            ``age_structure.toml`` (default Shanxi, 7th census), a mapping group → share, or
            None for no age columns.
        pattern: filename pattern of an age/sex stack (``{age}``, ``{sex}``, ``*``).
        column: population column of a census layer.
        buildings: buildings (OSM file or layer) for dasymetric census weighting.
        building_use: which buildings are homes: ``residential``, ``all`` or ``auto`` (see
            :func:`planner.io.buildings.residential_floor_area`).
        building_defaults: floor area per person and default levels.
        total: calibrate the grid (after clipping) to this many people.
        districts: calibrate to per-district totals: polygons (file or GeoDataFrame) with a
            population column (``districts_column``, else found by name).
        groups: age groups (column → (first, last) age in years, None = open) for stacks.
    """
    if total is not None and districts is not None:
        raise InputError("Give either one population total or district totals, not both.")
    shares, shares_source = _shares(age_shares)
    grid = _load(source, _Reading(crs, cell_m, area, shares, shares_source, pattern, column,
                                  buildings, building_use, building_defaults, groups))
    if total is not None:
        return calibrate_total(grid, total)
    if districts is not None:
        table = read_layer(districts, "districts")
        check_lonlat(table, "districts layer")
        col = census_column(table, districts_column,
                            "districts_column (CLI: --districts-column)")
        names = next((table[c].astype(str).tolist() for c in ("name", "名称", "NAME")
                      if c in table.columns), None)
        return calibrate_districts(grid, table.geometry, census_counts(table, col), names)
    return grid


@dataclass(frozen=True)
class _Reading:
    """How :func:`load_population` reads its source (its arguments, age shares resolved)."""

    crs: object | None
    cell_m: float
    area: object
    shares: dict[str, float] | None
    shares_source: str
    pattern: str | None
    column: str | None
    buildings: str | Path | gpd.GeoDataFrame | None
    building_use: BuildingUse
    building_defaults: BuildingDefaults | None
    groups: Mapping[str, tuple[int, int | None]]


def _load(source: str | Path | gpd.GeoDataFrame | DemandGrid, r: _Reading) -> DemandGrid:
    if isinstance(source, DemandGrid):
        return source
    if isinstance(source, gpd.GeoDataFrame):
        return _from_layer(source, "layer", r)
    path = Path(source)
    if not path.exists():
        raise InputError(f"Population source {path} does not exist; check the path.")
    if path.is_dir():
        return read_age_stack(path, pattern=r.pattern, crs=r.crs, cell_m=r.cell_m, area=r.area,
                              groups=r.groups)
    suffix = path.suffix.lower()
    if suffix in RASTER_SUFFIXES:
        return read_raster(path, crs=r.crs, cell_m=r.cell_m, area=r.area, age_shares=r.shares,
                           shares_source=r.shares_source)
    if osm_format(path) is not None:
        return _buildings(path, r)
    if suffix in (".parquet", ".geoparquet"):
        import pyarrow.parquet as pq

        if b"planner_demand" in (pq.read_schema(path).metadata or {}):
            return DemandGrid.load(path)
    if suffix in VECTOR_SUFFIXES:
        return _from_layer(read_layer(path, "population"), str(path), r)
    raise InputError(
        f"Cannot tell what population source {path.name} is. Give a raster "
        f"({', '.join(RASTER_SUFFIXES)}), a directory of age/sex rasters, OSM data (.osm, "
        f".osm.xml, .osm.bz2, .osm.pbf), or a census/building layer "
        f"({', '.join(VECTOR_SUFFIXES)})."
    )


def _buildings(source: str | Path | gpd.GeoDataFrame, r: _Reading) -> DemandGrid:
    return read_buildings_population(source, crs=r.crs, cell_m=r.cell_m, area=r.area,
                                     defaults=r.building_defaults, use=r.building_use,
                                     age_shares=r.shares, shares_source=r.shares_source)


def _from_layer(frame: gpd.GeoDataFrame, name: str, r: _Reading) -> DemandGrid:
    has_count = r.column is not None or any(
        str(c).lower() in CENSUS_COLUMNS for c in frame.columns)
    if has_count:
        grid = read_census(frame, crs=r.crs, cell_m=r.cell_m, area=r.area, column=r.column,
                           buildings=r.buildings, building_defaults=r.building_defaults,
                           building_use=r.building_use, age_shares=r.shares,
                           shares_source=r.shares_source)
    elif "building" in frame.columns or "other_tags" in frame.columns:
        grid = _buildings(frame, r)
    else:
        census_column(frame)  # raises, listing the columns
    grid.meta["source"] = name
    return grid
