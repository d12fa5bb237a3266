"""Service categories of facilities from their names, brands, POI type strings and OSM tags.

One rule set (``data/standards/facility_rules.toml``, carried by each :class:`Category`) serves
OSM features and Amap/Baidu/planners' tables alike. Per category: an exclusion vetoes; otherwise
a name keyword or brand (then a keyword in the type string) decides; otherwise a plain OSM tag
rule does. Across categories the same order holds: a row whose name or brand gives a category
keeps no category that only its type string or tags suggest. Within an ``exclusive`` group of
the rules file (a convenience store and a supermarket) a row keeps one category: the one its type
string supports, else its OSM tags, else its name keyword (over a brand), else the first listed.
Every decision carries a short text naming the rule, e.g. ``"name keyword 幼儿园"``,
``"tag amenity=kindergarten"``, ``"excluded: name 口腔 (…)"`` or ``"name keyword 超市 (over
convenience: type string)"``.
"""

from __future__ import annotations

import re
import tomllib
import warnings
from collections.abc import Iterable, Mapping, Sequence
from functools import cache

import numpy as np
import pandas as pd

from planner.normalise import main_name, normalise
from planner.standards import RULES_FILE, Category, TagRule

_TIME = re.compile(r"(\d{1,2}):(\d{2})")
NO_RULE = "no rule matched"


def type_levels(text: object) -> str:
    """A POI type string without its broad first level, normalised: "教育培训;中学" → "中学",
    "科教文化服务;学校;中学" → "学校;中学" (a first level such as 教育培训 or 医疗保健服务 names
    a whole domain and would match words like 培训 or 医疗). Several types ("a|b") are kept."""
    parts = [p.split(";") for p in normalise(text).split("|")]
    return "|".join(";".join(p[1:] if len(p) > 1 else p) for p in parts)


def _normalised(values: Iterable[object], fn=normalise) -> pd.Series:
    return pd.Series([fn(v) for v in values], dtype="string")


# --- tag rules -----------------------------------------------------------------------------------


def _value_pattern(values: tuple[str, ...]) -> str | None:
    """Regex matching a tag value (or one part of a 'a;b' value); None means 'any value'."""
    if "*" in values:
        return None
    exact = [re.escape(v) for v in values if not v.startswith(("~", "<"))]
    parts = [f"(?:{v[1:]})" for v in values if v.startswith("~")]
    if exact:
        parts.append(rf"(?:^|;)\s*(?:{'|'.join(exact)})\s*(?:;|$)")
    return "|".join(parts) if parts else "(?!)"


def _opens_before(col: pd.Series, limit: str) -> np.ndarray:
    """Rows whose opening_hours' first time is earlier than ``limit`` ("07:30")."""
    h, m = (int(p) for p in limit.split(":"))
    first = col.str.extract(_TIME)
    minutes = pd.to_numeric(first[0], errors="coerce") * 60 + pd.to_numeric(first[1], errors="coerce")
    return (minutes < h * 60 + m).fillna(False).to_numpy(dtype=bool)


def rule_mask(tags: pd.DataFrame, rule: TagRule) -> np.ndarray:
    """Rows of ``tags`` (one string column per OSM key) meeting every condition of ``rule``."""
    mask = np.ones(len(tags), dtype=bool)
    for key, values in rule:
        if key not in tags.columns:
            return np.zeros(len(tags), dtype=bool)
        col = tags[key].astype("string")
        hit = np.zeros(len(tags), dtype=bool)
        for limit in (v[1:] for v in values if v.startswith("<")):
            hit |= _opens_before(col, limit)
        pattern = _value_pattern(tuple(v for v in values if not v.startswith("<")))
        if pattern is None:
            hit |= (col.notna() & (col.str.strip() != "")).fillna(False).to_numpy(dtype=bool)
        elif pattern != "(?!)":
            with warnings.catch_warnings():  # groups in a rule's regex are harmless here
                warnings.simplefilter("ignore", UserWarning)
                hit |= col.str.contains(pattern, regex=True).fillna(False).to_numpy(dtype=bool)
        mask &= hit
    return mask


