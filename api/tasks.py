"""What a job does inside its worker process, per job kind."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from api.export import export_result
from api.scenario_doc import load_stored_scenario
from api.store import Store

Progress = Callable[[str, float], None]


def build_network(store: Store, job: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Build and save the walk network of an uploaded file or a place name."""
    from planner.io.osm import load_network, network_from_osmnx

    params, folder = job["params"], store.path("networks", job["target_id"])
    t0 = time.perf_counter()
    progress("reading OSM data", 0.05)
    if params.get("source"):
        net = load_network(folder / "source" / params["source"], crs=params.get("crs"),
                           tolerance_m=params.get("tolerance_m", 0.0))
    else:
        net = network_from_osmnx(params["place"], crs=params.get("crs"))
    t1 = time.perf_counter()
    progress("saving", 0.9)
    net.save(folder / "network")
    timings = {"build_s": t1 - t0, "save_s": time.perf_counter() - t1}
    return {"summary": net.summary(), "timings": timings, "outputs": {}}


def run_scenario_job(store: Store, job: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Run a coverage or optimisation job with the scenario runner and export its results."""
    from planner.scenario import run_scenario

    scenario = load_stored_scenario(store, job["target_id"], job["params"])
    job_dir = store.path("jobs", job["id"])
    result = run_scenario(scenario, output_dir=job_dir / "run", cache_dir=store.data_dir / "cache",
                          progress=progress)
    progress("exporting", 0.99)
    t0 = time.perf_counter()
    outputs = export_result(result, job_dir)
    timings = {**result.timings, "export_s": time.perf_counter() - t0}
    return {"summary": result.summary(), "timings": timings, "outputs": outputs}


TASKS: dict[str, Callable[[Store, dict[str, Any], Progress], dict[str, Any]]] = {
    "network": build_network,
    "coverage": run_scenario_job,
    "optimize": run_scenario_job,
}
