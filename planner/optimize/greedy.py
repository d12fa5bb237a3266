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
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit

from planner.optimize.problem import covered_by, nearby_chosen


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
    A: sp.csr_matrix, w: np.ndarray, chosen: np.ndarray, deadline: float,
    candidates: np.ndarray | None = None, cost: np.ndarray | None = None,
    budget: float | None = None,
) -> np.ndarray:
    """Best-improvement local search: repeatedly replace the chosen site whose removal loses
    least by the outside site that gains most, evaluating every (in, out) pair exactly, until
    no swap adds people or ``deadline`` (perf_counter) passes.

    With ``cost`` and ``budget`` a swap must keep the total cost within the budget, and sites
    that fit the money left are added (most people first) whenever they add people.
    ``candidates`` limits the sites that may come in (default: all), which makes a repair
    after a local change cost in proportion to the area changed, not the city.
    """
    chosen = np.array(sorted(chosen), dtype=np.int64)
    n = A.shape[0]
    unit = cost is None
    cost = np.ones(n) if unit else np.asarray(cost, dtype=np.float64)
    slack = np.array([0.0 if unit else float(budget) - float(cost[chosen].sum())])
    cand = np.arange(n, dtype=np.int64) if candidates is None else np.unique(
        np.asarray(candidates, dtype=np.int64))
    w = np.asarray(w, dtype=np.float64)
    tol = 1e-9 * max(1.0, float(w.sum()))
    while time.perf_counter() < deadline:
        if not unit:
            chosen = _add_affordable(A, w, cost, chosen, cand, slack, tol)
        k = len(chosen)
        if k == 0 or k == n:
            break
        is_chosen = np.zeros(n, dtype=np.bool_)
        is_chosen[chosen] = True
        sub = A[chosen]
        owner = np.repeat(np.arange(k), np.diff(sub.indptr))
        count = np.bincount(sub.indices, minlength=A.shape[1]).astype(np.int64)
        owner_sum = np.bincount(sub.indices, weights=owner, minlength=A.shape[1]).astype(np.int64)
        made = 0
        while time.perf_counter() < deadline:
            moves = _swap_moves(A.indptr, A.indices, w, cost, slack, chosen, cand, is_chosen,
                                count, owner_sum, tol, _MOVES_PER_CALL)
            made += moves
            if moves < _MOVES_PER_CALL:
                break
        if unit or made == 0:  # swaps freed no money for another site
            break
    return np.sort(chosen)


def warm_up() -> None:
    """Compile the swap kernel now, or load it from numba's cache (about 4 s the first time
    after installing, 0.4 s later), so that no solve spends its time limit on it. Callers with
    other work to do first (reading a city) run this in a background thread."""
    swap_search(sp.csr_matrix(np.eye(2)), np.ones(2), np.array([0]), time.perf_counter() + 60.0)


def _add_affordable(A, w, cost, chosen, cand, slack, tol) -> np.ndarray:
    """Add, most people first, candidate sites that fit the money left (``slack``, updated in
    place) and add people."""
    chosen = list(chosen)
    covered = covered_by(A, np.array(chosen, dtype=np.int64))
    out = np.ones(A.shape[0], dtype=bool)
    out[chosen] = False
    while True:
        fit = cand[out[cand] & (cost[cand] <= slack[0] + 1e-9)]
        if len(fit) == 0:
            break
        gain = np.asarray(A[fit] @ np.where(covered, 0.0, w)).ravel()
        j = int(np.argmax(gain))
        if gain[j] <= tol:
            break
        site = int(fit[j])
        chosen.append(site)
        out[site] = False
        slack[0] -= cost[site]
        covered[A.indices[A.indptr[site]:A.indptr[site + 1]]] = True
    return np.array(sorted(chosen), dtype=np.int64)


#: Swaps made per compiled call between deadline checks.
_MOVES_PER_CALL = 8


