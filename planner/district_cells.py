"""Which district (街道/社区 polygon) a demand cell belongs to — the one rule shared by the
calibration to district totals, the coverage-per-district table and the map, so that a
district calibrated to its census count shows exactly that count.
"""

from __future__ import annotations

import numpy as np
import shapely

#: The rule in words, for the notes of a run.
RULE = ("a cell belongs to the district holding its centre, a centre on a shared border to the "
        "district listed first")


def districts_of_points(points: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """Index in ``polygons`` of the district holding each point (−1 outside all districts).

    Args:
        points: (n, 2) coordinates in metres, in the CRS of ``polygons``.
        polygons: (k,) district (multi)polygons.

    A point on a border counts as inside; where districts overlap or share a border, the
    district listed first wins. Invalid polygons are repaired first.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    zone = np.full(len(points), -1, dtype=np.int64)
    if len(points) == 0 or len(polygons) == 0:
        return zone
    tree = shapely.STRtree(shapely.make_valid(np.asarray(polygons, dtype=object)))
    pt_idx, poly_idx = tree.query(shapely.points(points), predicate="intersects")
    order = np.lexsort((poly_idx, pt_idx))
    pt_idx, poly_idx = pt_idx[order], poly_idx[order]
    first = np.ones(len(pt_idx), dtype=bool)
    first[1:] = pt_idx[1:] != pt_idx[:-1]
    zone[pt_idx[first]] = poly_idx[first]
    return zone


def cell_centres(ix: np.ndarray, iy: np.ndarray, cell_m: float) -> np.ndarray:
    """(n, 2) centres in metres of the grid cells (ix, iy) of size ``cell_m``."""
    return np.column_stack([(np.asarray(ix) + 0.5) * cell_m, (np.asarray(iy) + 0.5) * cell_m])


def districts_of_cells(ix: np.ndarray, iy: np.ndarray, cell_m: float,
                       polygons: np.ndarray) -> np.ndarray:
    """Index in ``polygons`` of each grid cell's district by :data:`RULE` (−1 outside all)."""
    return districts_of_points(cell_centres(ix, iy, cell_m), polygons)
