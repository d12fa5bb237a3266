"""Large-neighbourhood search: re-solve one small area of the answer exactly, keep the rest.

Coverage is local: a site only competes with the sites whose catchments overlap its own. So
the answer improves by freeing a few chosen sites that lie close together (a seed site and the
chosen sites up to two catchment overlaps away) and re-choosing them exactly — a small MILP
over the sites overlapping the freed ones (the most promising 200 where catchments are dense),
on the people the kept sites leave uncovered.
One-site swaps cannot move several sites at once; this can, and it scales with the size of
the area, not of the city.

Seeds are visited in turn. A seed whose neighbourhood did not improve is not tried again until
a change nearby; the search stops when no seed is left (a local optimum for these
neighbourhoods) or at the deadline, so it is deterministic when it finishes.
A neighbourhood whose Lagrangian bound (at given multipliers λ) or LP relaxation cannot beat
its current people is skipped; an integral LP answer is taken without branching.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from planner.optimize import milp as models_milp
from planner.optimize.lpbound import knapsack
from planner.optimize.problem import covered_by, merge_cells, nearby_chosen

#: Chosen sites freed at once, round by round: small neighbourhoods solve fast and make most
#: of the gains; larger ones then escape the small ones' local optimum at a higher cost each.
NEIGHBOURHOOD_SIZES = (3, 4, 5, 6, 7, 8)
#: Most candidate sites in one neighbourhood MILP (those adding the most people are kept).
NEIGHBOURHOOD_MAX_CANDIDATES = 200
#: Longest a single neighbourhood MILP may run (seconds).
NEIGHBOURHOOD_LIMIT_S = 2.0


def improve_by_neighbourhoods(
    A: sp.csr_matrix,
    w: np.ndarray,
    cost: np.ndarray,
    budget: float,
    chosen: np.ndarray,
    deadline: float,
    *,
    allowed: np.ndarray | None = None,
    lam: np.ndarray | None = None,
    sizes: tuple[int, ...] = NEIGHBOURHOOD_SIZES,
    stop: threading.Event | None = None,
    on_improve: Callable[[float], None] | None = None,
) -> np.ndarray:
    """Improve a chosen set of sites (rows of the 0/1 sites × cells ``A``) by exact re-solves
    of small neighbourhoods; returns the improved set (never worse).

    Args:
        A, w, cost, budget: the instance (people per cell, cost per site, total budget).
        chosen: the starting answer, within the budget.
        deadline: ``time.perf_counter()`` value at which to stop.
        allowed: sites that may be opened (default all); sites proven useless are excluded.
        lam: Lagrangian multipliers per cell (people) for skipping hopeless neighbourhoods.
        sizes: chosen sites freed per neighbourhood, one local-optimum round per size.
        stop: an event that ends the search early when set (e.g. optimality proven elsewhere).
        on_improve: called with the people covered by each better answer.
    """
    chosen = np.array(sorted(chosen), dtype=np.int64)
    if len(chosen) == 0:
        return chosen
    by_cell = sp.csr_matrix(A.T)
    allowed = np.ones(A.shape[0], dtype=bool) if allowed is None else allowed.copy()
    allowed[chosen] = True
    count = _cover_count(A, chosen)
    tol = 1e-9 * max(1.0, float(w.sum()))
    stop = stop or threading.Event()
    inst = _Instance(A, by_cell, w, cost, budget, allowed, lam, tol)
    for size in sizes:
        if 2 * size > len(chosen) or time.perf_counter() >= deadline or stop.is_set():
            break  # freeing half the answer or more is nearly the whole problem: the MILP's job
        chosen, count = _round(inst, chosen, count, size, deadline, stop, on_improve)
    return chosen


@dataclass(frozen=True)
class _Instance:
    """What every neighbourhood re-solve shares: the instance, ``by_cell`` (``A`` transposed),
    the sites that may open, the Lagrangian prices (or None) and the improvement tolerance."""

    A: sp.csr_matrix
    by_cell: sp.csr_matrix
    w: np.ndarray
    cost: np.ndarray
    budget: float
    allowed: np.ndarray
    lam: np.ndarray | None
    tol: float


def _round(
    inst: _Instance, chosen: np.ndarray, count: np.ndarray, size: int, deadline: float,
    stop: threading.Event, on_improve: Callable[[float], None] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Improve with neighbourhoods of ``size`` chosen sites until none improves."""
    A, by_cell, w = inst.A, inst.by_cell, inst.w
    pending = np.ones(A.shape[0], dtype=bool)  # chosen sites whose neighbourhood may improve
    last = -1
    while time.perf_counter() < deadline and not stop.is_set():
        todo = chosen[pending[chosen]]
        if len(todo) == 0:
            break
        later = todo[todo > last]
        seed = int(later[0] if len(later) else todo[0])
        last = seed
        free = nearby_chosen(A, by_cell, chosen, seed, size)
        better = _resolve(inst, chosen, free, count,
                          min(NEIGHBOURHOOD_LIMIT_S, deadline - time.perf_counter()))
        pending[seed] = False
        if better is None:
            continue
        chosen = np.sort(np.concatenate([np.setdiff1d(chosen, free), better]))
        count = _cover_count(A, chosen)
        if on_improve is not None:
            on_improve(float(w[count > 0].sum()))
        # the neighbourhoods of chosen sites near the change may now improve again
        moved = np.union1d(free, better)
        ring = np.unique(by_cell[np.flatnonzero(covered_by(A, moved))].indices)
        near = np.asarray(A[chosen] @ covered_by(A, ring).astype(np.float64)).ravel() > 0
        pending[chosen[near]] = True
    return chosen, count


