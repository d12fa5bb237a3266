"""Population sources → DemandGrid: rasters (one total raster or a WorldPop age/sex stack),
census counts by polygon, and buildings.

Every reader leaves io/ with a :class:`planner.demand.DemandGrid` in one metric CRS whose cells
are aligned to multiples of the cell size, so grids from different sources line up. People move
into cells by exact overlap areas, so totals are preserved; anomalies (nodata, negative values,
missing age bands, untagged buildings) are written to ``grid.notes``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from shapely.geometry import box as shapely_box

from planner.crs import require_metric_crs
from planner.demand import (
    AGE_GROUPS,
    DEFAULT_CELL_M,
    GRID_CRS,
    DemandGrid,
    apply_age_shares,
    check_cell_size,
    clip_grid,
    geometry_cell_areas,
    grid_from_cells,
    polygon_cell_fractions,
)
from planner.errors import CRSError, InputError
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
from planner.network import check_crs
from planner.paths import STANDARDS_DIR

RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".img")
VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb", ".parquet", ".geoparquet")
#: Start ages of WorldPop's age bands (0 = under 1, 1 = 1–4, then 5-year bands, 80 = 80+).
WORLDPOP_BAND_STARTS = (0, 1, *range(5, 85, 5))
#: Filename patterns tried for an age/sex stack: ``{age}`` and ``{sex}`` mark the fields,
#: ``*`` matches anything (WorldPop's ``chn_f_60_2020.tif`` and the ``pop_60_f_wuhan.tif`` layout).
DEFAULT_STACK_PATTERNS = ("pop_{age}_{sex}_*.tif", "*_{sex}_{age}_*.tif")
#: Raster cells read at most in one call (a country-wide raster needs a study area).
MAX_RASTER_CELLS = 50_000_000
#: Column names taken as the population count of a census table (case-insensitive).
CENSUS_COLUMNS = ("total", "population", "pop", "常住人口", "人口", "人口数", "总人口")


# --- settings ----------------------------------------------------------------------------------


def load_age_shares(region: str = "shanxi", path: str | Path | None = None) -> dict[str, float]:
    """Age-group shares (0–1 of the total) of a region in ``data/standards/age_structure.toml``."""
    table = read_settings(path or STANDARDS_DIR / "age_structure.toml")
    if region not in table:
        raise InputError(
            f"No age structure for region {region!r}; known regions: {sorted(table)}. "
            "Add it to age_structure.toml or give the shares directly."
        )
    return {k: float(v["share"]) for k, v in table[region]["shares"].items()}


# --- study area ----------------------------------------------------------------------------------


def _layer_union(gdf: gpd.GeoDataFrame | gpd.GeoSeries, crs: pyproj.CRS, what: str):
    frame = gdf if isinstance(gdf, gpd.GeoDataFrame) else gpd.GeoDataFrame(geometry=gdf)
    check_crs(frame, what)
    geom = shapely.union_all(frame.to_crs(crs).geometry.values)
    if geom.is_empty or shapely.area(geom) <= 0:
        raise InputError(f"The {what} holds no polygon with an area; give a boundary polygon.")
    return shapely.make_valid(geom)


def read_area(area: object, crs: pyproj.CRS) -> shapely.Geometry | None:
    """A study area as one polygon in ``crs``: a file, a GeoDataFrame/GeoSeries (any CRS), or a
    shapely polygon already in ``crs`` (metres)."""
    if area is None:
        return None
    if isinstance(area, (str, Path)):
        path = Path(area)
        if not path.is_file():
            raise InputError(f"Study-area file {path} does not exist; check the path.")
        try:
            frame = gpd.read_file(path)
        except Exception as exc:  # pyogrio raises several types for unreadable files
            raise InputError(f"Cannot read the study area {path}: {exc}.") from exc
        return _layer_union(frame, crs, f"study area {path.name}")
    if isinstance(area, (gpd.GeoDataFrame, gpd.GeoSeries)):
        return _layer_union(area, crs, "study area")
    if isinstance(area, shapely.Geometry):
        x0, y0, x1, y1 = area.bounds
        if -180 <= x0 and x1 <= 180 and -90 <= y0 and y1 <= 90:
            raise CRSError(
                f"The study-area polygon ({x0:.4f}, {y0:.4f}) – ({x1:.4f}, {y1:.4f}) looks like "
                f"degrees but plain geometries are taken in the grid CRS ({crs.to_string()}). "
                "Pass it as gpd.GeoSeries([polygon], crs='EPSG:4326')."
            )
        return _layer_union(gpd.GeoSeries([area], crs=crs), crs, "study area")
    raise InputError(
        f"Cannot use a {type(area).__name__} as a study area; give a file path, a GeoDataFrame "
        "or a shapely polygon."
    )


def _lonlat_extent(bounds: Sequence[float], crs: object) -> str:
    tr = pyproj.Transformer.from_crs(crs, 4326, always_xy=True)
    x0, y0, x1, y1 = tr.transform_bounds(*bounds)
    return f"lon {x0:.4f}–{x1:.4f}, lat {y0:.4f}–{y1:.4f}"


def _utm_for(bounds: Sequence[float], crs: object) -> pyproj.CRS:
    box = gpd.GeoSeries([shapely_box(*bounds)], crs=crs)
    return box.estimate_utm_crs()


def _default_crs(area: object, bounds: Sequence[float], crs: object) -> pyproj.CRS:
    """The UTM zone of the study area when it is a layer, else of the data's bounds."""
    if isinstance(area, shapely.Geometry):
        raise CRSError(
            "A plain polygon study area is taken in the grid CRS, so name that CRS (crs=…), or "
            "pass the area as a GeoDataFrame/file with its own CRS."
        )
    if area is not None:
        geom = read_area(area, pyproj.CRS.from_epsg(4326))
        return _utm_for(geom.bounds, 4326)
    return _utm_for(bounds, crs)


