"""Request and response models of the HTTP API (they make the OpenAPI schema)."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from planner.scenario_model import (
    DEGREE_SYSTEMS,
    BBox,
    DistrictFields,
    FacilityFields,
    OptimizeFields,
    PopulationFields,
    ScenarioFields,
    StrictModel,
)

ID_PATTERN = r"^[0-9a-f]{32}$"
JobStatus = Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]


#: Facility points a scenario body may carry as GeoJSON (≈ 1 MB); checking each costs tens of
#: microseconds that hold the interpreter, so larger lists go through /v1/uploads.
MAX_INLINE_FEATURES = 10_000


class _In(StrictModel):
    """A request body: unknown keys and non-finite numbers (NaN, Infinity) are refused."""


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


class FacilitiesIn(_In, FacilityFields):
    """One facility source: the network's OSM data, a GeoJSON body, or an uploaded file (the
    scenario's [[facilities]] with an upload or inline points in place of a file)."""

    source: Literal["osm", "geojson", "upload"] = Field(
        "osm", description="osm: the network's OSM data; geojson: points in `geojson`; "
        "upload: the file `upload_id`")
    geojson: FeatureCollection | None = Field(None, description="with source = geojson")
    upload_id: str | None = Field(None, pattern=ID_PATTERN,
                                  description="with source = upload: a CSV, Excel (.xlsx), GeoJSON or GeoPackage from /v1/uploads")

    @model_validator(mode="after")
    def _source_fields(self) -> FacilitiesIn:
        if (self.source == "geojson") != (self.geojson is not None):
            raise ValueError("give `geojson` exactly when source = 'geojson'")
        if (self.source == "upload") != (self.upload_id is not None):
            raise ValueError("give `upload_id` exactly when source = 'upload'")
        if self.source != "geojson":
            return self
        if self.coords not in (None, *DEGREE_SYSTEMS):
            raise ValueError("GeoJSON positions are longitude/latitude: coords must be wgs84, "
                             "gcj02 or bd09")
        unused = [f for f in ("lon", "lat", "encoding") if f in self.model_fields_set]
        if unused:
            raise ValueError(f"{', '.join(unused)} do not apply to source = 'geojson' (GeoJSON "
                             "points are [longitude, latitude] in a UTF-8 body); drop them, or "
                             "send the points as an upload")
        return self


class PopulationIn(_In, PopulationFields):
    """Population: from the network's OSM buildings, or an uploaded raster / GeoJSON grid (the
    scenario's [population] with uploads in place of files)."""

    source: Literal["buildings", "upload"] = Field(
        "buildings", description="buildings: the network's OSM data; upload: the file `upload_id`")
    upload_id: str | None = Field(None, pattern=ID_PATTERN,
                                  description="with source = upload: a GeoTIFF or GeoJSON polygons")
    districts: str | None = Field(
        None, pattern=ID_PATTERN, description="upload id of district polygons (GeoJSON/GPKG) "
        "with a population column: each district's cells are scaled to its total")

    @model_validator(mode="after")
    def _source_fields(self) -> PopulationIn:
        if (self.source == "upload") != (self.upload_id is not None):
            raise ValueError("give `upload_id` exactly when source = 'upload'")
        return self


class DistrictsIn(_In, DistrictFields):
    """Admin polygons (街道 / 社区) to report coverage per unit and outline on the map (the
    scenario's [districts] with an upload in place of the file)."""

    upload_id: str = Field(pattern=ID_PATTERN, description="district polygons (GeoJSON/GPKG) "
                           "from /v1/uploads")


class ScenarioIn(_In, ScenarioFields):
    """A scenario: a ready network, facilities, population and what to measure (the scenario
    file's fields, with ids in place of files)."""

    network_id: str = Field(pattern=ID_PATTERN, description="a ready network from /v1/networks")
    facilities: list[FacilitiesIn] = Field(default_factory=lambda: [FacilitiesIn()], min_length=1,
                                           max_length=20, description="facility sources")
    population: PopulationIn = Field(PopulationIn(), description="the demand grid")
    bbox: BBox | None = Field(None, description="study area (west, south, east, north), "
                              "degrees WGS-84")
    districts: DistrictsIn | None = Field(None, description="report coverage per district")

    @field_validator("districts", mode="before")
    @classmethod
    def _districts_object(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError('give the districts as {"upload_id": "…", "name_column": "…"} '
                             "(population.districts is the one that takes an upload id alone)")
        if isinstance(value, dict) and "file" in value:
            raise ValueError("the API takes no file names: POST the district polygons to "
                             '/v1/uploads and give the id as "upload_id"')
        return value

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

    model_config = ConfigDict(json_schema_extra={"examples": [{
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
        "categories": {"elderly_home": {"distance_m": 800}},
    }]})


class ScenarioOut(BaseModel):
    id: str
    name: str
    network_id: str
    created: float
    categories: list[str] | None = Field(None, description="categories analysed (None: all found)")
    facilities: list[str] = Field(description="facility sources")
    population: str = Field(description="population source")


class ProvinceIn(_In):
    """A run over units (cities, counties, 街道 or 社区) of a scenario's area: each unit is
    computed with the streets and facilities around it, and the units are merged into one
    monitoring table and an overview map (see docs/province.md)."""

    units_upload_id: str = Field(pattern=ID_PATTERN, description="unit polygons "
                                 "(GeoJSON/GPKG) with a name and a code, from /v1/uploads")
    name_column: str | None = Field(None, description="the units' name column (default: "
                                    "name/名称/…)")
    code_column: str | None = Field(None, description="the units' code column (default: "
                                    "code/adcode/区划代码/…; else the units are numbered)")
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "units_upload_id": "0a1b2c3d4e5f60718293a4b5c6d7e8f9", "name_column": "名称",
        "code_column": "区划代码"}]})


class OptimizeIn(_In, OptimizeFields):
    """A site-selection run on a scenario: a scenario's [[optimize]] without a candidates file
    (candidates are generated along the streets, so there are no costs or budgets)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "model": "mclp", "categories": ["kindergarten"], "new_sites": 10, "time_limit_s": 30,
    }]})


# --- jobs and results ----------------------------------------------------------------------------


class JobOut(BaseModel):
    """A job's state; poll until ``status`` is final (done, failed, cancelled, interrupted)."""

    id: str
    kind: Literal["network", "coverage", "optimize", "province"]
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
    url: str = Field(description="the layer as GeoJSON, WGS-84")
    features: int
    parquet_url: str | None = Field(None, description="the layer as GeoParquet, in the "
                                    "analysis CRS (metres)")


class ResultOut(BaseModel):
    """Headline numbers of a finished job and where to fetch its layers, tables and map."""

    job_id: str
    kind: str
    target_id: str
    summary: dict[str, Any]
    timings: dict[str, float] | None = None
    layers: list[LayerLink] = Field(description="GeoJSON FeatureCollections in WGS-84 (and "
                                    "GeoParquet)")
    geopackage_url: str | None = Field(
        None, description="every layer in one GeoPackage (a layer each, for QGIS), in the "
        "analysis CRS")
    tables: list[TableLinks]
    workbook_url: str | None = Field(
        None, description="every table in one Excel workbook, a sheet per table")
    map_url: str | None = None
