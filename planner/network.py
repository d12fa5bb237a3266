"""WalkNetwork: a noded, undirected walk graph in a metric CRS, held as CSR arrays.

Design: every vertex of every walkable way is a node (after merging vertices that share a
coordinate, exactly or within a tolerance), so every edge is one straight segment. That keeps
snapping, partial-edge isochrones and exact distances simple vectorised arithmetic. Junctions
and dead ends are the nodes whose degree is not 2 (``junction_count``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from planner.crs import require_metric_crs
from planner.errors import CRSError, EmptyNetworkError, InputError
from planner.walkable import WalkRules, load_walk_rules, walkable_mask

WAY_ATTRIBUTES = ("osm_id", "highway", "name", "tunnel", "bridge", "layer")
#: 2: ways keep their tunnel, bridge and layer tags. Format 1 still loads (as ground level).
FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
#: ``tunnel`` values of ways at street level: a passage through a building opens onto the street.
GROUND_TUNNEL_VALUES = frozenset({"", "no", "building_passage"})


@dataclass(frozen=True)
class BuildReport:
    """What happened while building a network (all lengths in metres)."""

    ways_in: int
    ways_walkable: int
    components: int
    largest_component_nodes: int
    kept_length_m: float
    dropped_length_m: float
    dropped_components: int
    merged_vertices: int


@dataclass(frozen=True, eq=False)
class WalkNetwork:
    """An undirected walk network.

    Attributes:
        crs: projected metric CRS of every coordinate.
        node_xy: (n, 2) node coordinates in metres.
        edge_u, edge_v: (m,) end nodes of each straight edge.
        edge_length: (m,) edge lengths in metres (> 0).
        edge_way: (m,) row of ``ways`` the edge came from.
        ways: attributes of the source ways (osm_id, highway, name, tunnel, bridge, layer).
        indptr, indices, weights: CSR adjacency with both directions of every edge;
            parallel edges keep the shortest length.
        report: what the build kept and dropped.
    """

    crs: pyproj.CRS
    node_xy: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_length: np.ndarray
    edge_way: np.ndarray
    ways: pd.DataFrame
    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    report: BuildReport

    @property
    def n_nodes(self) -> int:
        return len(self.node_xy)

    @property
    def n_edges(self) -> int:
        return len(self.edge_u)

    @property
    def total_length_m(self) -> float:
        return float(self.edge_length.sum())

    @property
    def degree(self) -> np.ndarray:
        """Number of distinct neighbours of each node."""
        return np.diff(self.indptr)

    @property
    def junction_count(self) -> int:
        """Nodes that are junctions or dead ends (degree other than 2)."""
        return int(np.count_nonzero(self.degree != 2))

    def component_labels(self) -> np.ndarray:
        """Connected-component label of every node."""
        return connected_components(self.adjacency(), directed=False)[1]

    def adjacency(self):
        """The CSR adjacency as a ``scipy.sparse.csr_matrix`` of lengths in metres."""
        from scipy.sparse import csr_matrix

        n = self.n_nodes
        return csr_matrix((self.weights, self.indices, self.indptr), shape=(n, n))

    @property
    def edge_ground(self) -> np.ndarray:
        """(m,) True where the edge's way is at ground level (see :func:`ground_ways`)."""
        return ground_ways(self.ways)[self.edge_way]

    def edge_geometries(self) -> np.ndarray:
        """Straight LineStrings of every edge, from ``edge_u`` to ``edge_v``."""
        xy = self.node_xy
        return shapely.linestrings(np.stack([xy[self.edge_u], xy[self.edge_v]], axis=1))

    def nodes_gdf(self) -> gpd.GeoDataFrame:
        """Nodes as points, with their degree."""
        return gpd.GeoDataFrame(
            {"node": np.arange(self.n_nodes), "degree": self.degree},
            geometry=shapely.points(self.node_xy),
            crs=self.crs,
        )

    def edges_gdf(self) -> gpd.GeoDataFrame:
        """Edges as LineStrings with u, v, length (m) and the source way's attributes."""
        attrs = self.ways.iloc[self.edge_way].reset_index(drop=True)
        data = pd.DataFrame({"u": self.edge_u, "v": self.edge_v, "length": self.edge_length})
        return gpd.GeoDataFrame(
            pd.concat([data, attrs], axis=1), geometry=self.edge_geometries(), crs=self.crs
        )

    def bbox_lonlat(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in degrees WGS-84."""
        tr = pyproj.Transformer.from_crs(self.crs, 4326, always_xy=True)
        x0, y0 = self.node_xy.min(axis=0)
        x1, y1 = self.node_xy.max(axis=0)
        return tuple(float(v) for v in tr.transform_bounds(x0, y0, x1, y1))

    def summary(self) -> dict[str, object]:
        """Headline numbers for tables and logs."""
        r = self.report
        return {
            "nodes": self.n_nodes,
            "junctions_and_dead_ends": self.junction_count,
            "edges": self.n_edges,
            "walkable_km": round(self.total_length_m / 1000, 3),
            "components_found": r.components,
            "components_dropped": r.dropped_components,
            "dropped_km": round(r.dropped_length_m / 1000, 3),
            "crs": self.crs.to_string(),
            "bbox_lonlat": [round(v, 6) for v in self.bbox_lonlat()],
        }

    def save(self, path: str | Path) -> Path:
        """Write the network to a directory (``network.npz`` + ``ways.parquet``)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path / "network.npz",
            node_xy=self.node_xy,
            edge_u=self.edge_u,
            edge_v=self.edge_v,
            edge_length=self.edge_length,
            edge_way=self.edge_way,
        )
        self.ways.to_parquet(path / "ways.parquet", index=False)
        meta = {
            "format_version": FORMAT_VERSION,
            "crs": self.crs.to_wkt(),
            "report": self.report.__dict__,
        }
        (path / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> WalkNetwork:
        """Read a network written by :meth:`save`."""
        path = Path(path)
        if not (path / "network.npz").is_file():
            raise InputError(
                f"{path} is not a saved walk network (no network.npz inside); "
                "create one with `planner network SOURCE -o DIR`."
            )
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
        if meta.get("format_version") not in READABLE_FORMATS:
            raise InputError(
                f"{path} was saved in network format {meta.get('format_version')}, this version "
                f"reads {', '.join(map(str, READABLE_FORMATS))}; rebuild it with `planner network`."
            )
        arr = np.load(path / "network.npz")
        ways = pd.read_parquet(path / "ways.parquet")
        for key in WAY_ATTRIBUTES:  # format 1 has no tunnel/bridge/layer: ground level
            if key not in ways.columns:
                ways[key] = pd.Series(pd.NA, index=ways.index, dtype="string")
        return _assemble(
            pyproj.CRS.from_wkt(meta["crs"]),
            arr["node_xy"],
            arr["edge_u"],
            arr["edge_v"],
            arr["edge_length"],
            arr["edge_way"],
            ways,
            BuildReport(**meta["report"]),
        )


def ground_ways(ways: pd.DataFrame) -> np.ndarray:
    """Per way, True unless it is a tunnel (``tunnel`` other than no/building_passage) or a
    bridge (``bridge`` other than no). Missing tags and columns count as ground level."""
    ground = np.ones(len(ways), dtype=bool)
    for key, ground_values in (("tunnel", GROUND_TUNNEL_VALUES), ("bridge", {"", "no"})):
        if key in ways.columns:
            value = ways[key].astype("string").str.strip().str.lower()
            ground &= (value.isna() | value.isin(ground_values)).to_numpy(dtype=bool)
    return ground


def _assemble(crs, node_xy, u, v, length, way, ways, report) -> WalkNetwork:
    indptr, indices, weights = _symmetric_csr(len(node_xy), u, v, length)
    return WalkNetwork(crs, node_xy, u, v, length, way, ways, indptr, indices, weights, report)


def _symmetric_csr(n: int, u: np.ndarray, v: np.ndarray, length: np.ndarray):
    """CSR arrays holding both directions; the shortest of parallel edges wins."""
    src = np.concatenate([u, v]).astype(np.int64)
    dst = np.concatenate([v, u]).astype(np.int64)
    w = np.concatenate([length, length])
    order = np.lexsort((w, dst, src))
    src, dst, w = src[order], dst[order], w[order]
    first = np.ones(len(src), dtype=bool)
    first[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
    src, dst, w = src[first], dst[first], w[first]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return indptr, dst.astype(np.int32), w.astype(np.float64)


def check_crs(gdf: gpd.GeoDataFrame, what: str) -> None:
    """Raise a CRSError when a layer has no CRS or its coordinates contradict it."""
    if gdf.crs is None:
        raise CRSError(
            f"The {what} has no coordinate reference system. Set one when reading it, "
            "e.g. gdf.set_crs('EPSG:4326') for longitude/latitude in degrees."
        )
    x0, y0, x1, y1 = gdf.total_bounds
    looks_geographic = -180 <= x0 and x1 <= 180 and -90 <= y0 and y1 <= 90
    if gdf.crs.is_geographic and not looks_geographic:
        raise CRSError(
            f"The {what} declares the geographic CRS {gdf.crs.to_string()} but its coordinates "
            f"({x0:.1f}, {y0:.1f}) – ({x1:.1f}, {y1:.1f}) look projected (metres). Declare the "
            "CRS the file was really written in."
        )
    if gdf.crs.is_projected and looks_geographic:
        raise CRSError(
            f"The {what} declares the projected CRS {gdf.crs.to_string()} but its coordinates "
            f"({x0:.4f}, {y0:.4f}) – ({x1:.4f}, {y1:.4f}) look like degrees. Declare "
            "EPSG:4326 (longitude/latitude) instead."
        )


def metric_crs(gdf: gpd.GeoDataFrame, crs: object | None = None) -> pyproj.CRS:
    """The CRS to work in: the one named by the user (projected, metres) or the UTM zone."""
    if crs is None:
        return gdf.estimate_utm_crs()
    return require_metric_crs(crs, "working CRS")


def _long_or_open(labels: np.ndarray, n_comp: int, u: np.ndarray, length: np.ndarray,
                  node_xy: np.ndarray, min_m: float, window: shapely.Geometry | None) -> np.ndarray:
    """Per component: at least ``min_m`` metres of streets, or a node outside ``window``."""
    keep = np.bincount(labels[u], weights=length, minlength=n_comp) >= min_m
    if window is not None:
        outside = ~shapely.contains_xy(window, node_xy[:, 0], node_xy[:, 1])
        keep[np.unique(labels[outside])] = True
    return keep


def build_network(
    ways: gpd.GeoDataFrame,
    *,
    crs: object | None = None,
    rules: WalkRules | None = None,
    tolerance_m: float = 0.0,
    keep: Literal["largest", "all"] = "largest",
    min_component_m: float | None = None,
    window: shapely.Geometry | None = None,
) -> WalkNetwork:
    """Build a WalkNetwork from OSM ways that meet at shared vertex coordinates.

    Args:
        ways: line layer with a ``highway`` column and optionally ``foot``, ``access``,
            ``sidewalk``, ``osm_id``, ``name``, ``tunnel``, ``bridge``, ``layer``. Ways need
            not be split at junctions.
        crs: working CRS (projected, metres); default the layer's UTM zone.
        rules: walkable-way rules; default the bundled ``walk_filter.toml``.
        tolerance_m: vertices closer than this (metres) are merged into one node;
            0 merges only identical coordinates.
        keep: ``"largest"`` connected component, or ``"all"``.
        min_component_m: keep instead every connected component with at least this many
            metres of streets. Unlike "the largest", this rule gives the same answer for a
            window of a city as for the whole city.
        window: the polygon (working CRS) the ways were read for: with ``min_component_m``,
            a component with a node outside it is kept whatever its length, since it may go on
            beyond the window.
    """
    if keep not in ("largest", "all"):
        raise InputError(f"keep must be 'largest' or 'all', not {keep!r}.")
    if min_component_m is not None and min_component_m < 0:
        raise InputError(f"min_component_m must be ≥ 0 metres, not {min_component_m}.")
    if tolerance_m < 0:
        raise InputError(f"tolerance_m must be ≥ 0 metres, not {tolerance_m}.")
    if len(ways) == 0:
        raise InputError("The street layer is empty: it has no features. Check the file or extract.")
    if "highway" not in ways.columns:
        raise InputError(
            "The street layer has no 'highway' column, so walkable ways cannot be told apart. "
            f"Columns present: {list(ways.columns)}. Export OSM ways with their highway tag "
            "(e.g. ogr2ogr's 'lines' layer)."
        )
    geom_types = shapely.get_type_id(ways.geometry.values)
    is_line = np.isin(geom_types, (1, 5))  # LineString, MultiLineString
    if not is_line.any():
        raise InputError(
            "The street layer holds no line geometries (found "
            f"{sorted(set(ways.geom_type.dropna()))}); give the OSM ways as LineStrings."
        )
    check_crs(ways, "street layer")
    rules = rules or load_walk_rules()
    mask = walkable_mask(ways, rules) & is_line
    if not mask.any():
        raise EmptyNetworkError(
            f"None of the {len(ways)} ways is walkable under the rules in {rules.source} "
            f"(highway values present: {sorted(ways['highway'].dropna().unique())[:20]}). "
            "Check the extract covers streets, or widen the rules."
        )
    work = metric_crs(ways, crs)
    kept = ways.loc[mask].to_crs(work)
    attrs = pd.DataFrame(
        {k: (kept[k].to_numpy() if k in kept.columns else None) for k in WAY_ATTRIBUTES}
    ).astype({k: "string" for k in WAY_ATTRIBUTES})

    parts, part_way = shapely.get_parts(kept.geometry.values, return_index=True)
    coords, vert_part = shapely.get_coordinates(parts, return_index=True)
    vert_way = part_way[vert_part]
    node_of_vertex, node_xy, merged = _node_vertices(coords, tolerance_m)

    same_line = vert_part[1:] == vert_part[:-1]
    u = node_of_vertex[:-1][same_line]
    v = node_of_vertex[1:][same_line]
    way = vert_way[:-1][same_line]
    u, v, way = _drop_loops_and_duplicates(u, v, way)
    length = np.hypot(*(node_xy[u] - node_xy[v]).T)

    n = len(node_xy)
    graph = coo_matrix((np.ones(len(u)), (u, v)), shape=(n, n))
    n_comp, labels = connected_components(graph, directed=False)
    used = np.zeros(n, dtype=bool)
    used[u] = used[v] = True
    comp_nodes = np.bincount(labels[used], minlength=n_comp)
    largest = int(np.argmax(comp_nodes))
    comp_count = int(np.count_nonzero(comp_nodes))
    if min_component_m is not None:
        comp_keep = _long_or_open(labels, n_comp, u, length, node_xy, min_component_m, window)
        edge_keep = comp_keep[labels[u]]
        if not edge_keep.any():
            raise EmptyNetworkError(
                f"No street component holds {min_component_m:,.0f} m of streets (the longest: "
                f"{np.bincount(labels[u], weights=length).max():,.0f} m); lower "
                "network.min_component_m or check the street layer.")
    else:
        edge_keep = labels[u] == largest if keep == "largest" else np.ones(len(u), dtype=bool)

    node_keep = np.zeros(n, dtype=bool)
    node_keep[u[edge_keep]] = node_keep[v[edge_keep]] = True
    new_id = np.cumsum(node_keep) - 1
    report = BuildReport(
        ways_in=len(ways),
        ways_walkable=int(mask.sum()),
        components=comp_count,
        largest_component_nodes=int(comp_nodes[largest]),
        kept_length_m=float(length[edge_keep].sum()),
        dropped_length_m=float(length[~edge_keep].sum()),
        dropped_components=comp_count - len(np.unique(labels[u[edge_keep]])),
        merged_vertices=merged,
    )
    return _assemble(
        work,
        node_xy[node_keep],
        new_id[u[edge_keep]].astype(np.int32),
        new_id[v[edge_keep]].astype(np.int32),
        length[edge_keep],
        way[edge_keep].astype(np.int32),
        attrs,
        report,
    )


def _node_vertices(coords: np.ndarray, tolerance_m: float):
    """Map every vertex to a node: identical coordinates (and, with a tolerance, near ones)
    become one node. Returns (node index per vertex, node coordinates, vertices merged)."""
    uniq, inverse = np.unique(coords, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    merged = 0
    if tolerance_m > 0 and len(uniq) > 1:
        pairs = cKDTree(uniq).query_pairs(tolerance_m, output_type="ndarray")
        if len(pairs):
            m = len(uniq)
            link = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(m, m))
            n_groups, group = connected_components(link, directed=False)
            merged = m - n_groups
            first = np.full(n_groups, m, dtype=np.int64)
            np.minimum.at(first, group, np.arange(m))
            uniq, inverse = uniq[first], group[inverse]
    return inverse.astype(np.int64), uniq.astype(np.float64), merged


def _drop_loops_and_duplicates(u, v, way):
    """Remove zero-length segments and repeated segments between the same two nodes."""
    keep = u != v
    u, v, way = u[keep], v[keep], way[keep]
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    _, first = np.unique(np.stack([lo, hi], axis=1), axis=0, return_index=True)
    first.sort()
    return u[first], v[first], way[first]
