"""Run a scenario end to end: inputs → catchments → coverage and gaps → optimisation → outputs.

The CLI, the API and notebooks all call :func:`run_scenario`; it returns a
:class:`ScenarioResult` whose tables and layers are named, typed fields. Parsed inputs (network,
demand grid, facility lists) are cached by a fingerprint of their sources and settings, so a
rerun that changes only the analysis or the optimisation does not parse the city again. The
steps themselves live in :mod:`planner.pipeline`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from planner import coverage as cov
from planner.catchment import Snapped, nearest_by_category, snap_points
from planner.demand import DemandGrid
from planner.network import WalkNetwork
from planner.optimize.greedy import warm_up
from planner.outputs import write_result
from planner.pipeline.analysis import coverage_step, has_bd09_input
from planner.pipeline.inputs import (
    analysed_categories,
    build_demand_step,
    build_network_step,
    load_facilities_step,
    study_area,
)
from planner.pipeline.optimisation import check_requests, optimization_step
from planner.pipeline.window import Window, without_rows_beyond
from planner.results import Capacity, Districts, Gaps, OffStreets, Optimization
from planner.scenario_file import Scenario
from planner.snap import joined_off_ground
from planner.standards import Category, load_categories, load_speeds

__all__ = ["Progress", "ScenarioResult", "has_bd09_input", "run_scenario"]

Progress = Callable[[str, float], None]


@dataclass
class ScenarioResult:
    """Everything a scenario run produced (GeoDataFrames in the network's metric CRS;
    distances in metres, people in persons, times in seconds).

    Attributes:
        scenario, network, facilities, demand, categories: the run's inputs as used.
        distances: per demand cell (rows) and category (columns), the walking distance to the
            nearest facility in metres (inf beyond the search bound).
        homes: where each demand cell joins the streets.
        facility_audit: every facility input row, its category, rule and fate.
        facilities_dropped: the rows left out, with the reason.
        coverage: coverage by category × mode × level × group.
        headline: one row per category: everyone within its distance, its group within
            it and within each level in minutes.
        equity: older adults against everyone, Gini of distances, kinds of "no walk".
        complete: the complete living circle (None when none of its categories is analysed).
        off_street_cells: inhabited cells farther than max_access_m from any street.
        gaps: uncovered cells and ranked gap areas.
        cells: the demand cells with ``dist_<category>`` (m) and the complete-circle columns.
        isochrones: walking areas around facilities at each level.
        capacity: capacity-aware access (None without categories with capacity norms).
        districts: coverage per district (None without ``[districts]``).
        optimizations: one :class:`~planner.results.Optimization` per request, in order.
        notes: what the run assumed, dropped or could not do, in words.
        timings: seconds per step.
        window: the window of a larger area this run analysed (None: the whole area).
    """

    scenario: Scenario
    network: WalkNetwork
    facilities: gpd.GeoDataFrame
    demand: DemandGrid
    categories: dict[str, Category]
    distances: pd.DataFrame
    homes: Snapped | None = None
    facility_audit: pd.DataFrame = field(default_factory=pd.DataFrame)
    facilities_dropped: pd.DataFrame = field(default_factory=pd.DataFrame)
    coverage: pd.DataFrame | None = None
    headline: pd.DataFrame | None = None
    equity: pd.DataFrame | None = None
    complete: cov.CompleteCircle | None = None
    off_street_cells: OffStreets | None = None
    gaps: Gaps | None = None
    cells: gpd.GeoDataFrame | None = None
    isochrones: gpd.GeoDataFrame | None = None
    capacity: Capacity | None = None
    districts: Districts | None = None
    optimizations: list[Optimization] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    window: Window | None = None

    @property
    def tables(self) -> Mapping[str, pd.DataFrame]:
        """Every table by its output name (read-only): ``facility_audit``,
        ``facilities_dropped``, ``coverage``, ``headline``, ``equity``, ``complete_circle``,
        ``cells_off_streets``, ``gap_areas``, ``capacity_access``, ``capacity_by_facility``,
        ``coverage_by_district``, then each optimisation's ``<name>_sites``,
        ``<name>_coverage``, ``<name>_uncoverable``, ``<name>_closed`` — those it has."""
        parts = {
            "facility_audit": self.facility_audit,
            "facilities_dropped": self.facilities_dropped,
            "coverage": self.coverage,
            "headline": self.headline,
            "equity": self.equity,
            "complete_circle": self.complete and self.complete.table,
            "cells_off_streets": self.off_street_cells and self.off_street_cells.table,
            "gap_areas": self.gaps and self.gaps.table,
            "capacity_access": self.capacity and self.capacity.access,
            "capacity_by_facility": self.capacity and self.capacity.by_facility,
            "coverage_by_district": self.districts and self.districts.table,
        }
        out = {k: v for k, v in parts.items() if v is not None}
        for opt in self.optimizations:
            out.update(opt.tables)
        return MappingProxyType(out)

    @property
    def layers(self) -> Mapping[str, gpd.GeoDataFrame]:
        """Every layer by its output name (read-only): ``cells_off_streets``, ``gap_cells``,
        ``gap_areas``, ``cells``, ``facilities``, ``isochrones``, ``districts``,
        ``proposals`` — those the run has."""
        parts = {
            "cells_off_streets": self.off_street_cells and self.off_street_cells.cells,
            "gap_cells": self.gaps and self.gaps.cells,
            "gap_areas": self.gaps and self.gaps.areas,
            "cells": self.cells,
            "facilities": self.facilities if self.coverage is not None else None,
            "isochrones": self.isochrones,
            "districts": self.districts and self.districts.layer,
            "proposals": self.proposals,
        }
        return MappingProxyType({k: v for k, v in parts.items() if v is not None})

    @property
    def proposals(self) -> gpd.GeoDataFrame | None:
        """The sites every optimisation request chose, in one layer (``request`` names it)."""
        frames = [p for p in (o.proposals for o in self.optimizations) if p is not None]
        if not frames:
            return None
        return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)

    @property
    def district_table(self) -> pd.DataFrame | None:
        """Coverage per district (None without ``[districts]``)."""
        return None if self.districts is None else self.districts.table

    @property
    def off_streets(self) -> np.ndarray | None:
        """Per demand cell: farther than max_access_m from any street."""
        return None if self.homes is None else ~self.homes.ok

    def summary(self) -> dict[str, Any]:
        """Headline numbers, JSON-serialisable."""
        return {
            "scenario": self.scenario.name,
            "network": self.network.summary(),
            "people": {k: round(v, 1) for k, v in self.demand.totals().items()},
            "population_source": {k: self.demand.meta[k] for k in ("source", "buildings",
                                                                   "calibration")
                                  if k in self.demand.meta},
            "cells": len(self.demand),
            "facilities": self.facilities["category"].value_counts().to_dict(),
            "not_reachable_from_streets": self._off_streets_summary(),
            "headline": ([] if self.headline is None
                         else json.loads(self.headline.to_json(orient="records"))),
            "optimizations": [_optimization_summary(o) for o in self.optimizations],
            "notes": self.notes,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }

    def _off_streets_summary(self) -> dict[str, Any]:
        if self.off_street_cells is None:
            return {"cells": 0, "people": 0.0}
        table = self.off_street_cells.table
        return {"cells": len(table), "people": round(float(table["total"].sum()), 1),
                "max_access_m": self.scenario.analysis.max_access_m}


def _optimization_summary(opt: Optimization) -> dict[str, Any]:
    r, spec = opt.answer, opt.request
    return {
        "model": spec.model,  # as requested; the formulation solved is r.model
        "formulation": r.model,
        "categories": spec.categories,
        "status": r.status,
        "objective": r.objective,
        "bound": r.bound,
        "gap": r.gap,
        "new_sites": len(r.sites),
        "new_sites_cost": (float(r.sites["cost"].sum()) if "cost" in r.sites
                           and r.sites["cost"].notna().any() else None),
        "budget": spec.budget,
        "closed_sites": len(r.closed),
        "uncoverable_people": float(r.uncoverable["people"].sum()),
        "message": r.message,
    }


def run_scenario(
    scenario: Scenario,
    *,
    output_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
    window: Window | None = None,
) -> ScenarioResult:
    """Run every step of a scenario; write the outputs when ``output_dir`` is given.

    Args:
        scenario: a validated scenario (:func:`planner.scenario_file.load_scenario`).
        output_dir: where tables, layers and summary.json go (None: not written; see
            :func:`planner.outputs.write_result`, which also takes the map's writer).
        cache_dir: where parsed networks and demand grids are kept between runs (default
            ``<output_dir>/.cache``; None without an output directory).
        progress: called with (step name, finished fraction 0–1).
        window: analyse only the residents of this window of the scenario's area, reading
            only the streets and facilities that can serve them (a province run's unit; the
            scenario then has no study area of its own).
    """
    report = progress or (lambda step, fraction: None)
    out = Path(output_dir) if output_dir is not None else None
    cache = Path(cache_dir) if cache_dir is not None else (out / ".cache" if out else None)
    timings: dict[str, float] = {}

    def timed(name: str, func: Callable[[], Any]) -> Any:
        report(name, 0.0)
        t0 = time.perf_counter()
        value = func()
        timings[name] = time.perf_counter() - t0
        report(name, 1.0)
        return value

    categories = load_categories(overrides=scenario.categories or None)
    speeds = load_speeds(overrides=scenario.speeds or None)
    notes = _speed_notes(speeds)
    keys = analysed_categories(scenario, categories)
    check_requests(scenario)
    if scenario.optimize:  # the optimizer's compiled kernel gets ready while the city is read
        threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
    network = timed("network", lambda: build_network_step(scenario, cache, window))
    area = study_area(scenario, network.crs) if window is None else window.reach
    residents = area if window is None else window.residents
    analysed = {k: categories[k] for k in keys}  # other categories: "not requested" in audit
    facilities, reports = timed("facilities", lambda: load_facilities_step(
        scenario, network, analysed, area, cache, outside_ok=window is not None))
    for facility_report in reports:
        notes.extend(facility_report.lines())
    demand = timed("population", lambda: build_demand_step(scenario, network, residents, cache))
    notes.extend(demand.notes)
    bounds = cov.search_bounds({k: categories[k] for k in keys}, speeds,
                               scenario.analysis.levels_min)
    homes = snap_points(network, demand.points(), scenario.analysis.max_access_m)
    notes.extend(_off_ground_notes(network, homes, demand.cells["total"].to_numpy()))
    distances = timed("catchments", lambda: nearest_by_category(
        network, homes, facilities, bounds,
        max_access_m=scenario.analysis.max_access_m,
        progress=lambda f: report("catchments", f)))
    audit = _concat([r.audit() for r in reports])
    dropped = _concat([r.dropped.assign(source=r.source) for r in reports])
    if window is not None:
        audit, dropped, beyond = without_rows_beyond(audit, dropped)
        if beyond:
            notes.append(f"{beyond:,} facility rows lie beyond the walks of this unit's "
                         "residents and are left out of its audit (the province's audit "
                         "accounts for every row).")
    result = ScenarioResult(
        scenario, network, facilities, demand, categories, distances, homes=homes,
        facility_audit=audit, facilities_dropped=dropped, notes=notes, timings=timings,
        window=window)
    timed("coverage", lambda: coverage_step(result, keys, speeds))
    for i in range(len(scenario.optimize)):
        result.optimizations.append(
            timed(f"optimize_{i + 1}", lambda i=i: optimization_step(result, i, residents, report)))
    if out is not None:
        timed("outputs", lambda: write_result(result, out))
    return result


def _off_ground_notes(network: WalkNetwork, homes: Snapped, people: np.ndarray) -> list[str]:
    off = joined_off_ground(network, homes)
    if not off.any():
        return []
    return [f"{int(off.sum())} demand cells ({people[off].sum():,.0f} people) join the network on "
            "a tunnel or bridge: no street-level way lies within max_access_m of them; check "
            "the streets around them (a missing street, or a tunnel/bridge tag on a street)"]


def _speed_notes(speeds: dict[str, float]) -> list[str]:
    if speeds["age_65_plus"] <= speeds["age_60_plus"]:
        return []
    return [f"Walking speeds: age_65_plus ({speeds['age_65_plus']:g} m/s) is faster than "
            f"age_60_plus ({speeds['age_60_plus']:g} m/s), so the older group looks better "
            "served; set both under [speeds]."]


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