def _finish(
    grid: DemandGrid, area: shapely.Geometry | None, age_shares: Mapping[str, float] | None,
    shares_source: str,
) -> DemandGrid:
    if area is not None:
        before = float(grid.cells["total"].sum())
        grid = clip_grid(grid, area)
        grid.meta["unclipped_total"] = before
    grid.meta["grid_total"] = float(grid.cells["total"].sum())
    if age_shares and not any(g in grid.cells.columns for g in AGE_GROUPS):
        grid = apply_age_shares(grid, age_shares, source=shares_source)
    if len(grid) == 0:
        raise InputError(
            "No cell holds any people after reading and clipping; check that the source and "
            "the study area cover the same place."
        )
    return grid


# --- rasters -------------------------------------------------------------------------------------


def _open_rasters(paths: Sequence[Path]):
    import rasterio

    datasets = []
    try:
        for path in paths:
            try:
                datasets.append(rasterio.open(path))
            except rasterio.errors.RasterioIOError as exc:
                raise InputError(f"Cannot read raster {path}: {exc}. Is it a GeoTIFF?") from exc
        first = datasets[0]
        for ds, path in zip(datasets, paths, strict=True):
            if ds.crs is None:
                raise CRSError(
                    f"Raster {path} has no CRS. Assign the one it was made in, e.g. "
                    f"`gdal_edit.py -a_srs EPSG:4326 {Path(path).name}` for WorldPop."
                )
            if (ds.crs, ds.transform, ds.shape) != (first.crs, first.transform, first.shape):
                raise InputError(
                    f"Raster {path} is not on the same grid as {paths[0]} (CRS, cell size, extent "
                    "must match); resample the stack to one grid first."
                )
    except Exception:
        for ds in datasets:
            ds.close()
        raise
    return datasets


def _window(ds, area: shapely.Geometry | None, crs: pyproj.CRS) -> tuple[int, int, int, int]:
    """(row0, row1, col0, col1) of the raster cells to read (whole raster without an area)."""
    from rasterio.warp import transform_bounds

    height, width = ds.shape
    if area is None or not ds.transform.is_rectilinear:
        return 0, height, 0, width
    b = transform_bounds(crs, ds.crs, *area.bounds, densify_pts=21)
    inv = ~ds.transform
    cols, rows = zip(*(inv * (x, y) for x in (b[0], b[2]) for y in (b[1], b[3])), strict=True)
    r0, r1 = max(int(np.floor(min(rows))), 0), min(int(np.ceil(max(rows))), height)
    c0, c1 = max(int(np.floor(min(cols))), 0), min(int(np.ceil(max(cols))), width)
    if r0 >= r1 or c0 >= c1:
        raise InputError(
            f"The study area ({_lonlat_extent(area.bounds, crs)}) does not overlap the raster "
            f"({_lonlat_extent(tuple(ds.bounds), ds.crs)}). Use a boundary of the place the "
            "raster covers, or the raster of the study area's country."
        )
    return r0, r1, c0, c1


