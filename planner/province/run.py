"""A province run end to end: units layer → one scenario run per unit (on Dask, or in this
process) → merged tables, workbook, layers and overview map under one folder."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd

from planner.outputs import write_layers, write_tables
from planner.province.engine import Progress, connect, run_dask, run_serial
from planner.province.merge import ProvinceResult, merge_units
from planner.province.plan import check_facility_files, plan_units
from planner.province.unit_run import finished
from planner.province.units import read_units
from planner.scenario_file import Scenario
from planner.standards import load_categories

#: What a province run writes at the top of its folder.
WORKBOOK = "province.xlsx"
OVERVIEW = "overview.html"
SUMMARY = "province.json"


def run_province(
    scenario: Scenario,
    units: str | Path | gpd.GeoDataFrame,
    output_dir: str | Path,
    *,
    name_column: str | None = None,
    code_column: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    serial: bool = False,
    unit_map: Callable[[Any, Path], Any] | None = None,
    overview: Callable[[ProvinceResult, Path], Any] | None = None,
    lang: str = "zh",
    min_component_m: float | None = None,
    progress: Progress | None = None,
) -> ProvinceResult:
    """Run ``scenario`` for every unit of ``units`` and merge the results under ``output_dir``.

    Args:
        scenario: the province's scenario (one network file, population and facility sources
            covering every unit; no study area, districts or one-area calibration).
        units: polygons with a name and a code each (file or GeoDataFrame).
        name_column, code_column: the units' name and code columns (default: found by name).
        workers: Dask worker processes on this machine (default: one per core).
        scheduler: address of a running Dask scheduler (``tcp://host:8786``) instead of a
            local cluster; its workers must see the inputs and ``output_dir`` at the same paths.
        serial: run the units one after another in this process, without Dask.
        unit_map: draws each unit's gap map (``units/<code>/gap_map.html``), e.g.
            :func:`planner.maps.result.map_writer`; None draws none.
        overview: draws the overview map (``overview.html``), e.g.
            :func:`planner.maps.province.overview_map`.
        lang: "zh" or "en" workbook headers.
        min_component_m: street components shorter than this (metres) are dropped (default:
            the scenario's ``network.min_component_m``, else
            :data:`planner.province.plan.MIN_COMPONENT_M`).
        progress: called with (units finished, units in all, the last outcome).
    """
    t0 = time.perf_counter()
    out = Path(output_dir)
    layer, notes = read_units(units, name_column=name_column, code_column=code_column)
    tasks, plan_notes = plan_units(scenario, layer, out, writer=unit_map, lang=lang,
                                   min_component_m=min_component_m)
    notes += plan_notes
    audit = check_facility_files(scenario, tasks)
    categories = load_categories(overrides=scenario.categories or None)
    if serial or all(finished(t) is not None for t in tasks):
        outcomes = run_serial(tasks, progress)
    else:
        client = connect(scheduler, workers)
        try:
            outcomes = run_dask(tasks, client, progress)
        finally:  # never leave worker processes behind, whatever happened
            cluster = client.cluster if scheduler is None else None
            client.close()
            if cluster is not None:
                cluster.close()
    crs = tasks[0].window.crs.to_string() if tasks else None
    result = merge_units(layer, tasks, outcomes, categories, notes, crs)
    result.facility_audit = audit
    write_province(result, out, lang=lang, overview=overview,
                   seconds=time.perf_counter() - t0)
    return result


def write_province(result: ProvinceResult, out_dir: Path, *, lang: str = "zh",
                   overview: Callable[[ProvinceResult, Path], Any] | None = None,
                   seconds: float | None = None) -> dict[str, Path]:
    """The province's tables (CSV and ``province.xlsx``), layers (``province_units``,
    ``province_proposals``), cells (``province_cells.parquet``), the overview map and
    ``province.json``."""
    out = Path(out_dir)
    paths = write_tables(result.tables, out / "tables", workbook=WORKBOOK, lang=lang,
                         notes=result.notes + _failure_notes(result))
    layers = {"province_units": result.units}
    if result.proposals is not None:
        layers["province_proposals"] = result.proposals
    paths += write_layers(layers, out / "layers", geopackage="province.gpkg")
    if len(result.cells):
        from planner.demand import cell_boxes

        cells = gpd.GeoDataFrame(result.cells, crs=result.crs, geometry=cell_boxes(
            result.cells["ix"].to_numpy(), result.cells["iy"].to_numpy(), result.cell_m))
        cells.to_parquet(out / "layers" / "province_cells.parquet", index=False)
    if overview is not None:
        paths.append(overview(result, out / OVERVIEW))
    summary = {
        "units": len(result.outcomes),
        "done": sum(o.status == "done" for o in result.outcomes),
        "reused": sum(o.status == "reused" for o in result.outcomes),
        "empty": [{"unit_code": o.code, "unit_name": o.name, "why": o.error}
                  for o in result.outcomes if o.status == "empty"],
        "failed": [{"unit_code": o.code, "unit_name": o.name, "error": o.error}
                   for o in result.failed],
        "people": round(float(result.units["people"].fillna(0).sum()), 1),
        "seconds": None if seconds is None else round(seconds, 2),
        "crs": result.crs,
        "notes": result.notes,
    }
    path = out / SUMMARY
    path.write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    return {p.relative_to(out).as_posix(): p for p in [*paths, path]}


def _failure_notes(result: ProvinceResult) -> list[str]:
    return [f"Unit {o.code} ({o.name}) failed after {o.attempts} attempts and has no rows in "
            f"the tables: {o.error}" for o in result.failed]
