"""Assembly of a covering model's answer into an OptimizeResult: sites in funding order with
their marginal people, closed sites, per-cell coverage, totals and the status message.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from planner.optimize.greedy import (
    funding_order,
)
from planner.optimize.problem import (
    CoverInstance,
    Inputs,
    SiteTable,
    covered_by,
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


def reopen_closable(table: SiteTable, cost: np.ndarray, budget_left: float, open_mask):
    """Closable sites not chosen stay open while the budget has room (no needless closures)."""
    for j in np.flatnonzero((table.status == "closable") & ~open_mask):
        if cost[j] <= budget_left + 1e-9:
            open_mask[j] = True
            budget_left -= cost[j]
    return open_mask


def assemble_cover_result(
    model: str, inputs: Inputs, table: SiteTable, cost: np.ndarray,
    open_mask: np.ndarray, objective: float, bound: float, status: str, tlr: bool,
    greedy_objective: float, t0: float, inst: CoverInstance, tie: str, ratio: bool,
    demand_xy: np.ndarray | None, blocks: np.ndarray | None = None,
    block_names: Sequence[str] | None = None, n_cells_block: int | None = None,
    block_people: np.ndarray | None = None,
) -> OptimizeResult:
    cov, w = inputs.coverage, inputs.weights
    current = np.isin(table.status, ("existing", "closable"))
    existing_open = current & open_mask
    required = np.flatnonzero(table.status == "required")
    new_rows = np.flatnonzero((table.status == "candidate") & open_mask)
    base = covered_by(cov, np.flatnonzero(existing_open))
    struct_all = structure(cov, np.arange(cov.shape[0]), np.arange(cov.shape[1]))
    o_req = funding_order(struct_all, w, required, base)
    base2 = base | covered_by(cov, required)
    o_new = funding_order(struct_all, w, new_rows, base2, cost[new_rows] if ratio else None)
    rows = np.concatenate([required[o_req.order], new_rows[o_new.order]])
    gains = np.concatenate([o_req.gains, o_new.gains])
    people = w if block_people is None else block_people
    marginal, extra_cols = gains, {}
    if blocks is not None:  # head counts per category; the weighted gain beside them
        covered = base.copy()
        per = np.zeros((len(rows), len(block_names)))
        for i, r in enumerate(rows):
            cells = cov.indices[cov.indptr[r] : cov.indptr[r + 1]]
            new = cells[~covered[cells]]
            covered[new] = True
            per[i] = np.bincount(blocks[new], weights=block_people[new],
                                 minlength=len(block_names))
        marginal = per.sum(axis=1)
        extra_cols = {"marginal_weighted_people": gains,
                      "cumulative_weighted_people": np.cumsum(gains),
                      **{f"people_{name}": per[:, k] for k, name in enumerate(block_names)}}
    sites = site_rows(
        table.frame, rows,
        {"order": np.arange(1, len(rows) + 1), "marginal_people": marginal,
         "cumulative_people": np.cumsum(marginal),
         "status": table.status[rows], **extra_cols},
    )
    closed = site_rows(table.frame, np.flatnonzero(current & ~open_mask), {})
    before = covered_by(cov, np.flatnonzero(current))
    after = covered_by(cov, np.flatnonzero(open_mask))
    dist = nearest_distance(cov, np.flatnonzero(open_mask))
    totals = coverage_totals(people, before, after)
    if blocks is None:
        cells = cells_table(inputs.cell_ids, w, before, after, dist)
        if demand_xy is not None:
            cells["x"], cells["y"] = demand_xy[:, 0], demand_xy[:, 1]
    else:
        cells = cells_table(np.tile(inputs.cell_ids[:n_cells_block], len(block_names)), people,
                            before, after, dist)
        cells.insert(0, "category", np.asarray(block_names, dtype=object)[blocks])
        cells["weighted_people"] = w
        totals.update({f"weighted_{k}": v for k, v in coverage_totals(w, before, after).items()
                       if k.startswith("people_")})
    unc = inst.uncoverable
    uncoverable = pd.DataFrame({"cell_id": cells["cell_id"].to_numpy()[unc],
                                "people": people[unc]})
    if blocks is not None:
        uncoverable.insert(0, "category", cells["category"].to_numpy()[unc])
        uncoverable["weighted_people"] = w[unc]
    if demand_xy is not None and blocks is None:
        uncoverable["x"], uncoverable["y"] = demand_xy[unc, 0], demand_xy[unc, 1]
    gap = relative_gap(objective, bound)
    msg = status_message(status, gap)
    idle = int((marginal[len(o_req.gains):] <= 0).sum())
    if idle and model != "lscp":
        msg += (f" {idle} of the new sites add no one: the budget is larger than needed; "
                "fewer sites cover the same people.")
    return OptimizeResult(
        model=model, status=status, objective=objective, bound=bound, gap=gap,
        time_limit_reached=tlr, solve_seconds=time.perf_counter() - t0,
        greedy_objective=greedy_objective, sites=sites, closed=closed, cells=cells,
        coverage=totals, reduction=inst.reduction, uncoverable=uncoverable, tie_break=tie,
        message=msg,
    )
