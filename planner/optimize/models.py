"""The location models: MCLP, LSCP, capacitated MCLP and joint multi-category MCLP.

Each takes a coverage matrix (sites × demand cells, walking metres on the covered pairs), the
people per cell and the site table (``status`` existing|candidate|required|closable, optional
``capacity`` and ``cost``), and returns an :class:`~planner.optimize.result.OptimizeResult`.

Budget semantics (count budget ``p`` or money ``budget``): required sites are new sites forced
in and paid from the budget; existing sites stay open for free; a closable site is kept at its
cost (1 under a count budget) and closing it frees that cost for new sites.

Tie-break: lexicographic. After the first stage (most people covered, or fewest sites), a
second MILP fixes that optimum as a constraint and minimises the people-weighted walking
distance of the newly covered people to their nearest chosen site. The second answer is kept
only if it re-checks as at least as good on the first objective.
"""

from __future__ import annotations

import heapq
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import linprog

from planner.errors import InputError
from planner.optimize import milp as models_milp
from planner.optimize.greedy import (
    GreedyPicks,
    funding_order,
    greedy_cover,
    kicked_swap_search,
    swap_search,
)
from planner.optimize.lpbound import (
    first_order_bound,
    fix_sites,
    knapsack,
    lagrangian,
    lp_bound,
    subgradient_bound,
)
from planner.optimize.neighbourhood import improve_by_neighbourhoods
from planner.optimize.problem import (
    CoverInstance,
    Inputs,
    SiteTable,
    budget_costs,
    check_inputs,
    covered_by,
    effective_budget,
    index_ranges,
    merge_cells,
    reduce_cover,
    structure,
)
from planner.optimize.race import Race
from planner.optimize.result import (
    OptimizeResult,
    cells_table,
    coverage_totals,
    relative_gap,
    site_rows,
    status_message,
)

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
#: Smallest instance (site–cell-group pairs) worth a Lagrangian bound before the exact stage;
#: below it the LP is solved sooner than the subgradient steps.
SUBGRADIENT_MIN_PAIRS = 20_000
#: Largest number of covered pairs the distance tie-break stage will model.
TIE_BREAK_MAX_PAIRS = 200_000
#: Seconds the distance tie-break may take: this share of the time limit, at least the floor
#: (and never past the limit). It polishes a secondary objective, so it does not run out the
#: clock after a fast proof.
TIE_BREAK_SHARE, TIE_BREAK_MIN_S = 0.2, 2.0
_E = 1.0 - 1.0 / np.e


def nearest_distance(coverage: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """Walking distance (metres) from each cell to its nearest site among ``rows``
    (``inf`` where none covers it)."""
    out = np.full(coverage.shape[1], np.inf)
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows):
        sub = coverage[rows].tocoo()
        np.minimum.at(out, sub.col, sub.data)
    return out


@dataclass
class _Solved:
    chosen: np.ndarray  # rows of the instance matrix
    value: float  # objective on the reduced instance
    bound: float
    status: str
    time_limit_reached: bool
    greedy_value: float


def _cover_value(A: sp.csr_matrix, w: np.ndarray, chosen: np.ndarray) -> float:
    return float(w[covered_by(A, chosen)].sum())


def _greedy_max(inst: CoverInstance, budget: float, ratio: bool) -> GreedyPicks:
    picks = greedy_cover(inst.A, inst.w, inst.cost, budget, ratio=ratio)
    if ratio:  # the better of ratio greedy and the best single affordable site
        single = np.asarray(inst.A @ inst.w).ravel()
        single[inst.cost > budget + 1e-9] = -np.inf
        if len(single) and single.max() > picks.value:
            j = int(np.argmax(single))
            picks = GreedyPicks(np.array([j]), np.array([single[j]]))
    return picks


