"""The FastAPI application factory."""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from planner.api.bodies import HeavyBodies, add_schemas
from planner.api.deps import require_api_key
from planner.api.jobs import JobManager, QueueFull
from planner.api.middleware import (
    ApiKey,
    BodyLimit,
    HidePaths,
    InternalErrors,
    Methods,
    SecurityHeaders,
)
from planner.api.models import ErrorOut, ScenarioIn
from planner.api.routes import jobs, meta, networks, province, results, scenarios, uploads
from planner.api.settings import Settings
from planner.api.store import StorageError, StorageFull, Store
from planner.api.uploads import InflatesTooMuch
from planner.errors import PlannerError
from planner.scenario_file import model_at, suggest_key
from planner.scenario_model import RETIRED_KEYS

log = logging.getLogger("planner.api")

_HTTP_ERRORS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                405: "MethodNotAllowed", 409: "Conflict", 413: "PayloadTooLarge",
                415: "UnsupportedMediaType", 422: "ValidationError"}
_ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 404, 409, 413, 422, 429, 503, 507)}

DESCRIPTION = """
15-minute living-circle (一刻钟便民生活圈) planning as a service: upload a walk network, describe
a scenario (facilities, population, categories), run coverage analyses and site optimisations
as jobs, and fetch the results as GeoJSON (WGS-84), CSV/XLSX tables and an HTML map.

Typical session: `POST /v1/networks` (upload .osm.pbf) → poll `GET /v1/networks/{id}` →
`POST /v1/scenarios` → `POST /v1/scenarios/{id}/coverage` or `…/optimize` → poll
`GET /v1/jobs/{id}` → `GET /v1/jobs/{id}/result`, `…/layers/{name}.geojson`, `…/map.html`.

Errors are JSON `{"error": kind, "detail": what is wrong and how to fix it}`. When the server
sets `PLANNER_API_KEY`, send it in the `X-API-Key` header.
"""


def _error(status: int, kind: str, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": kind, "detail": detail},
                        headers=headers)


def _body_model(route: object) -> type[BaseModel] | None:
    """The model of a route's JSON body: a body parameter, or the schema a route that reads
    its body itself names in its OpenAPI entry."""
    from planner.api import models

    extra = getattr(route, "openapi_extra", None) or {}
    ref = (extra.get("requestBody", {}).get("content", {}).get("application/json", {})
           .get("schema", {}).get("$ref", ""))
    if ref:
        return getattr(models, ref.rsplit("/", 1)[-1], None)
    dependant = getattr(route, "dependant", None)
    for param in getattr(dependant, "body_params", []):
        kind = param.field_info.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            return kind
    return None


def _explain(err: dict, body: type[BaseModel] | None = None) -> str:
    """One validation error in words a user can act on; an unknown field of the request's
    ``body`` model is named with the closest field of the model at its location."""
    loc = [str(p) for p in err.get("loc", ())]
    where, msg, kind = ".".join(loc), err.get("msg", "invalid"), err.get("type", "")
    if kind == "json_invalid":
        reason = (err.get("ctx") or {}).get("error", "")
        return (f"the body is not valid JSON (at character {loc[-1] if len(loc) > 1 else 0}"
                f"{': ' + reason if reason else ''})")
    if kind == "extra_forbidden" and loc and loc[-1] in RETIRED_KEYS:
        return f"{where}: the field {loc[-1]!r} is no longer read; {RETIRED_KEYS[loc[-1]]}"
    if kind == "extra_forbidden" and loc:
        raw = tuple(err["loc"])
        model = model_at(raw[1:], body) if body is not None and raw[:1] == ("body",) else None
        hint = suggest_key(loc[-1], sorted(model.model_fields)) if model is not None else ""
        return f"{where}: unknown field {loc[-1]!r}{hint}"
    return f"{where}: {msg}"


