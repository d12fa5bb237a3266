"""One unit of a province run, as a worker runs it: the scenario over the unit's window, the
unit's own outputs, and the parts the province merges (coverage counts, cells, proposals),
all under ``units/<code>/``. A marker file with the task's key makes a rerun skip it."""

from __future__ import annotations

import json
import resource
import shutil
import time
import traceback
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from planner.errors import NoPeopleError
from planner.facilities import FacilityWarning
from planner.outputs import write_result
from planner.province.plan import UnitTask
from planner.scenario import ScenarioResult, run_scenario

MARKER = "unit.json"
PARTS = "province"  # the unit's parts of the province tables, under the unit's folder


@dataclass
class UnitOutcome:
    """How a unit's run ended: ``done`` (run now), ``reused`` (done before with the same
    inputs), ``empty`` (no residents in the population source: ``error`` says why) or
    ``failed`` (with ``error``); seconds of work and the peak memory (MB) of the process that
    ran it."""

    code: str
    name: str
    status: str
    seconds: float = 0.0
    peak_memory_mb: float = 0.0
    error: str | None = None
    attempts: int = 1

    def to_json(self) -> dict:
        return asdict(self)


def reset_peak_memory() -> None:
    """Start this process's peak-memory count afresh (Linux; elsewhere nothing happens).

    A worker process inherits the peak of the process that started it, and keeps its own
    across units; the reset makes :func:`peak_memory_mb` the peak of one unit's run."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_memory_mb() -> float:
    """Peak resident memory of this process (MB) since :func:`reset_peak_memory`, or since it
    started where that is not available."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def finished(task: UnitTask) -> UnitOutcome | None:
    """The outcome recorded by an earlier run with the same key, or None."""
    path = task.out_dir / MARKER
    try:
        mark = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if mark.get("key") != task.key or mark.get("status") not in ("done", "reused", "empty"):
        return None
    status = "empty" if mark["status"] == "empty" else "reused"
    return UnitOutcome(task.code, task.name, status, mark.get("seconds", 0.0),
                       mark.get("peak_memory_mb", 0.0), mark.get("error"))


def run_unit(task: UnitTask) -> UnitOutcome:
    """Run one unit (or reuse its earlier run); raises what the run raised."""
    done = finished(task)
    if done is not None:
        return done
    t0 = time.perf_counter()
    reset_peak_memory()
    out = task.out_dir
    if out.exists():  # a run that stopped half-way leaves nothing that could be mistaken
        shutil.rmtree(out)
    out.mkdir(parents=True)
    scenario = task.scenario.model_copy(update={"name": f"{task.scenario.name} · {task.name}"})
    try:
        with warnings.catch_warnings():  # the unit's notes keep what these say
            warnings.simplefilter("ignore", FacilityWarning)
            warnings.filterwarnings("ignore", module="pyrosm")
            result = run_scenario(scenario, window=task.window)
    except NoPeopleError as exc:  # a park, a lake, an industrial zone: nobody to serve
        outcome = UnitOutcome(task.code, task.name, "empty", time.perf_counter() - t0,
                              peak_memory_mb(),
                              error=f"the population source holds nobody in this unit ({exc})")
        record(task, outcome)
        return outcome
    write_result(result, out, map_writer=task.writer, lang=task.lang)
    write_parts(result, task, out / PARTS)
    outcome = UnitOutcome(task.code, task.name, "done", time.perf_counter() - t0,
                          peak_memory_mb())
    record(task, outcome)
    return outcome


def record(task: UnitTask, outcome: UnitOutcome) -> None:
    """Write the unit's marker: its key, status, time and error."""
    task.out_dir.mkdir(parents=True, exist_ok=True)
    mark = {"key": task.key, **outcome.to_json()}
    (task.out_dir / MARKER).write_text(json.dumps(mark, ensure_ascii=False, indent=1),
                                       encoding="utf-8")


def error_text(exc: BaseException) -> str:
    """An error for the province table: the message, and the last frame for a bug."""
    from planner.errors import InputError

    if isinstance(exc, InputError):
        return str(exc)
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" (at {Path(last[0].filename).name}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


def write_parts(result: ScenarioResult, task: UnitTask, out: Path) -> None:
    """The unit's rows of the province tables: ``coverage.parquet`` (counts, with the
    facilities inside the unit), ``cells.parquet``, ``proposals.parquet`` and ``unit.json``."""
    out.mkdir(parents=True, exist_ok=True)
    unit = {"unit_code": task.code, "unit_name": task.name}
    inside = shapely.contains_xy(task.window.residents, result.facilities.geometry.x.to_numpy(),
                                 result.facilities.geometry.y.to_numpy())
    counts = result.facilities.loc[inside, "category"].value_counts()
    coverage = result.coverage.assign(
        facilities=lambda t: t["category"].map(counts).fillna(0).astype(int))
    coverage.assign(**unit).to_parquet(out / "coverage.parquet")
    cells = pd.DataFrame(result.cells.drop(columns="geometry")).assign(**unit)
    cells.to_parquet(out / "cells.parquet")
    sites = [o.sites_table.assign(plan=o.name) for o in result.optimizations
             if len(o.sites_table)]
    if sites:
        pd.concat(sites, ignore_index=True).drop(columns=["x", "y"], errors="ignore").assign(
            **unit).to_parquet(out / "proposals.parquet")
    people = result.cells["total"].to_numpy()
    complete = result.cells["complete_circle"].to_numpy(bool) if "complete_circle" in \
        result.cells else np.zeros(len(people), bool)
    summary = {
        **unit,
        "people": float(people.sum()),
        "complete_circle_people": float(people[complete].sum()),
        "not_reachable_people": float(people[result.off_streets].sum()),
        "facilities": int(inside.sum()),
        "facilities_in_reach": result.facilities["category"].value_counts().to_dict(),
        "new_sites": sum(len(o.answer.sites) for o in result.optimizations),
        "people_newly_covered": sum(float(o.summary_table["people_newly_covered"].sum())
                                    for o in result.optimizations
                                    if "people_newly_covered" in o.summary_table),
        "worst_gap": max((o.answer.gap for o in result.optimizations), default=None),
        "network_nodes": int(result.network.n_nodes),
        "notes": result.notes,
    }
    (out / "unit.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1,
                                              default=float), encoding="utf-8")


def read_parts(out_dir: Path) -> dict:
    """A unit's parts as written by :func:`write_parts`."""
    parts = out_dir / PARTS
    proposals = parts / "proposals.parquet"
    return {
        "coverage": pd.read_parquet(parts / "coverage.parquet"),
        "cells": pd.read_parquet(parts / "cells.parquet"),
        "proposals": pd.read_parquet(proposals) if proposals.exists() else None,
        "summary": json.loads((parts / "unit.json").read_text(encoding="utf-8")),
    }
