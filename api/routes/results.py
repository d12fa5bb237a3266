"""Results of finished jobs: summary, GeoJSON layers, tables, the workbook and the map.

These are the most frequent reads, so they run on the event loop: finished jobs are kept in
memory, and the files, written once when the job finished, are streamed from disk by Starlette
without blocking — gzipped (written beside them at the same time) to clients that accept it.
Files carry an ETag; a request whose If-None-Match names it gets 304."""

from __future__ import annotations

import os
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from planner.api.deps import ResourceId, StoreDep, fetch
from planner.api.models import LayerLink, ResultOut, TableLinks
from planner.api.store import Store
from planner.outputs import GEOPACKAGE, NAME_PATTERN
from planner.workbook import write_workbook

router = APIRouter(tags=["results"])
Name = Annotated[str, PathParam(pattern=NAME_PATTERN, description="a name listed by …/result")]


_FINISHED: OrderedDict[tuple[Path, str], dict[str, Any]] = OrderedDict()
_FINISHED_MAX = 1024


async def done_job(store: Store, job_id: str) -> dict[str, Any]:
    """A finished job's row. Rows of done jobs never change, so they are kept in memory (an
    LRU of the most recent ones) and served without touching the database."""
    key = (store.data_dir, job_id)
    if key in _FINISHED:
        _FINISHED.move_to_end(key)
        return _FINISHED[key]
    job = await run_in_threadpool(fetch, store, "jobs", job_id)
    if job["status"] in ("queued", "running"):
        raise HTTPException(409, detail=f"Job {job_id} is {job['status']} "
                                        f"({job['progress']:.0%}); poll GET /v1/jobs/{job_id} "
                                        "until its status is done.")
    if job["status"] != "done":
        raise HTTPException(409, detail=f"Job {job_id} has no result: it is {job['status']}. "
                                        f"{job['error'] or ''}".strip())
    _FINISHED[key] = job
    if len(_FINISHED) > _FINISHED_MAX:
        _FINISHED.popitem(last=False)
    return job


#: Results never change, but a client must ask again (and gets 304 while its copy is current).
_CACHE_CONTROL = "private, no-cache"


def _etag(stat: os.stat_result) -> str:
    return f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names ``etag`` (weak comparison, as RFC 9110 asks)."""
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def _accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an Accept-Encoding header allows gzip: named with q > 0, or not named and
    ``*`` allowed."""
    weights: dict[str, float] = {}
    for part in (accept_encoding or "").split(","):
        coding, _, params = part.partition(";")
        q = params.strip().removeprefix("q=") if params.strip() else "1"
        try:
            weights[coding.strip().lower()] = float(q)
        except ValueError:
            weights[coding.strip().lower()] = 0.0
    return weights.get("gzip", weights.get("*", 0.0)) > 0


def send_file(request: Request, job_id: str, path: Path, media_type: str,
          filename: str | None = None) -> Response:
    """A result file from disk with its ETag (gzipped when the client accepts it and the
    export wrote ``<file>.gz``), or 304 when the client's copy is current."""
    headers = {"Cache-Control": _CACHE_CONTROL}
    stat = None
    if path.suffix != ".xlsx":  # an xlsx is a zip already
        headers["Vary"] = "Accept-Encoding"
        if _accepts_gzip(request.headers.get("accept-encoding")):
            try:
                stat = (gz := path.with_name(path.name + ".gz")).stat()
                path, headers["Content-Encoding"] = gz, "gzip"
            except FileNotFoundError:  # results of earlier versions have no .gz
                stat = None
    try:
        stat = stat or path.stat()
    except FileNotFoundError:
        raise HTTPException(404, detail=f"The file {path.name} of job {job_id} is no longer on "
                                        "the server; run the job again.") from None
    headers["ETag"] = etag = _etag(stat)
    if _matches(request.headers.get("if-none-match"), etag):
        headers.pop("Content-Encoding", None)
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=media_type, filename=filename, stat_result=stat,
                        headers=headers)


