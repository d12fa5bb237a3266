"""Capacitated maximal covering: new sites serving the most people within reach and within
each site's capacity, with the assignment that makes each new site's gain its load.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import linprog

from planner.errors import InputError
from planner.optimize import milp as models_milp
from planner.optimize.assemble import reopen_closable
from planner.optimize.exact import integral_weights, within_gap
from planner.optimize.lpbound import knapsack
from planner.optimize.options import check_options
from planner.optimize.problem import (
    budget_costs,
    check_inputs,
    covered_by,
    effective_budget,
    merge_cells,
    structure,
)
from planner.optimize.result import (
    OptimizeResult,
    cells_table,
    coverage_totals,
    relative_gap,
    site_rows,
    status_message,
)
from planner.optimize.tiebreak import nearest_distance


def capacitated_mclp(
    coverage: sp.csr_matrix,
    demand: np.ndarray | pd.Series,
    sites: pd.DataFrame,
    *,
    p: int | None = None,
    budget: float | None = None,
    default_capacity: float | None = None,
    required: Sequence[object] = (),
    time_limit_s: float = 60.0,
    mip_gap: float = 0.0,
) -> OptimizeResult:
    """Capacitated maximal covering: open ``p`` new sites (or within ``budget``) to serve the
    most people, each person served only by an open site within the threshold and no site
    serving more people than its ``capacity``.

    Capacity comes from the site table (people; NaN = unknown), else ``default_capacity``
    (e.g. the category's norm per site); unknown capacities raise an InputError.

    ``result.sites`` lists the new sites in funding order: each next site adds the most people
    served (per unit cost under a money budget) to the open existing sites and the new sites
    before it. ``marginal_people`` is that increase in people served (a maximum assignment,
    not mere coverage), and ``served_people`` equals it: the reported assignment fills the
    existing sites first, then each new site in funding order, so the people assigned to each
    new site are exactly what it adds, and the new sites' ``marginal_people`` sum to
    ``people_newly_served + people_lost_by_closures`` (the latter: people served before whom
    the sites kept open cannot serve once the closed sites close; 0 without closures).
    ``result.extra["loads"]`` lists the people assigned to every open site,
    ``result.cells["served_people"]`` those served per cell.

    The bound is the smallest of the MILP's bound, the people any site reaches, and the
    capacity the budget can buy (open fixed sites plus a fractional knapsack of the decision
    sites' capacities, each capped by the people it reaches).
    """
    check_options(time_limit_s, mip_gap)
    t0 = time.perf_counter()
    deadline = t0 + float(time_limit_s)
    inputs = check_inputs(coverage, demand, sites, required=required)
    table = inputs.sites
    cost, b = budget_costs(table, p, budget)
    b_eff = effective_budget(table, cost, b)
    cap = table.capacity.copy()
    if default_capacity is not None:
        if not np.isfinite(default_capacity) or default_capacity < 0:
            raise InputError(f"default_capacity must be people ≥ 0, not {default_capacity!r}.")
        cap = np.where(np.isfinite(cap), cap, float(default_capacity))
    missing = ~np.isfinite(cap)
    if missing.any():
        raise InputError(
            f"{int(missing.sum())} sites have no capacity (e.g. {list(table.ids[missing][:5])}); "
            "the capacitated model needs every site's capacity in people. Fill the 'capacity' "
            "column or pass default_capacity (the category's norm per site)."
        )
    if (cap < 0).any():
        raise InputError("Capacities must be people ≥ 0; found negative values.")
    cov, w = inputs.coverage, inputs.weights
    fixed = table.fixed_open
    cells = np.flatnonzero((w > 0) & covered_by(cov, np.arange(cov.shape[0])))
    rows_all = np.arange(cov.shape[0])
    sub = structure(cov, rows_all, cells)
    group, n_groups = merge_cells(sub)
    gw = np.bincount(group, weights=w[cells], minlength=n_groups)
    site_idx = np.flatnonzero((np.diff(sub.indptr) > 0) | fixed)
    A = sp.csr_matrix(
        (np.ones(sub.nnz), (np.repeat(np.arange(sub.shape[0]), np.diff(sub.indptr)),
                            group[sub.indices])), shape=(sub.shape[0], n_groups))
    A.data[:] = 1.0
    A = sp.csr_matrix(A[site_idx])
    A.sort_indices()
    fx = fixed[site_idx]
    cap_l = cap[site_idx]
    dec_cost = np.where(fx, 0.0, cost[site_idx])
    model = models_milp.capacitated_model(A, gw, cap_l, dec_cost, b_eff, fx)

    def served(open_local: np.ndarray) -> float:
        return float(_assign(A, gw, cap_l, open_local.astype(np.float64)).sum())

    # greedy: open the site adding most servable people until the budget is spent
    open_local = fx.copy()
    residual = gw.copy()
    left = b_eff
    while True:
        cand = ~open_local & (dec_cost <= left + 1e-9)
        if not cand.any():
            break
        reach = np.asarray(A @ residual).ravel()
        gain = np.where(cand, np.minimum(cap_l, reach), -np.inf)
        if budget is not None:
            gain = np.where(cand, gain / np.maximum(dec_cost, 1e-12), -np.inf)
        j = int(np.argmax(gain))
        if not np.isfinite(gain[j]) or gain[j] <= 1e-9:
            break
        open_local[j] = True
        left -= dec_cost[j]
        row = A.indices[A.indptr[j] : A.indptr[j + 1]]
        frac = min(1.0, cap_l[j] / max(reach[j], 1e-12))
        residual[row] *= 1.0 - frac
    greedy_value = served(open_local)
    best_open, value, status = open_local, greedy_value, "optimal"
    # simple valid bounds: the people any site reaches, and the capacity the budget buys
    whole = integral_weights(gw) and integral_weights(cap_l)
    site_max = np.minimum(cap_l, np.asarray(A @ gw).ravel())
    bound = min(float(gw.sum()),
                float(site_max[fx].sum()) + knapsack(site_max[~fx], dec_cost[~fx], b_eff))
    bound = float(np.floor(bound + 1e-6)) if whole else bound
    if not within_gap(bound, value, mip_gap) and deadline - time.perf_counter() < 0.05:
        status = "time_limit"  # no time for the MILP: the greedy answer with its bound
    elif not within_gap(bound, value, mip_gap):
        out = models_milp.solve(*model, time_limit_s=deadline - time.perf_counter(),
                                mip_gap=mip_gap)
        if out.x is not None:
            x = out.x[: len(site_idx)] > 0.5
            v = served(x)
            if v >= value - 1e-9 * max(1.0, value):
                best_open, value = x, v
        if out.bound is not None:
            bound = min(bound, float(np.floor(-out.bound + 1e-6)) if whole else -out.bound)
        status = out.status if out.x is not None else (
            "time_limit" if out.status == "time_limit" else "error")
    open_mask = reopen_closable(
        table, cost, b_eff - float(dec_cost[best_open].sum()),
        _to_rows(site_idx, best_open, cov.shape[0]) | fixed)
    if (open_mask[site_idx] & ~best_open).any():
        best_open = open_mask[site_idx]
        value = served(best_open)
    bound = max(bound, value)
    if status == "time_limit" and within_gap(bound, value, mip_gap):
        status = "optimal"
    # the assignment: open existing sites first, then the new sites in funding order
    st = table.status[site_idx]
    kept = best_open & np.isin(st, ("existing", "closable"))
    order_cost = cost[site_idx] if budget is not None else np.ones(len(site_idx))
    phases = [np.flatnonzero(best_open & (st == s)) for s in ("required", "candidate")]
    order = _capacitated_funding_order(A, gw, cap_l, kept, phases, order_cost, deadline)
    priority = kept * float(len(order) + 1)
    priority[order] = np.arange(len(order), 0, -1, dtype=np.float64)
    z = _assign(A, gw, cap_l, priority)
    site_of = np.repeat(np.arange(len(site_idx)), np.diff(A.indptr))
    load = np.bincount(site_of, weights=z, minlength=len(site_idx))
    served_group = np.bincount(A.indices, weights=z, minlength=n_groups)
    share = np.divide(served_group, gw, out=np.zeros(n_groups), where=gw > 0)
    served_cell = np.zeros(len(w))
    served_cell[cells] = w[cells] * share[group]
    current = np.isin(table.status, ("existing", "closable"))
    before_served = served(current[site_idx])
    closes = (current & ~open_mask).any()
    rows = site_idx[order]
    sites_out = site_rows(
        table.frame, rows,
        {"order": np.arange(1, len(rows) + 1), "marginal_people": load[order],
         "cumulative_people": np.cumsum(load[order]), "served_people": load[order],
         "capacity": cap[rows], "status": table.status[rows]},
    )
    open_idx = np.flatnonzero(best_open)
    loads = site_rows(table.frame, site_idx[open_idx],
                      {"served_people": load[open_idx], "capacity": cap[site_idx[open_idx]],
                       "status": table.status[site_idx[open_idx]]})
    closed = site_rows(table.frame, np.flatnonzero(current & ~open_mask), {})
    before = covered_by(cov, np.flatnonzero(current))
    after = covered_by(cov, np.flatnonzero(open_mask))
    cells_df = cells_table(inputs.cell_ids, w, before, after,
                           nearest_distance(cov, np.flatnonzero(open_mask)))
    cells_df["served_people"] = served_cell
    total = float(w.sum())
    totals = {
        "people_total": total,
        "people_served_before": before_served,
        "people_served_after": value,
        "people_newly_served": value - before_served,
        "people_lost_by_closures": before_served - served(kept) if closes else 0.0,
        "share_served_before": before_served / total,
        "share_served_after": value / total,
        **{k: v for k, v in coverage_totals(w, before, after).items() if k != "people_total"},
    }
    gap = relative_gap(value, bound)
    msg = status_message(status, gap)
    unreached = (w > 0) & ~covered_by(cov, np.arange(cov.shape[0]))
    return OptimizeResult(
        model="capacitated_mclp", status=status, objective=value, bound=bound, gap=gap,
        time_limit_reached=status == "time_limit", solve_seconds=time.perf_counter() - t0,
        greedy_objective=greedy_value, sites=sites_out, closed=closed, cells=cells_df,
        coverage=totals, reduction=None,
        uncoverable=pd.DataFrame({"cell_id": inputs.cell_ids[unreached],
                                  "people": w[unreached]}),
        tie_break="off", message=msg,
        extra={"loads": loads, "cell_groups": n_groups, "cells_kept": len(cells),
               "sites_kept": len(site_idx)},
    )


def _assign(
    A: sp.csr_matrix, gw: np.ndarray, cap: np.ndarray, priority: np.ndarray
) -> np.ndarray:
    """People of each pair of ``A`` (sites × cell groups) assigned to the sites with
    ``priority`` > 0, within reach and capacity, maximising Σ priority × load.

    Equal priorities give a maximum assignment (most people served). Priorities falling along
    an order make every prefix of that order serve as many people as it can (the loads a
    site set can carry form a polymatroid, where the greedy order is optimal), so each site's
    load is what it adds to the sites before it.
    """
    site_of = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    sel = np.flatnonzero(priority[site_of] > 0)
    z = np.zeros(A.nnz)
    if len(sel) == 0:
        return z
    k, one = np.arange(len(sel)), np.ones(len(sel))
    rows = sp.vstack([sp.csr_matrix((one, (A.indices[sel], k)), shape=(A.shape[1], len(sel))),
                      sp.csr_matrix((one, (site_of[sel], k)), shape=(A.shape[0], len(sel)))],
                     format="csr")
    res = linprog(-priority[site_of[sel]], A_ub=rows, b_ub=np.concatenate([gw, cap]),
                  bounds=(0, None), method="highs")
    if res.x is None:
        raise RuntimeError(f"The assignment LP failed: {res.message}")
    z[sel] = np.clip(res.x, 0.0, None)
    return z


def _capacitated_funding_order(
    A: sp.csr_matrix, gw: np.ndarray, cap: np.ndarray, base: np.ndarray,
    phases: Sequence[np.ndarray], cost: np.ndarray, deadline: float,
) -> np.ndarray:
    """Funding order of the sites in ``phases`` (rows of ``A``; each phase in turn, e.g.
    required then candidates): each next site adds the most people served (per unit ``cost``)
    to ``base`` and the sites before it.

    Lazy greedy: people served is submodular in the site set, so a gain computed earlier
    bounds the gain now and only the site on top of the queue is re-evaluated. Past
    ``deadline`` the rest follow by their last known gain (any order gets consistent
    marginals from the prioritised assignment; this one is just not re-checked).
    """
    open_ = base.copy()
    served = float(_assign(A, gw, cap, open_.astype(np.float64)).sum())
    cost = np.maximum(cost, 1e-12)
    reach = np.minimum(cap, np.asarray(A @ gw).ravel()) / cost
    order: list[int] = []
    for phase in phases:
        heap = [(-float(reach[j]), int(j)) for j in phase]
        heapq.heapify(heap)
        while heap:
            _, j = heapq.heappop(heap)
            if time.perf_counter() > deadline:
                order.append(j)
                continue
            open_[j] = True
            now = float(_assign(A, gw, cap, open_.astype(np.float64)).sum())
            ratio = (now - served) / cost[j]
            if heap and ratio < -heap[0][0] - 1e-9 * max(1.0, served):
                open_[j] = False
                heapq.heappush(heap, (-ratio, j))
            else:
                order.append(j)
                served = now
    return np.array(order, dtype=np.int64)


def _to_rows(site_idx: np.ndarray, local: np.ndarray, n_rows: int) -> np.ndarray:
    mask = np.zeros(n_rows, dtype=bool)
    mask[site_idx[local]] = True
    return mask
