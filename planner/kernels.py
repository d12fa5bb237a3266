"""Compiled kernels of the catchment engine (distances in metres).

Both search kernels stop at a distance bound and never touch more of the graph than the bound
reaches:

- :func:`multi_source_search` — one search from many seeded nodes at once (each seed carries
  an initial distance, e.g. the walk from a facility to the ends of its edge); returns the
  distance to, and the seed label of, the nearest seed for every node. A label-correcting
  search that visits the nodes of each distance band in node order (see its docstring).
- :func:`coverage_kernel` — one bounded Dijkstra (4-ary heap, lazy deletion) per site, written
  straight into sparse rows of (demand point, distance) pairs. Scratch arrays are allocated
  once and reset only where a search wrote, so the cost of a site is proportional to its
  catchment, not to the network.
"""

from __future__ import annotations

import weakref

import numpy as np
from numba import njit

from planner.network import WalkNetwork

_GRAPHS: weakref.WeakKeyDictionary[WalkNetwork, tuple] = weakref.WeakKeyDictionary()


#: Width of the distance band :func:`multi_source_search` settles per sweep, in median edge
#: lengths. Any width gives the same answers; wider bands mean fewer sweeps over denser sets of
#: nodes (better memory locality) but more nodes revisited within a band. Measured with
#: benchmarks/nearest.py (--steps 2,4,16,1e9): 8 was within 15 % of the fastest width on
#: street grids of 100k and 1M nodes and within 30 % on central Taiyuan (about 1 ms a search);
#: unbounded bands were often fastest but put no limit on how often a node is revisited.
STEP_EDGES = 8.0


def _cached(network: WalkNetwork) -> tuple:
    arrays = _GRAPHS.get(network)
    if arrays is None:
        weights = np.ascontiguousarray(network.weights, dtype=np.float64)
        arrays = (
            np.ascontiguousarray(network.indptr, dtype=np.int64),
            np.ascontiguousarray(network.indices, dtype=np.int32),
            weights,
            _step(weights),
        )
        _GRAPHS[network] = arrays
    return arrays


def _step(weights: np.ndarray) -> float:
    positive = weights[weights > 0]
    return STEP_EDGES * float(np.median(positive)) if len(positive) else 1.0


