"""Mixed-integer models solved with ``scipy.optimize.milp`` (HiGHS).

Every model is a minimisation ``c·v`` over one variable vector ``v``; maximisation models pass
``-gain``. :func:`solve` returns the solution, HiGHS's proven dual bound (``mip_dual_bound``,
which ``scipy.optimize.milp`` reports for HiGHS), the relative gap, the time and the status.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from planner.optimize.highs import mip_from_start


@dataclass(frozen=True)
class MilpOutcome:
    """What HiGHS returned. ``x`` is None when no feasible point was found in time;
    ``bound`` is the proven lower bound of the minimisation (None if none was proven)."""

    x: np.ndarray | None
    fun: float | None
    bound: float | None
    status: str
    seconds: float
    nodes: int | None


def solve(
    c: np.ndarray,
    A: sp.csr_matrix,
    row_lo: np.ndarray,
    row_hi: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    integer: np.ndarray,
    *,
    time_limit_s: float,
    mip_gap: float,
    start: np.ndarray | None = None,
) -> MilpOutcome:
    """Minimise ``c·v`` s.t. ``row_lo ≤ A v ≤ row_hi``, ``lo ≤ v ≤ hi``, integer where asked;
    from ``start`` (a feasible point, through ``highspy``) when given.

    Status is ``"optimal"`` (within ``mip_gap``), ``"time_limit"`` or ``"infeasible"``.
    """
    t0 = time.perf_counter()
    if len(c) == 0:
        return MilpOutcome(np.zeros(0), 0.0, 0.0, "optimal", 0.0, 0)
    if start is not None:
        x, fun, bound, status, nodes = mip_from_start(
            c, A, row_lo, row_hi, lo, hi, integer, start, time_limit_s=time_limit_s,
            mip_gap=mip_gap)
        return MilpOutcome(x, fun, bound, status, time.perf_counter() - t0, nodes)
    res = milp(
        c,
        integrality=integer.astype(np.uint8),
        bounds=Bounds(lo, hi),
        constraints=[LinearConstraint(A, row_lo, row_hi)] if A.shape[0] else None,
        options={"time_limit": max(float(time_limit_s), 0.01), "mip_rel_gap": float(mip_gap),
                 "presolve": True},
    )
    seconds = time.perf_counter() - t0
    status = {0: "optimal", 1: "time_limit", 2: "infeasible"}.get(res.status, "error")
    x = None if res.x is None else np.asarray(res.x)
    bound = getattr(res, "mip_dual_bound", None)
    if bound is not None and not np.isfinite(bound):
        bound = None
    if status == "optimal" and bound is None and x is not None:
        bound = float(res.fun)  # a pure LP (no integers) is solved exactly
    return MilpOutcome(x, None if x is None else float(res.fun), bound, status, seconds,
                       getattr(res, "mip_node_count", None))


def cover_rows(A: sp.csr_matrix) -> sp.csr_matrix:
    """Rows ``y_i − Σ_{j covers i} x_j ≤ 0`` over ``v = (x, y)`` for a sites × cells 0/1 ``A``."""
    n_sites, n_cells = A.shape
    return sp.hstack([-A.T.tocsr(), sp.identity(n_cells, format="csr")], format="csr")


def mclp_model(A: sp.csr_matrix, w: np.ndarray, cost: np.ndarray, budget: float):
    """MCLP: max Σ w_i y_i, y_i ≤ Σ_{j∋i} x_j, Σ cost_j x_j ≤ budget; x binary, y ∈ [0, 1].

    ``y`` may stay continuous: for integer ``x`` its optimum is min(1, Σx) ∈ {0, 1}.
    Returns (c, rows, row_lo, row_hi, lo, hi, integer) over ``v = (x, y)``.
    """
    n_sites, n_cells = A.shape
    c = np.concatenate([np.zeros(n_sites), -w])
    budget_row = sp.csr_matrix(np.concatenate([cost, np.zeros(n_cells)])[None, :])
    rows = sp.vstack([cover_rows(A), budget_row], format="csr")
    row_lo = np.full(n_cells + 1, -np.inf)
    row_hi = np.concatenate([np.zeros(n_cells), [budget]])
    n = n_sites + n_cells
    integer = np.concatenate([np.ones(n_sites, bool), np.zeros(n_cells, bool)])
    return c, rows, row_lo, row_hi, np.zeros(n), np.ones(n), integer


def lscp_model(A: sp.csr_matrix, cost: np.ndarray):
    """LSCP: min Σ cost_j x_j s.t. every cell has Σ_{j∋i} x_j ≥ 1; x binary."""
    n_sites, n_cells = A.shape
    rows = A.T.tocsr()
    return (np.asarray(cost, dtype=np.float64), rows, np.ones(n_cells), np.full(n_cells, np.inf),
            np.zeros(n_sites), np.ones(n_sites), np.ones(n_sites, bool))


def distance_model(
    pairs: sp.csr_matrix,
    w: np.ndarray,
    cost: np.ndarray,
    budget: float,
    min_covered: float | None,
    max_cost: float | None,
):
    """Second (tie-break) stage: among site sets meeting the first stage's optimum, minimise the
    people-weighted walking distance to the nearest chosen site.

    ``pairs`` is sites × cells with walking distances (metres) as data (structure = covered
    pairs). Variables ``v = (x, z, y)``: ``z_e`` = share of pair e's cell walking to its site,
    ``y_i = Σ_e z_e`` the covered share of cell i. Rows: ``z_e ≤ x_j``; ``y_i − Σ z = 0``;
    ``Σ w y ≥ min_covered`` (MCLP) or ``y = 1`` (LSCP); ``Σ cost x ≤ min(budget, max_cost)``.
    """
    n_sites, n_cells = pairs.shape
    nnz = pairs.nnz
    site_of = np.repeat(np.arange(n_sites), np.diff(pairs.indptr))
    cell_of = pairs.indices
    e = np.arange(nnz)
    link = sp.csr_matrix(
        (np.concatenate([np.ones(nnz), -np.ones(nnz)]),
         (np.concatenate([e, e]), np.concatenate([n_sites + e, site_of]))),
        shape=(nnz, n_sites + nnz + n_cells),
    )
    assign = sp.csr_matrix(
        (np.concatenate([-np.ones(nnz), np.ones(n_cells)]),
         (np.concatenate([cell_of, np.arange(n_cells)]),
          np.concatenate([n_sites + e, n_sites + nnz + np.arange(n_cells)]))),
        shape=(n_cells, n_sites + nnz + n_cells),
    )
    blocks = [link, assign]
    lo_rows = [np.full(nnz, -np.inf), np.zeros(n_cells)]
    hi_rows = [np.zeros(nnz), np.zeros(n_cells)]
    limit = budget if max_cost is None else min(budget, max_cost)
    blocks.append(sp.csr_matrix(np.concatenate([cost, np.zeros(nnz + n_cells)])[None, :]))
    lo_rows.append([-np.inf])
    hi_rows.append([limit])
    n = n_sites + nnz + n_cells
    lo, hi = np.zeros(n), np.ones(n)
    if min_covered is None:
        lo[n_sites + nnz:] = 1.0
    else:
        blocks.append(sp.csr_matrix(np.concatenate([np.zeros(n_sites + nnz), w])[None, :]))
        lo_rows.append([min_covered])
        hi_rows.append([np.inf])
    c = np.zeros(n)
    c[n_sites:n_sites + nnz] = w[cell_of] * pairs.data
    integer = np.zeros(n, bool)
    integer[:n_sites] = True
    return (c, sp.vstack(blocks, format="csr"), np.concatenate(lo_rows),
            np.concatenate(hi_rows), lo, hi, integer)


def capacitated_model(
    pairs: sp.csr_matrix,
    w: np.ndarray,
    capacity: np.ndarray,
    cost: np.ndarray,
    budget: float,
    fixed: np.ndarray,
):
    """Capacitated MCLP over covered pairs only.

    Variables ``v = (x, z)``: ``x_j`` site open (binary; fixed-open sites pinned to 1), ``z_e``
    people of pair e's cell served by its site (people). Rows: ``Σ_j z_ij ≤ w_i`` (cell);
    ``Σ_i z_ij − cap_j x_j ≤ 0`` (capacity); ``z_e − w_i x_j ≤ 0`` (served only by an open
    site; tightens the relaxation); ``Σ cost x ≤ budget`` over the non-fixed sites.
    Objective: max Σ z.
    """
    n_sites, n_cells = pairs.shape
    nnz = pairs.nnz
    site_of = np.repeat(np.arange(n_sites), np.diff(pairs.indptr))
    cell_of = pairs.indices
    e = np.arange(nnz)
    n = n_sites + nnz
    cell_rows = sp.csr_matrix((np.ones(nnz), (cell_of, n_sites + e)), shape=(n_cells, n))
    cap_rows = sp.csr_matrix(
        (np.concatenate([np.ones(nnz), -capacity]),
         (np.concatenate([site_of, np.arange(n_sites)]),
          np.concatenate([n_sites + e, np.arange(n_sites)]))),
        shape=(n_sites, n),
    )
    link_rows = sp.csr_matrix(
        (np.concatenate([np.ones(nnz), -w[cell_of]]),
         (np.concatenate([e, e]), np.concatenate([n_sites + e, site_of]))),
        shape=(nnz, n),
    )
    budget_row = sp.csr_matrix(np.concatenate([np.where(fixed, 0.0, cost), np.zeros(nnz)])[None])
    rows = sp.vstack([cell_rows, cap_rows, link_rows, budget_row], format="csr")
    row_lo = np.full(rows.shape[0], -np.inf)
    row_hi = np.concatenate([w, np.zeros(n_sites + nnz), [budget]])
    lo = np.concatenate([fixed.astype(np.float64), np.zeros(nnz)])
    hi = np.concatenate([np.ones(n_sites), w[cell_of]])
    c = np.concatenate([np.zeros(n_sites), -np.ones(nnz)])
    integer = np.concatenate([np.ones(n_sites, bool), np.zeros(nnz, bool)])
    return c, rows, row_lo, row_hi, lo, hi, integer
