"""The study area and grid CRS shared by every population reader: the area as one polygon in
the grid CRS, the default UTM zone, and the last step of every reader (clip to the area, add
age groups, refuse an empty grid).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import pyproj
import shapely
from shapely.geometry import box as shapely_box

from planner.demand import AGE_GROUPS, DemandGrid, apply_age_shares, clip_grid
from planner.errors import CRSError, InputError, NoPeopleError
from planner.network import check_crs


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


#: Padding (degrees, about 1 km) of an OSM read box around a study area, so that features whose
#: centre lies inside but some of whose nodes lie outside are read whole.
OSM_READ_PAD_DEG = 0.01


def lonlat_box(bounds: Sequence[float], crs: object, pad_deg: float = 0.0) -> list[float]:
    """(west, south, east, north) in degrees around metric ``bounds`` in ``crs`` (edges
    densified, so the box holds them all), widened by ``pad_deg``."""
    to_lonlat = pyproj.Transformer.from_crs(crs, 4326, always_xy=True)
    w, s, e, n = to_lonlat.transform_bounds(*bounds, densify_pts=21)
    return [float(w - pad_deg), float(s - pad_deg), float(e + pad_deg), float(n + pad_deg)]


def lonlat_extent(bounds: Sequence[float], crs: object) -> str:
    tr = pyproj.Transformer.from_crs(crs, 4326, always_xy=True)
    x0, y0, x1, y1 = tr.transform_bounds(*bounds)
    return f"lon {x0:.4f}–{x1:.4f}, lat {y0:.4f}–{y1:.4f}"


def utm_for(bounds: Sequence[float], crs: object) -> pyproj.CRS:
    box = gpd.GeoSeries([shapely_box(*bounds)], crs=crs)
    return box.estimate_utm_crs()


def default_crs(area: object, bounds: Sequence[float], crs: object) -> pyproj.CRS:
    """The UTM zone of the study area when it is a layer, else of the data's bounds."""
    if isinstance(area, shapely.Geometry):
        raise CRSError(
            "A plain polygon study area is taken in the grid CRS, so name that CRS (crs=…), or "
            "pass the area as a GeoDataFrame/file with its own CRS."
        )
    if area is not None:
        geom = read_area(area, pyproj.CRS.from_epsg(4326))
        return utm_for(geom.bounds, 4326)
    return utm_for(bounds, crs)


def finish_grid(
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
        raise NoPeopleError(
            "No cell holds any people after reading and clipping; check that the source and "
            "the study area cover the same place."
        )
    return grid
