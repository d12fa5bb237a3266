"""Job status, listing and cancelling."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response

from planner.api.deps import JobsDep, ResourceId, StoreDep, fetch
from planner.api.models import JobOut, JobStatus

router = APIRouter(tags=["jobs"])


def job_out(row: dict[str, Any]) -> JobOut:
    """The public view of a job row."""
    fields = {k: row[k] for k in JobOut.model_fields if k in row and k != "result_url"}
    url = f"/v1/jobs/{row['id']}/result" if row["status"] == "done" else None
    return JobOut(**fields, result_url=url)


@router.get("/jobs", response_model=list[JobOut], summary="Recent jobs")
def list_jobs(
    store: StoreDep,
    status: Annotated[JobStatus | None, Query(description="only jobs in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[JobOut]:
    rows = store.list("jobs", limit, status=status) if status else store.list("jobs", limit)
    return [job_out(r) for r in rows]


@router.get("/jobs/{job_id}", response_model=JobOut, summary="A job's status and progress")
def get_job(job_id: ResourceId, store: StoreDep) -> JobOut:
    """Status, progress 0–1, current step, timings (seconds) and the error of a failed job."""
    return job_out(fetch(store, "jobs", job_id))


@router.delete("/jobs/{job_id}", response_model=JobOut, summary="Cancel or delete a job",
               responses={204: {"description": "the finished job and its results were deleted"}})
def cancel_job(job_id: ResourceId, store: StoreDep, jobs: JobsDep) -> JobOut | Response:
    """Cancel a queued or running job (a running worker is stopped; 200 with the cancelled
    job), or delete a finished one with its results (204). A network's build job goes with
    its network: DELETE /v1/networks/{id}."""
    row = fetch(store, "jobs", job_id)
    if jobs.cancel(job_id):
        return job_out(fetch(store, "jobs", row["id"]))
    if row["kind"] == "network" and store.get("networks", row["target_id"]) is not None:
        raise HTTPException(409, detail=f"Job {job_id} built network {row['target_id']} "
                                        f"({row['status']}); delete the network instead with "
                                        f"DELETE /v1/networks/{row['target_id']}.")
    jobs.delete_job(job_id)
    return Response(status_code=204)
