"""What every optimisation returns: the sites, the proof of quality, and before/after tables."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from planner.optimize.problem import Reduction


@dataclass(frozen=True)
class OptimizeResult:
    """The answer of one location model.

    Attributes:
        model: ``"mclp"``, ``"lscp"``, ``"capacitated_mclp"`` or ``"joint_mclp"``.
        status: ``"optimal"`` (proven within ``mip_gap``), ``"time_limit"`` (best found, with
            its proven gap), ``"size_limit"`` (after site fixing the instance was still too
            large for the LP/MILP stage: local-search answer with its Lagrangian bound and
            proven gap), ``"greedy"`` (no MILP run: the greedy answer with its bound),
            or ``"trivial"`` (nothing left to decide).
        objective: people covered (MCLP, weighted people for the joint model, people served
            for the capacitated model) or cost/number of new sites (LSCP).
        bound: proven bound on the optimum (upper for maximisation, lower for LSCP).
        gap: proven relative gap |bound − objective| / |objective| (0 = proven optimal).
        time_limit_reached: True when the time limit stopped the solver before the proof.
        solve_seconds: wall-clock seconds of the whole call (reduction, greedy, MILP).
        greedy_objective: the greedy warm start's objective, same unit as ``objective``.
        sites: proposed new sites in funding order (the site table's rows) with
            ``order``, ``marginal_people`` (what that site adds given the ones before it:
            people newly covered; people newly served in the capacitated model; head counts
            over all categories in the joint model, whose weighted gain is
            ``marginal_weighted_people``), ``cumulative_people``, and model-specific columns.
        closed: closable sites the answer closes (site table rows).
        cells: one row per demand cell: ``cell_id``, ``people``, ``covered_before``,
            ``covered_after`` (bool), and ``distance_m`` to the nearest open site after (NaN
            when uncovered); ``cells[~cells.covered_after]`` is the remaining gap layer.
        coverage: before/after totals (people as head counts, shares; the joint model adds
            ``weighted_people_*``, Σ weight × people).
        reduction: sizes before and after the problem reduction.
        uncoverable: demand cells no site can reach, with their people (LSCP reports them
            instead of failing).
        tie_break: how ties among optimal answers were broken.
        message: one line for people.
    """

    model: str
    status: str
    objective: float
    bound: float
    gap: float
    time_limit_reached: bool
    solve_seconds: float
    greedy_objective: float
    sites: pd.DataFrame
    closed: pd.DataFrame
    cells: pd.DataFrame
    coverage: dict[str, float]
    reduction: Reduction | dict[str, Reduction] | None
    uncoverable: pd.DataFrame
    tie_break: str
    message: str
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def proven_optimal(self) -> bool:
        return self.status in ("optimal", "trivial")

    def summary(self) -> dict[str, object]:
        """Headline numbers for tables, logs and JSON."""
        out: dict[str, object] = {
            "model": self.model,
            "status": self.status,
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "time_limit_reached": self.time_limit_reached,
            "solve_seconds": round(self.solve_seconds, 3),
            "greedy_objective": self.greedy_objective,
            "new_sites": len(self.sites),
            "closed_sites": len(self.closed),
            **self.coverage,
        }
        if isinstance(self.reduction, Reduction):
            out["reduction"] = self.reduction.as_dict()
        elif isinstance(self.reduction, dict):
            out["reduction"] = {k: r.as_dict() for k, r in self.reduction.items()}
        return out


def relative_gap(objective: float, bound: float) -> float:
    """|bound − objective| / |objective| (0 when both are 0, inf when only the objective is)."""
    diff = abs(bound - objective)
    if diff <= 1e-9 * max(1.0, abs(bound)):
        return 0.0
    return diff / abs(objective) if objective != 0 else float("inf")


def status_message(status: str, gap: float) -> str:
    """One line for people on how good an answer is proven to be (``gap`` as a fraction)."""
    pct = f"{100 * gap:.3g} %"
    return {
        "time_limit": f"Time limit reached: the best answer found is within {pct} of the "
                      "optimum (proven bound); raise time_limit_s to close the gap.",
        "greedy": f"Greedy answer, proven within {pct} of the optimum.",
        "size_limit": f"Instance too large for the exact stage: the answer is proven within "
                      f"{pct} of the optimum by the Lagrangian bound.",
        "error": f"The solver stopped with an error; this is the best answer found before it, "
                 f"proven within {pct} of the optimum.",
        "trivial": "Nothing to decide (no budget, or no one left to cover).",
    }.get(status, f"Proven optimal (gap {pct}).")


def coverage_totals(people: np.ndarray, before: np.ndarray, after: np.ndarray) -> dict[str, float]:
    """People and shares covered before and after (people; shares 0–1). ``people_newly_covered``
    is the net change; ``people_no_longer_covered`` those whom closures leave uncovered."""
    total = float(people.sum())
    b, a = float(people[before].sum()), float(people[after].sum())
    return {
        "people_total": total,
        "people_covered_before": b,
        "people_covered_after": a,
        "people_newly_covered": a - b,
        "people_no_longer_covered": float(people[before & ~after].sum()),
        "share_covered_before": b / total if total else 0.0,
        "share_covered_after": a / total if total else 0.0,
    }


def cells_table(
    cell_ids: np.ndarray,
    people: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    distance_m: np.ndarray,
) -> pd.DataFrame:
    """Per-cell before/after table (the gap layer is the rows with ``covered_after`` False)."""
    return pd.DataFrame(
        {
            "cell_id": cell_ids,
            "people": people,
            "covered_before": before,
            "covered_after": after,
            "distance_m": np.where(after, distance_m, np.nan),
        }
    )


def site_rows(frame: pd.DataFrame, rows: np.ndarray, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """Rows of the site table (GeoDataFrame kept as such) with extra columns appended."""
    out = frame.iloc[np.asarray(rows, dtype=np.int64)].copy()
    out.insert(0, "site_row", np.asarray(rows, dtype=np.int64))
    for name, values in columns.items():
        out[name] = values
    return out.reset_index(drop=True)
