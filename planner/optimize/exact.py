"""The exact stage of maximal covering on a restricted instance: LP bound, LP-guided swaps
and the MILP, or, where the instance is too large for an exact LP in the time left, the best
bound first-order LP duals and subgradient steps reach.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from planner.optimize import milp as models_milp
from planner.optimize.greedy import swap_search
from planner.optimize.lpbound import (
    first_order_bound,
    fix_sites,
    lagrangian,
    lp_bound,
    subgradient_bound,
)
from planner.optimize.problem import covered_by
from planner.optimize.race import Race

#: Largest restricted instance (site–cell-group pairs) always given to the LP and the MILP.
EXACT_MAX_PAIRS = 400_000

#: Interior-point LP time per pair (seconds, measured 1.7e-5 to 4.3e-5 on 2 cores): a larger
#: instance gets the LP only when this estimate fits in 40 % of the time left; otherwise, or
#: if the LP does not finish, a first-order LP and subgradient steps bound it.
LP_SECONDS_PER_PAIR = 4e-5

#: First-order (PDLP) LP time per pair to come within about 0.05 % of the LP optimum (measured
#: on 2 cores at 0.5M pairs); it runs when this fits in 60 % of the time left and the
#: instance has at most FIRST_ORDER_MAX_PAIRS pairs — beyond that its convergence slows and
#: subgradient steps from scratch bound as well in the same time.
FIRST_ORDER_SECONDS_PER_PAIR = 8e-6
FIRST_ORDER_MAX_PAIRS = 1_000_000


def cover_value(A: sp.csr_matrix, w: np.ndarray, chosen: np.ndarray) -> float:
    """People (weights ``w``) covered by the sites ``chosen`` (rows of ``A``)."""
    return float(w[covered_by(A, chosen)].sum())


def share_of_time_left(deadline: float, fraction: float) -> float:
    """The ``perf_counter`` time after ``fraction`` of the time left before ``deadline``."""
    now = time.perf_counter()
    return now + fraction * max(deadline - now, 0.0)


def floor_if_integral(bound: float, w: np.ndarray) -> float:
    """``bound`` rounded down when every weight is whole (coverage is whole then too)."""
    return float(np.floor(bound + 1e-6)) if integral_weights(w) else bound


def integral_weights(w: np.ndarray) -> bool:
    """True when every weight is a whole number (then so is any coverage, and bounds floor)."""
    return bool(np.all(w == np.round(w)))


def within_gap(bound: float, value: float, mip_gap: float) -> bool:
    """Whether ``value`` is within the relative ``mip_gap`` of ``bound`` (or equal to it)."""
    return bound - value <= max(mip_gap * abs(value), 1e-9 * max(1.0, abs(value)))


@dataclass(frozen=True)
class Restricted:
    """A maximal-covering instance restricted to the sites a better answer may use, and what
    the earlier stages know about it.

    Attributes:
        A: sites × cell groups (structure = coverage).
        w: people (or weighted people) per cell group.
        cost: cost per site (1 under a count budget).
        budget: number of sites, or total cost when ``ratio``.
        ratio: a money budget (greedy by gain per cost), not a count.
        chosen: rows of ``A`` of the incumbent answer.
        fix1: sites proven to be in every better answer.
        value: the incumbent's objective.
        ub: a proven upper bound.
        lam: Lagrangian prices per cell group found earlier, or None.
    """

    A: sp.csr_matrix
    w: np.ndarray
    cost: np.ndarray
    budget: float
    ratio: bool
    chosen: np.ndarray
    fix1: np.ndarray
    value: float
    ub: float
    lam: np.ndarray | None = None


def exact_stage(
    inst: Restricted, deadline: float, mip_gap: float, race: Race | None = None
) -> tuple[np.ndarray, float, float, str]:
    """LP bound, LP-guided search and the MILP on a restricted instance; bounds found without
    an exact LP are posted to ``race``. Returns (chosen, value, bound, status)."""
    A, w, cost, budget, ratio = inst.A, inst.w, inst.cost, inst.budget, inst.ratio
    chosen, fix1, value, ub = inst.chosen, inst.fix1, inst.value, inst.ub
    n = A.shape[0]
    ub = floor_if_integral(ub, w)
    if within_gap(ub, value, mip_gap):
        return chosen, value, ub, "optimal"
    left = deadline - time.perf_counter()
    lb = None
    if A.nnz <= EXACT_MAX_PAIRS or LP_SECONDS_PER_PAIR * A.nnz <= 0.4 * left:
        lb = lp_bound(A, w, cost, budget, 0.4 * left)
    if lb is None:
        bound = approximate_lp_bound(inst, ub, deadline, race)
        return chosen, value, max(bound, value), "size_limit"
    worst = -np.inf
    fix0 = np.zeros(n, dtype=bool)
    ub = min(ub, floor_if_integral(lb.bound, w))
    if not ratio:
        p = int(np.floor(budget + 1e-9))
        start = np.lexsort((np.arange(n), -lb.x_lp))[:p]
        x = swap_search(A, w, start, share_of_time_left(deadline, 0.1))
        v = cover_value(A, w, x)
        if v > value + 1e-9 * max(1.0, value):
            chosen, value = x, v
        fix0, more1, worst = fix_sites(lb, p, value)
        fix1 = fix1 | more1
    if within_gap(ub, value, mip_gap):
        return chosen, value, ub, "optimal"
    c, rows, row_lo, row_hi, lo, hi, integer = models_milp.mclp_model(A, w, cost, budget)
    hi[:n][fix0] = 0.0
    lo[:n][fix1] = 1.0
    out = models_milp.solve(c, rows, row_lo, row_hi, lo, hi, integer,
                            time_limit_s=deadline - time.perf_counter(), mip_gap=mip_gap)
    if out.x is not None:
        x = np.flatnonzero(out.x[:n] > 0.5)
        v = cover_value(A, w, x)
        if v >= value - 1e-9 * max(1.0, value):
            chosen, value = x, v
    if out.bound is not None:
        ub = min(ub, max(-out.bound, worst))
    status = out.status if out.status != "infeasible" else "error"
    return chosen, value, max(ub, value), status


def approximate_lp_bound(inst: Restricted, ub: float, deadline: float, race: Race | None) -> float:
    """The best bound below ``ub`` reachable by ``deadline`` without an exact LP: PDLP's duals
    where it can converge in time, then (count budgets) subgradient steps from the better of
    those and the earlier prices ``inst.lam``, racing the searches' answer (``race``, or
    None)."""
    A, w, cost, budget, lam = inst.A, inst.w, inst.cost, inst.budget, inst.lam
    left = deadline - time.perf_counter()
    start, step = lam, 2.0
    if (A.nnz <= FIRST_ORDER_MAX_PAIRS
            and FIRST_ORDER_SECONDS_PER_PAIR * A.nnz <= 0.6 * left):
        fo = first_order_bound(A, w, cost, budget, 0.6 * left)
        if fo is not None:
            ub = min(ub, floor_if_integral(fo.bound, w))
            if race is not None:
                race.offer_bound(ub)
            if lam is None or fo.bound < lagrangian(A, w, cost, budget, lam, None).bound:
                start, step = fo.lam, 0.1  # near-optimal prices: small steps
    if not inst.ratio:
        sg = subgradient_bound(A, w, int(np.floor(budget + 1e-9)), inst.value, deadline,
                               max_iter=100_000, patience=100, lam0=start, step=step,
                               race=race)
        ub = min(ub, floor_if_integral(sg.bound, w))
    return ub