def _output(store: Store, job: dict[str, Any], key: str, earlier: str) -> Path:
    """Where a job's workbook or map is: the path its manifest names (relative to the job's
    folder), or where versions that recorded only ``True`` put it (``earlier``)."""
    named = (job["outputs"] or {}).get(key)
    return store.path("jobs", job["id"]) / (named if isinstance(named, str) else earlier)


async def _file(store: Store, job_id: str, kind: str, name: str, suffix: str) -> Path:
    job = await done_job(store, job_id)
    outputs = job["outputs"] or {}
    names = ([x["name"] for x in outputs.get("layers", [])] if kind == "layers"
             else outputs.get("tables", []))
    if name not in names:
        raise HTTPException(404, detail=f"Job {job_id} has no {kind[:-1]} {name!r}; it has: "
                                        f"{', '.join(names) or 'none'}.")
    return store.path("jobs", job_id) / kind / f"{name}{suffix}"


@router.get("/jobs/{job_id}/result", response_model=ResultOut, summary="A finished job's result")
async def get_result(job_id: ResourceId, store: StoreDep) -> ResultOut:
    """Headline numbers (coverage shares, people covered, new sites…) and links to the layers
    (GeoJSON, WGS-84), tables (CSV, XLSX) and the map (HTML)."""
    job = await done_job(store, job_id)
    outputs = job["outputs"] or {}
    base = f"/v1/jobs/{job_id}"
    return ResultOut(
        job_id=job_id, kind=job["kind"], target_id=job["target_id"],
        summary=job["summary"] or {}, timings=job["timings"],
        layers=[LayerLink(name=x["name"], features=x["features"],
                          url=f"{base}/layers/{x['name']}.geojson",
                          parquet_url=f"{base}/layers/{x['name']}.parquet"
                          if x.get("parquet") else None)
                for x in outputs.get("layers", [])],
        geopackage_url=f"{base}/layers/{GEOPACKAGE}" if outputs.get("geopackage") else None,
        tables=[TableLinks(name=t, csv=f"{base}/tables/{t}.csv", xlsx=f"{base}/tables/{t}.xlsx")
                for t in outputs.get("tables", [])],
        workbook_url=f"{base}/workbook.xlsx" if outputs.get("workbook") else None,
        map_url=f"{base}/map.html" if outputs.get("map") else None,
    )


@router.get("/jobs/{job_id}/layers/{name}.geojson", summary="A result layer as GeoJSON",
            response_class=FileResponse,
            responses={200: {"content": {"application/geo+json": {}}}})
async def get_layer(job_id: ResourceId, name: Name, store: StoreDep,
                    request: Request) -> Response:
    """A FeatureCollection in WGS-84 (longitude, latitude): facilities, proposals, gap cells…"""
    path = await _file(store, job_id, "layers", name, ".geojson")
    return send_file(request, job_id, path, "application/geo+json", path.name)


@router.get(f"/jobs/{{job_id}}/layers/{GEOPACKAGE}", summary="Every layer as a GeoPackage",
            response_class=FileResponse,
            responses={200: {"content": {"application/geopackage+sqlite3": {}}}})
async def get_geopackage(job_id: ResourceId, store: StoreDep, request: Request) -> Response:
    """The GeoPackage ``planner run`` writes: a layer each (cells, facilities, gap areas,
    isochrones, proposals…) in the analysis CRS, for QGIS."""
    job = await done_job(store, job_id)
    named = (job["outputs"] or {}).get("geopackage")
    if not named:
        raise HTTPException(404, detail=f"Job {job_id} has no GeoPackage (a {job['kind']} job, "
                                        "or one finished by an earlier version: run it again).")
    return send_file(request, job_id, store.path("jobs", job_id) / named,
                 "application/geopackage+sqlite3", f"{job['kind']}_{job_id[:8]}.gpkg")


@router.get("/jobs/{job_id}/layers/{name}.parquet", summary="A result layer as GeoParquet",
            response_class=FileResponse,
            responses={200: {"content": {"application/vnd.apache.parquet": {}}}})
