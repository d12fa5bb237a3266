"""Walkable-way rules: which OSM ways a pedestrian may use (data in walk_filter.toml)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import InputError
from planner.paths import STANDARDS_DIR
from planner.standards_schema import WalkFilterFile, validate

WALK_FILTER_FILE = STANDARDS_DIR / "walk_filter.toml"
ACCESS_TAGS = ("foot", "access", "sidewalk")


@dataclass(frozen=True)
class WalkRules:
    """Lists of OSM tag values deciding walkability; see data/standards/walk_filter.toml."""

    walkable: frozenset[str]
    conditional: frozenset[str]
    excluded: frozenset[str]
    foot_allows: frozenset[str]
    sidewalk_allows: frozenset[str]
    foot_forbids: frozenset[str]
    access_forbids: frozenset[str]
    source: str = field(default=str(WALK_FILTER_FILE), compare=False)

    def with_overrides(self, **lists: list[str]) -> WalkRules:
        """Return a copy with some lists replaced, e.g. ``walkable=[...]``."""
        unknown = set(lists) - {f for f in self.__dataclass_fields__ if f != "source"}
        if unknown:
            raise InputError(
                f"Unknown walk-rule list(s) {sorted(unknown)}; known: "
                f"{sorted(f for f in self.__dataclass_fields__ if f != 'source')}."
            )
        return replace(self, **{k: frozenset(v) for k, v in lists.items()})


def load_walk_rules(path: str | Path | None = None) -> WalkRules:
    """Read walk rules from a TOML file laid out like the bundled walk_filter.toml."""
    path = Path(path) if path else WALK_FILTER_FILE
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"Walk-rule file {path} does not exist; pass an existing TOML file.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(
            f"Walk-rule file {path} is malformed ({exc}); copy {WALK_FILTER_FILE} and edit it."
        ) from exc
    rules = validate(WalkFilterFile, doc, f"Walk-rule file {path}",
                     f"Copy {WALK_FILTER_FILE} and edit it.")
    hw, acc = rules.highway, rules.access
    return WalkRules(
        walkable=frozenset(hw.walkable),
        conditional=frozenset(hw.conditional),
        excluded=frozenset(hw.excluded),
        foot_allows=frozenset(acc.foot_allows),
        sidewalk_allows=frozenset(acc.sidewalk_allows),
        foot_forbids=frozenset(acc.foot_forbids),
        access_forbids=frozenset(acc.access_forbids),
        source=str(path),
    )


def _tag(ways: pd.DataFrame, key: str) -> pd.Series:
    if key in ways.columns:
        return ways[key].astype("string").str.strip().str.lower().fillna("")
    return pd.Series("", index=ways.index, dtype="string")


def walkable_mask(ways: pd.DataFrame, rules: WalkRules) -> np.ndarray:
    """Boolean array: which rows (OSM ways with a ``highway`` column) are walkable."""
    highway = _tag(ways, "highway")
    foot, access, sidewalk = (_tag(ways, k) for k in ACCESS_TAGS)
    foot_ok = foot.isin(rules.foot_allows)
    base = highway.isin(rules.walkable) | (
        highway.isin(rules.conditional) & (foot_ok | sidewalk.isin(rules.sidewalk_allows))
    )
    base &= ~highway.isin(rules.excluded)
    forbidden = foot.isin(rules.foot_forbids) | (access.isin(rules.access_forbids) & ~foot_ok)
    return (base & ~forbidden).to_numpy(dtype=bool)
