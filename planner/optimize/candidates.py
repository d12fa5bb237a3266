"""Candidate sites: a user layer, points along the walk network, and the existing facilities."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.errors import CRSError, InputError
from planner.facilities import FACILITY_COLUMNS as SITE_COLUMNS
from planner.network import WalkNetwork


def network_candidates(
    network: WalkNetwork,
    *,
    spacing_m: float = 100.0,
    study_area: object | None = None,
    category: str | None = None,
) -> gpd.GeoDataFrame:
    """Candidate points along the walk network, one every ``spacing_m`` metres of street.

    Points sit at ``spacing_m/2, 3·spacing_m/2, …`` along the edges taken end to end, so the
    count is total length / spacing whatever the edge lengths. Points outside ``study_area`` (a
    shapely polygon or a GeoSeries/GeoDataFrame in the network CRS) are dropped.
    """
    if not np.isfinite(spacing_m) or spacing_m <= 0:
        raise InputError(f"spacing_m must be a distance in metres > 0, not {spacing_m!r}.")
    length = network.edge_length
    ends = np.cumsum(length)
    total = float(ends[-1]) if len(ends) else 0.0
    at = np.arange(spacing_m / 2, total, spacing_m)
    edge = np.minimum(np.searchsorted(ends, at, side="right"), len(length) - 1)
    offset = at - (ends[edge] - length[edge])
    t = np.clip(offset / length[edge], 0.0, 1.0)[:, None]
    xy = network.node_xy[network.edge_u[edge]] * (1 - t) + network.node_xy[network.edge_v[edge]] * t
    if study_area is not None:
        inside = shapely.contains_xy(_area(study_area, network), xy[:, 0], xy[:, 1])
        xy = xy[inside]
    n = len(xy)
    return gpd.GeoDataFrame(
        {
            "id": [f"net-{i}" for i in range(n)],
            "name": [None] * n,
            "category": [category] * n,
            "capacity": np.full(n, np.nan),
            "cost": np.full(n, np.nan),
            "status": ["candidate"] * n,
            "source": ["network"] * n,
        },
        geometry=shapely.points(xy),
        crs=network.crs,
    )


def _area(study_area: object, network: WalkNetwork):
    if isinstance(study_area, gpd.GeoDataFrame | gpd.GeoSeries):
        if study_area.crs is None:
            raise CRSError("The study area has no CRS; set it (e.g. .set_crs('EPSG:4326')).")
        return shapely.union_all(study_area.to_crs(network.crs).geometry.values)
    if isinstance(study_area, shapely.Geometry):
        return study_area
    raise InputError(
        "study_area must be a shapely polygon in the network CRS or a GeoDataFrame/GeoSeries; "
        f"got {type(study_area).__name__}."
    )


def candidate_sites(
    *,
    network: WalkNetwork | None = None,
    user_sites: gpd.GeoDataFrame | None = None,
    facilities: gpd.GeoDataFrame | None = None,
    category: str | None = None,
    spacing_m: float = 100.0,
    study_area: object | None = None,
) -> gpd.GeoDataFrame:
    """The site table for one category: existing facilities of ``category`` (their own
    status kept), then the user's candidate layer, then generated network candidates
    (when ``network`` is given), all in the network CRS with the facility columns.
    """
    parts = []
    crs = network.crs if network is not None else None
    for layer, default_status, source in (
        (facilities, "existing", "facilities"),
        (user_sites, "candidate", "user"),
    ):
        if layer is None:
            continue
        if layer.crs is None:
            raise CRSError(f"The {source} layer has no CRS; set it before building candidates.")
        crs = crs or layer.crs
        df = layer.to_crs(crs).copy()
        if source == "facilities" and category is not None and "category" in df.columns:
            df = df[df["category"] == category]
        if study_area is not None and network is not None and source == "user":
            df = df[shapely.contains_xy(_area(study_area, network), df.geometry.x, df.geometry.y)]
        df = df.assign(
            status=df["status"] if "status" in df.columns else default_status,
            source=df["source"] if "source" in df.columns else source,
            category=category if category is not None else df.get("category"),
        )
        for col in SITE_COLUMNS:
            if col not in df.columns:
                df[col] = np.nan if col in ("capacity", "cost") else None
        ids = df["id"].astype(object)
        df["id"] = ids.where(ids.notna(), pd.Series([f"{source}-{i}" for i in range(len(df))],
                                                    index=df.index))
        parts.append(df[[*SITE_COLUMNS, "geometry"]])
    if network is not None:
        parts.append(network_candidates(network, spacing_m=spacing_m, study_area=study_area,
                                        category=category))
    if not parts:
        raise InputError(
            "No sites: give a walk network (for generated candidates), a candidate layer, or "
            "existing facilities."
        )
    out = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=crs)
    pt = shapely.get_type_id(out.geometry.values) == 0
    if not pt.all():
        raise InputError(
            f"{int((~pt).sum())} sites are not points; give candidate sites as points (use "
            "representative_point() for parcels or buildings)."
        )
    return out
