"""HiGHS through ``highspy``, for what ``scipy.optimize`` does not expose: its first-order LP
solver (PDLP), which approaches the LP optimum of large covering models in a fraction of the
time the interior point needs, and stays interruptible by a time limit.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading

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
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(c), rows.shape[0]
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = c, lo, hi
    lp.row_lower_ = np.full(rows.shape[0], -highspy.kHighsInf)
    lp.row_upper_ = row_hi
    csc = sp.csc_matrix(rows)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = (
        csc.indptr, csc.indices, csc.data)
    if h.passModel(lp) == highspy.HighsStatus.kError:
        return None
    h.run()
    sol = h.getSolution()
    if not sol.dual_valid:
        return None
    return np.asarray(sol.col_value), np.asarray(sol.row_dual)