def _upper_bound_greedy(inst: CoverInstance, budget: float, picks: GreedyPicks, ratio: bool):
    """A proven upper bound without MILP: submodularity (top single gains under a count
    budget) and the greedy guarantee (greedy ≥ (1 − 1/e)·OPT, count budgets only)."""
    total = float(inst.w.sum())
    if ratio:
        return total
    single = np.sort(np.asarray(inst.A @ inst.w).ravel())[::-1]
    k = int(np.floor(budget + 1e-9))
    return min(total, float(single[:k].sum()), picks.value / _E)


def _solve_max(
    inst: CoverInstance, budget: float, ratio: bool, *, solver: str, deadline: float,
    mip_gap: float,
) -> _Solved:
    """Most people covered on a reduced instance: greedy; then (``solver="milp"``) swaps and a
    Lagrangian bound that fixes the sites no better answer can use; then the exact stage (LP
    bound and MILP on what is left) in a background thread while kicked swaps and exact
    re-solves of small neighbourhoods improve the answer."""
    A, w, cost = inst.A, inst.w, inst.cost
    n = A.shape[0]
    if n == 0 or A.shape[1] == 0 or budget < 1e-9 and not (cost <= 0).any():
        return _Solved(np.zeros(0, np.int64), 0.0, 0.0, "trivial", False, 0.0)
    picks = _greedy_max(inst, budget, ratio)
    ub = _upper_bound_greedy(inst, budget, picks, ratio)
    if solver == "greedy":
        if not ratio and not _within(_floor_if_integral(ub, w), picks.value, 0.0):
            # a short subgradient run tightens the proven bound cheaply
            now = time.perf_counter()
            sg = subgradient_bound(A, w, int(np.floor(budget + 1e-9)), picks.value,
                                   now + min(2.0, 0.1 * (deadline - now)))
            ub = min(ub, sg.bound)
        if integral_weights(w):
            ub = float(np.floor(ub + 1e-6))
        return _Solved(np.sort(picks.order), picks.value, max(ub, picks.value), "greedy", False,
                       picks.value)
    chosen, value = np.sort(picks.order), picks.value
    if _within(_floor_if_integral(ub, w), value, mip_gap):  # e.g. greedy covers everyone
        return _Solved(chosen, value, max(_floor_if_integral(ub, w), value), "optimal", False,
                       picks.value)
    keep, fix1, worst, lam = np.ones(n, dtype=bool), np.zeros(n, dtype=bool), -np.inf, None
    priced = {"cost": cost, "budget": budget} if ratio else {}
    chosen = swap_search(A, w, chosen, _share(deadline, 0.1), **priced)
    value = _cover_value(A, w, chosen)
    if not ratio and A.nnz > SUBGRADIENT_MIN_PAIRS:
        p = int(np.floor(budget + 1e-9))
        sg = subgradient_bound(A, w, p, value, _share(deadline, 0.15))
        ub, lam = min(ub, sg.bound), sg.lam
        fix0, fix1, worst = fix_sites(sg, p, value)
        keep = ~fix0
        keep[chosen] = True
    # the instance restricted to the sites an answer better than the incumbent may use
    sites = np.flatnonzero(keep)
    A_r = sp.csr_matrix(A[sites])
    cells = np.flatnonzero(np.bincount(A_r.indices, minlength=A.shape[1]) > 0)
    A_r = sp.csr_matrix(A_r[:, cells])
    local = np.full(n, -1)
    local[sites] = np.arange(len(sites))
    # the exact stage runs beside the searches (HiGHS and the compiled swaps release the
    # GIL); both stop once the exact stage proves its answer optimal or, without an exact
    # LP, once the searches' answer meets the bound stage's bound
    race = Race(value, mip_gap, integral=integral_weights(w), floor=worst)
    exact = _Background(_exact, A_r, w[cells], cost[sites], budget, ratio, local[chosen],
                        fix1[sites], value, ub, None if lam is None else lam[cells], deadline,
                        mip_gap, race, settles=lambda out: out[3] == "optimal", event=race.met)
    # small instances are proven within moments: give the exact stage the CPU first
    race.met.wait(timeout=min(0.25, 0.05 * max(deadline - time.perf_counter(), 0.0)))
    if not race.met.is_set() and not _within(_floor_if_integral(ub, w), value, mip_gap):
        # kicks escape the swap optimum; neighbourhoods then polish
        chosen = kicked_swap_search(A, w, chosen, _share(deadline, 0.6), allowed=keep,
                                    stop=race.met, on_improve=race.offer_value, **priced)
        chosen = improve_by_neighbourhoods(A, w, cost, budget, chosen, deadline, allowed=keep,
                                           lam=lam, stop=race.met, on_improve=race.offer_value)
        value = _cover_value(A, w, chosen)
    chosen_r, value_r, bound_r, status = exact.result()
    if value_r >= value - 1e-9 * max(1.0, value):  # ties: the exact stage's answer
        chosen, value = sites[chosen_r], value_r
    bound = max(min(ub, max(bound_r, worst)), value)
    if integral_weights(w):
        bound = max(float(np.floor(bound + 1e-6)), value)
    if status in ("time_limit", "size_limit") and _within(bound, value, mip_gap):
        status = "optimal"
    return _Solved(np.sort(chosen), value, bound, status, status == "time_limit", picks.value)


