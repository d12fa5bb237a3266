"""Checks of the solver options every location model takes.
"""

from __future__ import annotations

import numpy as np

from planner.errors import InputError


def check_options(time_limit_s: object, mip_gap: object, solver: str = "milp") -> None:
    if solver not in ("milp", "greedy"):
        raise InputError(f"solver must be 'milp' or 'greedy', not {solver!r}.")
    for name, value, low in (("time_limit_s", time_limit_s, "> 0 seconds"),
                             ("mip_gap", mip_gap, "≥ 0 (0 = prove optimality)")):
        ok = isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)
        if not ok or (value <= 0 if name == "time_limit_s" else value < 0):
            raise InputError(f"{name} must be a finite number {low}, not {value!r}.")