def _tag_text(tags: pd.DataFrame, rule: TagRule, hit: np.ndarray) -> np.ndarray:
    """"tag amenity=clinic + healthcare=centre": the rule's keys with each hit row's values."""
    if not hit.any():
        return np.array([], dtype=object)
    parts = [k + "=" + tags[k].astype("string").fillna("").to_numpy(dtype=object)[hit]
             for k, _ in rule]
    text = parts[0]
    for part in parts[1:]:
        text = text + " + " + part
    return "tag " + text


# --- matching ------------------------------------------------------------------------------------


def _search(text: pd.Series, patterns: tuple[str, ...]) -> pd.Series:
    """The first pattern match in each text (NA where none)."""
    if not patterns:
        return pd.Series(pd.NA, index=text.index, dtype="string")
    union = "|".join(f"(?:{p})" for p in patterns)
    return text.str.extract(f"({union})", expand=False).astype("string")


def _set(target: np.ndarray, found: pd.Series, prefix: str) -> None:
    """Write ``prefix`` + the match into ``target`` where ``found`` holds one."""
    hit = found.notna().to_numpy()
    target[hit] = prefix + found[hit].to_numpy(dtype=object)


def _evidence(cat: Category, tags, name, kind, brand) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the strongest positive rule per row (None where no rule holds), whether a type keyword
    holds, whether a tag rule holds)."""
    out = np.full(len(name), None, dtype=object)
    tagged = np.zeros(len(name), dtype=bool)
    for rule in reversed(cat.osm_tags):  # the first rule listed wins
        hit = rule_mask(tags, rule)
        out[hit] = _tag_text(tags, rule, hit)
        tagged |= hit
    typed = _search(kind, cat.names)
    _set(out, typed, "type keyword ")
    _set(out, _search(brand, cat.brands), "brand ")
    _set(out, _search(name, cat.brands), "brand ")
    _set(out, _search(name, cat.names), "name keyword ")
    return out, typed.notna().to_numpy(), tagged


def _veto(cat: Category, tags, name, kind) -> np.ndarray:
    """The first exclusion per row (None where none applies)."""
    out = np.full(len(name), None, dtype=object)
    for ex in reversed(cat.exclude):
        hit = np.full(len(name), None, dtype=object)
        for rule in reversed(ex.tags):
            tagged = rule_mask(tags, rule)
            hit[tagged] = _tag_text(tags, rule, tagged)
        _set(hit, _search(kind, ex.names), "type ")
        _set(hit, _search(name, ex.names), "name ")
        if ex.unless:
            spared = (_search(name, ex.unless).notna() | _search(kind, ex.unless).notna()).to_numpy()
            hit[spared] = None
        found = np.array([h is not None for h in hit], dtype=bool)
        out[found] = [f"excluded: {h} ({ex.why})" for h in hit[found]]
    return out


def _strength(rule: str) -> int:
    """2 for a name or brand, 1 for a type keyword, 0 for a tag."""
    return 0 if rule.startswith("tag ") else 1 if rule.startswith("type ") else 2


@cache
def bundled_exclusive() -> tuple[tuple[str, ...], ...]:
    """The ``exclusive`` groups of ``data/standards/facility_rules.toml``: categories of which a
    row keeps one."""
    raw = tomllib.loads(RULES_FILE.read_text(encoding="utf-8")).get("exclusive", [])
    return tuple(tuple(group) for group in raw)


def _one_of(matches: pd.DataFrame, group: Sequence[str], typed: dict, tagged: dict) -> pd.DataFrame:
    """Keep one category of ``group`` per row: the one the type string supports, else the OSM
    tags, else a name keyword (over a brand), else the first listed; the winner's rule says so."""
    inside = matches["category"].isin(group).to_numpy()
    clash = matches.loc[inside, "row"].duplicated(keep=False)
    drop: list[int] = []
    for row, part in matches.loc[inside][clash.to_numpy()].groupby("row"):
        order = sorted(part.index, key=lambda i: group.index(matches.at[i, "category"]))
        support = {i: (bool(typed[matches.at[i, "category"]][row]),
                       bool(tagged[matches.at[i, "category"]][row]),
                       matches.at[i, "rule"].startswith("name keyword")) for i in order}
        winner, reason = order[0], "first listed"
        for level, why in enumerate(("type string", "OSM tags", "name keyword")):
            keep = [i for i in order if support[i][level]]
            if len(keep) == 1:
                winner, reason = keep[0], why
                break
        losers = [i for i in order if i != winner]
        others = ", ".join(matches.loc[losers, "category"])
        matches.at[winner, "rule"] = f"{matches.at[winner, 'rule']} (over {others}: {reason})"
        drop += losers
    return matches.drop(index=drop).reset_index(drop=True)