def graph_arrays(network: WalkNetwork) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays (indptr, indices, weights in m) typed for the kernels, cached per network."""
    return _cached(network)[:3]


def search_step(network: WalkNetwork) -> float:
    """Band width (m) for :func:`multi_source_search` on this network, cached per network."""
    return _cached(network)[3]


@njit(cache=True, nogil=True)
def _push(hkey, hnode, size, key, node):
    """Insert (key, node) into the 4-ary min-heap of ``size`` items; return the new size."""
    i = size
    while i > 0:
        parent = (i - 1) >> 2
        if hkey[parent] <= key:
            break
        hkey[i] = hkey[parent]
        hnode[i] = hnode[parent]
        i = parent
    hkey[i] = key
    hnode[i] = node
    return size + 1


@njit(cache=True, nogil=True)
def _pop(hkey, hnode, size):
    """Remove the smallest item of the 4-ary min-heap; return (key, node, new size)."""
    key = hkey[0]
    node = hnode[0]
    size -= 1
    last_key = hkey[size]
    i = 0
    while True:
        first = 4 * i + 1
        if first >= size:
            break
        child = first
        child_key = hkey[first]
        for c in range(first + 1, min(first + 4, size)):
            if hkey[c] < child_key:
                child_key = hkey[c]
                child = c
        if last_key <= child_key:
            break
        hkey[i] = child_key
        hnode[i] = hnode[child]
        i = child
    if size > 0:
        hkey[i] = last_key
        hnode[i] = hnode[size]
    return key, node, size


@njit(cache=True, nogil=True)
def multi_source_search(
    indptr, indices, weights, seed_node, seed_dist, seed_label, bound, with_label, step
):
    """Distance (m) from the nearest seed to every node, searching no farther than ``bound``.

    Exact, like Dijkstra, but ordered for memory locality: a search from many scattered seeds
    settles nodes all over the network, so a heap order jumps around memory on every pop. Here
    the pending nodes (distance lowered, neighbours not yet relaxed) are flags in node order;
    each sweep walks them in node order, alternately up and down (so a chain of nodes numbered
    against the direction of travel takes one sweep, not one per node), and relaxes those
    closer than the smallest pending distance + ``step``, leaving the others for a later sweep,
    until nothing is pending. A node
    may be relaxed again if its distance drops later (label-correcting); the fixed point
    reached is the same as Dijkstra's, to the last bit: every distance is the smallest sum,
    added in path order, over the paths within the bound. ``step`` only changes the speed.

    Args:
        indptr, indices, weights: CSR adjacency (both directions), lengths in metres (≥ 0).
        seed_node, seed_dist, seed_label: start nodes, their initial distances (m) and a label
            each (e.g. the facility index); a node may appear several times.
        bound: largest distance of interest (m, may be ``inf``); nodes farther stay at ``inf``.
        with_label: track which seed each node is nearest to (costs a little time).
        step: distance band (m) relaxed per sweep, > 0 (see :func:`search_step`).

    Returns:
        (dist, label): float64 distances (``inf`` beyond the bound or unreachable) and the label
        of the seed each node is nearest to (-1 where unreached; empty without ``with_label``);
        between seeds at exactly equal distance either label may be returned.
    """
    if not step > 0:
        raise ValueError("step must be a positive distance in metres")
    n = indptr.shape[0] - 1
    n_words = (n + 7) >> 3
    dist = np.full(n, np.inf)
    label = np.full(n if with_label else 0, -1, dtype=np.int64)
    # pending flags, one byte per node; read eight at a time to skip empty stretches fast
    words = np.zeros(n_words, dtype=np.uint64)
    pending = words.view(np.uint8)
    lo = n_words  # word range holding every pending node
    hi = -1
    low = np.inf  # smallest pending distance
    for i in range(seed_node.shape[0]):
        node = seed_node[i]
        d = seed_dist[i]
        if d <= bound and d < dist[node]:
            dist[node] = d
            if with_label:
                label[node] = seed_label[i]
            pending[node] = 1
            lo = min(lo, node >> 3)
            hi = max(hi, node >> 3)
            low = min(low, d)
    forward = True
    while hi >= lo:
        limit = low + step
        low = np.inf
        next_lo = n_words
        next_hi = -1
        w = lo if forward else hi
        while (w <= hi) if forward else (w >= lo):  # the range grows as nodes ahead turn pending
            if words[w] != 0:
                for j in range(8):
                    node = (w << 3) + (j if forward else 7 - j)
                    if node >= n or pending[node] == 0:
                        continue
                    d = dist[node]
                    if d > limit:  # the nearest pending node always passes
                        low = min(low, d)
                        next_lo = min(next_lo, w)
                        next_hi = max(next_hi, w)
                        continue
                    pending[node] = 0
                    lab = label[node] if with_label else -1
                    for k in range(indptr[node], indptr[node + 1]):
                        nd = d + weights[k]
                        if nd > bound:
                            continue
                        nb = indices[k]
                        if nd < dist[nb]:
                            dist[nb] = nd
                            if with_label:
                                label[nb] = lab
                            pending[nb] = 1
                            if (nb < node) if forward else (nb > node):  # behind: next sweep
                                low = min(low, nd)
                                next_lo = min(next_lo, nb >> 3)
                                next_hi = max(next_hi, nb >> 3)
                            elif forward:
                                hi = max(hi, nb >> 3)
                            else:
                                lo = min(lo, nb >> 3)
            w += 1 if forward else -1
        lo = next_lo
        hi = next_hi
        forward = not forward
    return dist, label


@njit(cache=True, nogil=True)
def same_edge_nearest(point_edge, point_off, fac_ptr, fac_off, fac_dist0):
    """For every point, the best walk to a facility on the *same* edge (m), else ``inf``.

    ``fac_ptr`` is a CSR over edges: facilities of edge ``e`` are ``fac_ptr[e]:fac_ptr[e+1]``
    with their offsets ``fac_off`` (m from ``edge_u``) and access legs ``fac_dist0`` (m).
    Returns (distance along the edge plus the facility's access leg, facility position in the
    CSR order, -1 where none).
    """
    n = point_edge.shape[0]
    best = np.full(n, np.inf)
    which = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        e = point_edge[i]
        if e < 0:
            continue
        for k in range(fac_ptr[e], fac_ptr[e + 1]):
            d = fac_dist0[k] + abs(fac_off[k] - point_off[i])
            if d < best[i]:
                best[i] = d
                which[i] = k
    return best, which


@njit(cache=True, nogil=True)
def coverage_kernel(
    indptr,
    indices,
    weights,
    site_u,
    site_v,
    site_du,
    site_dv,
    site_edge,
    site_off,
    site_acc,
    node_pt_ptr,
    node_pt,
    node_pt_leg,
    edge_pt_ptr,
    edge_pt,
    edge_pt_off,
    edge_pt_acc,
    n_points,
    bound,
):
    """Bounded search from every site; sparse rows of covered points and distances (m).

    Args:
        indptr, indices, weights: CSR adjacency, metres.
        site_u, site_v, site_du, site_dv: per site the two end nodes of its edge and the walk
            (access leg + along-edge part, m) from the site to each.
        site_edge, site_off, site_acc: per site its edge, offset (m from ``edge_u``) and access
            leg (m), for points on the same edge.
        node_pt_ptr, node_pt, node_pt_leg: CSR node → demand points on incident edges, with
            the walk (m) from the node to the point (along-edge part + access leg).
        edge_pt_ptr, edge_pt, edge_pt_off, edge_pt_acc: CSR edge → demand points on it, with
            their offsets and access legs (m).
        n_points: number of demand points.
        bound: largest walking distance (m) counted as covered.

    Returns:
        (row_ptr, cols, vals): CSR arrays, one row per site; columns in the order the search
        reached them (not sorted).
    """
    n = indptr.shape[0] - 1
    n_sites = site_u.shape[0]
    dist = np.full(n, np.inf)
    best = np.full(n_points, np.inf)
    touched_nodes = np.empty(n, dtype=np.int64)
    touched_pts = np.empty(n_points, dtype=np.int64)
    cap = indices.shape[0] + 3
    hkey = np.empty(cap, dtype=np.float64)
    hnode = np.empty(cap, dtype=np.int32)
    row_ptr = np.zeros(n_sites + 1, dtype=np.int64)
    out_cap = max(1024, 16 * n_sites)
    cols = np.empty(out_cap, dtype=np.int64)
    vals = np.empty(out_cap, dtype=np.float64)
    nnz = 0
    for s in range(n_sites):
        n_touched = 0
        n_pts = 0
        size = 0
        if site_edge[s] >= 0:
            e = site_edge[s]
            for k in range(edge_pt_ptr[e], edge_pt_ptr[e + 1]):
                d = site_acc[s] + abs(edge_pt_off[k] - site_off[s]) + edge_pt_acc[k]
                p = edge_pt[k]
                if d <= bound and d < best[p]:
                    if best[p] == np.inf:
                        touched_pts[n_pts] = p
                        n_pts += 1
                    best[p] = d
            for j in range(2):
                node = site_u[s] if j == 0 else site_v[s]
                d = site_du[s] if j == 0 else site_dv[s]
                if d <= bound and d < dist[node]:
                    if dist[node] == np.inf:
                        touched_nodes[n_touched] = node
                        n_touched += 1
                    dist[node] = d
                    size = _push(hkey, hnode, size, d, node)
        while size > 0:
            d, node, size = _pop(hkey, hnode, size)
            if d > dist[node]:
                continue
            for k in range(node_pt_ptr[node], node_pt_ptr[node + 1]):
                c = d + node_pt_leg[k]
                p = node_pt[k]
                if c <= bound and c < best[p]:
                    if best[p] == np.inf:
                        touched_pts[n_pts] = p
                        n_pts += 1
                    best[p] = c
            for k in range(indptr[node], indptr[node + 1]):
                nb = indices[k]
                nd = d + weights[k]
                if nd < dist[nb] and nd <= bound:
                    if dist[nb] == np.inf:
                        touched_nodes[n_touched] = nb
                        n_touched += 1
                    dist[nb] = nd
                    size = _push(hkey, hnode, size, nd, nb)
        if nnz + n_pts > out_cap:
            out_cap = max(2 * out_cap, nnz + n_pts)
            new_cols = np.empty(out_cap, dtype=np.int64)
            new_vals = np.empty(out_cap, dtype=np.float64)
            new_cols[:nnz] = cols[:nnz]
            new_vals[:nnz] = vals[:nnz]
            cols = new_cols
            vals = new_vals
        for j in range(n_pts):
            p = touched_pts[j]
            cols[nnz + j] = p
            vals[nnz + j] = best[p]
            best[p] = np.inf
        nnz += n_pts
        row_ptr[s + 1] = nnz
        for j in range(n_touched):
            dist[touched_nodes[j]] = np.inf
    return row_ptr, cols[:nnz].copy(), vals[:nnz].copy()


@njit(cache=True, nogil=True)
def _segment_cells(ax, ay, bx, by, x0, y0, cell, nx, ny):
    """Grid columns and rows (first, last; clipped to the grid) a segment's bounding box covers."""
    cx0 = int((min(ax, bx) - x0) // cell)
    cx1 = int((max(ax, bx) - x0) // cell)
    cy0 = int((min(ay, by) - y0) // cell)
    cy1 = int((max(ay, by) - y0) // cell)
    return max(cx0, 0), min(cx1, nx - 1), max(cy0, 0), min(cy1, ny - 1)


@njit(cache=True, nogil=True)
def build_edge_grid(ax, ay, bx, by, x0, y0, cell, nx, ny):
    """Bucket segments into a uniform grid: every cell their bounding box overlaps.

    Returns the CSR (cell_ptr, cell_items) over the ``nx * ny`` cells (row-major in y).
    """
    m = ax.shape[0]
    counts = np.zeros(nx * ny + 1, dtype=np.int64)
    for e in range(m):
        cx0, cx1, cy0, cy1 = _segment_cells(ax[e], ay[e], bx[e], by[e], x0, y0, cell, nx, ny)
        for cy in range(cy0, cy1 + 1):
            for cx in range(cx0, cx1 + 1):
                counts[cy * nx + cx + 1] += 1
    cell_ptr = np.cumsum(counts)
    fill = cell_ptr[:-1].copy()
    items = np.empty(cell_ptr[-1], dtype=np.int64)
    for e in range(m):
        cx0, cx1, cy0, cy1 = _segment_cells(ax[e], ay[e], bx[e], by[e], x0, y0, cell, nx, ny)
        for cy in range(cy0, cy1 + 1):
            for cx in range(cx0, cx1 + 1):
                c = cy * nx + cx
                items[fill[c]] = e
                fill[c] += 1
    return cell_ptr, items


@njit(cache=True, nogil=True)
def _segment_distance(px, py, ax, ay, bx, by):
    dx = bx - ax
    dy = by - ay
    t = ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)
    t = min(max(t, 0.0), 1.0)
    return np.hypot(px - (ax + t * dx), py - (ay + t * dy))


@njit(cache=True, nogil=True)
def nearest_segments(px, py, ax, ay, bx, by, cell_ptr, items, x0, y0, cell, nx, ny, limit):
    """Index of and distance (m) to the nearest segment of every point within ``limit`` m.

    Searches grid rings outward from the point's cell; after ring ``r`` every unvisited
    segment is at least ``r * cell`` away, so the search stops once the best distance found is
    no larger (exact), or once ``r * cell`` exceeds ``limit`` (then -1 and ``inf`` are returned
    unless a segment within ``limit`` was found). Ties are broken deterministically.
    """
    n = px.shape[0]
    best_e = np.full(n, -1, dtype=np.int64)
    best_d = np.full(n, np.inf)
    for i in range(n):
        ix = int(np.floor((px[i] - x0) / cell))
        iy = int(np.floor((py[i] - y0) / cell))
        r = 0
        while True:
            for cy in range(max(iy - r, 0), min(iy + r, ny - 1) + 1):
                edge_row = cy == iy - r or cy == iy + r
                step = 1 if edge_row else 2 * r
                cx = ix - r
                while cx <= ix + r:
                    if 0 <= cx < nx:
                        c = cy * nx + cx
                        for k in range(cell_ptr[c], cell_ptr[c + 1]):
                            e = items[k]
                            d = _segment_distance(px[i], py[i], ax[e], ay[e], bx[e], by[e])
                            if d < best_d[i] or (d == best_d[i] and e < best_e[i]):
                                best_d[i] = d
                                best_e[i] = e
                    if step == 0:
                        break
                    cx += step
            if best_d[i] <= r * cell:
                break
            if r * cell > limit:
                if best_d[i] > limit:
                    best_d[i] = np.inf
                    best_e[i] = -1
                break
            r += 1
    return best_e, best_d
