"""Service health and the standards table."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, Depends

from api.deps import JobsDep, StoreDep, require_api_key
from api.models import CategoryOut, HealthOut
from planner.standards import load_categories

router = APIRouter(tags=["meta"])


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
