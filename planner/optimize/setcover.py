"""Set covering (LSCP): the fewest new sites, or the least cost, covering every coverable
person, with a proven lower bound and the distance tie-break.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from planner.optimize import milp as models_milp
from planner.optimize.assemble import CoverAnswer, assemble_cover_result
from planner.optimize.exact import integral_weights, within_gap
from planner.optimize.greedy import greedy_cover
from planner.optimize.options import check_options
from planner.optimize.problem import budget_costs, check_inputs, reduce_cover
from planner.optimize.result import OptimizeResult
from planner.optimize.tiebreak import tie_break_min


def lscp(
    coverage: sp.csr_matrix,
    demand: np.ndarray | pd.Series,
    sites: pd.DataFrame,
    *,
    use_cost: bool = False,
    required: Sequence[object] = (),
    time_limit_s: float = 60.0,
    mip_gap: float = 0.0,
    tie_break: bool = True,
    demand_xy: np.ndarray | None = None,
) -> OptimizeResult:
    """Set covering: the fewest new sites (or least total ``cost`` with ``use_cost``) so every
    coverable person is within the threshold.

    Demand no site can reach is not an error: it is listed in ``result.uncoverable`` (cell id,
    people, and x/y when ``demand_xy`` is given) and left out of the model. Existing sites stay
    open; required sites are forced in; closable sites are kept only when needed (a kept
    closable site counts in the objective like a new one). The objective is the number (or
    cost) of new plus kept closable sites.
    """
    check_options(time_limit_s, mip_gap)
    t0 = time.perf_counter()
    deadline = t0 + float(time_limit_s)
    inputs = check_inputs(coverage, demand, sites, required=required)
    table = inputs.sites
    if use_cost:
        cost, _ = budget_costs(table, None, float(np.nansum(table.cost)))
    else:
        cost = np.ones(len(table.status))
    inst = reduce_cover(inputs, cost, fixed_open=table.fixed_open, decision=table.decision)
    n = inst.A.shape[0]
    req_cost = float(cost[table.status == "required"].sum())
    tie = "off"
    if n == 0 or inst.A.shape[1] == 0:
        chosen_rows, status, value, bound, gval, tlr = np.zeros(0, np.int64), "trivial", 0, 0, 0, False
    else:
        big = float(inst.cost.sum()) + 1.0
        picks = greedy_cover(inst.A, inst.w, inst.cost, big, ratio=True, stop_when_covered=True)
        gval = float(inst.cost[picks.order].sum())
        out = models_milp.solve(*models_milp.lscp_model(inst.A, inst.cost),
                                time_limit_s=deadline - time.perf_counter(), mip_gap=mip_gap)
        chosen, value = np.sort(picks.order), gval
        if out.x is not None:
            x = np.flatnonzero(out.x[:n] > 0.5)
            if float(inst.cost[x].sum()) <= value + 1e-9:
                chosen, value = x, float(inst.cost[x].sum())
        bound = -np.inf if out.bound is None else out.bound
        if out.status != "optimal":
            bound = max(bound, _disjoint_cells_bound(inst.A, inst.cost))
        bound = min(bound, value)
        if integral_weights(inst.cost):  # whole costs: the optimum is a whole number too
            bound = min(float(np.ceil(bound - 1e-6)), value)
        status = out.status
        if status == "time_limit" and within_gap(value, bound, mip_gap):
            status = "optimal"
        tlr = status == "time_limit"
        chosen_rows = inst.site[chosen]
        if tie_break:
            chosen_rows, tie = tie_break_min(inputs, inst, cost, chosen_rows, value,
                                             (deadline, time_limit_s))
    open_mask = table.fixed_open.copy()
    open_mask[chosen_rows] = True
    answer = CoverAnswer(open_mask, req_cost + value, req_cost + bound, status, tlr,
                         req_cost + gval, tie, t0)
    return assemble_cover_result("lscp", inputs, cost, answer, inst, ratio=use_cost,
                                 demand_xy=demand_xy)


def _disjoint_cells_bound(A: sp.csr_matrix, cost: np.ndarray) -> float:
    """A lower bound on the cost of any cover of every cell group of ``A`` (sites × groups):
    groups no two of which share a site each need a site of their own, costing at least their
    cheapest (groups picked greedily, fewest sites first), and every group needs at least its
    cheapest site."""
    by_group = sp.csr_matrix(A.T)
    deg = np.diff(by_group.indptr)
    if len(deg) == 0 or (deg == 0).any():
        return 0.0
    cheapest = np.minimum.reduceat(cost[by_group.indices], by_group.indptr[:-1])
    used = np.zeros(A.shape[0], dtype=bool)
    total = 0.0
    for g in np.argsort(deg, kind="stable"):
        sites = by_group.indices[by_group.indptr[g] : by_group.indptr[g + 1]]
        if not used[sites].any():
            used[sites] = True
            total += float(cheapest[g])
            if used.all():
                break
    return max(total, float(cheapest.max()))
