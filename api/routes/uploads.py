"""Uploaded files (facility CSV/GeoJSON, population rasters/polygons), referred to by id."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, File, HTTPException, Response, UploadFile

from planner.api.deps import ResourceId, SettingsDep, StoreDep, fetch
from planner.api.models import UploadOut
from planner.api.store import creating, new_id
from planner.api.uploads import UPLOAD_SUFFIXES, copy_stream, safe_filename

router = APIRouter(tags=["uploads"])


@router.post("/uploads", response_model=UploadOut, status_code=201, summary="Upload a file")
def create_upload(
    store: StoreDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="facilities (.csv, .geojson) or population "
                                                 "(.tif, .geojson), within the upload limit")],
) -> UploadOut:
    """Store a file; use the returned id in a scenario (``upload_id``)."""
    filename = safe_filename(file.filename, UPLOAD_SUFFIXES)
    upload_id = new_id()
    with creating(store.path("uploads", upload_id), "the upload") as folder:
        size = copy_stream(file.file, folder / filename, settings.max_decompressed_bytes)
        row = store.insert("uploads", {"id": upload_id, "filename": filename,
                                       "size_bytes": size, "created": time.time()})
    return UploadOut(**row)


@router.get("/uploads", response_model=list[UploadOut], summary="Uploads")
def list_uploads(store: StoreDep) -> list[UploadOut]:
    """The newest uploads (at most 100), to find the ones to delete."""
    return [UploadOut(**r) for r in store.list("uploads")]


@router.get("/uploads/{upload_id}", response_model=UploadOut, summary="An upload's metadata")
def get_upload(upload_id: ResourceId, store: StoreDep) -> UploadOut:
    return UploadOut(**fetch(store, "uploads", upload_id))


@router.delete("/uploads/{upload_id}", status_code=204, response_class=Response,
               summary="Delete an upload")
def delete_upload(upload_id: ResourceId, store: StoreDep) -> Response:
    """Remove an uploaded file. Scenarios made from it keep their own copy."""
    fetch(store, "uploads", upload_id)
    if not store.delete("uploads", upload_id):
        raise HTTPException(404, detail=f"No upload with id {upload_id}; it was just deleted.")
    return Response(status_code=204)
