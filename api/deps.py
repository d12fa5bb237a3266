"""FastAPI dependencies: the store, the job manager, API-key checks and resource look-ups."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request, Security
from fastapi.security import APIKeyHeader

from planner.api.bodies import HeavyBodies
from planner.api.jobs import JobManager
from planner.api.models import ID_PATTERN
from planner.api.settings import Settings
from planner.api.store import Store

_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False,
    description="Needed when the server sets PLANNER_API_KEY.",
)

ResourceId = Annotated[str, Path(pattern=ID_PATTERN, description="32 hex digits",
                                 examples=["4f1c2a9e0b7d4e5f8a6b3c2d1e0f9a8b"])]


# The dependencies are async: they never block, and FastAPI would otherwise run each one in the
# thread pool.
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_store(request: Request) -> Store:
    return request.app.state.store


async def get_jobs(request: Request) -> JobManager:
    return request.app.state.jobs


async def get_bodies(request: Request) -> HeavyBodies:
    return request.app.state.bodies


async def require_api_key(
    request: Request, key: Annotated[str | None, Security(_api_key_header)] = None
) -> None:
    """Reject the request (401) when the server has an API key and the request lacks it."""
    expected = request.app.state.settings.api_key
    if expected is None:
        return
    # header values arrive decoded as latin-1: back to the bytes sent, compared as UTF-8
    sent = key.encode("latin-1", errors="replace") if key is not None else None
    if sent is None or not secrets.compare_digest(
            sent.strip(), expected.get_secret_value().encode("utf-8")):
        raise HTTPException(
            status_code=401,
            detail="Missing or wrong API key: send the header `X-API-Key: <key>` with the key "
                   "the server was started with (PLANNER_API_KEY).",
            headers={"WWW-Authenticate": "APIKey"},
        )


StoreDep = Annotated[Store, Depends(get_store)]
JobsDep = Annotated[JobManager, Depends(get_jobs)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
BodiesDep = Annotated[HeavyBodies, Depends(get_bodies)]


def fetch(store: Store, table: str, resource_id: str) -> dict[str, Any]:
    """A row, or 404 naming what was looked for."""
    row = store.get(table, resource_id)
    if row is None:
        what = table.rstrip("s")
        raise HTTPException(
            status_code=404,
            detail=f"No {what} with id {resource_id}; list them with GET /v1/{table}.",
        )
    return row