class _Background:
    """Run ``fn(*args)`` in a thread; ``result()`` waits for it. ``settled`` (``event`` if
    given) is set when it ends with a result that ``settles`` accepts (an exception also
    settles)."""

    def __init__(self, fn, *args, settles=lambda out: True, event=None):
        self.settled = event or threading.Event()
        self._out: dict[str, object] = {}
        self._thread = threading.Thread(target=self._run, args=(fn, args, settles), daemon=True)
        self._thread.start()

    def _run(self, fn, args, settles) -> None:
        try:
            self._out["value"] = fn(*args)
            if settles(self._out["value"]):
                self.settled.set()
        except BaseException as exc:  # re-raised in the caller's thread
            self._out["error"] = exc
            self.settled.set()

    def result(self):
        self._thread.join()
        if "error" in self._out:
            raise self._out["error"]
        return self._out["value"]


def _share(deadline: float, fraction: float) -> float:
    """The ``perf_counter`` time after ``fraction`` of the time left before ``deadline``."""
    now = time.perf_counter()
    return now + fraction * max(deadline - now, 0.0)


def _floor_if_integral(bound: float, w: np.ndarray) -> float:
    return float(np.floor(bound + 1e-6)) if integral_weights(w) else bound


def integral_weights(w: np.ndarray) -> bool:
    """True when every weight is a whole number (then so is any coverage, and bounds floor)."""
    return bool(np.all(w == np.round(w)))


def _within(bound: float, value: float, mip_gap: float) -> bool:
    return bound - value <= max(mip_gap * abs(value), 1e-9 * max(1.0, abs(value)))


