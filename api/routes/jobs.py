"""Job status, listing and cancelling."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from api.deps import JobsDep, ResourceId, StoreDep, fetch
from api.models import JobOut, JobStatus

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


@router.delete("/jobs/{job_id}", response_model=JobOut, summary="Cancel a job")
def cancel_job(job_id: ResourceId, store: StoreDep, jobs: JobsDep) -> JobOut:
    """Cancel a queued or running job (a running worker is stopped)."""
    row = fetch(store, "jobs", job_id)
    if not jobs.cancel(job_id):
        row = fetch(store, "jobs", job_id)
        raise HTTPException(409, detail=f"Job {job_id} already finished ({row['status']}); "
                                        "there is nothing to cancel.")
    return job_out(fetch(store, "jobs", row["id"]))
