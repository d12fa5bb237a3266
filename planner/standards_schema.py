"""The layout of every file in ``data/standards/`` as pydantic models, and their errors.

Each model checks one file (or one scenario override): unknown keys get a did-you-mean, wrong
values the rule they break. :func:`validate` turns pydantic's errors into one
:class:`~planner.errors.InputError` naming the file, the key, the problem and the fix.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from planner.errors import InputError
from planner.normalise import normalise

#: Population columns a category may serve (demand grid, coverage).
GROUPS = ("total", "age_60_plus", "age_65_plus", "age_0_2", "age_3_5")
#: GB 50180-2018 life-circle levels, minutes.
LEVELS = (5, 10, 15)

#: One condition of an OSM tag rule: (tag key, accepted values). A value is an exact tag value,
#: ``"*"`` (any value present) or ``"~regex"`` (searched in the value).
TagCondition = tuple[str, tuple[str, ...]]
#: A rule matches when every condition holds; a category matches when any rule does.
TagRule = tuple[TagCondition, ...]

#: Field names people reach for, and the field meant.
ALIASES = {"keywords": "names", "keyword": "names", "words": "names", "tags": "osm_tags",
           "exclusions": "exclude", "excludes": "exclude", "veto": "exclude"}

M = TypeVar("M", bound=BaseModel)


def suggest(key: str, allowed: Sequence[str]) -> str:
    """" — did you mean 'x'?" for a misspelt or aliased key, else the known keys."""
    if ALIASES.get(key) in allowed:
        return f" — did you mean {ALIASES[key]!r}?"
    numbers = re.findall(r"\d+", key)  # age60 is age_60_plus, however far the spelling
    same = [a for a in allowed if numbers and re.findall(r"\d+", a)[:len(numbers)] == numbers]
    close = same[:1] or difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    return f" — did you mean {close[0]!r}?" if close else f"; known: {list(allowed)}"


def group_name(value: object) -> str:
    """A population group key; a ValueError suggests the closest."""
    if value not in GROUPS:
        raise ValueError(f"{value!r} is not a population group{suggest(str(value), GROUPS)}")
    return str(value)


# --- values --------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _plain_number(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{value!r} is not a number; write a number such as 300")
    return value


class Sourced(_Strict):
    """A number with where it comes from; ``verified`` only when quoted from a named source."""

    value: Annotated[float, BeforeValidator(_plain_number)]
    source: str | None = None
    source_zh: str | None = None
    verified: bool = False


class SourcedText(_Strict):
    """A norm quoted as text, with its source."""

    text: str
    source: str | None = None
    source_zh: str | None = None
    verified: bool = False


def _sourced(raw: object) -> object:
    """A plain number stands for ``{ value = number }`` (its source is filled in later)."""
    if isinstance(raw, Mapping):
        if "value" not in raw:
            raise ValueError(
                f"must be a number or a table {{ value = …, source = \"…\", source_zh = \"…\", "
                f"verified = … }}; "
                f"got keys {sorted(raw)}")
        return raw
    return {"value": _plain_number(raw)}


def _sourced_text(raw: object) -> object:
    if isinstance(raw, Mapping) and "text" not in raw:
        raise ValueError("needs a `text` entry: { text = \"…\", source = \"…\" }")
    return raw if isinstance(raw, Mapping) else {"text": str(raw)}


Number = Annotated[Sourced, BeforeValidator(_sourced)]
Text = Annotated[SourcedText, BeforeValidator(_sourced_text)]

_ESCAPE = re.compile(r"(\\.)")


def _patterns(raw: object) -> tuple[str, ...]:
    """Regular expressions, normalised like the texts they are searched in."""
    raw = [raw] if isinstance(raw, str) else raw
    if not isinstance(raw, list | tuple) or not all(isinstance(p, str) and p.strip() for p in raw):
        raise ValueError("must be a list of words or regular expressions, e.g. [\"药店\"]")
    out = []
    for p in raw:
        try:
            re.compile(p)
        except re.error as exc:
            raise ValueError(f"bad regular expression {p!r} ({exc})") from None
        # normalise the text, never a regex escape (\S is not \s)
        out.append("".join(part if part.startswith("\\") else normalise(part)
                           for part in _ESCAPE.split(p)))
    return tuple(dict.fromkeys(out))


def _tag_value(key: str, v: str) -> None:
    if v.startswith("<") and not re.fullmatch(r"<\d{1,2}:\d{2}", v):
        raise ValueError(f"{key}: write an opening time as \"<07:30\", not {v!r}")
    if v.startswith("~"):
        try:
            re.compile(v[1:])
        except re.error as exc:
            raise ValueError(f"{key}: bad regular expression {v!r} ({exc})") from None


def _tag_rules(raw: object) -> tuple[TagRule, ...]:
    if not isinstance(raw, list | tuple):
        raise ValueError("must be a list of tables such as [{ amenity = \"pharmacy\" }]")
    rules = []
    for i, rule in enumerate(raw):
        if not isinstance(rule, Mapping) or not rule:
            raise ValueError(f"[{i}] must be a non-empty table of tag = value(s)")
        conditions = []
        for key, values in rule.items():
            values = (values,) if isinstance(values, str) else values
            if not isinstance(values, list | tuple) or not values or not all(
                isinstance(v, str) and v for v in values
            ):
                raise ValueError(f"[{i}].{key} must be a tag value, a list of values, \"*\" or "
                                 "\"~regex\"")
            for v in values:
                _tag_value(f"[{i}].{key}", v)
            conditions.append((str(key), tuple(values)))
        rules.append(tuple(conditions))
    return tuple(rules)


Patterns = Annotated[tuple[str, ...], BeforeValidator(_patterns)]
TagRules = Annotated[tuple[TagRule, ...], BeforeValidator(_tag_rules)]


# --- categories.toml and facility_rules.toml ---------------------------------------------------


class ExclusionSpec(_Strict):
    """A veto of a category: name/type patterns or tag rules, spared by ``unless`` patterns."""

    names: Patterns = ()
    tags: TagRules = ()
    unless: Patterns = ()
    why: str = ""

    @model_validator(mode="after")
    def _some_rule(self) -> ExclusionSpec:
        if not (self.names or self.tags):
            raise ValueError("must be a table with names = [...] and/or tags = [...]")
        return self


def _exclusions(raw: object) -> object:
    if not isinstance(raw, list | tuple):
        raise ValueError("must be a list of tables such as [{ names = [\"口腔\"], why = \"…\" }]")
    return raw


class CategorySpec(_Strict):
    """One ``[categories.<key>]`` table, with its recognition rules merged in."""

    name_zh: str
    name_en: str
    group: Annotated[str, BeforeValidator(group_name)]
    level_min: Number
    distance_m: Number
    names: Patterns = ()
    brands: Patterns = ()
    osm_tags: TagRules = ()
    exclude: Annotated[tuple[ExclusionSpec, ...], BeforeValidator(_exclusions)] = ()
    capacity_unit: str | None = None
    capacity_per_site: Number | None = None
    capacity_norm: Text | None = None
    demand_per_1000: Number | None = None
    demand_group: Annotated[str, BeforeValidator(group_name)] | None = None

    @field_validator("level_min")
    @classmethod
    def _level(cls, v: Sourced) -> Sourced:
        if v.value not in LEVELS:
            raise ValueError(f"= {v.value:g} must be one of {list(LEVELS)} minutes")
        return v

    @field_validator("distance_m")
    @classmethod
    def _distance(cls, v: Sourced) -> Sourced:
        if v.value <= 0:
            raise ValueError("must be a positive number of metres")
        return v

    @field_validator("capacity_per_site", "demand_per_1000")
    @classmethod
    def _positive(cls, v: Sourced | None) -> Sourced | None:
        if v is not None and v.value <= 0:
            raise ValueError("must be positive; leave it out when there is no norm")
        return v

    @model_validator(mode="after")
    def _capacity_needs_unit(self) -> CategorySpec:
        if self.capacity_per_site is not None and not self.capacity_unit:
            raise ValueError("capacity_per_site needs a capacity_unit (e.g. \"beds\")")
        return self


#: Fields every new category needs.
REQUIRED_FIELDS = tuple(n for n, f in CategorySpec.model_fields.items() if f.is_required())
#: Recognition rules; a scenario's lists extend the bundled ones (see facility_rules.toml).
RULE_FIELDS = ("names", "brands", "osm_tags", "exclude")


class CategoriesFile(BaseModel):
    """``categories.toml``: ``[categories.<key>]`` tables (checked one by one)."""

    categories: dict[str, dict[str, Any]] = Field(min_length=1)


class RuleLists(_Strict):
    """The rule lists of one ``[rules.<key>]`` table (checked once merged into the category)."""

    names: list[Any] = []
    brands: list[Any] = []
    osm_tags: list[Any] = []
    exclude: list[Any] = []

    @model_validator(mode="before")
    @classmethod
    def _lists(cls, raw: object) -> object:
        if not isinstance(raw, Mapping):
            return raw
        out = {k: [v] if isinstance(v, str) else v for k, v in raw.items()}
        for k, v in out.items():
            if k in cls.model_fields and not isinstance(v, list | tuple):
                tables = k in ("osm_tags", "exclude")
                example = '[{ amenity = "pharmacy" }]' if tables else '["药店"]'
                raise ValueError(f"{k} must be a list of {'tables' if tables else 'words'}, "
                                 f"e.g. {example}")
        return out


class RulesFile(BaseModel):
    """``facility_rules.toml``: ``exclusive`` groups and ``[rules.<key>]`` tables."""

    model_config = ConfigDict(extra="forbid")
    exclusive: list[list[str]] = []
    rules: dict[str, RuleLists] = {}


# --- speeds.toml ---------------------------------------------------------------------------------


def _speed(v: Sourced) -> Sourced:
    if not 0.1 <= v.value <= 3.0:
        raise ValueError(f"= {v.value:g} m/s is implausible; give metres per second (e.g. 1.2, "
                         "not 4.3 km/h)")
    return v


class SpeedsFile(BaseModel):
    """``speeds.toml``: ``[speeds]`` group = metres per second, one per population group."""

    speeds: dict[Annotated[str, BeforeValidator(group_name)],
                 Annotated[Number, AfterValidator(_speed)]]

    @field_validator("speeds")
    @classmethod
    def _complete(cls, speeds: dict[str, Sourced]) -> dict[str, Sourced]:
        missing = [g for g in GROUPS if g not in speeds]
        if missing:
            raise ValueError(f"no walking speed for {missing}; add them under [speeds]")
        return speeds


# --- population.toml ---------------------------------------------------------------------------


class _Notes(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str | None = None
    verified: bool = False
    note: str | None = None


class FloorArea(_Notes):
    m2_per_person: float = Field(gt=0)


class Levels(_Notes):
    default: float = Field(gt=0)
    small: float = Field(gt=0)
    storey_height_m: float = Field(gt=0)
    small_types: list[str]


class BuildingTags(_Notes):
    residential: list[str]
    generic: list[str]
    non_residential: list[str]
    use_keys: list[str]


class Landuse(_Notes):
    non_residential: list[str]


class SmallBuildings(_Notes):
    min_footprint_m2: float = Field(ge=0)


class Auto(_Notes):
    residential_share: float = Field(ge=0, le=1)


class GroundFloor(_Notes):
    street_furniture: list[str]


class PopulationFile(BaseModel):
    """``population.toml``: how residents are estimated from buildings."""

    model_config = ConfigDict(extra="forbid")
    floor_area: FloorArea
    levels: Levels
    tags: BuildingTags
    landuse: Landuse
    small_buildings: SmallBuildings
    auto: Auto
    ground_floor: GroundFloor


# --- age_structure.toml --------------------------------------------------------------------------


class AgeShare(_Notes):
    share: float = Field(ge=0, le=1)
    people: int | None = Field(None, ge=0)


class Region(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    total_population: int | None = Field(None, gt=0)
    source: str | None = None
    shares: dict[Annotated[str, BeforeValidator(group_name)], AgeShare]


class AgeStructureFile(BaseModel):
    """``age_structure.toml``: ``[<region>]`` tables of age-group shares of the total."""

    regions: dict[str, Region]

    @model_validator(mode="before")
    @classmethod
    def _wrap(cls, raw: object) -> object:
        return {"regions": raw}


# --- walk_filter.toml ----------------------------------------------------------------------------


class Highway(_Strict):
    walkable: list[str]
    conditional: list[str]
    excluded: list[str]


class Access(_Strict):
    foot_allows: list[str]
    sidewalk_allows: list[str]
    foot_forbids: list[str]
    access_forbids: list[str]


class WalkFilterFile(BaseModel):
    """``walk_filter.toml``: which OSM highway values and access tags a pedestrian may use."""

    model_config = ConfigDict(extra="forbid")
    highway: Highway
    access: Access


# --- errors --------------------------------------------------------------------------------------


def _where(loc: Sequence[object], strip: int) -> str:
    parts = [str(p) for p in loc[strip:] if not str(p).startswith(("function-", "["))]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out


def _problem(err: Mapping[str, Any], model: type[BaseModel] | None) -> str:
    kind, loc = err["type"], err["loc"]
    if kind == "extra_forbidden":
        allowed = list(model.model_fields) if model is not None else []
        return f"is an unknown field{suggest(str(loc[-1]), allowed) if allowed else ''}"
    if kind == "missing":
        return "is missing"
    if kind == "value_error":
        return str(err["ctx"]["error"])
    if kind in ("float_parsing", "float_type", "int_parsing", "int_type"):
        return f"= {err['input']!r} is not a number; write a number such as 300"
    return f"= {err['input']!r}: {err['msg']}"


def _model_at(model: type[BaseModel], loc: Sequence[object]) -> type[BaseModel] | None:
    """The model owning the last key of ``loc`` (for the known fields of a did-you-mean)."""
    current: type[BaseModel] | None = model
    for part in loc[:-1]:
        if current is None or not isinstance(part, str) or part not in current.model_fields:
            continue
        ann = current.model_fields[part].annotation
        for t in (ann, *getattr(ann, "__args__", ())):
            if isinstance(t, type) and issubclass(t, BaseModel):
                current = t
                break
            inner = [a for a in getattr(t, "__args__", ()) if isinstance(a, type)
                     and issubclass(a, BaseModel)]
            if inner:
                current = inner[0]
                break
    return current


def validate(model: type[M], data: object, where: str, fix: str = "", strip: int = 0) -> M:
    """``model`` validated from ``data``; an InputError names ``where`` (the file or override),
    every wrong key and its problem, and ``fix``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            key = _where(err["loc"], strip)
            text = _problem(err, _model_at(model, err["loc"]))
            problems.append(f"{key} {text}".strip() if key else text)
        raise InputError(sentence(f"{where}: {'; '.join(problems)}") + (f" {fix}" if fix else "")
                         ) from None


def sentence(text: str) -> str:
    """``text`` ending with a full stop (unless it ends with a question mark already)."""
    return text if text.endswith((".", "?")) else f"{text}."
