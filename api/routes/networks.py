"""Walk networks built from an uploaded OSM/line file or a place name."""

from __future__ import annotations

import shutil
import time
from typing import Annotated, Any

import pyproj
from fastapi import APIRouter, File, Form, UploadFile

from api.deps import JobsDep, ResourceId, SettingsDep, StoreDep, fetch
from api.models import NetworkOut
from api.store import Store, new_id
from api.uploads import NETWORK_SUFFIXES, copy_stream, safe_filename, suffix_of
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
    # kept beside the saved network as source.<ext>, where the scenario runner looks for it
    stored = f"source{suffix_of(filename, NETWORK_SUFFIXES)}" if filename else None
    folder = store.path("networks", network_id)
    try:
        if file is not None:
            copy_stream(file.file, folder / "network" / stored, settings.max_decompressed_bytes)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    params = {"file": stored, "place": place, "crs": crs, "tolerance_m": tolerance_m}
    job = jobs.submit("network", network_id, params)
    row = store.insert("networks", {
        "id": network_id, "name": name or filename or place, "created": time.time(),
        "source": filename, "place": place if file is None else None, "job_id": job["id"],
    })
    return network_out(store, row)


@router.get("/networks", response_model=list[NetworkOut], summary="Networks")
def list_networks(store: StoreDep) -> list[NetworkOut]:
    return [network_out(store, r) for r in store.list("networks")]


@router.get("/networks/{network_id}", response_model=NetworkOut, summary="A network")
def get_network(network_id: ResourceId, store: StoreDep) -> NetworkOut:
    """State and summary: nodes, edges, walkable km, CRS, bbox (degrees WGS-84)."""
    return network_out(store, fetch(store, "networks", network_id))