def _exact(A, w, cost, budget, ratio, chosen, fix1, value, ub, lam, deadline, mip_gap,
           race=None):
    """LP bound, LP-guided search and the MILP on a (restricted) instance; ``lam`` holds
    Lagrangian prices found earlier (or None); bounds without an exact LP are posted to
    ``race``. Returns (chosen, value, bound, status)."""
    n = A.shape[0]
    ub = _floor_if_integral(ub, w)
    if _within(ub, value, mip_gap):
        return chosen, value, ub, "optimal"
    left = deadline - time.perf_counter()
    lb = None
    if A.nnz <= EXACT_MAX_PAIRS or LP_SECONDS_PER_PAIR * A.nnz <= 0.4 * left:
        lb = lp_bound(A, w, cost, budget, 0.4 * left)
    if lb is None:
        return chosen, value, max(_approximate_lp_bound(A, w, cost, budget, ratio, value, ub,
                                                        lam, deadline, race), value), "size_limit"
    worst = -np.inf
    fix0 = np.zeros(n, dtype=bool)
    ub = min(ub, _floor_if_integral(lb.bound, w))
    if not ratio:
        p = int(np.floor(budget + 1e-9))
        start = np.lexsort((np.arange(n), -lb.x_lp))[:p]
        x = swap_search(A, w, start, _share(deadline, 0.1))
        v = _cover_value(A, w, x)
        if v > value + 1e-9 * max(1.0, value):
            chosen, value = x, v
        fix0, more1, worst = fix_sites(lb, p, value)
        fix1 = fix1 | more1
    if _within(ub, value, mip_gap):
        return chosen, value, ub, "optimal"
    c, rows, row_lo, row_hi, lo, hi, integer = models_milp.mclp_model(A, w, cost, budget)
    hi[:n][fix0] = 0.0
    lo[:n][fix1] = 1.0
    out = models_milp.solve(c, rows, row_lo, row_hi, lo, hi, integer,
                            time_limit_s=deadline - time.perf_counter(), mip_gap=mip_gap)
    if out.x is not None:
        x = np.flatnonzero(out.x[:n] > 0.5)
        v = _cover_value(A, w, x)
        if v >= value - 1e-9 * max(1.0, value):
            chosen, value = x, v
    if out.bound is not None:
        ub = min(ub, max(-out.bound, worst))
    status = out.status if out.status != "infeasible" else "error"
    return chosen, value, max(ub, value), status


def _approximate_lp_bound(A, w, cost, budget, ratio, value, ub, lam, deadline, race) -> float:
    """The best bound reachable by ``deadline`` without an exact LP: PDLP's duals where it can
    converge in time, then (count budgets) subgradient steps from the better of those and the
    earlier prices ``lam``, racing the searches' answer (``race``, or None)."""
    left = deadline - time.perf_counter()
    start, step = lam, 2.0
    if (A.nnz <= FIRST_ORDER_MAX_PAIRS
            and FIRST_ORDER_SECONDS_PER_PAIR * A.nnz <= 0.6 * left):
        fo = first_order_bound(A, w, cost, budget, 0.6 * left)
        if fo is not None:
            ub = min(ub, _floor_if_integral(fo.bound, w))
            if race is not None:
                race.offer_bound(ub)
            if lam is None or fo.bound < lagrangian(A, w, cost, budget, lam, None).bound:
                start, step = fo.lam, 0.1  # near-optimal prices: small steps
    if not ratio:
        sg = subgradient_bound(A, w, int(np.floor(budget + 1e-9)), value, deadline,
                               max_iter=100_000, patience=100, lam0=start, step=step,
                               race=race)
        ub = min(ub, _floor_if_integral(sg.bound, w))
    return ub


