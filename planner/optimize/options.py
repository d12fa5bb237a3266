"""The solver options every location model takes, and their checks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.errors import InputError


@dataclass(frozen=True)
class SolveOptions:
    """How long and how hard a model searches.

    Attributes:
        time_limit_s: wall-clock limit in seconds for the whole call.
        mip_gap: relative gap at which the MILP may stop (0 = prove optimality).
        tie_break: among optimal answers, minimise the walking distance of the newly covered.
        solver: ``"milp"`` (exact) or ``"greedy"`` (greedy with its bound).
    """

    time_limit_s: float = 60.0
    mip_gap: float = 0.0
    tie_break: bool = True
    solver: str = "milp"

    def __post_init__(self) -> None:
        check_options(self.time_limit_s, self.mip_gap, self.solver)


def check_options(time_limit_s: object, mip_gap: object, solver: str = "milp") -> None:
    """Raise InputError unless the time limit is > 0 s, the gap ≥ 0 and the solver known."""
    if solver not in ("milp", "greedy"):
        raise InputError(f"solver must be 'milp' or 'greedy', not {solver!r}.")
    for name, value, low in (("time_limit_s", time_limit_s, "> 0 seconds"),
                             ("mip_gap", mip_gap, "≥ 0 (0 = prove optimality)")):
        ok = isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)
        if not ok or (value <= 0 if name == "time_limit_s" else value < 0):
            raise InputError(f"{name} must be a finite number {low}, not {value!r}.")
