"""What a job does inside its worker process, per job kind."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from planner.api.export import export_result
from planner.api.jobs import staging_dir
from planner.api.scenario_doc import load_stored_scenario
from planner.api.store import Store
from planner.errors import InputError

Progress = Callable[[str, float], None]
#: The scenario runner's steps before any optimisation, in order.
RUNNER_STEPS = ("network", "facilities", "population", "catchments", "coverage")


class StepProgress:
    """Turns the runner's (step, fraction of that step) reports into the job's overall 0–1
    progress, counting every step as an equal share; it never goes backwards."""

    def __init__(self, report: Progress, steps: list[str]) -> None:
        self.report, self.steps, self.done = report, steps, 0.0

    def __call__(self, step: str, fraction: float) -> None:
        if step in self.steps:
            share = (self.steps.index(step) + min(max(fraction, 0.0), 1.0)) / len(self.steps)
            self.done = max(self.done, share)
        self.report(step, self.done)


def build_network(store: Store, job: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Build and save the walk network of an uploaded file or a place name."""
    from planner.io.osm import load_network, network_from_osmnx

    params = job["params"]
    folder = store.path("networks", job["target_id"]) / "network"
    t0 = time.perf_counter()
    progress("reading OSM data", 0.05)
    if params.get("file"):
        net = load_network(folder / params["file"], crs=params.get("crs"),
                           tolerance_m=params.get("tolerance_m", 0.0))
    else:
        try:
            net = network_from_osmnx(params["place"], crs=params.get("crs"))
        except OSError as exc:  # no route to OpenStreetMap's servers
            raise InputError(
                f"Downloading {params['place']!r} from OpenStreetMap failed ({type(exc).__name__}); "
                "this server may have no internet access. Upload the area as an .osm.pbf file "
                "(e.g. a Geofabrik extract clipped with osmium) instead."
            ) from None
    t1 = time.perf_counter()
    progress("saving", 0.9)
    net.save(folder)
    timings = {"build": t1 - t0, "save": time.perf_counter() - t1}
    return {"summary": net.summary(), "timings": timings, "outputs": {}}


def number_plan(result: Any, plan: int | None) -> None:
    """Name an optimisation job's one plan ``optimize_<plan>_…``: the number of the request
    among its scenario's optimisation jobs, in the order they were submitted, as ``planner run``
    numbers a scenario file's [[optimize]] entries (its tables, notes and workbook sheets)."""
    if plan is None or len(result.optimizations) != 1:
        return
    opt = result.optimizations[0]
    name = f"optimize_{plan}_" + opt.name.removeprefix("optimize_1_")
    if name != opt.name:
        result.optimizations[0] = dataclasses.replace(opt, name=name)
        result.notes[:] = [n.replace(opt.name, name) for n in result.notes]


def run_scenario_job(store: Store, job: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Run a coverage or optimisation job with the scenario runner and export its results."""
    from planner.scenario import run_scenario

    scenario = load_stored_scenario(store, job["target_id"], job["params"])
    job_dir = staging_dir(store, job["id"])  # becomes jobs/<id> once the job is done
    steps = [*RUNNER_STEPS, *(f"optimize_{i + 1}" for i in range(len(scenario.optimize))),
             "export"]
    overall = StepProgress(progress, steps)
    result = run_scenario(scenario, cache_dir=store.data_dir / "cache", progress=overall)
    number_plan(result, job["params"].get("plan"))
    overall("export", 0.0)
    t0 = time.perf_counter()
    outputs = export_result(result, job_dir)
    timings = {**result.timings, "export": time.perf_counter() - t0}
    summary = result.summary()
    summary.pop("map", None)  # a server path; clients use map_url
    return {"summary": summary, "timings": timings, "outputs": outputs}


def run_province_job(store: Store, job: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Run a scenario over the units of an uploaded layer and export the merged results."""
    from planner.api.export import export_province
    from planner.maps.province import overview_writer
    from planner.maps.result import map_writer
    from planner.province import run_province

    params = job["params"]
    scenario = load_stored_scenario(store, job["target_id"], {"optimize": []})
    job_dir = staging_dir(store, job["id"])
    t0 = time.perf_counter()
    result = run_province(
        scenario, params["units"], job_dir, name_column=params.get("name_column"),
        code_column=params.get("code_column"), scheduler=params.get("scheduler"),
        serial=params.get("scheduler") is None, unit_map=map_writer(),
        overview=overview_writer(),
        progress=lambda done, total, outcome: progress(f"unit {outcome.code}", done / total))
    t1 = time.perf_counter()
    outputs = export_province(result, job_dir)
    summary = {"units": len(result.outcomes),
               "failed": [{"unit_code": o.code, "error": o.error} for o in result.failed],
               "people": float(result.units["people"].fillna(0).sum()), "notes": result.notes}
    return {"summary": summary, "timings": {"units": t1 - t0,
                                            "export": time.perf_counter() - t1},
            "outputs": outputs}


TASKS: dict[str, Callable[[Store, dict[str, Any], Progress], dict[str, Any]]] = {
    "network": build_network,
    "coverage": run_scenario_job,
    "optimize": run_scenario_job,
    "province": run_province_job,
}