def _validation_detail(exc: RequestValidationError, request: Request) -> str:
    body = _body_model(request.scope.get("route"))
    parts = [_explain(err, body) for err in exc.errors()]
    return "The request is not valid — " + "; ".join(parts[:20]) + (
        f" (and {len(parts) - 20} more)" if len(parts) > 20 else "")


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PlannerError)
    async def planner_error(_: Request, exc: PlannerError) -> JSONResponse:
        return _error(400, type(exc).__name__, str(exc))

    @app.exception_handler(InflatesTooMuch)
    async def inflates_too_much(_: Request, exc: InflatesTooMuch) -> JSONResponse:
        return _error(413, "PayloadTooLarge", str(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "ValidationError", _validation_detail(exc, request))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = _HTTP_ERRORS.get(exc.status_code, "HTTPError")
        detail = str(exc.detail)
        if exc.status_code in (404, 405) and detail in ("Not Found", "Method Not Allowed"):
            detail = (f"There is no endpoint {request.method} {request.url.path}; the API lives "
                      "under /v1 and is described at /docs.")
        return _error(exc.status_code, kind, detail, getattr(exc, "headers", None))

    @app.exception_handler(StorageError)
    async def storage_error(_: Request, exc: StorageError) -> JSONResponse:
        if isinstance(exc, StorageFull):
            return _error(507, "InsufficientStorage", str(exc))
        return _error(503, "StorageUnavailable", str(exc), {"Retry-After": "30"})

    @app.exception_handler(QueueFull)
    async def queue_full(_: Request, exc: QueueFull) -> JSONResponse:
        return _error(429, "TooManyJobs", str(exc), {"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, "InternalError",
                      f"Unexpected server error ({type(exc).__name__}); the request was not "
                      "completed. Report it with the time of the request.")


def _document_read_bodies(app: FastAPI) -> None:
    """Add the JSON bodies that routes read themselves (api.bodies) to the OpenAPI schema."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = add_schemas(generate(), [ScenarioIn])
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _server_folders(settings: Settings) -> list[Path]:
    """Folders whose paths must not appear in answers: the data directory, temporary files,
    the Python installation and the working and home directories."""
    folders = [settings.data_dir, Path(tempfile.gettempdir()), Path(sys.prefix),
               Path(sys.base_prefix), Path.cwd(), Path.home()]
    return [f.resolve() for f in folders] + [f.absolute() for f in folders]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service on one data directory.

    Creating the app opens (or creates) the registry and marks jobs left queued or running by a
    previous server as interrupted; the job workers start with the app's lifespan.
    """
    settings = settings or Settings()
    store = Store(settings.data_dir)
    interrupted = store.initialise()
    if interrupted:
        log.warning("%d job(s) of a previous server run were marked interrupted", interrupted)
    manager = JobManager(store, settings.workers, max_queued=settings.max_queued,
                         retention_s=settings.retention_s)
    bodies = HeavyBodies(settings.data_dir / "incoming")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        manager.start()
        try:
            yield
        finally:
            manager.shutdown()
            store.close()

    app = FastAPI(
        title="15-minute living-circle planner API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=_ERRORS,
        docs_url=None,  # served by meta.docs_router with local assets
        redoc_url=None,
    )
    app.state.settings, app.state.store, app.state.jobs = settings, store, manager
    app.state.bodies = bodies
    _document_read_bodies(app)
    _install_error_handlers(app)
    app.include_router(meta.router, prefix="/v1")
    app.include_router(meta.docs_router)
    protected = [Depends(require_api_key)]
    for module in (uploads, networks, scenarios, province, jobs, results):
        app.include_router(module.router, prefix="/v1", dependencies=protected)
    # Innermost first. The key is checked before any body is read; the limit applies to bodies
    # that get past it; CORS is outermost, so every answer (401, 413, 500 …) carries its headers.
    app.add_middleware(InternalErrors)
    app.add_middleware(HidePaths, roots=_server_folders(settings))
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes,
                       streamed=["/v1/scenarios"])  # api.bodies reads it into a file
    app.add_middleware(Methods, routes=lambda: app.routes)
    key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    app.add_middleware(ApiKey, key=key)
    app.add_middleware(SecurityHeaders, frame_origins=settings.cors_origins)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["*"], allow_headers=["*"])
    return app
