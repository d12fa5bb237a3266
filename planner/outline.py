"""The outline of a grid mask as polygons: each 4-connected group of true cells becomes one
polygon (the union of its square cells, with its holes), traced along the cell edges by a
compiled walk that keeps only the corners. The same polygons as GDAL's polygonize with
4-connectivity, without building a Python object per vertex.
"""

from __future__ import annotations

import numpy as np
import shapely
from numba import njit
from scipy import ndimage

# Directions East, South, West, North as (row, column) steps; row grows downwards.
_DR = np.array([0, 1, 0, -1], dtype=np.int64)
_DC = np.array([1, 0, -1, 0], dtype=np.int64)
# The cell on the left of an edge leaving lattice point (r, c) in each direction, as offsets
# from (r, c) (the cell on its right is the next direction's left cell): the true cells stay
# on the left, so a shell runs anticlockwise on the map and a hole clockwise.
_LEFT = np.array([[-1, 0], [0, 0], [0, -1], [-1, -1]], dtype=np.int64)


@njit(cache=True, nogil=True)
def _trace(mask, labels, dr, dc, left):
    """Every boundary ring of ``mask`` (padded with false cells; ``labels`` numbers its
    4-connected groups): corner lattice points (row, column), the index of each ring's first
    corner, and a true cell on each ring's left. Where two true cells touch only diagonally,
    the walk passes from one to the other when they are in one group (the ring then meets a
    hole's ring at that point) and stays with its own otherwise."""
    height, width = mask.shape
    edge = np.zeros((height + 1, width + 1, 4), dtype=np.bool_)
    n_edges = 0
    for r in range(1, height):
        for c in range(1, width):
            nw, ne, sw, se = mask[r - 1, c - 1], mask[r - 1, c], mask[r, c - 1], mask[r, c]
            if nw == ne and sw == se and nw == sw:
                continue
            # an edge in direction d has the true cell left[d] on its left, a false one right
            edge[r, c, 0] = ne and not se
            edge[r, c, 1] = se and not sw
            edge[r, c, 2] = sw and not nw
            edge[r, c, 3] = nw and not ne
            n_edges += edge[r, c, 0] + edge[r, c, 1] + edge[r, c, 2] + edge[r, c, 3]
    corners = np.empty((n_edges, 2), dtype=np.int64)
    starts = np.empty(n_edges + 1, dtype=np.int64)
    cell = np.empty((n_edges, 2), dtype=np.int64)
    k = n_rings = 0
    for r0 in range(1, height):
        for c0 in range(1, width):
            for d0 in range(4):
                if not edge[r0, c0, d0]:
                    continue
                starts[n_rings] = k
                cell[n_rings, 0], cell[n_rings, 1] = r0 + left[d0, 0], c0 + left[d0, 1]
                n_rings += 1
                r, c, d = r0, c0, d0
                while True:
                    hug = labels[r + left[d, 0], c + left[d, 1]]
                    r, c = r + dr[d], c + dc[d]
                    nd = (d + 1) % 4  # right, unless left is open and leads elsewhere
                    if edge[r, c, (d + 3) % 4] and (
                            not edge[r, c, nd] or labels[r + left[nd, 0], c + left[nd, 1]] != hug):
                        nd = (d + 3) % 4
                    elif not edge[r, c, nd]:
                        nd = d
                    if nd != d:
                        corners[k, 0], corners[k, 1] = r, c
                        k += 1
                    d = nd
                    if r == r0 and c == c0 and d == d0:
                        break
                    edge[r, c, d] = False
                edge[r0, c0, d0] = False
    starts[n_rings] = k
    return corners[:k], starts[:n_rings + 1], cell[:n_rings]


def mask_polygons(mask: np.ndarray, x0: float, y1: float, cell_m: float) -> np.ndarray:
    """Polygons of the 4-connected groups of true cells of ``mask`` (row 0 at the top), on a
    grid whose top-left corner is (``x0``, ``y1``) metres and whose cells are ``cell_m``
    metres square. Returns an array of shapely polygons (empty when no cell is true)."""
    padded = np.pad(np.asarray(mask, dtype=bool), 1)
    labels, _ = ndimage.label(padded)
    corners, starts, cell = _trace(padded, labels, _DR, _DC, _LEFT)
    if len(cell) == 0:
        return np.empty(0, dtype=object)
    group = labels[cell[:, 0], cell[:, 1]]
    sizes = np.diff(starts)
    ring_of = np.repeat(np.arange(len(sizes)), sizes)
    x = x0 + (corners[:, 1] - 1) * cell_m
    y = y1 - (corners[:, 0] - 1) * cell_m
    nxt = np.arange(len(x)) + 1
    nxt[starts[1:] - 1] = starts[:-1]  # each ring closes on its first corner
    area = np.bincount(ring_of, weights=x * y[nxt] - x[nxt] * y, minlength=len(sizes))
    order = np.lexsort((area <= 0, group))  # per group, its shell (anticlockwise) first
    pos = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in order])
    ring_ids = np.repeat(np.arange(len(order)), sizes[order])
    rings = shapely.linearrings(x[pos], y[pos], indices=ring_ids)
    _, owner = np.unique(group[order], return_inverse=True)
    return shapely.polygons(rings, indices=owner)
