"""Greedy siting: the warm start and the fallback for instances too large to prove.

The gains of every site are kept up to date incrementally: when a site is opened, the cells it
newly covers are subtracted from the gains of every other site reaching them (one sparse
product over those cells only). That gives exactly the picks of the lazy greedy — the site with
the largest current marginal gain, lowest index on ties — while touching each covered pair at
most once over the whole run.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from planner.optimize.problem import covered_by


@dataclass(frozen=True)
class GreedyPicks:
    """Sites picked (rows of the instance matrix) in pick order and each one's marginal gain."""

    order: np.ndarray
    gains: np.ndarray

    @property
    def value(self) -> float:
        return float(self.gains.sum())


def greedy_cover(
    A: sp.csr_matrix,
    w: np.ndarray,
    cost: np.ndarray,
    budget: float,
    *,
    covered: np.ndarray | None = None,
    ratio: bool = False,
    stop_when_covered: bool = False,
) -> GreedyPicks:
    """Greedy maximum coverage on a 0/1 sites × cells matrix.

    Args:
        A: sites × cells, 0/1 structure.
        w: people per cell.
        cost: budget cost per site; a site is picked only while it fits the budget.
        budget: total budget (count or money, same unit as ``cost``).
        covered: cells already covered (counted as zero gain).
        ratio: rank sites by gain per unit cost instead of gain.
        stop_when_covered: stop as soon as every cell with people is covered (set cover).
    """
    n_sites = A.shape[0]
    cov = np.zeros(A.shape[1], dtype=bool) if covered is None else covered.copy()
    residual = np.where(cov, 0.0, w)
    gains = np.asarray(A @ residual, dtype=np.float64).ravel()
    by_cell = sp.csc_matrix(A)
    available = np.ones(n_sites, dtype=bool)
    left = float(budget)
    order: list[int] = []
    picked_gain: list[float] = []
    tol = 1e-9 * max(1.0, float(w.sum()))
    safe_cost = np.where(cost > 0, cost, np.nan)
    while True:
        available &= cost <= left + 1e-9
        if not available.any():
            break
        score = np.where(available, gains, -np.inf)
        if ratio:
            free = available & (cost <= 0) & (gains > tol)
            score = np.where(free, np.inf, np.where(available, gains / safe_cost, -np.inf))
            score = np.nan_to_num(score, nan=-np.inf)
        j = int(np.argmax(score))
        if gains[j] <= tol:
            break
        cells = A.indices[A.indptr[j] : A.indptr[j + 1]]
        new = cells[~cov[cells]]
        cov[new] = True
        order.append(j)
        picked_gain.append(float(w[new].sum()))
        gains -= np.asarray(by_cell[:, new] @ w[new]).ravel()
        available[j] = False
        left -= float(cost[j])
        if stop_when_covered and not (w[~cov] > 0).any():
            break
    return GreedyPicks(np.array(order, dtype=np.int64), np.array(picked_gain))


def swap_search(
    A: sp.csr_matrix, w: np.ndarray, chosen: np.ndarray, deadline: float
) -> np.ndarray:
    """Best-improvement 1-swap local search for a count budget: repeatedly replace the chosen
    site whose removal loses least by the outside site that gains most, evaluating every
    (in, out) pair exactly, until no swap adds people or ``deadline`` (perf_counter) passes.
    """
    chosen = np.array(sorted(chosen), dtype=np.int64)
    n, k = A.shape[0], len(chosen)
    if k == 0 or k == n:
        return chosen
    tol = 1e-9 * max(1.0, float(w.sum()))
    while time.perf_counter() < deadline:
        count = np.asarray(A[chosen].sum(axis=0)).ravel()
        gain = np.asarray(A @ np.where(count == 0, w, 0.0)).ravel()  # adding j
        only = np.where(count == 1, w, 0.0)  # cells a single chosen site covers
        sub = sp.csr_matrix(A[chosen])
        rows = np.repeat(np.arange(k), np.diff(sub.indptr))
        u = sp.csc_matrix((only[sub.indices], (sub.indices, rows)), shape=(A.shape[1], k))
        loss = np.asarray(u.sum(axis=0)).ravel()  # removing chosen s
        back = (A @ u).toarray()  # people of s's sole cells that j would cover again
        delta = gain[:, None] + back - loss[None, :]
        delta[chosen, :] = -np.inf
        j, s = np.unravel_index(int(np.argmax(delta)), delta.shape)
        if delta[j, s] <= tol:
            break
        chosen[s] = j
        chosen.sort()
    return chosen


