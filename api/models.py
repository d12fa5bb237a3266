"""Request and response models of the HTTP API (they make the OpenAPI schema)."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from planner.scenario_file import AnalysisSpec, BuildingRules

ID_PATTERN = r"^[0-9a-f]{32}$"
_COORDS_RE = r"^(wgs84|gcj02|bd09|EPSG:\d{4,6})$"
JobStatus = Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]


#: Walking minutes a level may have: a living circle is 5, 10 or 15 minutes; an hour is plenty.
MAX_LEVEL_MIN = 60
#: Farthest a home or facility may lie from a street and still be walked from, metres.
MAX_ACCESS_M = 5000.0
#: Facility points a scenario body may carry as GeoJSON (≈ 1 MB); checking each costs tens of
#: microseconds that hold the interpreter, so larger lists go through /v1/uploads.
MAX_INLINE_FEATURES = 10_000


class _In(BaseModel):
    """A request body: unknown keys and non-finite numbers (NaN, Infinity) are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _finite_json(value: Any, where: str) -> None:
    """Refuse NaN and ±Infinity anywhere in a JSON value (they are not JSON, but Python's
    parser accepts them)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} holds {value}, which is not a number JSON allows; send a "
                         "finite number or null")
    if isinstance(value, dict):
        for key, item in value.items():
            _finite_json(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _finite_json(item, f"{where}[{i}]")


# --- common --------------------------------------------------------------------------------------


class ErrorOut(BaseModel):
    """Every 4xx/5xx answer: what went wrong and how to fix it."""

    error: str = Field(description="kind of error, e.g. InputError, NotFound, Unauthorized")
    detail: str = Field(description="the problem and the fix, in plain words")
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "error": "UnknownCategoryError",
        "detail": "Unknown service category 'kindergarden'. Known categories: breakfast, childcare, "
                  "… Add it to the scenario's categories or fix the spelling.",
    }]})


class HealthOut(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    workers: int = Field(description="job worker processes allowed at once")
    jobs_running: int
    jobs_queued: int


class CategoryOut(BaseModel):
    """One service category of the living circle (GB 50180-2018 levels)."""

    key: str
    name_zh: str
    name_en: str
    level_min: int = Field(description="life-circle level, minutes (5, 10 or 15)")
    distance_m: float = Field(description="compliance walking distance, metres")
    group: str = Field(description="population column the category serves")
    capacity_unit: str | None = None
    capacity_per_site: float | None = Field(None, description="default capacity of one site")
    capacity_norm: str | None = None
    source: str
    verified: bool
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "key": "kindergarten", "name_zh": "幼儿园", "name_en": "Kindergarten", "level_min": 5,
        "distance_m": 300.0, "group": "age_3_5", "capacity_unit": "places",
        "capacity_per_site": 270.0, "capacity_norm": "…", "source": "…", "verified": False,
    }]})


class UploadOut(BaseModel):
    """A stored upload; refer to it by ``id`` in a scenario."""

    id: str
    filename: str
    size_bytes: int
    created: float = Field(description="Unix time, seconds")


# --- networks ------------------------------------------------------------------------------------


class NetworkOut(BaseModel):
    """A walk network; ``summary`` appears once it is ready."""

    id: str
    name: str
    status: Literal["building", "ready", "failed"]
    created: float
    source: str | None = Field(None, description="name of the uploaded file")
    place: str | None = None
    job_id: str = Field(description="the job building it; poll /v1/jobs/{job_id}")
    summary: dict[str, Any] | None = Field(
        None, description="nodes, edges, walkable_km, crs, bbox_lonlat (west, south, east, north)"
    )
    error: str | None = None
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "4f1c2a9e0b7d4e5f8a6b3c2d1e0f9a8b", "name": "helsinki", "status": "ready",
        "created": 1.7e9, "source": "Helsinki.osm.pbf", "place": None,
        "job_id": "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        "summary": {"nodes": 5258, "edges": 6301, "walkable_km": 87.2, "crs": "EPSG:32635",
                    "bbox_lonlat": [24.934, 60.164, 24.954, 60.179]},
        "error": None,
    }]})


# --- GeoJSON facilities --------------------------------------------------------------------------


class PointGeometry(_In):
    type: Literal["Point"]
    coordinates: list[float] = Field(min_length=2, max_length=3,
                                     description="[longitude, latitude] in degrees")

    @field_validator("coordinates")
    @classmethod
    def _lon_lat(cls, value: list[float]) -> list[float]:
        lon, lat = value[0], value[1]
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise ValueError("coordinates must be finite numbers [longitude, latitude]")
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError(
                f"[{lon}, {lat}] is not [longitude, latitude] in degrees; GeoJSON positions are "
                "longitude first, in WGS-84 degrees (convert projected coordinates first)"
            )
        return value


class Feature(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["Feature"]
    geometry: PointGeometry
    properties: dict[str, Any] | None = None

    @field_validator("properties")
    @classmethod
    def _finite(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        _finite_json(value, "properties")
        return value


class FeatureCollection(BaseModel):
    """Facility points as GeoJSON (RFC 7946: [longitude, latitude], WGS-84)."""

    model_config = ConfigDict(extra="allow")
    type: Literal["FeatureCollection"]
    features: list[Feature] = Field(min_length=1)


# --- scenarios -----------------------------------------------------------------------------------


class AnalysisIn(AnalysisSpec):
    """What to measure; the numbers must be ones a living-circle analysis can mean."""

    model_config = ConfigDict(allow_inf_nan=False)
    levels_min: list[int] = Field(
        [5, 10, 15], min_length=1, max_length=12,
        description=f"walking-time levels, minutes: distinct, 1–{MAX_LEVEL_MIN}")
    max_access_m: float = Field(
        300.0, gt=0, le=MAX_ACCESS_M, allow_inf_nan=False,
        description="farthest a home or facility may lie from a street, metres")

    @field_validator("levels_min")
    @classmethod
    def _levels(cls, value: list[int]) -> list[int]:
        bad = [v for v in value if not 1 <= v <= MAX_LEVEL_MIN]
        if bad:
            raise ValueError(f"levels_min {bad} are not walking times of 1 to {MAX_LEVEL_MIN} "
                             "minutes; the living-circle levels are 5, 10 and 15")
        if len(set(value)) < len(value):
            raise ValueError(f"levels_min {value} names a level twice; give each once")
        return value



#: Fields a facility source would ignore: they are refused rather than silently dropped.
_UNUSED_BY_SOURCE = {
    "osm": {"coords", "lon", "lat", "category", "category_column", "category_map",
            "name_column", "capacity_column", "status", "encoding"},
    "geojson": {"lon", "lat", "encoding"},
    "upload": set(),
}


class FacilitiesIn(_In):
    """One facility source: the network's OSM data, a GeoJSON body, or an uploaded file."""

    source: Literal["osm", "geojson", "upload"] = "osm"
    geojson: FeatureCollection | None = Field(None, description="with source = geojson")
    upload_id: str | None = Field(None, pattern=ID_PATTERN,
                                  description="with source = upload: a CSV/GeoJSON from /v1/uploads")
    coords: str | None = Field(None, pattern=_COORDS_RE,
                               description="coordinate system of the points: wgs84 | gcj02 (Amap, "
                                           "Tencent) | bd09 (Baidu) | EPSG:xxxx; required for "
                                           "points in China")
    lon: str | None = Field(None, max_length=100, description="longitude/x column of a CSV")
    lat: str | None = Field(None, max_length=100, description="latitude/y column of a CSV")
    category: str | None = Field(None, max_length=100, description="one category for every row")
    category_column: str | None = Field(None, max_length=100)
    category_map: Literal["key", "keywords"] = Field(
        "keywords", description="category_column holds keys, or names/POI types matched by keyword")
    name_column: str | None = Field(None, max_length=100)
    capacity_column: str | None = Field(None, max_length=100)
    status: Literal["existing", "candidate", "required", "closable"] = "existing"
    encoding: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,40}$",
                                 description="CSV text encoding, e.g. gbk")

    @model_validator(mode="after")
    def _source_fields(self) -> FacilitiesIn:
        if (self.source == "geojson") != (self.geojson is not None):
            raise ValueError("give `geojson` exactly when source = 'geojson'")
        if (self.source == "upload") != (self.upload_id is not None):
            raise ValueError("give `upload_id` exactly when source = 'upload'")
        if self.source == "geojson" and (self.coords or "").startswith("EPSG:"):
            raise ValueError("GeoJSON positions are longitude/latitude: coords must be wgs84, "
                             "gcj02 or bd09")
        unused = sorted(self.model_fields_set & _UNUSED_BY_SOURCE[self.source])
        if unused:
            why = ("facilities from the network's OSM data are classified by their tags and "
                   "are in WGS-84" if self.source == "osm"
                   else "GeoJSON points are [longitude, latitude] in a UTF-8 body")
            raise ValueError(f"{', '.join(unused)} do not apply to source = '{self.source}' "
                             f"({why}); drop them, or send the points as an upload")
        return self