def _cover_count(A: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """How many of the given sites cover each cell."""
    return np.bincount(A[rows].indices, minlength=A.shape[1])


def _resolve(
    inst: _Instance, chosen: np.ndarray, free: np.ndarray, count: np.ndarray, limit: float
) -> np.ndarray | None:
    """Best re-choice of the freed sites' budget among the sites overlapping them, or None
    when it covers no more people than the freed sites do."""
    A, by_cell, w, cost, lam, tol = inst.A, inst.by_cell, inst.w, inst.cost, inst.lam, inst.tol
    kept = np.setdiff1d(chosen, free)
    kept_count = count - _cover_count(A, free)
    area = covered_by(A, free)
    cand = np.unique(by_cell[np.flatnonzero(area)].indices)
    cand = cand[inst.allowed[cand] & ~np.isin(cand, kept)]
    if len(cand) > NEIGHBOURHOOD_MAX_CANDIDATES:  # dense catchments: the most promising only
        gain = np.asarray(A[cand] @ np.where(kept_count > 0, 0.0, w)).ravel()
        gain[np.isin(cand, free)] = np.inf
        cand = np.sort(cand[np.argsort(-gain, kind="stable")[:NEIGHBOURHOOD_MAX_CANDIDATES]])
    sub = sp.csr_matrix(A[cand])
    cells = np.flatnonzero(covered_by(sub, np.arange(len(cand))) & (kept_count == 0))
    if len(cells) == 0:
        return None
    sub = sp.csr_matrix(sub[:, cells])
    wc = w[cells]
    current = float(wc[count[cells] > 0].sum())
    group, n_groups = merge_cells(sub)
    wg = np.bincount(group, weights=wc, minlength=n_groups)
    sub = sp.csr_matrix((np.ones(sub.nnz), group[sub.indices], sub.indptr),
                        shape=(sub.shape[0], n_groups))
    sub.sum_duplicates()
    sub.data[:] = 1.0
    room = inst.budget - float(cost[kept].sum())
    if lam is not None:
        lc = np.bincount(group, weights=np.clip(lam[cells], 0.0, wc), minlength=n_groups)
        bound = float(np.maximum(wg - lc, 0.0).sum()) + knapsack(
            np.asarray(sub @ lc).ravel(), cost[cand], room)
        if bound <= current + tol:
            return None
    if limit <= 0.01:
        return None
    model = models_milp.mclp_model(sub, wg, cost[cand], room)
    relaxed = models_milp.solve(*model[:-1], np.zeros_like(model[-1]), time_limit_s=limit,
                                mip_gap=0.0)
    if relaxed.x is None or -relaxed.fun <= current + tol:
        return None  # not even the relaxation beats the current sites
    x = relaxed.x[: len(cand)]
    if np.any((x > 1e-6) & (x < 1 - 1e-6)):
        out = models_milp.solve(*model, time_limit_s=limit, mip_gap=0.0)
        if out.x is None:
            return None
        x = out.x[: len(cand)]
    pick = np.flatnonzero(x > 0.5)
    if float(wg[covered_by(sub, pick)].sum()) <= current + tol:
        return None
    return cand[pick]