@njit(cache=True, nogil=True)
def _swap_moves(indptr, indices, w, cost, slack, chosen, cand, is_chosen, count, owner_sum, tol,
                max_moves):
    """Make up to ``max_moves`` best-improvement swaps in place, each within the money left
    (``slack[0]``, updated); returns how many were made (fewer means no swap gains more than
    ``tol``). ``count[i]`` is the number of chosen sites covering cell i and ``owner_sum[i]``
    the sum of their positions in ``chosen``, so for a cell covered once it names the one site
    covering it."""
    k = chosen.shape[0]
    loss = np.empty(k)
    back = np.zeros(k)
    stamp = np.empty(k, np.int64)
    touched = np.empty(k, np.int64)
    for move in range(max_moves):
        for q in range(k):  # people only chosen[q] covers: lost when it leaves
            s = chosen[q]
            lost = 0.0
            for t in range(indptr[s], indptr[s + 1]):
                if count[indices[t]] == 1:
                    lost += w[indices[t]]
            loss[q] = lost
        by_loss = np.argsort(loss, kind="mergesort")
        stamp[:] = -1
        best, best_j, best_q = tol, -1, -1
        for c in range(cand.shape[0]):
            j = cand[c]
            if is_chosen[j]:
                continue
            gain, n_touched = 0.0, 0
            for t in range(indptr[j], indptr[j + 1]):
                i = indices[t]
                if count[i] == 0:
                    gain += w[i]
                elif count[i] == 1:  # j would keep covering it when its one site leaves
                    q = owner_sum[i]
                    if stamp[q] != c:
                        stamp[q] = c
                        back[q] = 0.0
                        touched[n_touched] = q
                        n_touched += 1
                    back[q] += w[i]
            for a in range(n_touched):
                q = touched[a]
                if gain + back[q] - loss[q] > best and \
                        cost[j] <= cost[chosen[q]] + slack[0] + 1e-9:
                    best, best_j, best_q = gain + back[q] - loss[q], j, q
            for a in range(k):  # the cheapest affordable drop among sites j shares nothing with
                q = by_loss[a]
                if gain - loss[q] <= best:
                    break
                if stamp[q] != c and cost[j] <= cost[chosen[q]] + slack[0] + 1e-9:
                    best, best_j, best_q = gain - loss[q], j, q
                    break
        if best_j < 0:
            return move
        s = chosen[best_q]
        for t in range(indptr[s], indptr[s + 1]):
            count[indices[t]] -= 1
            owner_sum[indices[t]] -= best_q
        for t in range(indptr[best_j], indptr[best_j + 1]):
            count[indices[t]] += 1
            owner_sum[indices[t]] += best_q
        is_chosen[s] = False
        is_chosen[best_j] = True
        chosen[best_q] = best_j
        slack[0] += cost[s] - cost[best_j]
    return max_moves


#: Kicks in a row without improvement after which kicks replace one more site.
_GROW_AFTER = 25
#: Kinds of kick in :func:`kicked_swap_search`.
_RANDOM, _INFORMED, _LOCAL = 0, 1, 2