def kicked_swap_search(
    A: sp.csr_matrix, w: np.ndarray, chosen: np.ndarray, deadline: float, *,
    allowed: np.ndarray | None = None, patience: int = 200, seed: int = 0,
    stop: threading.Event | None = None,
) -> np.ndarray:
    """Iterated local search for a count budget: replace a few chosen sites (a kick), run
    :func:`swap_search` again, keep the result when it covers more people.

    A kick brings in random sites, or random picks among the sites adding the most people to
    those kept; the kind chosen more often is the one that has improved the answer more often
    (random kicks suit sprawling instances, informed ones densely covered instances). Stops
    after ``patience`` kicks in a row without improvement or at ``deadline`` (perf_counter). The kicks come from a generator seeded with ``seed``, so a search that
    ends by patience is reproducible. ``allowed`` limits the sites a kick may bring in;
    ``stop`` ends the search early when set.
    """
    chosen = np.array(sorted(chosen), dtype=np.int64)
    p = len(chosen)
    base = np.ones(A.shape[0], dtype=bool) if allowed is None else allowed
    rng = np.random.default_rng(seed)
    kick = min(5, max(1, round(0.4 * p)))
    best = float(w[covered_by(A, chosen)].sum())
    tol = 1e-9 * max(1.0, float(w.sum()))
    failures, wins = 0, [0, 0]  # improvements by random and by informed kicks
    stop = stop or threading.Event()
    while failures < patience and time.perf_counter() < deadline and not stop.is_set():
        outside = base.copy()
        outside[chosen] = False
        pool = np.flatnonzero(outside)
        k = min(kick, len(pool))
        if p == 0 or k == 0:
            break
        out = rng.choice(p, k, replace=False)
        kept = np.delete(chosen, out)
        informed = rng.random() < (1 + wins[1]) / (2 + wins[0] + wins[1])
        if informed and len(pool) > 4 * k:
            gain = np.asarray(A[pool] @ np.where(covered_by(A, kept), 0.0, w)).ravel()
            pool = pool[np.argpartition(-gain, 4 * k)[: 4 * k]]
        trial = np.concatenate([kept, rng.choice(pool, k, replace=False)])
        trial = swap_search(A, w, trial, deadline)
        value = float(w[covered_by(A, trial)].sum())
        if value > best + tol:
            chosen, best, failures = np.sort(trial), value, 0
            wins[int(informed)] += 1
        else:
            failures += 1
    return chosen


def funding_order(
    A: sp.csr_matrix,
    w: np.ndarray,
    chosen: np.ndarray,
    covered: np.ndarray,
    cost: np.ndarray | None = None,
) -> GreedyPicks:
    """Order a chosen set of sites the way a budget would fund them: each next site is the one
    adding the most people (per unit cost when ``cost`` is given) to what is already covered.

    Returns picks as positions into ``chosen``, with every chosen site listed (zero-gain ones
    last, in input order).
    """
    sub = sp.csr_matrix(A[chosen])
    c = np.ones(len(chosen)) if cost is None else np.asarray(cost, dtype=np.float64)
    picks = greedy_cover(sub, w, c, float(c.sum()) + 1.0, covered=covered, ratio=cost is not None)
    rest = np.setdiff1d(np.arange(len(chosen)), picks.order, assume_unique=True)
    return GreedyPicks(
        np.concatenate([picks.order, rest]), np.concatenate([picks.gains, np.zeros(len(rest))])
    )
