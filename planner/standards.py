"""Planning norms as data: service categories with their recognition rules, and walking speeds.

The numbers live in ``data/standards/*.toml`` with their source beside each one, the rules that
recognise each category's facilities in ``data/standards/facility_rules.toml``; a scenario may
override any field, extend the rules or add categories. The files are checked by the pydantic
models of :mod:`planner.standards_schema`; every norm, with its source, is listed in
``docs/standards.md``.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from planner.errors import InputError, UnknownCategoryError
from planner.normalise import normalise
from planner.paths import STANDARDS_DIR

# GROUPS, LEVELS and TagRule are part of this module's interface (defined with the schema)
from planner.standards_schema import GROUPS as GROUPS
from planner.standards_schema import LEVELS as LEVELS
from planner.standards_schema import (
    REQUIRED_FIELDS,
    RULE_FIELDS,
    CategoriesFile,
    CategorySpec,
    RuleLists,
    RulesFile,
    Sourced,
    SourcedText,
    SpeedsFile,
    sentence,
    suggest,
    validate,
)
from planner.standards_schema import TagRule as TagRule

CATEGORIES_FILE = STANDARDS_DIR / "categories.toml"
SPEEDS_FILE = STANDARDS_DIR / "speeds.toml"
RULES_FILE = STANDARDS_DIR / "facility_rules.toml"

#: Source recorded for a value a scenario sets without naming one.
OVERRIDE_SOURCE = "scenario override"



@dataclass(frozen=True)
class Exclusion:
    """A veto of a category: name/type patterns or tag rules, spared by ``unless`` patterns."""

    names: tuple[str, ...] = ()
    tags: tuple[TagRule, ...] = ()
    unless: tuple[str, ...] = ()
    why: str = ""


@dataclass(frozen=True)
class Provenance:
    """Where one number of a category comes from: ``source`` in English, ``source_zh`` in
    Chinese (None when the file gives none, as a scenario override may)."""

    field: str
    source: str
    verified: bool
    source_zh: str | None = None


@dataclass(frozen=True)
class Category:
    """A service category of the living circle.

    ``distance_m`` is the compliance distance along the walk network (metres); ``level_min``
    the GB 50180 level in minutes (time mode: minutes × a group's walking speed).
    ``capacity_per_site`` is the default capacity of one site in ``capacity_unit`` (beds,
    places); ``demand_per_1000`` the capacity units needed per 1,000 people of ``demand_group``.
    ``verified`` is true only when every number is quoted from a named source.
    ``names``/``brands`` (normalised regular expressions), ``osm_tags`` and ``exclude`` are the
    rules recognising the category's facilities (see :mod:`planner.classify`).
    """

    key: str
    name_zh: str
    name_en: str
    level_min: int
    distance_m: float
    group: str
    osm_tags: tuple[TagRule, ...] = ()
    names: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    exclude: tuple[Exclusion, ...] = ()
    capacity_unit: str | None = None
    capacity_per_site: float | None = None
    capacity_norm: str | None = None
    demand_per_1000: float | None = None
    demand_group: str | None = None
    source: str = ""
    verified: bool = False
    provenance: tuple[Provenance, ...] = ()

    @property
    def time_s(self) -> float:
        """The level's walking time, seconds."""
        return 60.0 * self.level_min

    def walk_distance_m(self, speed_m_s: float) -> float:
        """Distance walked in the level's time at ``speed_m_s`` (metres)."""
        return self.time_s * float(speed_m_s)

    @property
    def capacitated(self) -> bool:
        """Whether a capacity norm exists (a unit and a default site capacity)."""
        return self.capacity_unit is not None and self.capacity_per_site is not None


# --- reading -----------------------------------------------------------------------------------


def _read_toml(path: Path, what: str, example: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"The {what} file {path} does not exist; pass an existing TOML file.") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(
            f"The {what} file {path} is not valid UTF-8 TOML ({exc}); copy {example} and edit it."
        ) from exc


def _provenance(field: str, value: Sourced | SourcedText, default_source: str) -> Provenance:
    return Provenance(field, value.source if value.source is not None else default_source,
                      value.verified, value.source_zh)


def _build(key: str, raw: Mapping[str, Any], where: str, default_source: str,
           known: list[str]) -> Category:
    """The category ``key`` from its merged table; ``known`` are the other keys (a new key
    missing required fields is likely a misspelt one)."""
    missing = [f for f in REQUIRED_FIELDS if f not in raw]
    if missing:
        near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = (f" {key!r} is not a known category — did you mean {near[0]!r}?" if near else "")
        raise InputError(f"{where} lacks {missing}; a new category needs {list(REQUIRED_FIELDS)}."
                         f"{hint}")
    spec = validate(CategorySpec, raw, where,
                    f"See {CATEGORIES_FILE.name} for the fields of a category.")
    prov = [_provenance(name, getattr(spec, name), default_source)
            for name in ("level_min", "distance_m", "capacity_per_site", "demand_per_1000",
                         "capacity_norm") if getattr(spec, name) is not None]

    def num(name: str) -> float | None:
        value = getattr(spec, name)
        return None if value is None else value.value

    demand_group = spec.demand_group
    if spec.demand_per_1000 is not None and demand_group is None:
        demand_group = spec.group
    return Category(
        key=key,
        name_zh=spec.name_zh,
        name_en=spec.name_en,
        level_min=int(spec.level_min.value),
        distance_m=spec.distance_m.value,
        group=spec.group,
        osm_tags=spec.osm_tags,
        names=spec.names,
        brands=spec.brands,
        exclude=tuple(Exclusion(e.names, e.tags, e.unless, e.why) for e in spec.exclude),
        capacity_unit=spec.capacity_unit,
        capacity_per_site=num("capacity_per_site"),
        capacity_norm=spec.capacity_norm.text if spec.capacity_norm is not None else None,
        demand_per_1000=num("demand_per_1000"),
        demand_group=demand_group,
        source="; ".join(f"{p.field}: {p.source}" for p in prov),
        verified=all(p.verified for p in prov),
        provenance=tuple(prov),
    )


def load_categories(
    path: str | Path | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    rules: str | Path | None = None,
) -> dict[str, Category]:
    """Read the service categories with their recognition rules, keyed by category key.

    Args:
        path: a TOML file laid out like ``data/standards/categories.toml`` (default: bundled).
        overrides: ``{key: {field: value}}``; fields of a known key replace the file's, except the
            rule lists (names, brands, osm_tags, exclude), which extend the bundled rules; an
            unknown key adds a category (it needs name_zh, name_en, group, level_min, distance_m).
            A number given without a source is recorded as a scenario override, unverified.
        rules: a TOML file laid out like ``data/standards/facility_rules.toml`` (default:
            bundled); its ``[rules.<key>]`` tables extend the categories of ``path``.
    """
    path = Path(path) if path else CATEGORIES_FILE
    doc = _read_toml(path, "categories", CATEGORIES_FILE)
    if not isinstance(doc.get("categories"), Mapping) or not doc["categories"]:
        raise InputError(f"{path} has no [categories.<key>] tables; copy {CATEGORIES_FILE} and edit it.")
    specs = {k: dict(v) for k, v in validate(CategoriesFile, doc, str(path)).categories.items()}
    where = {k: f"category {k!r} in {path}" for k in specs}
    sources = {k: str(path) for k in specs}
    rules_path = Path(rules) if rules else RULES_FILE
    rule_doc = validate(RulesFile, _read_toml(rules_path, "facility-rule", RULES_FILE),
                        str(rules_path), f"See {RULES_FILE.name} for the fields of a rule table.")
    for key, lists in rule_doc.rules.items():
        if key not in specs:
            if path == CATEGORIES_FILE:  # a custom category file may leave bundled ones out
                raise InputError(sentence(f"{rules_path} has rules for unknown category {key!r}"
                                          f"{suggest(key, list(specs))}"))
            continue
        _extend(specs[key], lists.model_dump(exclude_unset=True))
    bundled = list(specs)
    for key, fields in (overrides or {}).items():
        at = f"The scenario's [categories.{key}]"
        if not isinstance(fields, Mapping):
            raise InputError(f"{at} must be a table of fields.")
        extra = validate(RuleLists, {k: v for k, v in fields.items() if k in RULE_FIELDS}, at,
                         "Rule lists are lists of words or tables.")
        unknown = sorted(set(fields) - set(CategorySpec.model_fields))
        if unknown:
            raise InputError(sentence(f"{at} has unknown field(s) {unknown}"
                                      f"{suggest(unknown[0], list(CategorySpec.model_fields))}"))
        spec = specs.setdefault(key, {})
        _extend(spec, extra.model_dump(exclude_unset=True))
        spec.update({k: v for k, v in fields.items() if k not in RULE_FIELDS})
        sources[key], where[key] = OVERRIDE_SOURCE, at
    out = {key: _build(key, spec, where[key], sources[key], bundled)
           for key, spec in specs.items()}
    if path == CATEGORIES_FILE:
        _require_chinese_sources(out, sources)
    return out


def _require_chinese_sources(categories: Mapping[str, Category],
                             sources: Mapping[str, str]) -> None:
    """Every sourced number of the bundled file has its source in Chinese too (the Chinese
    report quotes it); a scenario override may leave it out."""
    lacking = [f"{key}.{p.field}" for key, cat in categories.items()
               if sources[key] != OVERRIDE_SOURCE
               for p in cat.provenance if p.source_zh is None]
    if lacking:
        raise InputError(f"{CATEGORIES_FILE} lacks source_zh for {lacking}; give every source "
                         "in Chinese too, e.g. { value = 300, source = \"…\", "
                         "source_zh = \"…\" }.")


def _extend(spec: dict[str, Any], lists: Mapping[str, list[Any]]) -> None:
    """Append rule lists to a category's table."""
    for field, value in lists.items():
        spec[field] = [*spec.get(field, []), *value]


def add_keywords(
    categories: Mapping[str, Category], keywords: Mapping[str, str | list[str]]
) -> dict[str, Category]:
    """The categories with extra name keywords: ``{"社区食堂": "canteen"}`` adds a keyword to a
    category (or to each of a list), ``{"高级中学": []}`` vetoes every category for names
    containing the word. Unknown category keys raise UnknownCategoryError."""
    out = dict(categories)
    for word, keys in keywords.items():
        keys = [keys] if isinstance(keys, str) else keys
        if not isinstance(word, str) or not word.strip() or not isinstance(keys, list | tuple) or not all(
            isinstance(k, str) and k for k in keys
        ):
            raise InputError(
                f"Facility keyword {word!r} = {keys!r}: map a non-empty text to a category key, "
                "a list of keys, or [] for a word that is no living-circle category."
            )
        pattern = re.escape(normalise(word))
        for key in keys:
            cat = get_category(out, key)
            out[key] = replace(cat, names=(*cat.names, pattern))
        if not keys:
            veto = Exclusion(names=(pattern,), why=f"keyword {word} given as no living-circle category")
            out = {k: replace(c, exclude=(*c.exclude, veto)) for k, c in out.items()}
    return out


def get_category(categories: Mapping[str, Category], key: str) -> Category:
    """The category ``key``; raises UnknownCategoryError listing the known keys."""
    try:
        return categories[key]
    except KeyError:
        close = difflib.get_close_matches(str(key), list(categories), n=1, cutoff=0.6)
        hint = f"Did you mean {close[0]!r}? " if close else ""
        raise UnknownCategoryError(
            f"Unknown service category {key!r}. {hint}Known categories: "
            f"{', '.join(sorted(categories))}. Add it to the scenario's categories or fix the "
            "spelling."
        ) from None


def load_speeds(
    path: str | Path | None = None, overrides: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Walking speed per population group, metres per second."""
    path = Path(path) if path else SPEEDS_FILE
    doc = _read_toml(path, "walking-speed", SPEEDS_FILE)
    table = {**doc.get("speeds", {}), **(overrides or {})}
    # the bundled file is named, not its place on this machine (API answers show this text)
    shown = "speeds.toml" if path == SPEEDS_FILE else str(path)
    where = f"the scenario's [speeds] over {shown}" if overrides else shown
    speeds = validate(SpeedsFile, {"speeds": table}, f"Walking speeds ({where})",
                      "Give metres per second for every population group.", strip=1).speeds
    return {group: v.value for group, v in speeds.items()}
