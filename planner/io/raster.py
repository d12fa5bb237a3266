"""Population rasters → DemandGrid: one total raster, or a WorldPop age/sex stack whose
bands are summed into age groups. Raster cells move into grid cells by the exact overlap of
their projected corners, so totals are preserved; nodata and negative values are noted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyproj
import shapely

from planner.crs import require_metric_crs
from planner.demand import (
    AGE_GROUPS,
    DEFAULT_CELL_M,
    GRID_CRS,
    DemandGrid,
    check_cell_size,
    grid_from_cells,
    polygon_cell_fractions,
)
from planner.errors import CRSError, InputError, NoPeopleError
from planner.io.area import default_crs, finish_grid, lonlat_extent, read_area

RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".img")

#: Start ages of WorldPop's age bands (0 = under 1, 1 = 1–4, then 5-year bands, 80 = 80+).
WORLDPOP_BAND_STARTS = (0, 1, *range(5, 85, 5))

#: Filename patterns tried for an age/sex stack: ``{age}`` and ``{sex}`` mark the fields,
#: ``*`` matches anything (WorldPop's ``chn_f_60_2020.tif`` and the ``pop_60_f_wuhan.tif`` layout).
DEFAULT_STACK_PATTERNS = ("pop_{age}_{sex}_*.tif", "*_{sex}_{age}_*.tif")

#: Raster cells read at most in one call (a country-wide raster needs a study area).
MAX_RASTER_CELLS = 50_000_000


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
        raise NoPeopleError(
            f"The study area ({lonlat_extent(area.bounds, crs)}) does not overlap the raster "
            f"({lonlat_extent(tuple(ds.bounds), ds.crs)}). Use a boundary of the place the "
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
            crs = default_crs(area, tuple(first.bounds), first.crs)
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
        raise NoPeopleError(
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
    return finish_grid(grid, geom, None, "")


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
    return finish_grid(grid, None, age_shares, shares_source)


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
