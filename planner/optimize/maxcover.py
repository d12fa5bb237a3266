"""Maximal covering (MCLP) and joint multi-category MCLP.

Both take a coverage matrix (sites × demand cells, walking metres on the covered pairs), the
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

import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from planner.errors import InputError
from planner.optimize.assemble import Blocks, CoverAnswer, assemble_cover_result, reopen_closable
from planner.optimize.exact import (
    Restricted,
    cover_value,
    exact_stage,
    floor_if_integral,
    integral_weights,
    share_of_time_left,
    within_gap,
)
from planner.optimize.greedy import GreedyPicks, greedy_cover, kicked_swap_search, swap_search
from planner.optimize.lpbound import fix_sites, subgradient_bound
from planner.optimize.neighbourhood import improve_by_neighbourhoods
from planner.optimize.options import SolveOptions
from planner.optimize.problem import (
    CoverInstance,
    Inputs,
    budget_costs,
    check_inputs,
    covered_by,
    effective_budget,
    reduce_cover,
)
from planner.optimize.race import Race
from planner.optimize.result import OptimizeResult
from planner.optimize.tiebreak import tie_break_max

#: Smallest instance (site–cell-group pairs) worth a Lagrangian bound before the exact stage;
#: below it the LP is solved sooner than the subgradient steps.
SUBGRADIENT_MIN_PAIRS = 20_000
_E = 1.0 - 1.0 / np.e


@dataclass
class _Solved:
    chosen: np.ndarray  # rows of the instance matrix
    value: float  # objective on the reduced instance
    bound: float
    status: str
    time_limit_reached: bool
    greedy_value: float


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
        if not ratio and not within_gap(floor_if_integral(ub, w), picks.value, 0.0):
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
    if within_gap(floor_if_integral(ub, w), value, mip_gap):  # e.g. greedy covers everyone
        return _Solved(chosen, value, max(floor_if_integral(ub, w), value), "optimal", False,
                       picks.value)
    keep, fix1, worst, lam = np.ones(n, dtype=bool), np.zeros(n, dtype=bool), -np.inf, None
    priced = {"cost": cost, "budget": budget} if ratio else {}
    chosen = swap_search(A, w, chosen, share_of_time_left(deadline, 0.1), **priced)
    value = cover_value(A, w, chosen)
    if not ratio and A.nnz > SUBGRADIENT_MIN_PAIRS:
        p = int(np.floor(budget + 1e-9))
        sg = subgradient_bound(A, w, p, value, share_of_time_left(deadline, 0.15))
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
    restricted = Restricted(A_r, w[cells], cost[sites], budget, ratio, local[chosen],
                            fix1[sites], value, ub, None if lam is None else lam[cells])
    exact = _Background(exact_stage, restricted, deadline, mip_gap, race,
                        settles=lambda out: out[3] == "optimal", event=race.met)
    # small instances are proven within moments: give the exact stage the CPU first
    race.met.wait(timeout=min(0.25, 0.05 * max(deadline - time.perf_counter(), 0.0)))
    if not race.met.is_set() and not within_gap(floor_if_integral(ub, w), value, mip_gap):
        # kicks escape the swap optimum; neighbourhoods then polish
        chosen = kicked_swap_search(A, w, chosen, share_of_time_left(deadline, 0.6), allowed=keep,
                                    stop=race.met, on_improve=race.offer_value, **priced)
        chosen = improve_by_neighbourhoods(A, w, cost, budget, chosen, deadline, allowed=keep,
                                           lam=lam, stop=race.met, on_improve=race.offer_value)
        value = cover_value(A, w, chosen)
    chosen_r, value_r, bound_r, status = exact.result()
    if value_r >= value - 1e-9 * max(1.0, value):  # ties: the exact stage's answer
        chosen, value = sites[chosen_r], value_r
    bound = max(min(ub, max(bound_r, worst)), value)
    if integral_weights(w):
        bound = max(float(np.floor(bound + 1e-6)), value)
    if status in ("time_limit", "size_limit") and within_gap(bound, value, mip_gap):
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


def _run_mclp(
    model: str, inputs: Inputs, p: int | None, budget: float | None, opts: SolveOptions,
    *, demand_xy: np.ndarray | None = None, blocks: Blocks | None = None,
) -> OptimizeResult:
    t0 = time.perf_counter()
    deadline = t0 + float(opts.time_limit_s)
    table = inputs.sites
    cost, b = budget_costs(table, p, budget)
    b_eff = effective_budget(table, cost, b)
    ratio = budget is not None
    inst = reduce_cover(inputs, cost, fixed_open=table.fixed_open, decision=table.decision)
    solved = _solve_max(inst, b_eff, ratio, solver=opts.solver, deadline=deadline,
                        mip_gap=opts.mip_gap)
    chosen_rows = inst.site[solved.chosen]
    tie = "off"
    if opts.tie_break and opts.solver == "milp" and solved.status in (
            "optimal", "time_limit", "size_limit"):
        chosen_rows, tie = tie_break_max(inputs, inst, np.flatnonzero(table.decision), cost,
                                         b_eff, chosen_rows, solved.value,
                                         (deadline, opts.time_limit_s))
    open_mask = table.fixed_open.copy()
    open_mask[chosen_rows] = True
    spent = float(cost[chosen_rows].sum())
    open_mask = reopen_closable(table, cost, b_eff - spent, open_mask)
    objective = float(inputs.weights[covered_by(inputs.coverage, np.flatnonzero(open_mask))].sum())
    bound = max(inst.constant + solved.bound, objective)
    answer = CoverAnswer(open_mask, objective, bound, solved.status, solved.time_limit_reached,
                         inst.constant + solved.greedy_value, tie, t0)
    return assemble_cover_result(model, inputs, cost, answer, inst, ratio=ratio,
                                 demand_xy=demand_xy, blocks=blocks)


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
    opts = SolveOptions(time_limit_s, mip_gap, tie_break, solver)
    inputs = check_inputs(coverage, demand, sites, required=required)
    return _run_mclp("mclp", inputs, p, budget, opts, demand_xy=demand_xy)


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
    opts = SolveOptions(time_limit_s, mip_gap, tie_break, solver)
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
    res = _run_mclp("joint_mclp", inputs, p, budget, opts,
                    blocks=Blocks(np.concatenate(blocks), names, n_cells, np.concatenate(people)))
    if not empty:
        return res
    note = (f"No people to cover in {', '.join(map(repr, empty))} (zero demand in every cell, "
            "e.g. existing sites already cover everyone): it adds nothing to the objective.")
    warnings.warn(note, stacklevel=2)
    return replace(res, message=f"{res.message} {note}")