def _distance_stage_pairs(
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


def _distance_start(pairs: sp.csr_matrix, rows: np.ndarray, chosen_rows: np.ndarray) -> np.ndarray:
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


def _tie_break_max(
    inputs: Inputs, inst: CoverInstance, decision_rows: np.ndarray, cost: np.ndarray,
    budget: float, solved: _Solved, deadline: float, time_limit_s: float,
) -> tuple[np.ndarray, str]:
    """Second stage for MCLP/joint: returns (chosen original rows, description)."""
    chosen_rows = inst.site[solved.chosen]
    cells = np.flatnonzero(inst.group_of_cell >= 0)
    if len(chosen_rows) == 0 or len(cells) == 0:
        return chosen_rows, "not needed (nothing to choose)"
    rows, pairs, left, skipped = _distance_stage_pairs(inputs, decision_rows, cells, deadline,
                                                       time_limit_s)
    if pairs is None:
        return chosen_rows, skipped
    w = inputs.weights[cells]
    first = solved.value
    out = models_milp.solve(
        *models_milp.distance_model(pairs, w, cost[rows], budget,
                                    first - 1e-9 * max(1.0, first), None),
        time_limit_s=left, mip_gap=1e-6, start=_distance_start(pairs, rows, chosen_rows),
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


def _reopen_closable(table: SiteTable, cost: np.ndarray, budget_left: float, open_mask):
    """Closable sites not chosen stay open while the budget has room (no needless closures)."""
    for j in np.flatnonzero((table.status == "closable") & ~open_mask):
        if cost[j] <= budget_left + 1e-9:
            open_mask[j] = True
            budget_left -= cost[j]
    return open_mask


def _assemble_cover_result(
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


def _run_mclp(
    model: str, inputs: Inputs, *, p, budget, time_limit_s, mip_gap, tie_break, solver,
    demand_xy=None, blocks=None, block_names=None, n_cells_block=None, block_people=None,
) -> OptimizeResult:
    t0 = time.perf_counter()
    deadline = t0 + float(time_limit_s)
    table = inputs.sites
    cost, b = budget_costs(table, p, budget)
    b_eff = effective_budget(table, cost, b)
    ratio = budget is not None
    inst = reduce_cover(inputs, cost, fixed_open=table.fixed_open, decision=table.decision)
    solved = _solve_max(inst, b_eff, ratio, solver=solver, deadline=deadline, mip_gap=mip_gap)
    chosen_rows = inst.site[solved.chosen]
    tie = "off"
    if tie_break and solver == "milp" and solved.status in ("optimal", "time_limit",
                                                             "size_limit"):
        chosen_rows, tie = _tie_break_max(inputs, inst, np.flatnonzero(table.decision), cost,
                                          b_eff, solved, deadline, time_limit_s)
    open_mask = table.fixed_open.copy()
    open_mask[chosen_rows] = True
    spent = float(cost[chosen_rows].sum())
    open_mask = _reopen_closable(table, cost, b_eff - spent, open_mask)
    objective = float(inputs.weights[covered_by(inputs.coverage, np.flatnonzero(open_mask))].sum())
    bound = max(inst.constant + solved.bound, objective)
    return _assemble_cover_result(
        model, inputs, table, cost, open_mask, objective, bound, solved.status,
        solved.time_limit_reached, inst.constant + solved.greedy_value, t0, inst, tie, ratio,
        demand_xy, blocks, block_names, n_cells_block, block_people,
    )


def mclp(
    coverage: sp.csr_matrix,
    demand: np.ndarray | pd.Series,
    sites: pd.DataFrame,
    *,
    p: int | None = None,
    budget: float | None = None,
    required: Sequence[object] = (),
    time_limit_s: float = 60.0,
    mip_gap: float = 0.0,
    tie_break: bool = True,
    solver: str = "milp",
    demand_xy: np.ndarray | None = None,
) -> OptimizeResult:
    """Maximal covering: open ``p`` new sites (or spend at most ``budget``) covering the most
    people within the threshold built into ``coverage``.

    Args:
        coverage: sites × cells CSR; structure = covered pairs, data = walking metres.
        demand: people per cell (array, or Series whose index is the cell id).
        sites: site table, one row per coverage row, with ``status`` and optional ``id``,
            ``capacity`` (people), ``cost``.
        p: number of new sites (count budget), or ``budget``: total cost (``cost`` column).
        required: ids of candidate sites that must be opened (they use up budget).
        time_limit_s: wall-clock limit in seconds for the whole call.
        mip_gap: relative gap at which the MILP may stop (0 = prove optimality).
        tie_break: among optimal answers, minimise walking distance of the newly covered.
        solver: ``"milp"`` (exact: LP bound and MILP beside kicked swaps and neighbourhood
            re-solves, see docs/optimizer.md) or ``"greedy"`` (greedy with its bound).
        demand_xy: optional (n, 2) cell centres in metres, copied into the cell tables.
    """
    _check_options(time_limit_s, mip_gap, solver)
    inputs = check_inputs(coverage, demand, sites, required=required)
    return _run_mclp("mclp", inputs, p=p, budget=budget, time_limit_s=time_limit_s,
                     mip_gap=mip_gap, tie_break=tie_break, solver=solver, demand_xy=demand_xy)


def _check_options(time_limit_s: object, mip_gap: object, solver: str = "milp") -> None:
    if solver not in ("milp", "greedy"):
        raise InputError(f"solver must be 'milp' or 'greedy', not {solver!r}.")
    for name, value, low in (("time_limit_s", time_limit_s, "> 0 seconds"),
                             ("mip_gap", mip_gap, "≥ 0 (0 = prove optimality)")):
        ok = isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)
        if not ok or (value <= 0 if name == "time_limit_s" else value < 0):
            raise InputError(f"{name} must be a finite number {low}, not {value!r}.")


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
    _check_options(time_limit_s, mip_gap)
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
        if status == "time_limit" and _within(value, bound, mip_gap):
            status = "optimal"
        tlr = status == "time_limit"
        chosen_rows = inst.site[chosen]
        if tie_break:
            chosen_rows, tie = _tie_break_min(inputs, inst, table, cost, chosen_rows, value,
                                              deadline, time_limit_s)
    open_mask = table.fixed_open.copy()
    open_mask[chosen_rows] = True
    return _assemble_cover_result(
        "lscp", inputs, table, cost, open_mask, req_cost + value,
        req_cost + bound, status, tlr, req_cost + gval, t0, inst, tie, use_cost, demand_xy,
    )


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


def _tie_break_min(inputs, inst, table, cost, chosen_rows, value, deadline, time_limit_s):
    cells = np.flatnonzero(inst.group_of_cell >= 0)
    rows, pairs, left, skipped = _distance_stage_pairs(
        inputs, np.flatnonzero(table.decision), cells, deadline, time_limit_s)
    if pairs is None:
        return chosen_rows, skipped
    w = inputs.weights[cells]
    out = models_milp.solve(
        *models_milp.distance_model(pairs, w, cost[rows], np.inf, None, value + 1e-9),
        time_limit_s=left, mip_gap=1e-6, start=_distance_start(pairs, rows, chosen_rows),
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


@dataclass(frozen=True)
class JointCategory:
    """One category of a joint siting run.

    ``coverage`` is sites × cells (rows = the shared site table; an empty row means the site
    cannot host or does not reach), ``demand`` people per cell of the group the category serves,
    ``weight`` the value of covering one person of it.
    """

    coverage: sp.csr_matrix
    demand: np.ndarray | pd.Series
    weight: float = 1.0


def joint_mclp(
    categories: Mapping[str, JointCategory],
    sites: pd.DataFrame,
    *,
    p: int | None = None,
    budget: float | None = None,
    required: Sequence[object] = (),
    time_limit_s: float = 60.0,
    mip_gap: float = 0.0,
    tie_break: bool = True,
    solver: str = "milp",
) -> OptimizeResult:
    """Joint siting: each new site (e.g. a community centre) hosts every category it can, and
    one shared budget (``p`` sites or a ``cost`` budget) buys the sites. Maximises
    Σ_category weight × people covered.

    Existing sites serve only their own category when the site table has a ``category``
    column (otherwise every category). Closable sites are not supported here.

    People columns are head counts, weighted ones say so: ``objective`` and the ``weighted_*``
    totals are Σ weight × people. Each proposed site lists the people it newly covers per
    category (``people_<key>``), their sum (``marginal_people``, ``cumulative_people``) and
    its weighted gain (``marginal_weighted_people``, ``cumulative_weighted_people``; these sum
    to ``weighted_people_newly_covered``). The cells table holds one row per category and cell
    (``people`` and ``weighted_people``).

    A category with no people (zero demand everywhere, e.g. existing sites already cover all
    of them) adds nothing: the result's message says so and a warning is issued. Only when
    no category has weighted demand left (zero people or weight 0 everywhere) is it an error.
    """
    _check_options(time_limit_s, mip_gap, solver)
    if not categories:
        raise InputError("joint_mclp needs at least one category (key → JointCategory).")
    if "status" in sites.columns and (sites["status"].astype(str).str.lower() == "closable").any():
        raise InputError(
            "The joint model does not close sites: mark closable sites 'existing', or run "
            "mclp per category to study closures."
        )
    names = list(categories)
    mats, weights, people, ids, blocks = [], [], [], None, []
    n_sites = len(sites)
    has_cat = "category" in sites.columns
    status = sites["status"].astype(str).str.lower().to_numpy() if "status" in sites.columns \
        else None
    for k, name in enumerate(names):
        cat = categories[name]
        if cat.weight < 0 or not np.isfinite(cat.weight):
            raise InputError(f"Category {name!r} has weight {cat.weight}; use a finite weight ≥ 0.")
        one = check_inputs(cat.coverage, cat.demand, sites, allow_zero_demand=True)
        cov = one.coverage
        if has_cat and status is not None:
            other = (status == "existing") & (sites["category"].astype(str).to_numpy() != name)
            keep = np.repeat(~other, np.diff(cov.indptr))
            cov = sp.csr_matrix((cov.data[keep], cov.indices[keep],
                                 np.concatenate([[0], np.cumsum(np.bincount(
                                     np.repeat(np.arange(n_sites), np.diff(cov.indptr))[keep],
                                     minlength=n_sites))])), shape=cov.shape)
        if ids is None:
            ids, n_cells = one.cell_ids, cov.shape[1]
        elif cov.shape[1] != n_cells:
            raise InputError(
                f"Category {name!r} has {cov.shape[1]} demand cells, the first has {n_cells}. "
                "Give every category the same demand grid (its own population column)."
            )
        mats.append(cov)
        weights.append(one.weights * float(cat.weight))
        people.append(one.weights)
        blocks.append(np.full(cov.shape[1], k))
    empty = [name for name, d in zip(names, people, strict=True) if d.sum() <= 0]
    if all(wk.sum() <= 0 for wk in weights):
        idle = [f"{name!r} ({'no people' if name in empty else 'weight 0'})" for name in names]
        raise InputError(
            f"No category has weighted people to cover: {', '.join(idle)}. Give at least one "
            "category people in its demand column (e.g. age_60_plus for elderly care) and a "
            "weight > 0."
        )
    stacked = sp.csr_matrix(sp.hstack(mats, format="csr"))
    w = np.concatenate(weights)
    inputs = check_inputs(stacked, w, sites, required=required)
    inputs = Inputs(inputs.coverage, inputs.weights, np.tile(ids, len(names)), inputs.sites)
    res = _run_mclp("joint_mclp", inputs, p=p, budget=budget, time_limit_s=time_limit_s,
                    mip_gap=mip_gap, tie_break=tie_break, solver=solver,
                    blocks=np.concatenate(blocks), block_names=names, n_cells_block=n_cells,
                    block_people=np.concatenate(people))
    if not empty:
        return res
    note = (f"No people to cover in {', '.join(map(repr, empty))} (zero demand in every cell, "
            "e.g. existing sites already cover everyone): it adds nothing to the objective.")
    warnings.warn(note, stacklevel=2)
    return replace(res, message=f"{res.message} {note}")


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
    _check_options(time_limit_s, mip_gap)
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
    if not _within(bound, value, mip_gap) and deadline - time.perf_counter() < 0.05:
        status = "time_limit"  # no time for the MILP: the greedy answer with its bound
    elif not _within(bound, value, mip_gap):
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
    open_mask = _reopen_closable(
        table, cost, b_eff - float(dec_cost[best_open].sum()),
        _to_rows(site_idx, best_open, cov.shape[0]) | fixed)
    if (open_mask[site_idx] & ~best_open).any():
        best_open = open_mask[site_idx]
        value = served(best_open)
    bound = max(bound, value)
    if status == "time_limit" and _within(bound, value, mip_gap):
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
