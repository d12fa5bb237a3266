"""The LP bound of the MCLP, certified through its Lagrangian, and bound-based variable fixing.

For multipliers λ ≥ 0 on the rows ``y_i ≤ Σ_{j∋i} x_j`` the Lagrangian

    L(λ) = Σ_i max(0, w_i − λ_i) + max { Σ_j v_j x_j : Σ_j c_j x_j ≤ B, 0 ≤ x ≤ 1 },
    v = A λ  (the people value of each site at prices λ)

is an upper bound on the best coverage for *any* λ ≥ 0, so the bound does not depend on solver
tolerances: λ comes from the LP duals (HiGHS interior point, much faster than the simplex on
these degenerate LPs) and the bound is re-evaluated exactly here. With the LP-optimal λ it
equals the LP bound.

Fixing (count budgets): if forcing site j in (or out) lowers the Lagrangian below the value
of a known answer, no better answer opens (or closes) j, so the MILP only searches the rest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from planner.optimize.highs import first_order_lp
from planner.optimize.milp import mclp_model
from planner.optimize.race import Race


@dataclass(frozen=True)
class LagrangeBound:
    """A certified upper bound, the multipliers λ (people per cell), the site values at them
    and the LP's x."""

    bound: float
    lam: np.ndarray
    value: np.ndarray
    x_lp: np.ndarray
    base: float


def lp_bound(
    A: sp.csr_matrix, w: np.ndarray, cost: np.ndarray, budget: float, time_limit_s: float
) -> LagrangeBound | None:
    """Solve the LP relaxation (HiGHS interior point) and certify its bound; None if the LP did
    not finish within ``time_limit_s`` seconds."""
    c, rows, _, row_hi, lo, hi, _ = mclp_model(A, w, cost, budget)
    res = linprog(c, A_ub=rows, b_ub=row_hi, bounds=np.column_stack([lo, hi]),
                  method="highs-ipm", options={"time_limit": max(time_limit_s, 0.01)})
    if res.status != 0 or res.x is None:
        return None
    lam = np.clip(-np.asarray(res.ineqlin.marginals[: A.shape[1]]), 0.0, w)
    return lagrangian(A, w, cost, budget, lam, np.asarray(res.x[: A.shape[0]]))


def first_order_bound(
    A: sp.csr_matrix, w: np.ndarray, cost: np.ndarray, budget: float, time_limit_s: float
) -> LagrangeBound | None:
    """A bound near the LP's from HiGHS's first-order solver (PDLP), stopped after
    ``time_limit_s`` seconds if it has not converged, and certified through the Lagrangian of
    its duals; None if HiGHS returned none."""
    c, rows, _, row_hi, lo, hi, _ = mclp_model(A, w, cost, budget)
    out = first_order_lp(c, rows, row_hi, lo, hi, time_limit_s)
    if out is None:
        return None
    v, row_dual = out
    lam = np.clip(-row_dual[: A.shape[1]], 0.0, w)
    return lagrangian(A, w, cost, budget, lam, np.clip(v[: A.shape[0]], 0.0, 1.0))


def lagrangian(A, w, cost, budget, lam, x_lp) -> LagrangeBound:
    """L(λ) with the site part solved as a fractional knapsack (exact for the relaxation)."""
    base = float(np.maximum(w - lam, 0.0).sum())
    value = np.asarray(A @ lam).ravel()
    return LagrangeBound(base + knapsack(value, cost, budget), lam, value, x_lp, base)


def knapsack(value: np.ndarray, cost: np.ndarray, budget: float) -> float:
    """max Σ v x s.t. Σ c x ≤ budget, 0 ≤ x ≤ 1 (items of zero cost are free)."""
    return float(knapsack_curve(value, cost, np.array([budget]))[0])


def knapsack_curve(value: np.ndarray, cost: np.ndarray, budgets: np.ndarray) -> np.ndarray:
    """:func:`knapsack` at every budget of ``budgets`` at once (a budget below zero buys
    only the free items)."""
    free = cost <= 0
    total = float(value[free & (value > 0)].sum())
    take = ~free & (value > 0)
    v, c = value[take], cost[take]
    order = np.lexsort((np.arange(len(v)), -(v / c)))
    v, c = v[order], c[order]
    spent = np.concatenate([[0.0], np.cumsum(c)])
    gained = np.concatenate([[0.0], np.cumsum(v)])
    b = np.asarray(budgets, dtype=np.float64)
    whole = np.maximum(np.searchsorted(spent, b + 1e-12, side="right") - 1, 0)  # bought whole
    out = total + gained[whole]
    part = whole < len(v)
    nxt = whole[part]
    out[part] += v[nxt] * np.maximum(b[part] - spent[nxt], 0.0) / c[nxt]
    return out


