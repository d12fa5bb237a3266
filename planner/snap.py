"""Attach points (demand cells, facilities, candidate sites) to the nearest walkable edge.

A point is snapped to the nearest *edge*, not the nearest node: the walk from the point to the
network is the straight access leg to its projection on the edge, then the partial edge to
either end node. Points farther than ``max_access_m`` from every street are not snapped; they
are reported with their distance and the caller decides whether to drop them or count them as
unreachable.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import shapely

from planner.errors import CRSError, InputError
from planner.network import WalkNetwork

_TREES: weakref.WeakKeyDictionary[WalkNetwork, shapely.STRtree] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, eq=False)
class Snapped:
    """Where each point joins the network (all lengths in metres).

    Attributes:
        edge: (n,) index of the edge the point is snapped to, -1 when it is too far.
        offset_m: (n,) distance along the edge from ``edge_u`` to the projected point
            (NaN when not snapped).
        access_m: (n,) straight distance from the point to the nearest edge, also for points
            that are too far (that is how far they are).
        ok: (n,) True where the point is snapped (``access_m <= max_access_m``).
        max_access_m: the largest access leg allowed.
    """

    edge: np.ndarray
    offset_m: np.ndarray
    access_m: np.ndarray
    ok: np.ndarray
    max_access_m: float

    def __len__(self) -> int:
        return len(self.edge)

    @property
    def far(self) -> np.ndarray:
        """Indices of the points farther than ``max_access_m`` from every street."""
        return np.flatnonzero(~self.ok)

    def describe_far(self, limit: int = 5) -> str:
        """One line naming how many points are too far, the worst ones and what to do."""
        far = self.far
        if len(far) == 0:
            return "every point is within reach of a street"
        worst = far[np.argsort(-self.access_m[far])][:limit]
        listed = ", ".join(f"#{i} ({self.access_m[i]:.0f} m)" for i in worst)
        return (
            f"{len(far)} of {len(self)} points are farther than {self.max_access_m:g} m from "
            f"any walkable street (farthest: {listed}); check their coordinates and CRS, drop "
            "them, or raise max_access_m if the street layer is incomplete there"
        )


def points_xy(points: object, network: WalkNetwork, what: str = "points") -> np.ndarray:
    """Coordinates (n, 2) in metres from an array or a point GeoSeries/GeoDataFrame.

    A GeoSeries/GeoDataFrame must be in the network's CRS; an array is taken to be in it.
    """
    if hasattr(points, "geometry") and hasattr(points, "crs"):
        if points.crs is None or not network.crs.equals(points.crs):
            raise CRSError(
                f"The {what} are in CRS {points.crs and points.crs.to_string()} but the walk "
                f"network is in {network.crs.to_string()}; reproject them first with "
                ".to_crs(network.crs)."
            )
        geom = np.asarray(points.geometry.values)
        kinds = shapely.get_type_id(geom)
        if len(geom) and not np.all(kinds == 0):
            raise InputError(
                f"The {what} must be Points; found geometry types {sorted(set(kinds.tolist()))} "
                "(shapely type ids). Use representative points, e.g. gdf.geometry.centroid."
            )
        xy = shapely.get_coordinates(geom)
        if len(xy) != len(geom):
            raise InputError(f"Some {what} have empty geometry; drop them before snapping.")
        return xy
    xy = np.asarray(points, dtype=np.float64)
    if xy.ndim == 1 and xy.shape == (2,):
        xy = xy[None, :]
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise InputError(
            f"The {what} must be an array of shape (n, 2) with x, y in metres; got shape "
            f"{xy.shape}. Pass np.column_stack([x, y])."
        )
    if not np.isfinite(xy).all():
        bad = np.flatnonzero(~np.isfinite(xy).all(axis=1))
        raise InputError(
            f"{len(bad)} of the {what} have NaN or infinite coordinates (first rows: "
            f"{bad[:5].tolist()}); drop or fix them before snapping."
        )
    return xy


def edge_tree(network: WalkNetwork) -> shapely.STRtree:
    """The spatial index of the network's edges (built once per network)."""
    tree = _TREES.get(network)
    if tree is None:
        tree = shapely.STRtree(network.edge_geometries())
        _TREES[network] = tree
    return tree


def snap_points(network: WalkNetwork, xy: object, max_access_m: float = 300.0) -> Snapped:
    """Snap points to their nearest edge.

    Args:
        network: the walk network.
        xy: (n, 2) coordinates in metres in the network CRS, or a point GeoSeries/GeoDataFrame.
        max_access_m: points farther than this (m) from every edge are not snapped.

    Returns:
        A :class:`Snapped` with the edge, offset along it, access leg and ok flag per point.
    """
    if not np.isfinite(max_access_m) or max_access_m < 0:
        raise InputError(
            f"max_access_m must be a finite distance ≥ 0 metres, not {max_access_m}; "
            "300 m is the usual limit."
        )
    if network.n_edges == 0:
        raise InputError("The walk network has no edges; build it from a walkable street layer.")
    xy = points_xy(xy, network)
    n = len(xy)
    edge = np.full(n, -1, dtype=np.int64)
    if n:
        tree = edge_tree(network)
        pts = shapely.points(xy)
        near = tree.query_nearest(pts, max_distance=max_access_m, all_matches=False)
        edge[near[0]] = near[1]
        missing = np.flatnonzero(edge < 0)
        if len(missing):
            far = tree.query_nearest(pts[missing], all_matches=False)
            edge[missing[far[0]]] = far[1]
    offset, access = _project(network, xy, edge)
    ok = access <= max_access_m
    offset = np.where(ok, offset, np.nan)
    return Snapped(np.where(ok, edge, -1), offset, access, ok, float(max_access_m))


def _project(network: WalkNetwork, xy: np.ndarray, edge: np.ndarray):
    """Offset along each edge (m from edge_u) of the projected point, and the access leg (m)."""
    a = network.node_xy[network.edge_u[edge]]
    b = network.node_xy[network.edge_v[edge]]
    ab = b - a
    seg2 = np.einsum("ij,ij->i", ab, ab)
    t = np.clip(np.einsum("ij,ij->i", xy - a, ab) / seg2, 0.0, 1.0)
    proj = a + t[:, None] * ab
    access = np.hypot(*(xy - proj).T)
    return t * network.edge_length[edge], access