class PopulationIn(_In, BuildingRules):
    """Population: from the network's OSM buildings, or an uploaded raster / GeoJSON grid."""

    source: Literal["buildings", "upload"] = "buildings"
    upload_id: str | None = Field(None, pattern=ID_PATTERN,
                                  description="with source = upload: a GeoTIFF or GeoJSON polygons")
    cell_m: float = Field(100.0, ge=10, le=5000, description="demand cell size, metres")
    population_column: str | None = Field(None, max_length=100)
    age_shares: str | None = Field("shanxi", pattern=r"^[A-Za-z0-9_-]{1,40}$",
                                   description="region of the age structure applied when the "
                                               "source has none (age_structure.toml), or 'none'")
    districts: str | None = Field(
        None, pattern=ID_PATTERN, description="upload id of district polygons (GeoJSON/GPKG) "
        "with a population column: each district's cells are scaled to its total")
    districts_column: str | None = Field(None, max_length=100,
                                         description="population column of the districts")

    @model_validator(mode="after")
    def _source_fields(self) -> PopulationIn:
        if (self.source == "upload") != (self.upload_id is not None):
            raise ValueError("give `upload_id` exactly when source = 'upload'")
        if self.total is not None and self.districts is not None:
            raise ValueError("give `total` or `districts`, not both")
        return self


