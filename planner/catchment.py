"""The catchment engine: exact walking distances on the walk network (metres, minutes).

Every walk is measured as: access leg (point → its projection on the nearest edge) + the part of
that edge to an end node + the network path + the part of the destination's edge + its access
leg; two points on the same edge may also walk straight along it. Searches are bounded, so
nothing beyond the largest distance of interest is ever visited, and "farther than the bound"
is reported as ``np.inf``, never as a sentinel number.

Public API (used by coverage, optimiser, API and CLI):

- :func:`snap_points` — attach points to edges (re-exported from :mod:`planner.snap`).
- :func:`nearest_distance` / :func:`nearest` — metres from every demand point to the nearest
  facility, one multi-source search for all facilities.
- :func:`nearest_by_category` — the same for every category of a facilities table.
- :func:`network_part` — the connected part of the network each point joins (who can reach whom).
- :func:`coverage_matrix` — sparse sites × demand points matrix of walking distances.
- :func:`isochrones` — nesting walking-distance polygons (re-exported from
  :mod:`planner.isochrones`).
- :func:`walking_minutes`, :func:`walking_distance_m`, :func:`minutes_by_group` — time mode.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from planner.errors import InputError
from planner.isochrones import isochrones
from planner.kernels import (
    coverage_kernel,
    graph_arrays,
    multi_source_search,
    same_edge_nearest,
    search_step,
)
from planner.network import WalkNetwork
from planner.snap import Snapped, snap_points

__all__ = [
    "Nearest",
    "Snapped",
    "coverage_matrix",
    "isochrones",
    "minutes_by_group",
    "nearest",
    "network_part",
    "nearest_by_category",
    "nearest_distance",
    "snap_points",
    "walking_distance_m",
    "walking_minutes",
]

Progress = Callable[[float], None]
Points = np.ndarray | Snapped


@dataclass(frozen=True)
class Nearest:
    """Nearest-facility result per demand point.

    Attributes:
        distance_m: walking distance in metres (``inf`` = unreachable within the bound, on
            another component, or the point is not snapped).
        facility: index (row in the facility input) of the nearest facility, -1 if none.
    """

    distance_m: np.ndarray
    facility: np.ndarray


def _snapped(network: WalkNetwork, points: object, max_access_m: float) -> Snapped:
    if isinstance(points, Snapped):
        return points
    return snap_points(network, points, max_access_m)


def _check_bound(max_distance_m: float, *, finite: bool) -> float:
    bound = float(max_distance_m)
    if np.isnan(bound) or bound < 0 or (finite and not np.isfinite(bound)):
        need = "a finite distance ≥ 0 metres" if finite else "a distance ≥ 0 metres"
        raise InputError(
            f"max_distance_m must be {need}, not {max_distance_m}; use the largest threshold "
            "of interest, e.g. 1000 m for the 15-minute level."
        )
    return bound


def _ends(network: WalkNetwork, snapped: Snapped):
    """Per snapped point: its two end nodes and the walk (m) from the point to each."""
    idx = np.flatnonzero(snapped.ok)
    edge = snapped.edge[idx]
    off = snapped.offset_m[idx]
    acc = snapped.access_m[idx]
    length = network.edge_length[edge]
    u = network.edge_u[edge].astype(np.int64)
    v = network.edge_v[edge].astype(np.int64)
    return idx, edge, off, acc, u, v, acc + off, acc + (length - off)


def _by_edge(n_edges: int, edge: np.ndarray):
    """Order of items sorted by edge and the CSR pointer over edges."""
    order = np.argsort(edge, kind="stable")
    ptr = np.zeros(n_edges + 1, dtype=np.int64)
    np.cumsum(np.bincount(edge, minlength=n_edges), out=ptr[1:])
    return order, ptr


def nearest(
    network: WalkNetwork,
    demand_xy: Points,
    facility_xy: Points,
    max_distance_m: float,
    *,
    max_access_m: float = 300.0,
) -> Nearest:
    """Walking distance (m) from every demand point to its nearest facility, and which one.

    One bounded multi-source search serves all facilities at once.

    Args:
        network: the walk network.
        demand_xy: (n, 2) demand points in metres (network CRS), or a :class:`Snapped` made
            on the same network.
        facility_xy: (k, 2) facility points in metres, or a :class:`Snapped`.
        max_distance_m: largest distance of interest (m); farther is ``inf``.
        max_access_m: largest access leg (m) when snapping raw coordinates.
    """
    return _nearest(network, demand_xy, facility_xy, max_distance_m, max_access_m, True)


def nearest_distance(
    network: WalkNetwork,
    demand_xy: Points,
    facility_xy: Points,
    max_distance_m: float,
    *,
    max_access_m: float = 300.0,
) -> np.ndarray:
    """Walking distance (m) from every demand point to the nearest facility.

    ``np.inf`` marks points that cannot reach any facility within ``max_distance_m`` (beyond
    the bound, on another network component, or not snapped). See :func:`nearest`.
    """
    return _nearest(network, demand_xy, facility_xy, max_distance_m, max_access_m, False).distance_m


def _nearest(network, demand_xy, facility_xy, max_distance_m, max_access_m, with_label):
    bound = _check_bound(max_distance_m, finite=False)
    demand = _snapped(network, demand_xy, max_access_m)
    fac = _snapped(network, facility_xy, max_access_m)
    f_idx, f_edge, f_off, f_acc, f_u, f_v, f_du, f_dv = _ends(network, fac)
    dist, label = multi_source_search(
        *graph_arrays(network),
        np.concatenate([f_u, f_v]),
        np.concatenate([f_du, f_dv]),
        np.concatenate([f_idx, f_idx]).astype(np.int64),
        bound,
        with_label,
        search_step(network),
    )
    d_idx, d_edge, d_off, d_acc, d_u, d_v, d_du, d_dv = _ends(network, demand)
    via_u = dist[d_u] + d_du
    via_v = dist[d_v] + d_dv
    best = np.minimum(via_u, via_v)
    order, ptr = _by_edge(network.n_edges, f_edge)
    direct, k = same_edge_nearest(d_edge, d_off, ptr, f_off[order], f_acc[order])
    direct += d_acc
    closer = direct < best
    best[closer] = direct[closer]
    reached = best <= bound
    out = np.full(len(demand), np.inf)
    out[d_idx[reached]] = best[reached]
    which = np.full(len(demand), -1, dtype=np.int64)
    if with_label:
        best_label = np.where(via_u <= via_v, label[d_u], label[d_v])
        best_label[closer] = f_idx[order][k[closer]]
        which[d_idx[reached]] = best_label[reached]
    return Nearest(out, which)


def nearest_by_category(
    network: WalkNetwork,
    demand_xy: Points,
    facilities: pd.DataFrame,
    max_distance_m: Mapping[str, float],
    *,
    max_access_m: float = 300.0,
    progress: Progress | None = None,
    workers: int | None = None,
) -> pd.DataFrame:
    """Walking distance (m) to the nearest facility of every category.

    Args:
        network: the walk network.
        demand_xy: (n, 2) demand points (m) or a :class:`Snapped`; snapped once for all.
        facilities: point GeoDataFrame in the network CRS with a ``category`` column.
        max_distance_m: category key → search bound (m), e.g. each category's threshold.
        max_access_m: largest access leg (m) when snapping.
        progress: called with the finished fraction (0–1) after each category.
        workers: categories searched at once in threads (default: the CPUs available).

    Returns:
        One column per category (in the order of ``max_distance_m``), one row per demand point;
        ``inf`` = no facility of that category within its bound.
    """
    if "category" not in facilities.columns:
        raise InputError(
            "The facilities table has no 'category' column; give each facility its category "
            "key (see planner.standards.load_categories)."
        )
    demand = _snapped(network, demand_xy, max_access_m)
    fac_all = _snapped(network, facilities, max_access_m)
    cats = facilities["category"].to_numpy()

    def run(key: str) -> np.ndarray:
        return nearest_distance(network, demand, fac_all.take(cats == key), max_distance_m[key])

    columns = {}
    with ThreadPoolExecutor(max_workers=workers or _default_workers()) as pool:
        futures = {pool.submit(run, key): key for key in max_distance_m}
        for done, fut in enumerate(as_completed(futures), start=1):
            columns[futures[fut]] = fut.result()
            if progress is not None:
                progress(done / len(futures))
    return pd.DataFrame(columns, columns=list(max_distance_m))


def network_part(network: WalkNetwork, points: Points, *, max_access_m: float = 300.0) -> np.ndarray:
    """Connected part of the network (component label) each point joins; −1 for points
    farther than ``max_access_m`` from any street. Two points can walk to each other exactly
    when their labels are equal and ≥ 0."""
    snapped = _snapped(network, points, max_access_m)
    part = np.full(len(snapped), -1, dtype=np.int64)
    labels = network.component_labels()
    part[snapped.ok] = labels[network.edge_u[snapped.edge[snapped.ok]]]
    return part


def coverage_matrix(
    network: WalkNetwork,
    site_xy: Points,
    demand_xy: Points,
    max_distance_m: float,
    *,
    max_access_m: float = 300.0,
    progress: Progress | None = None,
    workers: int | None = None,
) -> csr_matrix:
    """Which demand points each site serves within ``max_distance_m``, and how far (m).

    One bounded search per site; memory grows with the total size of the catchments, never
    with sites × nodes.

    Args:
        network: the walk network.
        site_xy: (s, 2) site points in metres (network CRS), or a :class:`Snapped`.
        demand_xy: (n, 2) demand points in metres, or a :class:`Snapped`.
        max_distance_m: walking distance (m) within which a point counts as covered.
        max_access_m: largest access leg (m) when snapping raw coordinates; unsnapped sites
            get empty rows, unsnapped demand points empty columns.
        progress: called with the finished fraction (0–1) as batches of sites complete.
        workers: threads to use (default: the CPUs available, at most 8).

    Returns:
        ``scipy.sparse.csr_matrix`` (sites × demand points) of walking distances in metres;
        the structure is the set of covered pairs and explicit zeros are kept, so read
        ``.indptr/.indices/.data`` rather than ``.nonzero()``. Column indices within a row are
        unique but not sorted (call ``.sort_indices()`` if an order is needed).
    """
    bound = _check_bound(max_distance_m, finite=True)
    sites = _snapped(network, site_xy, max_access_m)
    demand = _snapped(network, demand_xy, max_access_m)
    indptr, indices, weights = graph_arrays(network)
    n_sites, n_points = len(sites), len(demand)

    s_edge = np.where(sites.ok, sites.edge, -1)
    s_safe = np.maximum(s_edge, 0)
    s_off = np.nan_to_num(sites.offset_m)
    s_acc = sites.access_m
    length = network.edge_length[s_safe]
    s_u = network.edge_u[s_safe].astype(np.int64)
    s_v = network.edge_v[s_safe].astype(np.int64)
    s_du = s_acc + s_off
    s_dv = s_acc + (length - s_off)

    d_idx, d_edge, d_off, d_acc, d_u, d_v, d_du, d_dv = _ends(network, demand)
    node_of = np.concatenate([d_u, d_v])
    n_order = np.argsort(node_of, kind="stable")
    node_ptr = np.zeros(network.n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(node_of, minlength=network.n_nodes), out=node_ptr[1:])
    node_pt = np.concatenate([d_idx, d_idx])[n_order]
    node_leg = np.concatenate([d_du, d_dv])[n_order]
    e_order, edge_ptr = _by_edge(network.n_edges, d_edge)

    workers = workers or _default_workers()
    n_batches = max(1, min(n_sites, 4 * workers, -(-n_sites // 64)))
    bounds = np.linspace(0, n_sites, n_batches + 1).astype(np.int64)

    def run(lo: int, hi: int):
        return coverage_kernel(
            indptr, indices, weights,
            s_u[lo:hi], s_v[lo:hi], s_du[lo:hi], s_dv[lo:hi],
            s_edge[lo:hi], s_off[lo:hi], s_acc[lo:hi],
            node_ptr, node_pt, node_leg,
            edge_ptr, d_idx[e_order], d_off[e_order], d_acc[e_order],
            n_points, bound,
        )  # fmt: skip

    parts = [None] * n_batches
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(run, bounds[i], bounds[i + 1]): i for i in range(n_batches)}
        for done, fut in enumerate(as_completed(futures), start=1):
            parts[futures[fut]] = fut.result()
            if progress is not None:
                progress(done / n_batches)
    row_ptr = np.zeros(n_sites + 1, dtype=np.int64)
    offset = 0
    for i, (rp, _, _) in enumerate(parts):
        row_ptr[bounds[i] + 1 : bounds[i + 1] + 1] = rp[1:] + offset
        offset += rp[-1]
    cols = np.concatenate([p[1] for p in parts]) if parts else np.empty(0, np.int64)
    vals = np.concatenate([p[2] for p in parts]) if parts else np.empty(0)
    return csr_matrix((vals, cols, row_ptr), shape=(n_sites, n_points))


def _default_workers() -> int:
    """Threads to use: the CPUs this process may run on, at most 8."""
    return min(8, len(os.sched_getaffinity(0)))


def _check_speed(speed_m_s: float) -> float:
    speed = float(speed_m_s)
    if not np.isfinite(speed) or speed <= 0:
        raise InputError(
            f"Walking speed must be a positive number of metres per second, not {speed_m_s}; "
            "typical values are 1.2 m/s (adults) and 0.8 m/s (older adults)."
        )
    return speed


def walking_minutes(distance_m: np.ndarray | float, speed_m_s: float) -> np.ndarray:
    """Minutes needed to walk ``distance_m`` metres at ``speed_m_s`` (``inf`` stays ``inf``)."""
    return np.asarray(distance_m, dtype=np.float64) / _check_speed(speed_m_s) / 60.0


def walking_distance_m(minutes: np.ndarray | float, speed_m_s: float) -> np.ndarray:
    """Metres walked in ``minutes`` at ``speed_m_s`` — the distance bound of a time budget."""
    return np.asarray(minutes, dtype=np.float64) * 60.0 * _check_speed(speed_m_s)


def minutes_by_group(distance_m: np.ndarray, speeds_m_s: Mapping[str, float]) -> pd.DataFrame:
    """Walking minutes per population group (one column per group) for the same distances.

    ``speeds_m_s`` maps a group column (``total``, ``age_60_plus``, …) to its speed in m/s,
    e.g. ``planner.standards.load_speeds()``.
    """
    distance_m = np.asarray(distance_m, dtype=np.float64)
    return pd.DataFrame({g: walking_minutes(distance_m, s) for g, s in speeds_m_s.items()})
