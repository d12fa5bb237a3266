"""Planning norms as data: service categories with their recognition rules, and walking speeds.

The numbers live in ``data/standards/*.toml`` with their source beside each one, the rules that
recognise each category's facilities in ``data/standards/facility_rules.toml``; a scenario may
override any field, extend the rules or add categories.
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

CATEGORIES_FILE = STANDARDS_DIR / "categories.toml"
SPEEDS_FILE = STANDARDS_DIR / "speeds.toml"
RULES_FILE = STANDARDS_DIR / "facility_rules.toml"

#: Population columns a category may serve (demand grid, coverage).
GROUPS = ("total", "age_60_plus", "age_65_plus", "age_0_2", "age_3_5")
#: GB 50180-2018 life-circle levels, minutes.
LEVELS = (5, 10, 15)
#: Source recorded for a value a scenario sets without naming one.
OVERRIDE_SOURCE = "scenario override"

_NUMBER_FIELDS = ("level_min", "distance_m", "capacity_per_site", "demand_per_1000")
_TEXT_FIELDS = ("name_zh", "name_en", "group", "capacity_unit", "demand_group")
#: Recognition rules; a scenario's lists extend the bundled ones (see facility_rules.toml).
RULE_FIELDS = ("names", "brands", "osm_tags", "exclude")
_KNOWN_FIELDS = (*_TEXT_FIELDS, *_NUMBER_FIELDS, *RULE_FIELDS, "capacity_norm")
_EXCLUSION_FIELDS = ("names", "tags", "unless", "why")
_REQUIRED = ("name_zh", "name_en", "group", "level_min", "distance_m")

#: One condition of an OSM tag rule: (tag key, accepted values). A value is an exact tag value,
#: ``"*"`` (any value present) or ``"~regex"`` (searched in the value).
TagCondition = tuple[str, tuple[str, ...]]
#: A rule matches when every condition holds; a category matches when any rule does.
TagRule = tuple[TagCondition, ...]


@dataclass(frozen=True)
class Exclusion:
    """A veto of a category: name/type patterns or tag rules, spared by ``unless`` patterns."""

    names: tuple[str, ...] = ()
    tags: tuple[TagRule, ...] = ()
    unless: tuple[str, ...] = ()
    why: str = ""


@dataclass(frozen=True)
class Provenance:
    """Where one number of a category comes from."""

    field: str
    source: str
    verified: bool


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


def _number(raw: Any, where: str, default_source: str) -> tuple[float, str, bool]:
    """A number as (value, source, verified); plain numbers get ``default_source``, unverified."""
    if isinstance(raw, Mapping):
        unknown = set(raw) - {"value", "source", "verified"}
        if "value" not in raw or unknown:
            raise InputError(
                f"{where} must be a number or a table {{ value = …, source = \"…\", verified = … }}; "
                f"got keys {sorted(raw)}."
            )
        value, source, verified = raw["value"], raw.get("source", default_source), raw.get("verified", False)
    else:
        value, source, verified = raw, default_source, False
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where} = {value!r} is not a number; write a number such as 300.")
    return float(value), str(source), bool(verified)


def _norm_text(raw: Any, where: str, default_source: str) -> tuple[str, str, bool]:
    if isinstance(raw, Mapping):
        if "text" not in raw:
            raise InputError(f"{where} needs a `text` entry: {{ text = \"…\", source = \"…\" }}.")
        return str(raw["text"]), str(raw.get("source", default_source)), bool(raw.get("verified", False))
    return str(raw), default_source, False


def _tag_rules(raw: Any, where: str) -> tuple[TagRule, ...]:
    if not isinstance(raw, list):
        raise InputError(f"{where} must be a list of tables such as [{{ amenity = \"pharmacy\" }}].")
    rules = []
    for i, rule in enumerate(raw):
        if not isinstance(rule, Mapping) or not rule:
            raise InputError(f"{where}[{i}] must be a non-empty table of tag = value(s).")
        conditions = []
        for key, values in rule.items():
            values = (values,) if isinstance(values, str) else values
            if not isinstance(values, list | tuple) or not values or not all(
                isinstance(v, str) and v for v in values
            ):
                raise InputError(
                    f"{where}[{i}].{key} must be a tag value, a list of values, \"*\" or \"~regex\"."
                )
            for v in values:
                if v.startswith("<") and not re.fullmatch(r"<\d{1,2}:\d{2}", v):
                    raise InputError(f"{where}[{i}].{key}: write an opening time as \"<07:30\", not {v!r}.")
                if v.startswith("~"):
                    try:
                        re.compile(v[1:])
                    except re.error as exc:
                        raise InputError(f"{where}[{i}].{key}: bad regular expression {v!r} ({exc}).") from exc
            conditions.append((str(key), tuple(values)))
        rules.append(tuple(conditions))
    return tuple(rules)


_ESCAPE = re.compile(r"(\\.)")


def _patterns(raw: Any, where: str) -> tuple[str, ...]:
    """Regular expressions, normalised like the texts they are searched in."""
    raw = [raw] if isinstance(raw, str) else raw
    if not isinstance(raw, list | tuple) or not all(isinstance(p, str) and p.strip() for p in raw):
        raise InputError(f"{where} must be a list of words or regular expressions, e.g. [\"药店\"].")
    out = []
    for p in raw:
        try:
            re.compile(p)
        except re.error as exc:
            raise InputError(f"{where}: bad regular expression {p!r} ({exc}).") from exc
        # normalise the text, never a regex escape (\S is not \s)
        out.append("".join(part if part.startswith("\\") else normalise(part)
                           for part in _ESCAPE.split(p)))
    return tuple(dict.fromkeys(out))


def _exclusions(raw: Any, where: str) -> tuple[Exclusion, ...]:
    if not isinstance(raw, list):
        raise InputError(f"{where} must be a list of tables such as [{{ names = [\"口腔\"], why = \"…\" }}].")
    out = []
    for i, ex in enumerate(raw):
        at = f"{where}[{i}]"
        unknown = sorted(set(ex) - set(_EXCLUSION_FIELDS)) if isinstance(ex, Mapping) else []
        if unknown:
            raise InputError(f"{at} has unknown key(s) {unknown}{_suggest(unknown[0], _EXCLUSION_FIELDS)}.")
        if not isinstance(ex, Mapping) or not (ex.get("names") or ex.get("tags")):
            raise InputError(f"{at} must be a table with names = [...] and/or tags = [...].")
        out.append(Exclusion(
            names=_patterns(ex.get("names", []), f"{at}.names"),
            tags=_tag_rules(ex.get("tags", []), f"{at}.tags"),
            unless=_patterns(ex.get("unless", []), f"{at}.unless"),
            why=str(ex.get("why", "")),
        ))
    return tuple(out)


#: Field names people reach for, and the field meant.
_ALIASES = {"keywords": "names", "keyword": "names", "words": "names", "tags": "osm_tags",
            "exclusions": "exclude", "excludes": "exclude", "veto": "exclude"}


def _suggest(key: str, allowed: tuple[str, ...] | list[str]) -> str:
    if _ALIASES.get(key) in allowed:
        return f" — did you mean {_ALIASES[key]!r}?"
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.5)
    return f" — did you mean {close[0]!r}?" if close else f"; known: {list(allowed)}"


def _group(value: Any, where: str) -> str:
    if value not in GROUPS:
        raise InputError(f"{where}: {value!r} is not a population group"
                         f"{_suggest(str(value), GROUPS)}")
    return str(value)


def _build(key: str, spec: Mapping[str, Any], default_source: str) -> Category:
    where = f"category {key!r}"
    unknown = sorted(set(spec) - set(_KNOWN_FIELDS))
    if unknown:
        raise InputError(f"{where} has unknown field(s) {unknown}{_suggest(unknown[0], _KNOWN_FIELDS)}.")
    missing = [f for f in _REQUIRED if f not in spec]
    if missing:
        raise InputError(f"{where} lacks {missing}; a new category needs {list(_REQUIRED)}.")
    prov: list[Provenance] = []
    nums: dict[str, float | None] = {}
    for name in _NUMBER_FIELDS:
        if name in spec:
            value, source, verified = _number(spec[name], f"{where}: {name}", default_source)
            nums[name] = value
            prov.append(Provenance(name, source, verified))
        else:
            nums[name] = None
    norm = None
    if "capacity_norm" in spec:
        norm, source, verified = _norm_text(spec["capacity_norm"], f"{where}: capacity_norm", default_source)
        prov.append(Provenance("capacity_norm", source, verified))
    level = nums["level_min"]
    if level not in LEVELS:
        raise InputError(f"{where}: level_min = {level} must be one of {list(LEVELS)} minutes.")
    if not nums["distance_m"] or nums["distance_m"] <= 0:
        raise InputError(f"{where}: distance_m must be a positive number of metres.")
    for name in ("capacity_per_site", "demand_per_1000"):
        if nums[name] is not None and nums[name] <= 0:
            raise InputError(f"{where}: {name} must be positive; leave it out when there is no norm.")
    if nums["capacity_per_site"] is not None and not spec.get("capacity_unit"):
        raise InputError(f"{where}: capacity_per_site needs a capacity_unit (e.g. \"beds\").")
    demand_group = spec.get("demand_group")
    if nums["demand_per_1000"] is not None:
        demand_group = _group(demand_group or spec["group"], f"{where}: demand_group")
    return Category(
        key=key,
        name_zh=str(spec["name_zh"]),
        name_en=str(spec["name_en"]),
        level_min=int(level),
        distance_m=float(nums["distance_m"]),
        group=_group(spec["group"], f"{where}: group"),
        osm_tags=_tag_rules(spec.get("osm_tags", []), f"{where}: osm_tags"),
        names=_patterns(spec.get("names", []), f"{where}: names"),
        brands=_patterns(spec.get("brands", []), f"{where}: brands"),
        exclude=_exclusions(spec.get("exclude", []), f"{where}: exclude"),
        capacity_unit=spec.get("capacity_unit"),
        capacity_per_site=nums["capacity_per_site"],
        capacity_norm=norm,
        demand_per_1000=nums["demand_per_1000"],
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
    specs = doc.get("categories")
    if not isinstance(specs, Mapping) or not specs:
        raise InputError(f"{path} has no [categories.<key>] tables; copy {CATEGORIES_FILE} and edit it.")
    specs = {k: dict(v) for k, v in specs.items()}
    sources = {k: str(path) for k in specs}
    rules_path = Path(rules) if rules else RULES_FILE
    for key, fields in _read_toml(rules_path, "facility-rule", RULES_FILE).get("rules", {}).items():
        if key not in specs:
            if path == CATEGORIES_FILE:  # a custom category file may leave bundled ones out
                raise InputError(f"{rules_path} has rules for unknown category {key!r}"
                                 f"{_suggest(key, list(specs))}.")
            continue
        _extend(specs[key], fields, f"rules of {key!r} in {rules_path}")
    for key, fields in (overrides or {}).items():
        if not isinstance(fields, Mapping):
            raise InputError(f"The override of category {key!r} must be a table of fields.")
        spec = specs.setdefault(key, {})
        _extend(spec, {k: v for k, v in fields.items() if k in RULE_FIELDS}, f"override of {key!r}")
        spec.update({k: v for k, v in fields.items() if k not in RULE_FIELDS})
        sources[key] = OVERRIDE_SOURCE
    return {key: _build(key, spec, sources[key]) for key, spec in specs.items()}


def _extend(spec: dict[str, Any], fields: Mapping[str, Any], where: str) -> None:
    """Append rule lists to a category spec."""
    if not isinstance(fields, Mapping):
        raise InputError(f"The {where} must be a table of rule lists ({', '.join(RULE_FIELDS)}).")
    for field, value in fields.items():
        if field not in RULE_FIELDS:
            raise InputError(f"The {where} has unknown field {field!r}{_suggest(field, RULE_FIELDS)}.")
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list | tuple):
            example = '[{ amenity = "pharmacy" }]' if field in ("osm_tags", "exclude") else '["药店"]'
            kind = "tables" if field in ("osm_tags", "exclude") else "words"
            raise InputError(f"The {where}: {field} must be a list of {kind}, e.g. {example}.")
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
    table = dict(doc.get("speeds", {}))
    table.update(overrides or {})
    speeds = {}
    for group, raw in table.items():
        where = f"walking speed of {group!r}"
        _group(group, "[speeds]")
        value = _number(raw, where, OVERRIDE_SOURCE)[0]
        if not 0.1 <= value <= 3.0:
            raise InputError(
                f"{where} = {value} m/s is implausible; give metres per second (e.g. 1.2, "
                f"not 4.3 km/h)."
            )
        speeds[group] = value
    missing = [g for g in GROUPS if g not in speeds]
    if missing:
        raise InputError(f"{path} gives no walking speed for {missing}; add them under [speeds].")
    return speeds