def kicked_swap_search(
    A: sp.csr_matrix, w: np.ndarray, chosen: np.ndarray, deadline: float, *,
    allowed: np.ndarray | None = None, patience: int | None = None, seed: int = 0,
    stop: threading.Event | None = None, on_improve: Callable[[float], None] | None = None,
    cost: np.ndarray | None = None, budget: float | None = None,
) -> np.ndarray:
    """Iterated local search: replace a few chosen sites (a kick), repair with
    :func:`swap_search`, keep the result when it covers more people. The number of sites is
    kept, or with ``cost`` and ``budget`` the total cost stays within the budget.

    Three kinds of kick, each replacing up to five sites:
    - *random*: random chosen sites out, random sites in;
    - *informed*: random chosen sites out, random picks among the sites adding the most people;
    - *local*: a chosen site and its nearest chosen neighbours out, random sites overlapping
      the area they freed in.
    A kind is drawn with probability proportional to one plus the improvements it has made
    (local kicks suit sprawling instances, informed ones densely covered ones), and kicks
    replace one more site per ``_GROW_AFTER`` failures in a row, up to a restart. The repair
    only brings in sites overlapping the cells the kick changed — the rest of the answer was
    already swap-optimal — and a last full swap search makes the answer swap-optimal.

    Stops at ``deadline`` (perf_counter), when ``stop`` is set, or after ``patience`` kicks in
    a row without improvement. Kicks come from a generator seeded with ``seed``, so a search
    that ends by patience is reproducible. ``allowed`` limits the sites a kick may bring in;
    ``on_improve`` is called with the people covered by each better answer.
    """
    chosen = np.array(sorted(chosen), dtype=np.int64)
    p = len(chosen)
    priced = {} if cost is None else {"cost": cost, "budget": budget}
    cost = np.ones(A.shape[0]) if cost is None else np.asarray(cost, dtype=np.float64)
    budget = float(p) if budget is None else float(budget)
    base = np.ones(A.shape[0], dtype=bool) if allowed is None else allowed.copy()
    base[chosen] = True
    if p == 0 or base.sum() <= p:
        return chosen
    by_cell = sp.csr_matrix(A.T)
    rng = np.random.default_rng(seed)
    kick = min(5, max(1, round(0.4 * p)))
    best = float(w[covered_by(A, chosen)].sum())
    tol = 1e-9 * max(1.0, float(w.sum()))
    failures, wins = 0, np.zeros(3)
    stop = stop or threading.Event()
    while (patience is None or failures < patience) and time.perf_counter() < deadline \
            and not stop.is_set():
        kind = int(rng.choice(3, p=(1 + wins) / (3 + wins.sum())))
        size = min(len(chosen), kick + failures // _GROW_AFTER)  # priced answers change size
        outside = base.copy()
        outside[chosen] = False
        if kind == _LOCAL:
            out = nearby_chosen(A, by_cell, chosen, int(rng.choice(chosen)), size)
            near = np.zeros_like(outside)
            near[by_cell[np.flatnonzero(covered_by(A, out))].indices] = True
            outside &= near
        else:
            out = rng.choice(chosen, size, replace=False)
        kept = np.setdiff1d(chosen, out)
        pool = np.flatnonzero(outside)
        k = min(len(out), len(pool))
        if kind == _INFORMED and len(pool) > 4 * k:
            gain = np.asarray(A[pool] @ np.where(covered_by(A, kept), 0.0, w)).ravel()
            pool = pool[np.argpartition(-gain, 4 * k)[: 4 * k]]
        new = _affordable_draw(rng, pool, k, cost, budget - float(cost[kept].sum()))
        changed = covered_by(A, np.concatenate([out, new]))
        repair = np.unique(by_cell[np.flatnonzero(changed)].indices)
        trial = swap_search(A, w, np.concatenate([kept, new]), deadline,
                            candidates=repair[base[repair]], **priced)
        value = float(w[covered_by(A, trial)].sum())
        if value > best + tol:
            chosen, best, failures = np.sort(trial), value, 0
            wins[kind] += 1
            if on_improve is not None:
                on_improve(best)
        else:
            failures += 1
    return swap_search(A, w, chosen, deadline, candidates=np.flatnonzero(base), **priced)


def _affordable_draw(rng, pool: np.ndarray, k: int, cost: np.ndarray, money: float) -> np.ndarray:
    """Up to ``k`` sites drawn at random from ``pool``, each taken only if it fits the money
    left (for unit costs and ``money`` ≥ k: exactly ``k`` random sites)."""
    picked = []
    for j in rng.permutation(pool):
        if len(picked) == k:
            break
        if cost[j] <= money + 1e-9:
            picked.append(int(j))
            money -= cost[j]
    return np.array(picked, dtype=np.int64)


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