class ScenarioIn(_In):
    """A scenario: a ready network, facilities, population and what to measure."""

    name: str = Field("scenario", min_length=1, max_length=100)
    description: str = Field("", max_length=2000)
    network_id: str = Field(pattern=ID_PATTERN)
    facilities: list[FacilitiesIn] = Field(default_factory=lambda: [FacilitiesIn()], min_length=1,
                                           max_length=20)
    population: PopulationIn = PopulationIn()
    analysis: AnalysisIn = AnalysisIn()
    speeds: dict[str, float] = Field(default_factory=dict,
                                     description="walking speed m/s per population group")
    bbox: tuple[float, float, float, float] | None = Field(
        None, description="study area (west, south, east, north), degrees WGS-84")

    @model_validator(mode="before")
    @classmethod
    def _inline_points(cls, data: Any) -> Any:
        """Refuse a body with too many inline points before any of them is validated."""
        if not isinstance(data, dict) or not isinstance(data.get("facilities"), list):
            return data
        count = sum(
            len(f["geojson"]["features"]) for f in data["facilities"]
            if isinstance(f, dict) and isinstance(f.get("geojson"), dict)
            and isinstance(f["geojson"].get("features"), list)
        )
        if count > MAX_INLINE_FEATURES:
            raise ValueError(
                f"the scenario carries {count} facility points as GeoJSON; at most "
                f"{MAX_INLINE_FEATURES} fit in a request. Upload larger lists as a CSV or "
                "GeoJSON file (POST /v1/uploads) and refer to it with source = 'upload'"
            )
        return data

    @field_validator("bbox")
    @classmethod
    def _bbox(cls, value: tuple[float, float, float, float] | None):
        if value is not None:
            w, s, e, n = value
            if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
                raise ValueError("bbox must be (west, south, east, north) in degrees with "
                                 "west < east and south < north")
        return value

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "kindergartens-2025",
        "network_id": "4f1c2a9e0b7d4e5f8a6b3c2d1e0f9a8b",
        "facilities": [
            {"source": "osm"},
            {"source": "geojson", "category": "kindergarten", "status": "existing",
             "geojson": {"type": "FeatureCollection", "features": [
                 {"type": "Feature", "properties": {"name": "新建幼儿园"},
                  "geometry": {"type": "Point", "coordinates": [24.9442, 60.1712]}}]}},
        ],
        "population": {"source": "buildings", "cell_m": 100},
        "analysis": {"categories": ["kindergarten", "elderly_day_care"], "mode": "both"},
        "speeds": {"age_60_plus": 0.8},
    }]})


