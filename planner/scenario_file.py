"""Scenario files (TOML): reading, validation with clear errors, and path resolution.

The model itself lives in :mod:`planner.scenario_model`; its names are importable from here.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from planner.errors import InputError
from planner.scenario_model import (
    RETIRED_KEYS,
    SAMPLE_SCENARIO,
    SAMPLE_SOURCE,
    AnalysisSpec,
    BuildingRules,
    DistrictSpec,
    FacilitySpec,
    NetworkSpec,
    OptimizeSpec,
    PopulationSpec,
    Scenario,
    StudyArea,
)

__all__ = [
    "SAMPLE_SCENARIO", "SAMPLE_SOURCE", "AnalysisSpec", "BuildingRules", "DistrictSpec",
    "FacilitySpec", "NetworkSpec", "OptimizeSpec", "PopulationSpec", "Scenario", "StudyArea",
    "load_scenario", "model_at", "parse_scenario", "suggest_key",
]


def suggest_key(key: str, allowed: list[str]) -> str:
    """" — did you mean 'x'?" for the closest of ``allowed``, else the allowed keys."""
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.5)
    return f" — did you mean {close[0]!r}?" if close else f" (allowed: {', '.join(allowed)})"


def model_at(loc: tuple, root: type[BaseModel] = Scenario) -> type[BaseModel] | None:
    """The model whose key is the last part of ``loc`` (a validation error's location inside
    ``root``), or None when the location leaves the models (a dict of free keys)."""
    model: type[BaseModel] | None = root
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
        if err["type"] == "extra_forbidden" and loc[-1] in RETIRED_KEYS:
            lines.append(f"key {dotted!r} is no longer read: {RETIRED_KEYS[loc[-1]]}")
        elif err["type"] == "extra_forbidden":
            model = model_at(loc)
            allowed = sorted(model.model_fields) if model else []
            lines.append(f"unknown key {dotted!r}{suggest_key(str(loc[-1]), allowed)}")
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
