"""Attach points (demand cells, facilities, candidate sites) to the nearest walkable edge.

A point is snapped to the nearest *edge*, not the nearest node: the walk from the point to the
network is the straight access leg to its projection on the edge, then the partial edge to
either end node. Points farther than ``max_access_m`` from every street are not snapped; they
are reported with their distance and the caller decides whether to drop them or count them as
unreachable.

Points join the network at ground level: the nearest edge whose way is neither a tunnel nor a
bridge (``WalkNetwork.edge_ground``), so a home beside a street is not put into the delivery
tunnel beneath it or onto the overpass above it. Only a point with no ground-level edge within
``max_access_m`` joins the nearest edge of any kind. Tunnels and bridges stay in the network
for walking through.
"""

from __future__ import annotations

import os
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import shapely

from planner.errors import CRSError, InputError
from planner.kernels import build_edge_grid, nearest_segments
from planner.network import WalkNetwork


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

    def take(self, index: np.ndarray) -> Snapped:
        """The points at ``index`` (integer positions or a boolean mask), e.g. ``s.take(s.ok)``
        to drop the points too far from any street."""
        return Snapped(
            self.edge[index],
            self.offset_m[index],
            self.access_m[index],
            self.ok[index],
            self.max_access_m,
        )

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


#: Points per thread below which snapping stays on one thread.
PARALLEL_POINTS = 50_000


@dataclass(frozen=True, eq=False)
class EdgeGrid:
    """A uniform grid over some of the network's edges for exact nearest-edge queries
    (metres); ``edges`` holds the network edge index of each grid segment."""

    ax: np.ndarray
    ay: np.ndarray
    bx: np.ndarray
    by: np.ndarray
    cell_ptr: np.ndarray
    items: np.ndarray
    x0: float
    y0: float
    cell_m: float
    nx: int
    ny: int
    edges: np.ndarray

    def nearest(self, xy: np.ndarray, limit_m: float) -> tuple[np.ndarray, np.ndarray]:
        """Nearest edge index and straight distance (m) for every point (n, 2) that has an
        edge within ``limit_m``; -1 and ``inf`` for the others. Large inputs are split over
        threads."""
        x, y = np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])

        def run(part: slice):
            return nearest_segments(
                x[part], y[part], self.ax, self.ay, self.bx, self.by, self.cell_ptr,
                self.items, self.x0, self.y0, self.cell_m, self.nx, self.ny, float(limit_m),
            )  # fmt: skip

        workers = min(len(os.sched_getaffinity(0)), max(1, len(x) // PARALLEL_POINTS))
        if workers == 1:
            local, dist = run(slice(None))
        else:
            cuts = np.linspace(0, len(x), workers + 1).astype(int)
            with ThreadPoolExecutor(max_workers=workers) as pool:
                parts = list(pool.map(run, [slice(cuts[i], cuts[i + 1]) for i in range(workers)]))
            local = np.concatenate([p[0] for p in parts])
            dist = np.concatenate([p[1] for p in parts])
        return np.where(local >= 0, self.edges[np.maximum(local, 0)], -1), dist


_GRIDS: weakref.WeakKeyDictionary[WalkNetwork, dict[bool, EdgeGrid]] = weakref.WeakKeyDictionary()
_TREES: weakref.WeakKeyDictionary[WalkNetwork, shapely.STRtree] = weakref.WeakKeyDictionary()


def edge_grid(network: WalkNetwork, ground_only: bool = False) -> EdgeGrid:
    """The spatial index of the network's edges, or of its ground-level edges only (built once
    per network). With ``ground_only`` and no ground-level edge at all, it indexes every edge.

    The cell size is the mean edge length, enlarged if needed so the grid has at most about
    four cells per edge.
    """
    grids = _GRIDS.setdefault(network, {})
    grid = grids.get(ground_only)
    if grid is None:
        edges = np.flatnonzero(network.edge_ground) if ground_only else np.empty(0, np.int64)
        if len(edges) == 0:
            edges = np.arange(network.n_edges)
        a = network.node_xy[network.edge_u[edges]]
        b = network.node_xy[network.edge_v[edges]]
        x0, y0 = network.node_xy.min(axis=0)
        width, height = network.node_xy.max(axis=0) - (x0, y0)
        cell = max(float(network.edge_length[edges].mean()), 1.0)
        cell = max(cell, float(np.sqrt(width * height / (4.0 * len(edges) + 1000))))
        nx, ny = int(width // cell) + 1, int(height // cell) + 1
        cols = [np.ascontiguousarray(c) for c in (a[:, 0], a[:, 1], b[:, 0], b[:, 1])]
        cell_ptr, items = build_edge_grid(*cols, x0, y0, cell, nx, ny)
        grid = EdgeGrid(*cols, cell_ptr, items, float(x0), float(y0), cell, nx, ny, edges)
        grids[ground_only] = grid
    return grid


def _tree(network: WalkNetwork) -> shapely.STRtree:
    """An R-tree of the edges, for the distance of points beyond the grid search."""
    tree = _TREES.get(network)
    if tree is None:
        tree = _TREES[network] = shapely.STRtree(network.edge_geometries())
    return tree


def snap_points(network: WalkNetwork, xy: object, max_access_m: float = 300.0) -> Snapped:
    """Snap points to their nearest ground-level edge, or, with none within ``max_access_m``,
    to their nearest edge of any kind (tunnel or bridge).

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
    edge, dist = edge_grid(network, ground_only=True).nearest(xy, max_access_m)
    aside = np.flatnonzero((edge < 0) | (dist > max_access_m))
    if len(aside) and not network.edge_ground.all():  # no street within reach: any edge
        edge[aside] = edge_grid(network).nearest(xy[aside], max_access_m)[0]
    far = np.flatnonzero(edge < 0)
    if len(far):  # how far they are, for the report: a tree query is quick for remote points
        edge[far] = _tree(network).query_nearest(shapely.points(xy[far]), all_matches=False)[1]
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


def joined_off_ground(network: WalkNetwork, snapped: Snapped) -> np.ndarray:
    """(n,) True where a point joined a tunnel or bridge edge: no street-level edge lay within
    ``max_access_m`` of it (see :func:`snap_points`)."""
    ok = snapped.ok
    out = np.zeros(len(ok), dtype=bool)
    out[ok] = ~network.edge_ground[snapped.edge[ok]]
    return out
