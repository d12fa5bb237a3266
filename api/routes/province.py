"""Province jobs: a scenario run over the units of an uploaded layer, merged."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response

from planner.api.deps import JobsDep, ResourceId, SettingsDep, StoreDep, fetch
from planner.api.models import JobOut, ProvinceIn
from planner.api.routes.jobs import job_out
from planner.api.routes.results import done_job, send_file
from planner.api.scenario_doc import load_stored_scenario, upload_path

router = APIRouter(tags=["province"])


@router.post("/scenarios/{scenario_id}/province", response_model=JobOut, status_code=202,
             summary="Start a run over units")
def start_province(scenario_id: ResourceId, body: ProvinceIn, store: StoreDep, jobs: JobsDep,
                   settings: SettingsDep) -> JobOut:
    """Coverage of every category in every unit of an uploaded units layer, each unit exact
    across its borders, merged into a monitoring table, a workbook and an overview map whose
    units link to their own gap maps (a job). Units run on the server's Dask scheduler when it
    has one (``PLANNER_DASK_SCHEDULER``), else one after another."""
    from planner.province.plan import check_scenario
    from planner.province.units import read_units

    fetch(store, "scenarios", scenario_id)
    units = upload_path(store, body.units_upload_id, (".geojson", ".json", ".gpkg"), "units")
    read_units(units, name_column=body.name_column, code_column=body.code_column)
    check_scenario(load_stored_scenario(store, scenario_id, {"optimize": []}))
    params: dict[str, Any] = {"optimize": [], "units": str(units),
                              "name_column": body.name_column, "code_column": body.code_column,
                              "scheduler": settings.dask_scheduler}
    return job_out(jobs.submit("province", scenario_id, params))


@router.get("/jobs/{job_id}/units/{code}/gap_map.html", summary="A unit's gap map",
            response_class=Response, responses={200: {"content": {"text/html": {}}}})
async def get_unit_map(job_id: ResourceId, code: str, store: StoreDep,
                       request: Request) -> Response:
    """The gap map of one unit of a province job (the overview map links here)."""
    from planner.province.units import safe_code

    job = await done_job(store, job_id)
    folder = safe_code(code)
    path = store.path("jobs", job_id) / "units" / folder / "gap_map.html"
    if job["kind"] != "province" or folder != code or not path.is_file():
        raise HTTPException(404, detail=f"Job {job_id} has no gap map for unit {code!r}; the "
                                        "units are in the result's province_units table.")
    return send_file(request, job_id, path, "text/html")
