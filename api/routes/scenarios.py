"""Scenarios and the coverage / optimisation jobs run on them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool

from planner.api.bodies import read_model, request_body
from planner.api.deps import BodiesDep, JobsDep, ResourceId, StoreDep, fetch
from planner.api.models import JobOut, OptimizeIn, ScenarioIn, ScenarioOut
from planner.api.routes.jobs import job_out
from planner.api.scenario_doc import (
    create_scenario_files,
    load_stored_scenario,
    optimize_spec,
    stored_categories,
)
from planner.api.store import ACTIVE, Store, creating, new_id

router = APIRouter(tags=["scenarios"])


def scenario_out(row: dict[str, Any]) -> ScenarioOut:
    doc = row["request"]
    return ScenarioOut(
        id=row["id"], name=row["name"], network_id=row["network_id"], created=row["created"],
        categories=doc["analysis"].get("categories"),
        facilities=[f["source"] for f in doc["facilities"]],
        population=doc["population"]["source"],
    )


def build_scenario(body: Path, data_dir: Path, scenario_id: str) -> dict[str, Any]:
    """Validate a scenario request saved at ``body`` and place its files; returns its row.
    Runs in a helper process when the body is large (see api.bodies)."""
    store = Store(data_dir)
    request = read_model(body, ScenarioIn)
    network = fetch(store, "networks", request.network_id)
    network_job = fetch(store, "jobs", network["job_id"])
    doc = create_scenario_files(store, request, network, network_job, scenario_id)
    return {"id": scenario_id, "name": request.name, "network_id": request.network_id,
            "created": time.time(), "request": doc}


@router.post("/scenarios", response_model=ScenarioOut, status_code=201,
             summary="Create a scenario", openapi_extra=request_body(ScenarioIn))
async def create_scenario(request: Request, store: StoreDep, bodies: BodiesDep) -> ScenarioOut:
    """A scenario names a ready network, facility sources (the network's OSM data, a GeoJSON
    FeatureCollection in the body, or uploads with their coordinate system), the population
    source and the categories and modes to measure (a ``ScenarioIn`` JSON body)."""
    scenario_id = new_id()
    with creating(store.path("scenarios", scenario_id), "the scenario"):
        row = await bodies.run(request, build_scenario, store.data_dir, scenario_id)
        row = await run_in_threadpool(store.insert, "scenarios", row)
    return scenario_out(row)


@router.get("/scenarios", response_model=list[ScenarioOut], summary="Scenarios")
def list_scenarios(store: StoreDep) -> list[ScenarioOut]:
    return [scenario_out(r) for r in store.list("scenarios")]


@router.get("/scenarios/{scenario_id}", response_model=ScenarioOut, summary="A scenario")
def get_scenario(scenario_id: ResourceId, store: StoreDep) -> ScenarioOut:
    return scenario_out(fetch(store, "scenarios", scenario_id))


@router.delete("/scenarios/{scenario_id}", status_code=204, response_class=Response,
               summary="Delete a scenario")
def delete_scenario(scenario_id: ResourceId, store: StoreDep) -> Response:
    """Remove a scenario and its files. Its finished jobs keep their results; refused (409)
    while one of its jobs is queued or running: cancel those first."""
    fetch(store, "scenarios", scenario_id)
    active = store.ids("jobs", f"target_id=? AND status IN {ACTIVE!r}", (scenario_id,))
    if active:
        raise HTTPException(409, detail=(
            f"Scenario {scenario_id} has {len(active)} job(s) queued or running "
            f"({', '.join(active[:5])}); cancel them first with DELETE /v1/jobs/{{id}}."))
    store.delete("scenarios", scenario_id)
    return Response(status_code=204)


@router.post("/scenarios/{scenario_id}/coverage", response_model=JobOut, status_code=202,
             summary="Start a coverage analysis")
def start_coverage(scenario_id: ResourceId, store: StoreDep, jobs: JobsDep) -> JobOut:
    """Coverage, gaps and the gap map of every category of the scenario (a job)."""
    fetch(store, "scenarios", scenario_id)
    params: dict[str, Any] = {"optimize": [], "categories": {}}
    load_stored_scenario(store, scenario_id, params)
    return job_out(jobs.submit("coverage", scenario_id, params))


def next_plan(store: Store, scenario_id: str) -> int:
    """The number of a scenario's next optimisation plan: one more than the highest of its
    optimisation jobs that did not fail or were not cancelled, so requests sent in the order of
    a scenario file's [[optimize]] entries are numbered as ``planner run`` numbers them."""
    jobs = store.list("jobs", limit=10_000, target_id=scenario_id, kind="optimize")
    return 1 + max((j["params"].get("plan", 1) for j in jobs
                    if j["status"] not in ("failed", "cancelled")), default=0)


@router.post("/scenarios/{scenario_id}/optimize", response_model=JobOut, status_code=202,
             summary="Start a site optimisation")
def start_optimize(scenario_id: ResourceId, body: OptimizeIn, store: StoreDep,
                   jobs: JobsDep) -> JobOut:
    """Choose new sites (model, categories, number of sites, capacities, time limit)
    on top of the coverage analysis (a job)."""
    fetch(store, "scenarios", scenario_id)
    spec = optimize_spec(body, stored_categories(store, scenario_id))
    params = {"optimize": [spec.model_dump(exclude_none=True)],
              "plan": next_plan(store, scenario_id)}
    load_stored_scenario(store, scenario_id, params)
    return job_out(jobs.submit("optimize", scenario_id, params))