async def get_layer_parquet(job_id: ResourceId, name: Name, store: StoreDep,
                            request: Request) -> Response:
    """A layer as GeoParquet in the analysis CRS (metres), as ``planner run`` writes it."""
    job = await done_job(store, job_id)
    layer = next((x for x in (job["outputs"] or {}).get("layers", []) if x["name"] == name),
                 None)
    if layer is None or not layer.get("parquet"):
        raise HTTPException(404, detail=f"Job {job_id} has no GeoParquet layer {name!r}; its "
                                        "layers are listed by GET /v1/jobs/{job_id}/result.")
    return send_file(request, job_id, store.path("jobs", job_id) / layer["parquet"],
                 "application/vnd.apache.parquet", f"{name}.parquet")


@router.get("/jobs/{job_id}/tables/{name}.csv", summary="A result table as CSV",
            response_class=FileResponse, responses={200: {"content": {"text/csv": {}}}})
async def get_table_csv(job_id: ResourceId, name: Name, store: StoreDep,
                        request: Request) -> Response:
    """UTF-8 with a byte-order mark, so Excel shows Chinese text; text that a spreadsheet
    would run as a formula (starting with =, +, -, @, tab, CR) starts with an apostrophe."""
    path = await _file(store, job_id, "tables", name, ".csv")
    return send_file(request, job_id, path, "text/csv; charset=utf-8", path.name)


_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/jobs/{job_id}/tables/{name}.xlsx", summary="A result table as Excel",
            response_class=FileResponse, responses={200: {"content": {_XLSX: {}}}})
async def get_table_xlsx(job_id: ResourceId, name: Name, store: StoreDep,
                         request: Request) -> Response:
    """One table as a workbook of one sheet, formatted as in the job's workbook (headers with
    units, rounded values, notes); formula-like text is neutralised as in the CSV."""
    csv = await _file(store, job_id, "tables", name, ".csv")
    try:
        stat = csv.stat()
    except FileNotFoundError:
        raise HTTPException(404, detail=f"The file {csv.name} of job {job_id} is no longer on "
                                        "the server; run the job again.") from None
    etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}-xlsx"'
    headers = {"Cache-Control": _CACHE_CONTROL, "ETag": etag}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    body = await run_in_threadpool(_one_sheet, csv, name)
    headers["Content-Disposition"] = f'attachment; filename="{name}.xlsx"'
    return Response(body, media_type=_XLSX, headers=headers)


def _one_sheet(csv: Path, name: str) -> bytes:
    """A one-table workbook of a result CSV, built by the writer of the job's workbook."""
    frame = pd.read_csv(csv, encoding="utf-8-sig", keep_default_na=False, na_values=[""])
    with tempfile.TemporaryDirectory() as tmp:
        path = write_workbook({name: frame}, Path(tmp) / f"{name}.xlsx", contents=False)
        return path.read_bytes()


@router.get("/jobs/{job_id}/workbook.xlsx", summary="Every result table in one Excel workbook",
            response_class=FileResponse, responses={200: {"content": {_XLSX: {}}}})
async def get_workbook(job_id: ResourceId, store: StoreDep, request: Request) -> Response:
    """The workbook the CLI writes: the headline, a contents sheet, then a sheet per table
    (coverage, gaps, equity, proposed sites, facility audit …)."""
    job = await done_job(store, job_id)
    if not (job["outputs"] or {}).get("workbook"):
        raise HTTPException(404, detail=f"Job {job_id} has no workbook (a {job['kind']} job, or "
                                        "one finished by an earlier version: run it again); "
                                        "its tables are listed by GET /v1/jobs/{job_id}/result.")
    return send_file(request, job_id, _output(store, job, "workbook", "workbook.xlsx"), _XLSX,
                 f"{job['kind']}_{job_id[:8]}.xlsx")


@router.get("/jobs/{job_id}/map.html", summary="The result map", response_class=FileResponse,
            responses={200: {"content": {"text/html": {}}}})
async def get_map(job_id: ResourceId, store: StoreDep, request: Request) -> Response:
    """The interactive gap map (HTML) of a coverage or optimisation job."""
    job = await done_job(store, job_id)
    if not (job["outputs"] or {}).get("map"):
        raise HTTPException(404, detail=f"Job {job_id} made no map (a {job['kind']} job); "
                                        "fetch the map of a coverage or optimize job.")
    return send_file(request, job_id, _output(store, job, "map", "map.html"), "text/html")
