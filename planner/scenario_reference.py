"""The reference of every scenario key (``docs/scenario.md``), generated from the model.

Regenerate it after changing :mod:`planner.scenario_model`::

    python -m planner.scenario_reference > docs/scenario.md
"""

from __future__ import annotations

import json
import types
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from planner.scenario_model import (
    AnalysisSpec,
    DistrictSpec,
    FacilitySpec,
    NetworkSpec,
    OptimizeSpec,
    PopulationSpec,
    Scenario,
    StudyArea,
)

COMMAND = "python -m planner.scenario_reference > docs/scenario.md"

#: (TOML section, model) in the order of the reference; "" is the top level of the file.
SECTIONS: list[tuple[str, type[BaseModel]]] = [
    ("", Scenario), ("[network]", NetworkSpec), ("[study_area]", StudyArea),
    ("[districts]", DistrictSpec), ("[[facilities]]", FacilitySpec),
    ("[population]", PopulationSpec), ("[analysis]", AnalysisSpec),
    ("[[optimize]]", OptimizeSpec),
]

INTRO = """\
# Scenario reference

A scenario says which walk network, facilities and population to use, what to measure and
where to propose new sites. It is one model with the same key names everywhere:

- a **TOML file** for `planner run`, `planner coverage`, `planner optimize` and `planner compare`,
  and for `planner.scenario_file.load_scenario` in Python; relative paths start at the file's
  folder;
- the **HTTP API's** `POST /v1/scenarios` body (see [api.md](api.md)): the same keys, with ids
  in place of files — `network_id` instead of `[network]`, `"source": "upload"` with
  `upload_id` (or `"source": "geojson"` with the points in `geojson`) instead of a facility or
  population file, `population.districts` as an upload id, `[districts]` as
  `{"upload_id": …, "name_column": …}`, and `bbox` for `[study_area]`; `[categories]` is the
  same (and applies to the scenario's optimisations too). `[[optimize]]` is not part of the
  body; `POST /v1/scenarios/{id}/optimize` takes one `[[optimize]]` entry without `candidates`, `candidates_coords`, `budget` and
  `minimise` (candidates are generated along the streets and have no costs);
- the **CLI's options** where a command takes the same setting: `--coords`, `--lon`, `--lat`,
  `--category-column`, `--cell-m`, `--population-column`, `--new-sites`,
  `--candidate-spacing-m`, … (the key in kebab-case).

Unknown keys are refused with the closest valid one ("did you mean 'new_sites'?"), and every
number is range-checked as listed below. Distances are metres, times seconds or minutes as the
key says, speeds metres per second, coordinates degrees.

## Example

```toml
name = "yingze-2025"
[network]
source = "yingze.osm.pbf"              # or place = "迎泽区, 太原市, 山西省, 中国"
[[facilities]]
source = "osm"                          # facilities tagged in the same OSM data
[[facilities]]
source = "amap_kindergartens.csv"      # an Amap export: GCJ-02, GBK-encoded — both handled
coords = "gcj02"
category_column = "类型"                # 幼儿园 / 托育 / 养老院 / 便利店 … mapped by keyword
[population]
source = "buildings"                    # or a WorldPop .tif / folder, or census polygons
cell_m = 100
total = 207000                          # calibrate to a known count
[analysis]
levels_min = [5, 10, 15]
[speeds]
age_60_plus = 0.65                      # frail older adults, m/s
[categories.elderly_home]
distance_m = 800                        # the strict 15-minute option
[[optimize]]
model = "mclp"
categories = ["kindergarten"]
new_sites = 10
```

The bundled sample, `data/scenarios/helsinki_sample.toml`, is a complete scenario to copy.
"""


_PLURAL = {"section": "sections", "number": "numbers", "integer": "integers"}


def _type_name(annotation: Any) -> str:
    """A reader's name of a field's type: text, number, integer, a | b, list of …"""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args if a is not type(None))
    if origin is Literal:
        return " \\| ".join(f'"{a}"' for a in args)
    if origin is list:
        inner = _type_name(args[0])
        return f"list of {_PLURAL.get(inner, inner)}"
    if origin is dict:
        inner = _type_name(args[1])
        return "table of tables" if get_origin(args[1]) is dict else \
            f"table of {_PLURAL.get(inner, inner)}"
    if origin is tuple:
        return f"[{', '.join(_type_name(a) for a in args)}]"
    if hasattr(annotation, "__metadata__"):  # Annotated
        return _type_name(args[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    names = {str: "text", float: "number", int: "integer", bool: "true/false"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "(section defaults)"
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        return "one entry"
    if value is None or value == {} or value == []:
        return "—"
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def _limits(field: FieldInfo) -> str:
    """Bounds, lengths and patterns declared on the field, in words."""
    out, lengths = [], {}
    for meta in field.metadata:
        for attr, word in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if getattr(meta, attr, None) is not None:
                out.append(f"{word} {_number(getattr(meta, attr))}")
        for attr in ("min_length", "max_length"):
            if getattr(meta, attr, None) is not None:
                lengths[attr] = getattr(meta, attr)
        if getattr(meta, "pattern", None):
            out.append(f"matches `{meta.pattern}`")
    if lengths:
        unit = "entries" if get_origin(_bare(field.annotation)) is list else "characters"
        low, high = lengths.get("min_length"), lengths.get("max_length")
        out.append(f"{low}–{high} {unit}" if low and high else
                   f"≤ {high} {unit}" if high else f"≥ {low} {unit}")
    return ", ".join(out) or "—"


def _bare(annotation: Any) -> Any:
    """The annotation without ``None``."""
    if get_origin(annotation) in (Union, types.UnionType):
        return next(a for a in get_args(annotation) if a is not type(None))
    return annotation


def rows(model: type[BaseModel]) -> list[tuple[str, str, str, str, str]]:
    """(key, type, default, limits, description) of each key of a section; ``source`` first."""
    fields = sorted(model.model_fields.items(), key=lambda item: item[0] != "source")
    return [(name, _type_name(field.annotation), _default(field), _limits(field),
             (field.description or "").replace("|", "\\|"))
            for name, field in fields if not field.exclude]


def reference() -> str:
    """The whole of ``docs/scenario.md``."""
    parts = [INTRO, "## Keys\n", f"<!-- generated from planner/scenario_model.py: {COMMAND} -->\n"]
    for section, model in SECTIONS:
        title = section or "Top level"
        doc = " ".join((model.__doc__ or "").split("\n\n")[0].split())
        parts.append(f"### {title}\n\n{doc}\n")
        parts.append("| key | type | default | limits | description |\n|---|---|---|---|---|")
        for key, kind, default, limits, text in rows(model):
            parts.append(f"| `{key}` | {kind} | {default} | {limits} | {text} |")
        parts.append("")
    return "\n".join(parts)


if __name__ == "__main__":
    print(reference(), end="")