class ScenarioOut(BaseModel):
    id: str
    name: str
    network_id: str
    created: float
    categories: list[str] | None = Field(None, description="categories analysed (None: all found)")
    facilities: list[str] = Field(description="facility sources")
    population: str = Field(description="population source")


class OptimizeIn(_In):
    """A site-selection run on a scenario."""

    model: Literal["mclp", "lscp", "capacitated", "joint"] = Field(
        "mclp", description="mclp: cover most people with new_sites; lscp: fewest sites covering "
                            "everyone; capacitated: with site capacities; joint: categories "
                            "sharing one budget")
    categories: list[str] = Field(min_length=1, max_length=20)
    new_sites: int | None = Field(None, ge=0, le=10_000,
                                  description="number of new sites (mclp, capacitated, joint)")
    capacities: dict[str, float] | None = Field(
        None, description="capacitated model: places (beds, children) of one new site of the "
                          "category (default: the norm); existing facilities keep their own")
    candidate_spacing_m: float = Field(100.0, ge=10, le=5000,
                                       description="spacing of generated candidate sites, metres")
    time_limit_s: float = Field(30.0, gt=0, le=3600, description="solver time limit, seconds")
    weights: dict[str, float] | None = None

    @field_validator("capacities")
    @classmethod
    def _positive(cls, value: dict[str, float] | None):
        if value and any(not (math.isfinite(v) and v > 0) for v in value.values()):
            raise ValueError("capacities must be positive numbers (beds, places per site)")
        if value and any(v > 1e7 for v in value.values()):
            raise ValueError("capacities above 10 million places per site are not plausible")
        return value

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "model": "mclp", "categories": ["kindergarten"], "new_sites": 10, "time_limit_s": 30,
    }]})


# --- jobs and results ----------------------------------------------------------------------------


class JobOut(BaseModel):
    """A job's state; poll until ``status`` is final (done, failed, cancelled, interrupted)."""

    id: str
    kind: Literal["network", "coverage", "optimize"]
    target_id: str = Field(description="the network or scenario the job works on")
    status: JobStatus
    progress: float = Field(ge=0, le=1)
    step: str
    created: float
    started: float | None = None
    finished: float | None = None
    timings: dict[str, float] | None = Field(None, description="seconds per step")
    error: str | None = None
    result_url: str | None = None
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "0a1b2c3d4e5f60718293a4b5c6d7e8f9", "kind": "coverage",
        "target_id": "9f8e7d6c5b4a39281706f5e4d3c2b1a0", "status": "running",
        "progress": 0.42, "step": "catchments", "created": 1.7e9, "started": 1.7e9,
        "finished": None, "timings": None, "error": None, "result_url": None,
    }]})


class TableLinks(BaseModel):
    name: str
    csv: str
    xlsx: str


class LayerLink(BaseModel):
    name: str
    url: str
    features: int


class ResultOut(BaseModel):
    """Headline numbers of a finished job and where to fetch its layers, tables and map."""

    job_id: str
    kind: str
    target_id: str
    summary: dict[str, Any]
    timings: dict[str, float] | None = None
    layers: list[LayerLink] = Field(description="GeoJSON FeatureCollections in WGS-84")
    tables: list[TableLinks]
    workbook_url: str | None = Field(
        None, description="every table in one Excel workbook, a sheet per table")
    map_url: str | None = None
