"""Inputs of the location models, their validation, and the problem reduction.

A coverage matrix is a ``scipy.sparse.csr_matrix`` of shape (sites × demand cells): its
*structure* says which site covers which cell within the threshold, its data is the walking
distance in metres (explicit zeros are real zero-metre distances, so the structure is read
through ``indptr``/``indices``, never ``nonzero()``).

Reductions (all exact — they never change the optimum):

* cells covered by a site that is open whatever the model decides (``existing`` or
  ``required``) are a constant of the objective and leave the model;
* cells no decision site reaches, and cells with zero people, leave the model (the first are
  reported as uncoverable);
* cells reached by exactly the same set of decision sites merge into one row weighted by their
  summed people;
* a decision site whose covered cells are a subset of another's, at no lower cost, is dominated
  and leaves the model (any solution using it can swap it for the dominating site).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from planner.errors import InfeasibleError, InputError

STATUSES = ("existing", "candidate", "required", "closable")
#: Largest number of multiply-adds the dominated-site check may spend (sparse A·Aᵀ).
DOMINANCE_WORK_LIMIT = 3e8
_HASH_SEED = 20240601


@dataclass(frozen=True)
class SiteTable:
    """The site table reduced to arrays (one entry per coverage-matrix row)."""

    ids: np.ndarray
    status: np.ndarray
    capacity: np.ndarray
    cost: np.ndarray
    frame: pd.DataFrame

    @property
    def fixed_open(self) -> np.ndarray:
        """Sites open whatever the model decides (existing and required)."""
        return np.isin(self.status, ("existing", "required"))

    @property
    def decision(self) -> np.ndarray:
        """Sites the model decides on (new candidates and closable existing sites)."""
        return np.isin(self.status, ("candidate", "closable"))


@dataclass(frozen=True)
class Inputs:
    """Validated inputs shared by every model."""

    coverage: sp.csr_matrix
    weights: np.ndarray
    cell_ids: np.ndarray
    sites: SiteTable


@dataclass(frozen=True)
class Reduction:
    """How much the reduction removed (counts of demand cells and sites)."""

    cells_in: int
    cells_zero_demand: int
    cells_covered_by_fixed: int
    cells_uncoverable: int
    cells_kept: int
    cell_groups: int
    sites_in: int
    sites_fixed_open: int
    sites_decision: int
    sites_without_gain: int
    sites_dominated: int
    sites_kept: int
    dominance_checked: bool

    def as_dict(self) -> dict[str, int | bool]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class CoverInstance:
    """A reduced covering instance.

    ``A`` is (kept decision sites × cell groups), 0/1; ``w`` the people of each group;
    ``site`` the original row of each kept decision site; ``cost`` its budget cost;
    ``group_of_cell`` maps each original cell to its group (−1 = not in the model);
    ``constant`` the people covered by the fixed-open sites whatever is chosen.
    """

    A: sp.csr_matrix
    w: np.ndarray
    site: np.ndarray
    cost: np.ndarray
    group_of_cell: np.ndarray
    constant: float
    uncoverable: np.ndarray
    reduction: Reduction


def check_inputs(
    coverage: object,
    demand: object,
    sites: pd.DataFrame,
    *,
    required: Sequence[object] = (),
    allow_zero_demand: bool = False,
) -> Inputs:
    """Validate the coverage matrix, demand (people per cell) and site table.

    ``demand`` is an array or a ``pandas.Series`` (its index gives the cell ids). ``required``
    names site ids (the site table's ``id`` column, else its index) that must be opened; each
    must be a ``candidate`` row. Demand that is zero everywhere is an error unless
    ``allow_zero_demand`` (the joint model checks its categories together). Raises
    :class:`planner.errors.InputError` on bad input.
    """
    if not sp.issparse(coverage):
        raise InputError(
            "The coverage matrix must be a scipy.sparse matrix (sites × demand cells); got "
            f"{type(coverage).__name__}. Build it with planner.catchment.coverage_matrix."
        )
    cov = sp.csr_matrix(coverage, copy=True)
    cov.sort_indices()
    if not cov.has_canonical_format:
        raise InputError(
            "The coverage matrix holds the same (site, cell) pair twice. Keep one entry per "
            "pair (the shortest walking distance), e.g. with csr.sum_duplicates() on distances "
            "already de-duplicated."
        )
    if cov.nnz and (not np.all(np.isfinite(cov.data)) or cov.data.min() < 0):
        raise InputError(
            "The coverage matrix holds negative or non-finite walking distances. Its data must "
            "be distances in metres ≥ 0 for the covered pairs only."
        )
    if isinstance(demand, pd.Series):
        cell_ids = demand.index.to_numpy()
        weights = demand.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        weights = np.asarray(demand, dtype=np.float64).ravel()
        cell_ids = np.arange(len(weights))
    if cov.shape[1] != len(weights):
        raise InputError(
            f"The coverage matrix has {cov.shape[1]} demand columns but the demand has "
            f"{len(weights)} cells. Build both from the same demand grid, in the same order."
        )
    if not np.all(np.isfinite(weights)) or (len(weights) and weights.min() < 0):
        raise InputError(
            "Demand must be people per cell, finite and ≥ 0; found NaN, infinite or negative "
            "values. Fill missing cells with 0."
        )
    if weights.sum() <= 0 and not allow_zero_demand:
        raise InputError(
            "The demand is zero: no cell has any people of the population group this category "
            "serves. Check the demand column (e.g. age_60_plus for elderly care) and the grid."
        )
    table = _site_table(sites, cov.shape[0], required)
    return Inputs(cov, weights, cell_ids, table)


def _site_table(sites: pd.DataFrame, n_rows: int, required: Sequence[object]) -> SiteTable:
    if not isinstance(sites, pd.DataFrame):
        raise InputError(
            "The site table must be a pandas DataFrame or GeoDataFrame with a 'status' column."
        )
    if len(sites) != n_rows:
        raise InputError(
            f"The site table has {len(sites)} rows but the coverage matrix has {n_rows} site "
            "rows. Row k of the coverage matrix must describe row k of the site table."
        )
    if "status" not in sites.columns:
        raise InputError(
            "The site table has no 'status' column. Give each site one of "
            f"{', '.join(STATUSES)}."
        )
    status = sites["status"].astype("string").fillna("").str.strip().str.lower().to_numpy()
    status = status.astype(object)
    bad = sorted(set(status) - set(STATUSES))
    if bad:
        raise InputError(
            f"Unknown site status {bad}. Each site must be one of {', '.join(STATUSES)}."
        )
    ids = sites["id"].to_numpy() if "id" in sites.columns else sites.index.to_numpy()
    if isinstance(required, str | bytes):
        raise InputError(f"required must be a list of site ids, e.g. [{required!r}], not a "
                         "single string.")
    if len(required) and pd.Index(ids).has_duplicates:
        dup = pd.Index(ids)[pd.Index(ids).duplicated()].unique()[:5].tolist()
        raise InputError(f"Site ids repeat (e.g. {dup}), so required sites cannot be named "
                         "by id; give every site a unique id.")
    if len(required):
        pos = pd.Index(ids).get_indexer(pd.Index(list(required)))
        missing = [r for r, k in zip(required, pos, strict=True) if k < 0]
        if missing:
            raise InputError(
                f"Required site(s) {missing[:10]} are not in the site table. Add them as "
                "candidate rows (with their coverage) or drop them from the required list."
            )
        not_candidate = [r for r, k in zip(required, pos, strict=True) if status[k] != "candidate"
                         and status[k] != "required"]
        if not_candidate:
            raise InputError(
                f"Required site(s) {not_candidate[:10]} are not candidates (their status is "
                "existing or closable). Only candidate sites can be required; existing sites "
                "stay open anyway."
            )
        status = status.copy()
        status[pos] = "required"
    capacity = (
        pd.to_numeric(sites["capacity"], errors="coerce").to_numpy(dtype=np.float64)
        if "capacity" in sites.columns
        else np.full(n_rows, np.nan)
    )
    cost = (
        pd.to_numeric(sites["cost"], errors="coerce").to_numpy(dtype=np.float64)
        if "cost" in sites.columns
        else np.full(n_rows, np.nan)
    )
    return SiteTable(ids, status.astype(str), capacity, cost, sites)


def budget_costs(table: SiteTable, p: int | None, budget: float | None) -> tuple[np.ndarray, float]:
    """Per-site cost and the budget: a count (``p`` sites, cost 1 each) or a money budget.

    Returns (cost per site row, budget before required sites are paid).
    """
    if (p is None) == (budget is None):
        raise InputError(
            "Give exactly one budget: p (number of new sites) or budget (total cost, with a "
            "'cost' column in the site table)."
        )
    n_new = int(np.count_nonzero(np.isin(table.status, ("candidate", "required"))))
    if p is not None:
        if int(p) != p or p < 0:
            raise InputError(f"p must be a whole number of sites ≥ 0, not {p!r}.")
        if p > n_new:
            raise InputError(
                f"{p} new sites asked for (new_sites, p), but only {n_new} candidate sites "
                "exist. Ask for fewer, or add candidates (a denser candidate_spacing_m or a "
                "larger candidates file)."
            )
        return np.ones(len(table.status)), float(p)
    if not np.isfinite(budget) or budget < 0:
        raise InputError(f"budget must be a finite cost ≥ 0, not {budget!r}.")
    need = np.isin(table.status, ("candidate", "required", "closable"))
    bad = need & ~(np.isfinite(table.cost) & (table.cost >= 0))
    if bad.any():
        raise InputError(
            f"{int(bad.sum())} candidate/required/closable sites have no valid cost (e.g. "
            f"{list(table.ids[bad][:5])}). A cost budget needs a 'cost' ≥ 0 for each of them; "
            "fill the column or use p (a number of sites) instead."
        )
    return np.where(need, table.cost, 0.0), float(budget)


def effective_budget(table: SiteTable, cost: np.ndarray, budget: float) -> float:
    """Budget left for decision sites: required sites are paid first; keeping a closable site
    costs its cost and closing it frees that cost (so its cost is added here)."""
    required = table.status == "required"
    left = budget - float(cost[required].sum())
    if left < -1e-9:
        raise InfeasibleError(
            f"The {int(required.sum())} required sites alone cost {cost[required].sum():g}, more "
            f"than the budget {budget:g}. Raise the budget (or p) or require fewer sites."
        )
    return max(left, 0.0) + float(cost[table.status == "closable"].sum())


def covered_by(coverage: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """Boolean mask of the cells covered by any of the given site rows (structure only)."""
    mask = np.zeros(coverage.shape[1], dtype=bool)
    rows = np.flatnonzero(rows) if rows.dtype == bool else rows
    if len(rows):
        starts, ends = coverage.indptr[rows], coverage.indptr[rows + 1]
        mask[coverage.indices[index_ranges(starts, ends)]] = True
    return mask


def nearby_chosen(
    A: sp.csr_matrix, by_cell: sp.csr_matrix, chosen: np.ndarray, seed: int, size: int
) -> np.ndarray:
    """The seed and up to ``size − 1`` chosen sites closest to it: those sharing cells with the
    seed's overlapping sites, most shared cells first (ties by index). ``by_cell`` is ``A.T``
    as CSR."""
    ring = np.unique(by_cell[A.indices[A.indptr[seed]:A.indptr[seed + 1]]].indices)
    area = covered_by(A, ring).astype(np.float64)
    shared = np.asarray(A[chosen] @ area).ravel()
    near = (shared > 0) & (chosen != seed)
    others = chosen[near][np.lexsort((chosen[near], -shared[near]))]
    return np.concatenate([[seed], others[: size - 1]]).astype(np.int64)


def index_ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, e)`` for each pair, vectorised."""
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return np.arange(total, dtype=np.int64) + offsets


def structure(coverage: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> sp.csr_matrix:
    """0/1 sub-matrix of the coverage structure on the given rows and columns."""
    sub = coverage[rows][:, cols]
    return sp.csr_matrix(
        (np.ones(sub.nnz), sub.indices.copy(), sub.indptr.copy()), shape=sub.shape
    )


def merge_cells(cells_by_site: sp.csc_matrix) -> tuple[np.ndarray, int]:
    """Group the columns (cells) of a sites × cells 0/1 matrix with identical row sets.

    Returns (group index per column, number of groups). Groups are numbered in order of their
    first column, so the result is deterministic. Identity is decided by a 128-bit hash of the
    set and then verified entry by entry, so merging is exact.
    """
    csc = sp.csc_matrix(cells_by_site)
    csc.sort_indices()
    n = csc.shape[1]
    if n == 0:
        return np.zeros(0, dtype=np.int64), 0
    rng = np.random.default_rng(_HASH_SEED)
    keys = rng.integers(1, 2**63 - 1, size=(csc.shape[0], 2), dtype=np.int64).astype(np.uint64)
    col = np.repeat(np.arange(n), np.diff(csc.indptr))
    h = np.zeros((n, 2), dtype=np.uint64)
    for k in range(2):
        np.add.at(h[:, k], col, keys[csc.indices, k])
    deg = np.diff(csc.indptr).astype(np.uint64)
    table = np.stack([h[:, 0], h[:, 1], deg], axis=1)
    _, first, inverse = np.unique(table, axis=0, return_index=True, return_inverse=True)
    rep = first[inverse.ravel()]
    # verify: every column's index list equals its representative's
    same = np.ones(n, dtype=bool)
    if csc.nnz:
        mine = csc.indices
        theirs = csc.indices[index_ranges(csc.indptr[rep], csc.indptr[rep + 1])]
        differs = mine != theirs
        if differs.any():
            same[np.unique(col[differs])] = False
    rep = np.where(same, rep, np.arange(n))
    _, group = np.unique(rep, return_inverse=True)
    # renumber groups by first appearance
    order = np.full(group.max() + 1, n, dtype=np.int64)
    np.minimum.at(order, group, np.arange(n))
    rank = np.empty_like(order)
    rank[np.argsort(order, kind="stable")] = np.arange(len(order))
    return rank[group], len(order)


def dominated_sites(A: sp.csr_matrix, cost: np.ndarray) -> np.ndarray | None:
    """Rows of a 0/1 sites × cells matrix that another row dominates.

    Row j is dominated by row k when j's cells are a subset of k's and ``cost[k] ≤ cost[j]``;
    among identical rows at equal cost the lowest index is kept. Returns a boolean mask, or
    ``None`` when the check would cost more than :data:`DOMINANCE_WORK_LIMIT` operations.
    """
    n = A.shape[0]
    deg = np.diff(A.indptr)
    col_deg = np.bincount(A.indices, minlength=A.shape[1]).astype(np.float64)
    if float((col_deg**2).sum()) > DOMINANCE_WORK_LIMIT:
        return None
    overlap = sp.csr_matrix(A @ A.T)
    overlap.sum_duplicates()
    row = np.repeat(np.arange(n), np.diff(overlap.indptr))
    other = overlap.indices
    contained = (overlap.data == deg[row]) & (other != row)
    j, k = row[contained], other[contained]
    # k ⊇ j; k strictly larger, or equal sets with k preferred (lower cost, then lower index)
    larger = deg[k] > deg[j]
    cheaper = cost[k] < cost[j]
    tie = (cost[k] == cost[j]) & (k < j)
    dom = (cost[k] <= cost[j]) & (larger | cheaper | tie)
    mask = np.zeros(n, dtype=bool)
    mask[j[dom]] = True
    # an empty row is a subset of every row: dominated unless it is the first cheapest row
    empty = np.flatnonzero(deg == 0)
    if len(empty):
        nonempty_min = cost[deg > 0].min() if (deg > 0).any() else np.inf
        first_cheapest = empty[np.argmin(cost[empty])]
        mask[empty] = (cost[empty] >= nonempty_min) | (empty != first_cheapest)
    return mask


def reduce_cover(
    inputs: Inputs,
    cost: np.ndarray,
    *,
    fixed_open: np.ndarray,
    decision: np.ndarray,
    drop_fixed_covered: bool = True,
    dominance: bool = True,
) -> CoverInstance:
    """Reduce a covering problem (MCLP or LSCP) to decision sites × merged cell groups."""
    cov, w = inputs.coverage, inputs.weights
    n_cells = cov.shape[1]
    fixed_cov = covered_by(cov, fixed_open) if drop_fixed_covered else np.zeros(n_cells, bool)
    dec_rows = np.flatnonzero(decision)
    reach = covered_by(cov, dec_rows)
    zero = w <= 0
    uncoverable = ~reach & ~fixed_cov & ~zero
    keep_cells = reach & ~fixed_cov & ~zero
    cells = np.flatnonzero(keep_cells)
    sub = structure(cov, dec_rows, cells)
    has_gain = np.diff(sub.indptr) > 0
    group, n_groups = merge_cells(sub)
    group_of_cell = np.full(n_cells, -1, dtype=np.int64)
    group_of_cell[cells] = group
    gw = np.bincount(group, weights=w[cells], minlength=n_groups)
    # sites × groups, 0/1
    A = sp.csr_matrix(
        (np.ones(sub.nnz), (np.repeat(np.arange(sub.shape[0]), np.diff(sub.indptr)),
                            group[sub.indices])),
        shape=(sub.shape[0], n_groups),
    )
    A.data[:] = 1.0
    A.sort_indices()
    keep_sites = has_gain.copy()
    dom_mask = None
    if dominance and A.shape[0]:
        dom_mask = dominated_sites(A, cost[dec_rows])
        if dom_mask is not None:
            keep_sites &= ~dom_mask
    n_dom = int((dom_mask & has_gain).sum()) if dom_mask is not None else 0
    A = A[np.flatnonzero(keep_sites)]
    red = Reduction(
        cells_in=n_cells,
        cells_zero_demand=int(zero.sum()),
        cells_covered_by_fixed=int((fixed_cov & ~zero).sum()),
        cells_uncoverable=int(uncoverable.sum()),
        cells_kept=len(cells),
        cell_groups=n_groups,
        sites_in=cov.shape[0],
        sites_fixed_open=int(np.count_nonzero(fixed_open)),
        sites_decision=len(dec_rows),
        sites_without_gain=int((~has_gain).sum()),
        sites_dominated=n_dom,
        sites_kept=int(keep_sites.sum()),
        dominance_checked=dom_mask is not None,
    )
    return CoverInstance(
        A=sp.csr_matrix(A),
        w=gw,
        site=dec_rows[keep_sites],
        cost=cost[dec_rows][keep_sites],
        group_of_cell=group_of_cell,
        constant=float(w[fixed_cov].sum()),
        uncoverable=np.flatnonzero(uncoverable),
        reduction=red,
    )