def _clean(block: np.ndarray, nodata: float | None, stats: dict[str, float]) -> np.ndarray:
    """People per cell with nodata, NaN, ±inf and negative values set to 0 (counted)."""
    keep = (block > 0) & np.isfinite(block)
    if nodata is not None and nodata > 0:
        keep &= block != nodata
    if keep.all():
        return block
    bad = ~np.isfinite(block)
    if nodata is not None:
        bad |= block == nodata
    neg = (block < 0) & ~bad
    stats["nodata_cells"] += int(np.count_nonzero(bad))
    n_neg = int(np.count_nonzero(neg))
    if n_neg:
        stats["negative_cells"] += n_neg
        stats["negative_people"] += float(block[neg].sum(dtype=np.float64))
    return np.where(keep, block, 0)


def regrid_rasters(
    paths: Sequence[str | Path],
    weights: Mapping[str, Sequence[float]],
    *,
    crs: object | None = None,
    cell_m: float = DEFAULT_CELL_M,
    area: object = None,
    block_rows: int = 256,
    source: str | None = None,
) -> DemandGrid:
    """Redistribute raster people counts onto a metric grid by exact overlap areas.

    Args:
        paths: rasters on one common grid (people per raster cell, any CRS).
        weights: column → one weight per raster; column value = Σ weight × raster. ``total``
            is required.
        crs: metric CRS of the grid (default: the UTM zone of the raster or study area).
        cell_m: grid cell size in metres.
        area: study area (see :func:`read_area`); only cells inside are kept, in proportion to
            their area inside.
        block_rows: raster rows processed at once (bounds memory).

    Each raster cell is projected by its four corners into the grid CRS and its people are split
    among the grid cells it overlaps in proportion to the exact overlap area, so the grid total
    equals the raster total (before clipping). Nodata, NaN and negative values count as 0 and
    are reported in ``grid.notes``.
    """
    cell_m = check_cell_size(cell_m)
    paths = [Path(p) for p in paths]
    if not paths or "total" not in weights:
        raise InputError("Give at least one raster and a 'total' weight per raster.")
    w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    datasets = _open_rasters(paths)
    try:
        first = datasets[0]
        bands = first.count
        if crs is None:
            crs = _default_crs(area, tuple(first.bounds), first.crs)
        crs = require_metric_crs(crs, GRID_CRS)
        geom = read_area(area, crs)
        r0, r1, c0, c1 = _window(first, geom, crs)
        if (r1 - r0) * (c1 - c0) > MAX_RASTER_CELLS:
            raise InputError(
                f"The raster area to read has {(r1 - r0) * (c1 - c0):,} cells (more than "
                f"{MAX_RASTER_CELLS:,}); give a study area (area=… / --area) to read only the "
                "part around the city."
            )
        stats = dict(nodata_cells=0, negative_cells=0, negative_people=0.0, source_values=0,
                     unprojected_cells=0, unprojected_people=0.0)
        source_sum = 0.0
        to_grid = pyproj.Transformer.from_crs(first.crs, crs, always_xy=True)
        parts: list[tuple[np.ndarray, ...]] = []
        for top in range(r0, r1, block_rows):
            bottom = min(top + block_rows, r1)
            win = ((top, bottom), (c0, c1))
            cols = {k: np.zeros((bottom - top, c1 - c0)) for k in w}
            for i, ds in enumerate(datasets):
                layer = _clean(ds.read(1, window=win), ds.nodata, stats)
                for k in w:
                    if w[k][i]:
                        cols[k] += w[k][i] * layer
            stats["source_values"] += layer.size * len(datasets)
            source_sum += float(cols["total"].sum())
            rr, cc = np.nonzero(cols["total"] > 0)
            if len(rr) == 0:
                continue
            # corners of the populated cells, each shared corner projected once
            width = c1 - c0 + 1
            ids = np.stack([rr * width + cc, rr * width + cc + 1,
                            (rr + 1) * width + cc + 1, (rr + 1) * width + cc], axis=1)
            uniq, inv = np.unique(ids, return_inverse=True)
            sx, sy = first.transform * (uniq % width + c0, uniq // width + top)
            gx, gy = to_grid.transform(sx, sy)
            quads = np.stack([gx[inv], gy[inv]], axis=-1).reshape(len(rr), 4, 2)
            finite = np.isfinite(quads).all(axis=(1, 2))
            stats["unprojected_cells"] += int((~finite).sum())
            stats["unprojected_people"] += float(cols["total"][rr[~finite], cc[~finite]].sum())
            src, ix, iy, frac = polygon_cell_fractions(quads[finite], cell_m)
            sel = (rr[finite][src], cc[finite][src])
            parts.append((ix, iy, *(cols[k][sel] * frac for k in w)))
    finally:
        for ds in datasets:
            ds.close()
    if source_sum <= 0:
        raise InputError(
            f"The raster holds no people in the area read ({stats['nodata_cells']:,} of "
            f"{stats['source_values']:,} raster values are nodata, the rest zero or negative). "
            "Check the file, its nodata value and the study area."
        )
    ix, iy, *vals = (np.concatenate(a) for a in zip(*parts, strict=True))
    notes = _raster_notes(stats)
    if bands > 1:
        notes.append(f"The raster has {bands} bands; band 1 is read as people per cell.")
    meta = {"source": source or ", ".join(p.name for p in paths[:3]) + ("…" if len(paths) > 3 else ""),
            "notes": notes, "source_total": source_sum, **stats}
    grid = grid_from_cells(ix, iy, dict(zip(w, vals, strict=True)), cell_m=cell_m, crs=crs, meta=meta)
    return _finish(grid, geom, None, "")


def _raster_notes(stats: dict[str, float]) -> list[str]:
    notes = []
    if stats["nodata_cells"]:
        notes.append(f"{stats['nodata_cells']:,} raster values (cells × layers) are nodata/NaN "
                     "and count as 0 people.")
    if stats["negative_cells"]:
        notes.append(
            f"{stats['negative_cells']:,} raster values (cells × layers) are negative (sum "
            f"{stats['negative_people']:.1f}); they count as 0 people."
        )
    if stats["unprojected_cells"]:
        notes.append(
            f"{stats['unprojected_cells']:,} raster cells ({stats['unprojected_people']:,.0f} "
            "people) fall outside the grid CRS's valid area and are left out; choose a CRS "
            "that covers the whole study area (e.g. its UTM zone)."
        )
    return notes


def read_raster(
    path: str | Path, *, crs: object | None = None, cell_m: float = DEFAULT_CELL_M,
    area: object = None, age_shares: Mapping[str, float] | None = None,
    shares_source: str = "age shares",
) -> DemandGrid:
    """One population raster (people per cell, e.g. WorldPop ``chn_ppp_2020``) → DemandGrid."""
    path = Path(path)
    grid = regrid_rasters([path], {"total": [1.0]}, crs=crs, cell_m=cell_m, area=area,
                          source=str(path))
    return _finish(grid, None, age_shares, shares_source)


# --- WorldPop age/sex stacks ----------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern:
    parts = re.split(r"(\{age\}|\{sex\}|\*)", pattern)
    table = {"{age}": r"(?P<age>\d+)", "{sex}": r"(?P<sex>[a-zA-Z]+)", "*": ".*"}
    return re.compile("^" + "".join(table.get(p, re.escape(p)) for p in parts) + "$")


def find_age_stack(
    directory: str | Path, pattern: str | None = None
) -> dict[int, dict[str, Path]]:
    """Rasters of an age/sex stack: start age → sex → path, matched by a filename pattern.

    ``pattern`` marks the fields with ``{age}`` and ``{sex}`` and wildcards with ``*``
    (default: the layouts in ``DEFAULT_STACK_PATTERNS``).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory} is not a directory of age/sex rasters; check the path.")
    names = sorted(p.name for p in directory.iterdir() if p.is_file())
    for pat in [pattern] if pattern else DEFAULT_STACK_PATTERNS:
        if "{age}" not in pat:
            raise InputError(f"The stack pattern {pat!r} needs an {{age}} field, e.g. "
                             "'pop_{age}_{sex}_wuhan.tif'.")
        rx = _pattern_regex(pat)
        stack: dict[int, dict[str, Path]] = {}
        for name in names:
            m = rx.match(name)
            if m:
                sex = m.groupdict().get("sex") or "all"
                stack.setdefault(int(m["age"]), {})[sex.lower()] = directory / name
        if stack:
            sexes = {frozenset(v) for v in stack.values()}
            if len(sexes) > 1:
                raise InputError(
                    f"The stack in {directory} is incomplete: age bands have different sex "
                    f"layers ({[sorted(s) for s in sexes]}). Add the missing files."
                )
            return dict(sorted(stack.items()))
    raise InputError(
        f"No file in {directory} matches the age/sex pattern "
        f"{pattern or ' or '.join(DEFAULT_STACK_PATTERNS)} (files: {names[:4]}…). Give the "
        "pattern of your files, e.g. --pattern 'chn_{sex}_{age}_2020.tif'."
    )


def age_band_weights(
    starts: Sequence[int], groups: Mapping[str, tuple[int, int | None]] = AGE_GROUPS
) -> tuple[dict[str, dict[int, float]], list[str]]:
    """Weight of each age band in each age group, and notes on what cannot be computed.

    Bands run from their start age to the next start age (WorldPop's layout fills the gaps
    between given starts); the last band is open-ended. A band only partly inside a group
    counts in proportion to its years inside, assuming people are spread evenly over the years
    of a band. Groups needing a band the source lacks are left out.
    """
    present = sorted(set(starts))
    edges = sorted(set(WORLDPOP_BAND_STARTS) | set(present))
    end = {s: (edges[i + 1] - 1 if i + 1 < len(edges) else None) for i, s in enumerate(edges)}
    weights: dict[str, dict[int, float]] = {}
    notes: list[str] = []
    missing_groups: list[str] = []
    for group, (lo, hi) in groups.items():
        needed = [s for s in edges if (hi is None or s <= hi) and (end[s] is None or end[s] >= lo)]
        open_partial = hi is not None and end[needed[-1]] is None if needed else False
        if not needed or any(s not in present for s in needed) or open_partial:
            missing_groups.append(group)
            continue
        weights[group] = {}
        for s in needed:
            e = end[s]
            top = hi if e is None else (e if hi is None else min(e, hi))
            share = 1.0 if e is None else (top - max(s, lo) + 1) / (e - s + 1)
            weights[group][s] = share
            if share < 1.0:
                notes.append(
                    f"{group} takes {top - max(s, lo) + 1} of the {e - s + 1} years of the "
                    f"{s}–{e} band, assuming ages are spread evenly within a band."
                )
    if missing_groups:
        notes.append(
            f"{', '.join(missing_groups)} {'is' if len(missing_groups) == 1 else 'are'} not in "
            f"the grid: the source has no bands for some of those ages (bands present start at "
            f"{present}); they are not invented."
        )
    if present and present[0] > 0:
        notes.append(
            f"'total' counts only people aged {present[0]} and over: the source has no bands "
            f"for ages 0–{present[0] - 1}."
        )
    return weights, notes


def read_age_stack(
    directory: str | Path, *, pattern: str | None = None, crs: object | None = None,
    cell_m: float = DEFAULT_CELL_M, area: object = None,
    groups: Mapping[str, tuple[int, int | None]] = AGE_GROUPS, block_rows: int = 256,
) -> DemandGrid:
    """A WorldPop-style age/sex stack (one raster per age band and sex) → DemandGrid with
    ``total`` (all bands present) and every group the bands cover."""
    stack = find_age_stack(directory, pattern)
    starts = list(stack)
    band_w, notes = age_band_weights(starts, groups)
    paths, ages = [], []
    for age, by_sex in stack.items():
        for sex in sorted(by_sex):
            paths.append(by_sex[sex])
            ages.append(age)
    weights = {"total": [1.0] * len(paths)}
    weights.update({g: [bw.get(a, 0.0) for a in ages] for g, bw in band_w.items()})
    grid = regrid_rasters(paths, weights, crs=crs, cell_m=cell_m, area=area,
                          block_rows=block_rows, source=f"{directory} ({len(paths)} rasters)")
    grid.meta["notes"] = notes + grid.meta["notes"]
    grid.meta["age_bands"] = starts
    grid.meta["derived"] = {g: "sum of age bands" for g in band_w}
    return grid


# --- census counts by polygon ---------------------------------------------------------------------


def census_column(table: pd.DataFrame, column: str | None = None,
                  how: str = "population_column (CLI: --column)") -> str:
    """The population-count column of a census table (given, or found by common names);
    ``how`` names the option that gives it, for the error."""
    if column is not None:
        if column not in table.columns:
            raise InputError(
                f"The census layer has no column {column!r}; its columns are "
                f"{[c for c in table.columns if c != 'geometry']}."
            )
        return column
    lower = {str(c).lower(): c for c in table.columns}
    for name in CENSUS_COLUMNS:
        if name in lower:
            return lower[name]
    raise InputError(
        "The census layer has no population column (looked for "
        f"{', '.join(CENSUS_COLUMNS)}); its columns are "
        f"{[c for c in table.columns if c != 'geometry']}. Name it with {how}."
    )


def _counts(table: pd.DataFrame, column: str) -> np.ndarray:
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        rows = list(table.index[bad][:5])
        raise InputError(f"Census column {column!r} is empty or not a number in rows {rows}; "
                         "fill in the counts (0 for no residents).")
    if (values < 0).any():
        rows = list(table.index[values < 0][:5])
        raise InputError(f"Census column {column!r} has negative counts in rows {rows}; "
                         "people cannot be negative — fix those rows.")
    return values


def disaggregate(
    polygons: np.ndarray,
    counts: np.ndarray,
    cell_m: float,
    *,
    building_geoms: np.ndarray | None = None,
    building_floor_m2: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split counts of polygons (metric CRS) over grid cells.

    Areal weighting: a polygon's people follow its area. Dasymetric (when buildings are given):
    they follow the residential floor area of the buildings whose representative point lies in
    the polygon (a building's floor area split over cells by footprint area); polygons without
    such buildings fall back to areal weighting.

    Args:
        polygons: (n,) polygons; counts: (n, k) people per polygon and column.

    Returns:
        (polygon index, ix, iy, people (m, k), polygons that fell back to areal weighting).
        Each polygon's people sum exactly to its counts.
    """
    counts = np.asarray(counts, dtype=np.float64).reshape(len(polygons), -1)
    pi, ix, iy, weight = geometry_cell_areas(polygons, cell_m)
    fallback = np.zeros(0, np.int64)
    if building_geoms is not None and len(building_geoms):
        bi, bx, by, barea = geometry_cell_areas(building_geoms, cell_m)
        foot = np.bincount(bi, weights=barea, minlength=len(building_geoms))
        tree = shapely.STRtree(polygons)
        pts, owner = tree.query(shapely.point_on_surface(building_geoms), predicate="within")
        poly_of = np.full(len(building_geoms), -1)
        poly_of[pts[::-1]] = owner[::-1]  # first polygon wins when polygons overlap
        use = poly_of[bi] >= 0
        floor = building_floor_m2[bi[use]] * barea[use] / foot[bi[use]]
        has = np.bincount(poly_of[bi[use]], weights=floor, minlength=len(polygons)) > 0
        areal = ~has[pi]
        fallback = np.flatnonzero(~has & (counts.sum(axis=1) > 0))
        pi = np.concatenate([poly_of[bi[use]], pi[areal]])
        ix = np.concatenate([bx[use], ix[areal]])
        iy = np.concatenate([by[use], iy[areal]])
        weight = np.concatenate([floor, weight[areal]])
    total_w = np.bincount(pi, weights=weight, minlength=len(polygons))
    lost = (total_w <= 0) & (counts.sum(axis=1) > 0)
    if lost.any():
        raise InputError(
            f"{int(lost.sum())} census polygons with people have no area (e.g. row "
            f"{int(np.flatnonzero(lost)[0])}); fix or drop those geometries."
        )
    share = weight / total_w[pi]
    return pi, ix, iy, counts[pi] * share[:, None], fallback


def read_census(
    source: str | Path | gpd.GeoDataFrame, *, crs: object | None = None,
    cell_m: float = DEFAULT_CELL_M, area: object = None, column: str | None = None,
    buildings: str | Path | gpd.GeoDataFrame | None = None,
    building_defaults: BuildingDefaults | None = None, building_use: BuildingUse = "auto",
    age_shares: Mapping[str, float] | None = None, shares_source: str = "age shares",
) -> DemandGrid:
    """Census counts by polygon (e.g. 社区/街道 from the 7th census) → DemandGrid.

    The count column is ``column`` or the first of ``CENSUS_COLUMNS`` found; group columns
    (``age_60_plus``…) present in the table are split the same way. With ``buildings`` the split
    is dasymetric by residential floor area, otherwise areal.
    """
    cell_m = check_cell_size(cell_m)
    table = read_layer(source, "census")
    name = source if isinstance(source, (str, Path)) else "census layer"
    check_lonlat(table, "census layer")
    col = census_column(table, column)
    groups = [g for g in AGE_GROUPS if g in table.columns]
    counts = np.stack([_counts(table, c) for c in [col, *groups]], axis=1)
    kinds = table.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    if not kinds.all():
        raise InputError(
            f"The census layer has {int((~kinds).sum())} non-polygon features (e.g. "
            f"{table.geometry.geom_type[~kinds].iloc[0]}); census counts need area polygons."
        )
    crs = require_metric_crs(crs, GRID_CRS) if crs is not None else table.estimate_utm_crs()
    polys = shapely.make_valid(table.to_crs(crs).geometry.to_numpy())
    notes: list[str] = []
    overlap = float(shapely.area(polys).sum() - shapely.area(shapely.union_all(polys)))
    if overlap > 1e-3 * float(shapely.area(polys).sum()):
        notes.append(
            f"Census polygons overlap ({overlap / 1e6:.3f} km² counted twice); people in the "
            "overlaps come from more than one polygon. Check that the units do not nest "
            "(e.g. 街道 and 社区 in one layer)."
        )
    bgeoms = bfloor = None
    if buildings is not None:
        est = residential_floor_area(read_buildings(buildings), crs, building_defaults,
                                     building_use)
        bgeoms, bfloor = est.footprints, est.floor_m2
        notes += est.notes
    pi, ix, iy, people, fallback = disaggregate(
        polys, counts, cell_m, building_geoms=bgeoms, building_floor_m2=bfloor)
    if bgeoms is not None:
        method = "dasymetric (residential floor area)"
        if len(fallback):
            notes.append(
                f"{len(fallback)} census polygons hold no residential building; their people "
                f"are spread by area (rows {list(table.index[fallback][:5])}…)."
            )
    else:
        method = "areal weighting"
    meta = {"source": str(name), "notes": notes, "method": method,
            "source_total": float(counts[:, 0].sum()), "census_column": str(col),
            "derived": {g: f"census column {g}" for g in groups}}
    values = {"total": people[:, 0], **{g: people[:, i + 1] for i, g in enumerate(groups)}}
    grid = grid_from_cells(ix, iy, values, cell_m=cell_m, crs=crs, meta=meta)
    return _finish(grid, read_area(area, crs), age_shares, shares_source)


# --- buildings -----------------------------------------------------------------------------------


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
    frame = read_buildings(source)
    crs = require_metric_crs(crs, GRID_CRS) if crs is not None else frame.estimate_utm_crs()
    est = residential_floor_area(frame, crs, d, use)
    people = est.floor_m2 / d.m2_per_person
    bi, ix, iy, part = geometry_cell_areas(est.footprints, cell_m)
    share = part / np.bincount(bi, weights=part, minlength=len(est.footprints))[bi]
    name = source if isinstance(source, (str, Path)) else "building layer"
    notes = [*est.notes, f"Residents = residential floor area ÷ {d.m2_per_person:g} m² per "
             f"person: {people.sum():,.0f} people."]
    meta = {"source": str(name), "notes": notes, "method": "buildings",
            "source_total": float(people.sum()), "residential_buildings": len(est.footprints),
            "floor_area_m2": float(est.floor_m2.sum()),
            "buildings": {**est.info(), "m2_per_person": d.m2_per_person,
                          "people": float(people.sum())}}
    grid = grid_from_cells(ix, iy, {"total": people[bi] * share}, cell_m=cell_m, crs=crs, meta=meta)
    return _finish(grid, read_area(area, crs), age_shares, shares_source)


# --- one entry point ---------------------------------------------------------------------------


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
    grid = _load(source, crs, cell_m, area, age_shares, pattern, column, buildings,
                 building_use, building_defaults, groups)
    if total is not None:
        return calibrate_total(grid, total)
    if districts is not None:
        table = read_layer(districts, "districts")
        check_lonlat(table, "districts layer")
        col = census_column(table, districts_column,
                            "districts_column (CLI: --districts-column)")
        names = next((table[c].astype(str).tolist() for c in ("name", "名称", "NAME")
                      if c in table.columns), None)
        return calibrate_districts(grid, table.geometry, _counts(table, col), names)
    return grid


def _load(source, crs, cell_m, area, age_shares, pattern, column, buildings, building_use,
          building_defaults, groups) -> DemandGrid:
    if isinstance(source, DemandGrid):
        return source
    shares, shares_source = _shares(age_shares)
    if isinstance(source, gpd.GeoDataFrame):
        return _from_layer(source, "layer", crs, cell_m, area, shares, shares_source, column,
                           buildings, building_use, building_defaults)
    path = Path(source)
    if not path.exists():
        raise InputError(f"Population source {path} does not exist; check the path.")
    if path.is_dir():
        return read_age_stack(path, pattern=pattern, crs=crs, cell_m=cell_m, area=area,
                              groups=groups)
    suffix = path.suffix.lower()
    if suffix in RASTER_SUFFIXES:
        return read_raster(path, crs=crs, cell_m=cell_m, area=area, age_shares=shares,
                           shares_source=shares_source)
    if osm_format(path) is not None:
        return read_buildings_population(path, crs=crs, cell_m=cell_m, area=area,
                                         defaults=building_defaults, use=building_use,
                                         age_shares=shares, shares_source=shares_source)
    if suffix in (".parquet", ".geoparquet"):
        import pyarrow.parquet as pq

        if b"planner_demand" in (pq.read_schema(path).metadata or {}):
            return DemandGrid.load(path)
    if suffix in VECTOR_SUFFIXES:
        return _from_layer(read_layer(path, "population"), str(path), crs, cell_m, area,
                           shares, shares_source, column, buildings, building_use,
                           building_defaults)
    raise InputError(
        f"Cannot tell what population source {path.name} is. Give a raster "
        f"({', '.join(RASTER_SUFFIXES)}), a directory of age/sex rasters, OSM data (.osm, "
        f".osm.xml, .osm.bz2, .osm.pbf), or a census/building layer "
        f"({', '.join(VECTOR_SUFFIXES)})."
    )


def _from_layer(frame, name, crs, cell_m, area, shares, shares_source, column, buildings,
                building_use, building_defaults) -> DemandGrid:
    has_count = column is not None or any(
        str(c).lower() in CENSUS_COLUMNS for c in frame.columns)
    if has_count:
        grid = read_census(frame, crs=crs, cell_m=cell_m, area=area, column=column,
                           buildings=buildings, building_defaults=building_defaults,
                           building_use=building_use, age_shares=shares,
                           shares_source=shares_source)
    elif "building" in frame.columns or "other_tags" in frame.columns:
        grid = read_buildings_population(frame, crs=crs, cell_m=cell_m, area=area,
                                         defaults=building_defaults, use=building_use,
                                         age_shares=shares, shares_source=shares_source)
    else:
        census_column(frame)  # raises, listing the columns
    grid.meta["source"] = name
    return grid