def classify(
    categories: Mapping[str, Category],
    names: Iterable[object],
    types: Iterable[object] | None = None,
    tags: pd.DataFrame | None = None,
    exclusive: Sequence[Sequence[str]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Categories of each row from its name, type string and OSM tags.

    Args:
        categories: the category table with its rules (:func:`planner.standards.load_categories`).
        names: one name per row (any script; normalised here).
        types: a POI type string per row ("购物服务;便民商店/便利店;便民商店/便利店", "医疗;诊所"),
            or None.
        tags: OSM tags, one string column per key (``brand``/``brand:zh`` are used as brands),
            or None.
        exclusive: groups of category keys of which a row keeps one (default: the ``exclusive``
            groups of the bundled rules file).

    Returns:
        (matches with columns ``row`` (position), ``category``, ``rule``; one row per category a
        row got), (rows with no category: ``row``, ``excluded`` (bool: an exclusion refused the
        row), ``rule`` (the first exclusion's text, else "no rule matched")).
    """
    names = list(names)
    n = len(names)
    tags = pd.DataFrame(index=range(n)) if tags is None else tags.reset_index(drop=True)
    name = _normalised(names, main_name)
    kind = _normalised(types if types is not None else [None] * n, type_levels)
    brand = pd.Series("", index=name.index, dtype="string")
    for col in ("brand:zh", "brand"):
        if col in tags.columns:
            brand = brand + " " + _normalised(tags[col])
    tag_view = tags.assign(name=_normalised(names))
    rows, keys, rules = [], [], []
    typed, tagged = {}, {}
    refused = np.full(n, None, dtype=object)
    for key, cat in categories.items():
        evidence, typed[key], tagged[key] = _evidence(cat, tag_view, name, kind, brand)
        veto = _veto(cat, tag_view, name, kind)
        positive = np.array([e is not None for e in evidence], dtype=bool)
        vetoed = np.array([v is not None for v in veto], dtype=bool)
        take = np.flatnonzero(positive & ~vetoed)
        rows.append(take)
        keys.append(np.full(len(take), key, dtype=object))
        rules.append(evidence[take])
        first = positive & vetoed & np.array([r is None for r in refused], dtype=bool)
        refused[first] = [f"{key} {v}" for v in veto[first]]
    matches = pd.DataFrame({
        "row": np.concatenate(rows) if rows else np.array([], dtype=int),
        "category": np.concatenate(keys) if keys else np.array([], dtype=object),
        "rule": np.concatenate(rules) if rules else np.array([], dtype=object),
    }).sort_values(["row"], kind="stable", ignore_index=True)
    # across categories too, a name or brand beats a type keyword or tag, and a type keyword
    # beats a tag: a 托育园 tagged amenity=kindergarten, or an Amap 托儿所 typed 幼儿园, is childcare
    rank = matches["rule"].map(_strength).to_numpy(dtype=int)
    best = pd.Series(rank).groupby(matches["row"].to_numpy()).transform("max").to_numpy(dtype=int)
    matches = matches[rank == best].reset_index(drop=True)
    for group in bundled_exclusive() if exclusive is None else exclusive:
        matches = _one_of(matches, [k for k in group if k in categories], typed, tagged)
    none = np.setdiff1d(np.arange(n), matches["row"].to_numpy())
    excluded = np.array([refused[i] is not None for i in none], dtype=bool)
    unmatched = pd.DataFrame({
        "row": none,
        "excluded": excluded,
        "rule": [refused[i] if refused[i] is not None else NO_RULE for i in none],
    })
    return matches, unmatched
