"""Walk networks built from an uploaded OSM/line file or a place name."""

from __future__ import annotations

import time
from contextlib import suppress
from typing import Annotated, Any

import pyproj
from fastapi import APIRouter, File, Form, HTTPException, Response, UploadFile

from planner.api.deps import JobsDep, ResourceId, SettingsDep, StoreDep, fetch
from planner.api.models import NetworkOut
from planner.api.store import ACTIVE, StorageError, Store, creating, new_id
from planner.api.uploads import NETWORK_SUFFIXES, copy_stream, safe_filename
from planner.errors import InputError
from planner.network import metric_crs

router = APIRouter(tags=["networks"])

_STATUS = {"queued": "building", "running": "building", "done": "ready"}


def network_out(store: Store, row: dict[str, Any]) -> NetworkOut:
    """The public view of a network: its state follows its build job."""
    job = store.get("jobs", row["job_id"])
    status = _STATUS.get(job["status"], "failed")
    return NetworkOut(
        **{k: row[k] for k in ("id", "name", "created", "source", "place", "job_id")},
        status=status,
        summary=job["summary"] if status == "ready" else None,
        error=job["error"] if status == "failed" else None,
    )


@router.post("/networks", response_model=NetworkOut, status_code=202,
             summary="Build a walk network")
def create_network(
    store: StoreDep,
    jobs: JobsDep,
    settings: SettingsDep,
    file: Annotated[UploadFile | None, File(
        description="OSM .osm/.osm.bz2/.osm.pbf or a GeoJSON/GPKG line layer of OSM ways")] = None,
    place: Annotated[str | None, Form(
        max_length=200, description="place name to download (servers with internet only), "
                                    "e.g. '迎泽区, 太原市, 山西省, 中国'")] = None,
    name: Annotated[str | None, Form(max_length=100)] = None,
    crs: Annotated[str | None, Form(
        max_length=100, description="projected working CRS, e.g. EPSG:4547; default UTM")] = None,
    tolerance_m: Annotated[float, Form(ge=0, le=50, description="merge vertices closer than "
                                                                 "this, metres")] = 0.0,
) -> NetworkOut:
    """Start building a network (a job); poll ``GET /v1/networks/{id}`` until it is ready.

    The uploaded file is kept: scenarios take OSM facilities and buildings from it."""
    if (file is None) == (place is None or not place.strip()):
        raise InputError("Send exactly one of `file` (an OSM or line-layer upload) or `place` "
                         "(a place name to download).")
    if crs:
        try:
            metric_crs(None, crs)
        except pyproj.exceptions.CRSError as exc:  # text pyproj cannot parse
            raise InputError(f"crs {crs!r} is not a coordinate reference system pyproj knows "
                             f"({exc}); give e.g. EPSG:4547 or leave it empty.") from None
    network_id = new_id()
    filename = safe_filename(file.filename, NETWORK_SUFFIXES) if file is not None else None
    # kept beside the saved network under its own name in source/, where the scenario runner
    # looks for it (and names it in the facility audit)
    stored = f"source/{filename}" if filename else None
    with creating(store.path("networks", network_id), "the network file") as folder:
        if file is not None:
            copy_stream(file.file, folder / "network" / stored, settings.max_decompressed_bytes)
        params = {"file": stored, "place": place, "crs": crs, "tolerance_m": tolerance_m}
        job = jobs.submit("network", network_id, params)
        try:
            row = store.insert("networks", {
                "id": network_id, "name": name or filename or place, "created": time.time(),
                "source": filename, "place": place if file is None else None,
                "job_id": job["id"],
            })
        except BaseException:
            with suppress(StorageError):  # else the build fails: its folder is removed
                jobs.cancel(job["id"])
                jobs.delete_job(job["id"])
            raise
    return network_out(store, row)


@router.get("/networks", response_model=list[NetworkOut], summary="Networks")
def list_networks(store: StoreDep) -> list[NetworkOut]:
    return [network_out(store, r) for r in store.list("networks")]


@router.get("/networks/{network_id}", response_model=NetworkOut, summary="A network")
def get_network(network_id: ResourceId, store: StoreDep) -> NetworkOut:
    """State and summary: nodes, edges, walkable km, CRS, bbox (degrees WGS-84)."""
    return network_out(store, fetch(store, "networks", network_id))


@router.delete("/networks/{network_id}", status_code=204, response_class=Response,
               summary="Delete a network")
def delete_network(network_id: ResourceId, store: StoreDep, jobs: JobsDep) -> Response:
    """Remove a network, its files and its build job (a build still running is stopped).
    Refused (409) while scenarios use it: delete those first."""
    row = fetch(store, "networks", network_id)
    users = store.ids("scenarios", "network_id=?", (network_id,))
    if users:
        raise HTTPException(409, detail=(
            f"Network {network_id} is used by {len(users)} scenario(s) "
            f"({', '.join(users[:5])}{', …' if len(users) > 5 else ''}); delete them first "
            "with DELETE /v1/scenarios/{id}."))
    job = store.get("jobs", row["job_id"])
    if job is not None and job["status"] in ACTIVE:
        jobs.cancel(job["id"])
    store.delete("networks", network_id)
    if job is not None:
        jobs.delete_job(job["id"])
    return Response(status_code=204)
