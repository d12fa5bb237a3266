"""The lexicographic second stage: among optimal answers, the one whose newly covered people
walk least (people-weighted metres to their nearest chosen site).
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from planner.optimize import milp as models_milp
from planner.optimize.lpbound import forced_in_bounds, lp_bound
from planner.optimize.problem import CoverInstance, Inputs, covered_by, index_ranges, structure

#: Largest number of covered pairs the distance tie-break stage will model.
TIE_BREAK_MAX_PAIRS = 200_000

#: Seconds the distance tie-break may take: this share of the time limit, at least the floor
#: (and never past the limit). It polishes a secondary objective, so it does not run out the
#: clock after a fast proof.
TIE_BREAK_SHARE, TIE_BREAK_MIN_S = 0.2, 2.0


def nearest_distance(coverage: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """Walking distance (metres) from each cell to its nearest site among ``rows``
    (``inf`` where none covers it)."""
    out = np.full(coverage.shape[1], np.inf)
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows):
        sub = coverage[rows].tocoo()
        np.minimum.at(out, sub.col, sub.data)
    return out


def distance_stage_pairs(
    inputs: Inputs, decision_rows: np.ndarray, cells: np.ndarray, deadline: float,
    time_limit_s: float,
) -> tuple[np.ndarray, sp.csr_matrix | None, float, str]:
    """Inputs of a lexicographic distance stage: the decision rows reaching ``cells``, their
    covered pairs and the seconds it may take — or, with pairs None, why it is skipped."""
    rows = decision_rows[np.diff(structure(inputs.coverage, decision_rows, cells).indptr) > 0]
    pairs = inputs.coverage[rows][:, cells]
    if pairs.nnz > TIE_BREAK_MAX_PAIRS:
        return rows, None, 0.0, (f"skipped: {pairs.nnz} covered pairs exceed the "
                                 f"{TIE_BREAK_MAX_PAIRS} the distance stage models")
    left = min(deadline - time.perf_counter(),
               max(TIE_BREAK_MIN_S, TIE_BREAK_SHARE * time_limit_s))
    if left <= 0.05:
        return rows, None, 0.0, "skipped: no time left"
    return rows, pairs, left, ""


def sites_for_value(
    pairs: sp.csr_matrix, w: np.ndarray, cost: np.ndarray, budget: float, first: float,
    keep: np.ndarray, time_limit_s: float,
) -> np.ndarray:
    """Which rows of ``pairs`` some answer covering at least ``first`` people (weights ``w``)
    within ``budget`` may open: a row whose Lagrangian bound at the LP's prices, with the row
    forced open, stays below ``first`` is in no such answer, so the distance stage can leave
    it out without changing its optimum. Rows in ``keep`` stay; all stay when the LP does not
    finish within ``time_limit_s`` seconds."""
    reach = sp.csr_matrix((np.ones(pairs.nnz), pairs.indices, pairs.indptr), shape=pairs.shape)
    lb = lp_bound(reach, w, cost, budget, time_limit_s)
    if lb is None:
        return np.ones(pairs.shape[0], dtype=bool)
    return keep | (forced_in_bounds(lb, cost, budget) >= first - 1e-7 * max(1.0, first))


def distance_start(pairs: sp.csr_matrix, rows: np.ndarray, chosen_rows: np.ndarray) -> np.ndarray:
    """The first-stage answer as a point ``(x, z, y)`` of the distance model: its sites open
    and each cell they cover walking to the nearest of them."""
    x = np.isin(rows, chosen_rows).astype(np.float64)
    pos = np.flatnonzero(x)
    e = index_ranges(pairs.indptr[pos], pairs.indptr[pos + 1])
    cell = pairs.indices[e]
    order = np.lexsort((pairs.data[e], cell))
    e, cell = e[order], cell[order]
    nearest = np.unique(cell, return_index=True)[1]
    z, y = np.zeros(pairs.nnz), np.zeros(pairs.shape[1])
    z[e[nearest]] = 1.0
    y[cell[nearest]] = 1.0
    return np.concatenate([x, z, y])


def tie_break_max(
    inputs: Inputs, inst: CoverInstance, decision_rows: np.ndarray, cost: np.ndarray,
    budget: float, chosen_rows: np.ndarray, first: float, clock: tuple[float, float],
) -> tuple[np.ndarray, str]:
    """Second stage for MCLP/joint after a first stage that chose ``chosen_rows`` (rows of the
    coverage matrix) covering ``first`` (weighted people); ``clock`` is (deadline,
    time_limit_s). Returns (chosen rows, description)."""
    cells = np.flatnonzero(inst.group_of_cell >= 0)
    if len(chosen_rows) == 0 or len(cells) == 0:
        return chosen_rows, "not needed (nothing to choose)"
    rows, pairs, left, skipped = distance_stage_pairs(inputs, decision_rows, cells, *clock)
    if pairs is None:
        return chosen_rows, skipped
    w = inputs.weights[cells]
    end = time.perf_counter() + left
    usable = sites_for_value(pairs, w, cost[rows], budget, first, np.isin(rows, chosen_rows),
                             0.5 * left)
    rows, pairs = rows[usable], pairs[usable]
    reached = np.bincount(pairs.indices, minlength=pairs.shape[1]) > 0
    pairs, w_reached = sp.csr_matrix(pairs[:, reached]), w[reached]
    out = models_milp.solve(
        *models_milp.distance_model(pairs, w_reached, cost[rows], budget,
                                    first - 1e-9 * max(1.0, first), None),
        time_limit_s=end - time.perf_counter(), mip_gap=1e-6,
        start=distance_start(pairs, rows, chosen_rows),
    )
    if out.x is None:
        return chosen_rows, f"stage 2 found no answer ({out.status}); first-stage answer kept"
    cand = rows[out.x[: len(rows)] > 0.5]
    value_new = float(w[covered_by(inputs.coverage[:, cells], cand)].sum())
    if value_new < first - 1e-9 * max(1.0, first):
        return chosen_rows, "stage 2 answer covered fewer people; first-stage answer kept"

    def dist(r):
        d = nearest_distance(inputs.coverage[:, cells], r)
        ok = np.isfinite(d)
        return float((w[ok] * d[ok]).sum())

    if dist(cand) <= dist(chosen_rows) + 1e-9:
        return np.sort(cand), ("lexicographic: least people-weighted walking distance of the "
                               f"newly covered among optimal answers ({out.status})")
    return chosen_rows, "lexicographic stage did not shorten walks; first-stage answer kept"


def tie_break_min(
    inputs: Inputs, inst: CoverInstance, cost: np.ndarray, chosen_rows: np.ndarray,
    value: float, clock: tuple[float, float],
) -> tuple[np.ndarray, str]:
    """Second stage for LSCP after a first stage whose cover ``chosen_rows`` costs ``value``;
    ``clock`` is (deadline, time_limit_s). Returns (chosen rows, description)."""
    cells = np.flatnonzero(inst.group_of_cell >= 0)
    rows, pairs, left, skipped = distance_stage_pairs(
        inputs, np.flatnonzero(inputs.sites.decision), cells, *clock)
    if pairs is None:
        return chosen_rows, skipped
    w = inputs.weights[cells]
    out = models_milp.solve(
        *models_milp.distance_model(pairs, w, cost[rows], np.inf, None, value + 1e-9),
        time_limit_s=left, mip_gap=1e-6, start=distance_start(pairs, rows, chosen_rows),
    )
    if out.x is None:
        return chosen_rows, f"stage 2 found no answer ({out.status}); first-stage answer kept"
    cand = rows[out.x[: len(rows)] > 0.5]
    sub = inputs.coverage[:, cells]
    if float(cost[cand].sum()) > value + 1e-9 or not covered_by(sub, cand).all():
        return chosen_rows, "stage 2 answer was not a cheapest cover; first-stage answer kept"
    d_new, d_old = nearest_distance(sub, cand), nearest_distance(sub, chosen_rows)
    if float((w * d_new).sum()) <= float((w * d_old).sum()) + 1e-9:
        return np.sort(cand), ("lexicographic: least people-weighted walking distance among "
                               f"cheapest covers ({out.status})")
    return chosen_rows, "lexicographic stage did not shorten walks; first-stage answer kept"
