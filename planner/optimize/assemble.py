"""Assembly of a covering model's answer into an OptimizeResult: sites in funding order with
their marginal people, closed sites, per-cell coverage, totals and the status message.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.optimize.greedy import funding_order
from planner.optimize.problem import CoverInstance, Inputs, SiteTable, covered_by, structure
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


@dataclass(frozen=True)
class CoverAnswer:
    """A covering model's answer before assembly.

    Attributes:
        open_mask: sites open after the plan (one flag per site-table row).
        objective, bound, greedy_objective: people covered (MCLP) or sites/cost (LSCP).
        status: the solver status (``optimal``, ``time_limit``, …).
        time_limit_reached: the time limit stopped the search.
        tie_break: what the distance tie-break did.
        started: ``time.perf_counter()`` when the model started.
    """

    open_mask: np.ndarray
    objective: float
    bound: float
    status: str
    time_limit_reached: bool
    greedy_objective: float
    tie_break: str
    started: float


@dataclass(frozen=True)
class Blocks:
    """The categories of a joint run, whose demand cells are stacked one block per category.

    Attributes:
        of_cell: category index of each stacked cell.
        names: category keys.
        n_cells: cells per block (the demand grid's size).
        people: head count of each stacked cell (the weights are weight × people).
    """

    of_cell: np.ndarray
    names: Sequence[str]
    n_cells: int
    people: np.ndarray


def assemble_cover_result(
    model: str, inputs: Inputs, cost: np.ndarray, answer: CoverAnswer, inst: CoverInstance,
    *, ratio: bool, demand_xy: np.ndarray | None = None, blocks: Blocks | None = None,
) -> OptimizeResult:
    """The OptimizeResult of ``answer``: new sites in funding order (per unit ``cost`` when
    ``ratio``), closed sites, cells, totals (per category too with ``blocks``) and the
    message."""
    table, open_mask = inputs.sites, answer.open_mask
    objective, bound, status = answer.objective, answer.bound, answer.status
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
    people = w if blocks is None else blocks.people
    marginal, extra_cols = gains, {}
    if blocks is not None:  # head counts per category; the weighted gain beside them
        covered = base.copy()
        names = blocks.names
        per = np.zeros((len(rows), len(names)))
        for i, r in enumerate(rows):
            cells = cov.indices[cov.indptr[r] : cov.indptr[r + 1]]
            new = cells[~covered[cells]]
            covered[new] = True
            per[i] = np.bincount(blocks.of_cell[new], weights=blocks.people[new],
                                 minlength=len(names))
        marginal = per.sum(axis=1)
        extra_cols = {"marginal_weighted_people": gains,
                      "cumulative_weighted_people": np.cumsum(gains),
                      **{f"people_{name}": per[:, k] for k, name in enumerate(names)}}
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
        cells = cells_table(np.tile(inputs.cell_ids[:blocks.n_cells], len(blocks.names)),
                            people, before, after, dist)
        cells.insert(0, "category", np.asarray(blocks.names, dtype=object)[blocks.of_cell])
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
        time_limit_reached=answer.time_limit_reached,
        solve_seconds=time.perf_counter() - answer.started,
        greedy_objective=answer.greedy_objective, sites=sites, closed=closed, cells=cells,
        coverage=totals, reduction=inst.reduction, uncoverable=uncoverable,
        tie_break=answer.tie_break,
        message=msg,
    )
