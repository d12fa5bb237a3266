"""Service health, the standards table, and the documentation pages served offline."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files

from fastapi import APIRouter, Depends, HTTPException
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from planner.api.deps import JobsDep, StoreDep, require_api_key
from planner.api.models import CategoryOut, HealthOut
from planner.standards import load_categories

router = APIRouter(tags=["meta"])
#: /docs and /redoc with Swagger UI and ReDoc served by this server (an offline intranet, or a
#: network where their CDN cannot be reached, still shows them); left out of the schema.
docs_router = APIRouter(include_in_schema=False)
#: Swagger UI (Apache-2.0) and ReDoc (MIT) as shipped by the fastapi-offline package (MIT).
_ASSETS = files("fastapi_offline") / "static"
_ASSET_TYPES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
                "redoc.standalone.js": "text/javascript", "favicon.png": "image/png"}
_TITLE = "15-minute living-circle planner API"


def _version() -> str:
    try:
        return version("shanxi-living-circle-planner")
    except PackageNotFoundError:
        return "unknown"


@router.get("/health", response_model=HealthOut, summary="Is the service up")
def health(store: StoreDep, jobs: JobsDep) -> HealthOut:
    """Always open (no API key): for load balancers and monitoring."""
    return HealthOut(version=_version(), workers=jobs.workers, jobs_running=jobs.running(),
                     jobs_queued=store.count_jobs("queued"))


@router.get("/categories", response_model=list[CategoryOut], summary="The service categories",
            dependencies=[Depends(require_api_key)])
def categories() -> list[CategoryOut]:
    """Living-circle service categories with Chinese and English names, GB 50180 level (minutes),
    compliance distance (metres), population group served, capacity norms and sources."""
    return [
        CategoryOut(key=c.key, name_zh=c.name_zh, name_en=c.name_en, level_min=c.level_min,
                    distance_m=c.distance_m, group=c.group, capacity_unit=c.capacity_unit,
                    capacity_per_site=c.capacity_per_site, capacity_norm=c.capacity_norm,
                    source=c.source, verified=c.verified)
        for c in load_categories().values()
    ]


@docs_router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json", title=_TITLE,
        swagger_js_url="/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/docs/assets/swagger-ui.css",
        swagger_favicon_url="/docs/assets/favicon.png",
    )


@docs_router.get("/redoc")
def redoc() -> HTMLResponse:
    return get_redoc_html(openapi_url="/openapi.json", title=_TITLE,
                          redoc_js_url="/docs/assets/redoc.standalone.js",
                          redoc_favicon_url="/docs/assets/favicon.png", with_google_fonts=False)


@docs_router.get("/docs/assets/{name}")
def docs_asset(name: str) -> FileResponse:
    if name not in _ASSET_TYPES:
        raise HTTPException(404, detail=f"No documentation asset {name!r}.")
    return FileResponse(str(_ASSETS / name), media_type=_ASSET_TYPES[name],
                        headers={"Cache-Control": "public, max-age=86400"})
