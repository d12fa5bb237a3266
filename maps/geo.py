"""Geometry for the web map: dissolve, simplify, WGS-84 (or GCJ-02 for Amap), round, GeoJSON."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.errors import CRSError
from planner.io.coords import wgs84_to_gcj02

#: Decimal places of longitude/latitude in the page (1e-5° ≈ 1 m).
DECIMALS = 5


def to_map_coords(
    geoms: gpd.GeoSeries, *, gcj02: bool = False, simplify_m: float = 0.0
) -> np.ndarray:
    """Geometries as lon/lat arrays for Leaflet: simplified by ``simplify_m`` metres (in a
    projected CRS), reprojected to WGS-84, shifted to GCJ-02 for Amap tiles when asked, and
    rounded to :data:`DECIMALS` places."""
    if geoms.crs is None:
        raise CRSError(
            "A map layer has no CRS; set it (e.g. .set_crs('EPSG:4326')) before drawing it."
        )
    if simplify_m > 0 and geoms.crs.is_projected:
        geoms = geoms.simplify(simplify_m, preserve_topology=True)
    lonlat = geoms.to_crs(4326).values

    def convert(xy: np.ndarray) -> np.ndarray:
        if gcj02:
            lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
            xy = np.column_stack([lon, lat])
        return np.round(xy, DECIMALS)

    return shapely.transform(np.asarray(lonlat), convert)


def feature_collection(geoms: np.ndarray, properties: pd.DataFrame | None = None) -> dict:
    """A GeoJSON FeatureCollection of lon/lat geometries with per-feature properties."""
    props = (
        properties.to_dict(orient="records") if properties is not None else [{}] * len(geoms)
    )
    features = [
        {"type": "Feature", "geometry": json.loads(g), "properties": p}
        for g, p in zip(shapely.to_geojson(geoms), props, strict=True)
        if g is not None
    ]
    return {"type": "FeatureCollection", "features": features}


def dissolve_by(
    cells: gpd.GeoDataFrame, labels: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, gpd.GeoSeries, np.ndarray]:
    """Union grid cells sharing a label: (labels present, merged geometries, summed weights)."""
    present = np.unique(labels)
    geoms = [shapely.coverage_union_all(cells.geometry.values[labels == v]) for v in present]
    sums = np.array([weights[labels == v].sum() for v in present])
    return present, gpd.GeoSeries(geoms, crs=cells.crs), sums


def street_lines(
    edge_geoms: np.ndarray, crs: object, box: tuple[float, float, float, float]
) -> gpd.GeoSeries:
    """Network edges inside ``box`` (x0, y0, x1, y1 in the network CRS) merged into long lines
    (one feature), for the no-tiles basemap."""
    inside = shapely.intersects(edge_geoms, shapely.box(*box))
    merged = shapely.line_merge(shapely.multilinestrings(edge_geoms[inside]))
    return gpd.GeoSeries([merged], crs=crs)


def without_holes(geoms: gpd.GeoSeries) -> gpd.GeoSeries:
    """Polygons with their interior rings dropped (isochrone outlines read better so)."""
    parts = geoms.explode(index_parts=False)
    shells = gpd.GeoSeries(
        shapely.polygons(shapely.get_exterior_ring(parts.values)), index=parts.index, crs=geoms.crs
    )
    return shells.groupby(level=0).agg(shapely.union_all).set_crs(geoms.crs, allow_override=True)


def bounds_latlon(geoms: np.ndarray) -> list[list[float]]:
    """[[south, west], [north, east]] of lon/lat geometries (Leaflet's fitBounds order)."""
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    return [[float(y0), float(x0)], [float(y1), float(x1)]]