def forced_in_bounds(lb: LagrangeBound, cost: np.ndarray, budget: float) -> np.ndarray:
    """For every site j, an upper bound on the people any answer opening j covers: L(λ) with
    j taken and the rest bought with the budget left (j may count twice there, which only
    loosens the bound); −inf where j alone costs more than the budget."""
    room = budget - cost
    bound = lb.base + lb.value + knapsack_curve(lb.value, cost, np.maximum(room, 0.0))
    return np.where(room >= -1e-9 * max(1.0, abs(budget)), bound, -np.inf)


def fix_sites(lb: LagrangeBound, p: int, incumbent: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Sites that no answer better than ``incumbent`` can open (fix to 0) or close (fix to 1),
    under a count budget of ``p`` sites. Returns (fix0, fix1, largest bound among the excluded
    alternatives) — the last caps what any answer violating a fixing could reach."""
    v = lb.value
    n = len(v)
    order = np.lexsort((np.arange(n), -v))
    top = np.zeros(n, dtype=bool)
    k = min(p, n)
    top[order[:k]] = True
    vp = v[order[k - 1]] if k else 0.0  # weakest site in the top p
    vq = v[order[k]] if k < n else 0.0  # strongest site outside it
    vp, vq = max(vp, 0.0), max(vq, 0.0)
    # bound when j is forced in (j outside the top p): j replaces the weakest top site
    forced_in = np.where(top, lb.bound, lb.bound - vp + np.maximum(v, 0.0))
    # bound when j is forced out (j in the top p): the best outsider replaces it
    forced_out = np.where(top, lb.bound - np.maximum(v, 0.0) + vq, lb.bound)
    fix0 = ~top & (forced_in < incumbent)
    fix1 = top & (forced_out < incumbent)
    worst = max(float(forced_in[fix0].max(initial=-np.inf)),
                float(forced_out[fix1].max(initial=-np.inf)))
    return fix0, fix1, worst


def subgradient_bound(
    A: sp.csr_matrix, w: np.ndarray, p: int, incumbent: float, deadline: float,
    max_iter: int = 400, patience: int = 15, lam0: np.ndarray | None = None, step: float = 2.0,
    race: Race | None = None,
) -> LagrangeBound:
    """Best Lagrangian bound found by subgradient steps (count budget of ``p`` sites).

    Each step costs two sparse products, so this bounds instances whose LP is too large to
    solve in time. Polyak steps aim halfway between ``incumbent`` (a known coverage) and the
    best bound so far, along the subgradient deflected by 0.3 of the previous direction; the
    step factor (``step`` at first; small when ``lam0`` already comes from a near-optimal
    dual) halves after ``patience`` steps without improvement. Stops at ``deadline``
    (perf_counter), after ``max_iter`` steps or once the steps become negligible. With a
    ``race``, steps aim from its best answer, each better bound is posted to it, and the run
    stops once answer and bound meet.
    """
    by_cell = sp.csr_matrix(A.T)
    deg = np.maximum(np.diff(by_cell.indptr), 1)
    lam = w / deg if lam0 is None else np.clip(lam0, 0.0, w)
    cost = np.ones(A.shape[0])
    best: LagrangeBound | None = None
    mu, stall, direction = step, 0, None
    for _ in range(max_iter):
        cur = lagrangian(A, w, cost, float(p), lam, np.zeros(A.shape[0]))
        if best is None or cur.bound < best.bound - 1e-12:
            best, stall = cur, 0
        else:
            stall += 1
            if stall >= patience:
                mu, stall = mu / 2, 0
        if race is not None:
            race.offer_bound(best.bound)
            incumbent = max(incumbent, race.value)
            if race.met.is_set():
                break
        if mu < 1e-5 or time.perf_counter() > deadline:
            break
        top = np.lexsort((np.arange(len(cur.value)), -cur.value))[:p]
        x = np.zeros(A.shape[0])
        x[top] = 1.0
        g = np.asarray(by_cell @ x).ravel() - (lam < w)
        direction = g if direction is None else g + 0.3 * direction
        norm = float(direction @ direction)
        if norm == 0 or best.bound - incumbent <= 1e-9 * max(1.0, incumbent):
            break
        target = incumbent + 0.5 * (best.bound - incumbent)
        lam = np.clip(lam - mu * (cur.bound - target) / norm * direction, 0.0, w)
    return best
