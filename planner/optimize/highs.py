"""HiGHS through ``highspy``, for what ``scipy.optimize`` does not expose: its first-order LP
solver (PDLP), which approaches the LP optimum of large covering models in a fraction of the
time the interior point needs, and stays interruptible by a time limit; and MILPs started from
a known feasible answer.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time

import numpy as np
import scipy.sparse as sp

_lock = threading.Lock()
_banner_shown = False


def silence_banner() -> None:
    """Build the process's first HiGHS instance now, with file descriptor 1 pointed at the null
    device: HiGHS prints a banner to stdout then, before any option can be set. Servers call
    this at start-up, before other threads write to stdout; otherwise the first solve does."""
    global _banner_shown
    import highspy

    with _lock:
        if not _banner_shown:
            _construct_quietly(highspy.Highs)
            _banner_shown = True


def _new_highs():
    """A silent ``highspy.Highs``."""
    import highspy

    silence_banner()
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h


def _construct_quietly(factory):
    try:
        sys.stdout.flush()
        saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError, AttributeError):  # no usable stdout: nothing to protect
        return factory()
    try:
        os.dup2(devnull, 1)
        obj = factory()
        try:
            ctypes.CDLL(None).fflush(None)  # C stdio buffers the banner when fd 1 is a pipe
        except (OSError, AttributeError, TypeError):
            pass
        return obj
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def first_order_lp(
    c: np.ndarray, rows: sp.csr_matrix, row_hi: np.ndarray, lo: np.ndarray, hi: np.ndarray,
    time_limit_s: float,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Approximately minimise ``c·v`` s.t. ``rows v ≤ row_hi``, ``lo ≤ v ≤ hi`` with PDLP.

    Returns (primal v, row duals ≤ 0) as reached when PDLP converged or ``time_limit_s``
    seconds passed, or None when HiGHS returned no solution. Neither is exact: callers
    certify any bound they derive from the duals.
    """
    import highspy

    h = _new_highs()
    h.setOptionValue("solver", "pdlp")
    h.setOptionValue("time_limit", max(float(time_limit_s), 0.01))
    lp = _model(c, rows, np.full(rows.shape[0], -np.inf), row_hi, lo, hi)
    if h.passModel(lp) == highspy.HighsStatus.kError:
        return None
    h.run()
    sol = h.getSolution()
    if not sol.dual_valid:
        return None
    return np.asarray(sol.col_value), np.asarray(sol.row_dual)


def _model(c, rows, row_lo, row_hi, lo, hi):
    import highspy

    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(c), rows.shape[0]
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = c, lo, hi
    inf = highspy.kHighsInf
    lp.row_lower_ = np.where(np.isfinite(row_lo), row_lo, -inf)
    lp.row_upper_ = np.where(np.isfinite(row_hi), row_hi, inf)
    csc = sp.csc_matrix(rows)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = (
        csc.indptr, csc.indices, csc.data)
    return lp


def mip_from_start(
    c: np.ndarray, rows: sp.csr_matrix, row_lo: np.ndarray, row_hi: np.ndarray,
    lo: np.ndarray, hi: np.ndarray, integer: np.ndarray, start: np.ndarray, *,
    time_limit_s: float, mip_gap: float,
) -> tuple[np.ndarray | None, float | None, float | None, str, int]:
    """Minimise ``c·v`` s.t. ``row_lo ≤ rows v ≤ row_hi``, ``lo ≤ v ≤ hi``, integer where asked,
    with ``start`` (a feasible point) as the first incumbent, so a time limit never leaves
    the search without an answer. Returns (v, c·v, proven lower bound, status
    optimal|time_limit|infeasible|error, nodes)."""
    import highspy

    lp = _model(c, rows, row_lo, row_hi, lo, hi)
    lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                       for i in integer]
    t_end = time.perf_counter() + max(float(time_limit_s), 0.01)
    for presolve in ("on", "off"):
        h = _new_highs()
        if h.passModel(lp) == highspy.HighsStatus.kError:
            return None, None, None, "error", 0
        h.setOptionValue("presolve", presolve)
        h.setOptionValue("time_limit", max(t_end - time.perf_counter(), 0.01))
        h.setOptionValue("mip_rel_gap", float(mip_gap))
        sol = highspy.HighsSolution()
        sol.col_value = np.asarray(start, dtype=np.float64)
        sol.value_valid = True
        h.setSolution(sol)
        h.run()
        info = h.getInfo()
        found = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
        x = np.asarray(h.getSolution().col_value) if found else None
        fun = float(info.objective_function_value) if found else None
        # HiGHS 1.16 can hand back the start instead of a MIP that presolve solved outright
        if x is None or abs(float(c @ x) - fun) <= 1e-9 * max(1.0, abs(fun)) + 1e-6:
            break
    status = {highspy.HighsModelStatus.kOptimal: "optimal",
              highspy.HighsModelStatus.kTimeLimit: "time_limit",
              highspy.HighsModelStatus.kInfeasible: "infeasible"}.get(h.getModelStatus(), "error")
    bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else None
    return x, fun, bound, status, int(info.mip_node_count)
