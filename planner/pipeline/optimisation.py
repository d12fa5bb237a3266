"""The optimisation steps of a scenario run: candidate sites, catchments, the location model of
each request, and its tables (sites with longitude/latitude, coverage, people no site can reach,
existing sites closed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from planner.catchment import coverage_matrix
from planner.errors import InputError
from planner.facilities import FacilityReport, drop_off_network
from planner.io.facilities import load_facilities
from planner.optimize import (
    JointCategory,
    OptimizeResult,
    candidate_sites,
    capacitated_mclp,
    joint_mclp,
    lscp,
    mclp,
)
from planner.pipeline.analysis import lonlat_table
from planner.results import Optimization
from planner.scenario_file import OptimizeSpec, Scenario
from planner.standards import Category

if TYPE_CHECKING:
    from planner.scenario import ScenarioResult

Progress = Callable[[str, float], None]


def check_requests(scenario: Scenario) -> None:
    """Fail before any heavy step on optimisation requests that cannot run: a missing
    candidates file, or a cost budget without a file to give the costs."""
    for i, spec in enumerate(scenario.optimize, start=1):
        if spec.candidates is not None:
            scenario.path(spec.candidates)
        elif spec.budget is not None or spec.minimise == "cost":
            raise InputError(
                f"Optimisation request {i} is by cost, and sites generated along the streets "
                "have none: give candidates = a file of sites with a cost column (费用/造价), "
                "or ask for new_sites instead."
            )


def optimization_step(result: ScenarioResult, i: int, area, progress: Progress) -> Optimization:
    """Answer the scenario's optimisation request ``i`` (from 0) and record it: its notes,
    and its tables as an :class:`~planner.results.Optimization`."""
    spec = result.scenario.optimize[i]
    answer = optimize_step(result, spec, area, progress)
    name = f"optimize_{i + 1}_{spec.model}_{'_'.join(spec.categories)}"
    sites = answer.sites
    table = pd.DataFrame(sites.drop(columns="geometry", errors="ignore"))
    if isinstance(sites, gpd.GeoDataFrame) and len(sites):
        table = lonlat_table(result, table.assign(x=sites.geometry.x.round(1),
                                                  y=sites.geometry.y.round(1)),
                             sites.geometry.get_coordinates().to_numpy(), sites.crs)
    summary = pd.DataFrame([{**answer.coverage, "status": answer.status,
                             "objective": answer.objective, "bound": answer.bound,
                             "gap": answer.gap, "seconds": answer.solve_seconds}])
    result.notes.append(f"{name}: {answer.message}")
    return Optimization(name, spec, answer, table, summary,
                        uncoverable_table=_uncoverable(result, name, answer),
                        closed_table=_closed(result, name, answer))


def _uncoverable(result: ScenarioResult, name: str, res: OptimizeResult) -> pd.DataFrame | None:
    """People no candidate site can reach, with their location, and a note."""
    unc = res.uncoverable
    if not len(unc) or unc["people"].sum() <= 0:
        return None
    cells = result.demand.cells.set_index("cell_id")
    xy = cells.loc[unc["cell_id"], ["x", "y"]].to_numpy()
    result.notes.append(
        f"{name}: {unc['people'].sum():,.0f} people in {len(unc)} cells are beyond the reach "
        f"of every candidate site (table {name}_uncoverable); add candidates near them."
    )
    return lonlat_table(result, unc.drop(columns=["x", "y"], errors="ignore").assign(
        x=xy[:, 0].round(1), y=xy[:, 1].round(1)), xy)


def _closed(result: ScenarioResult, name: str, res: OptimizeResult) -> pd.DataFrame | None:
    """Existing sites the answer closes, and a note."""
    if not len(res.closed):
        return None
    result.notes.append(
        f"{name}: closes {len(res.closed)} existing site(s) "
        f"({', '.join(map(str, res.closed['id'].head(5)))}); table {name}_closed."
    )
    return pd.DataFrame(res.closed.drop(columns="geometry", errors="ignore"))


def _site_table(result: ScenarioResult, spec: OptimizeSpec, key: str | None, area) -> gpd.GeoDataFrame:
    user = None
    if spec.candidates is not None:
        user = load_facilities(result.scenario.path(spec.candidates), to_crs=result.network.crs,
                               crs=spec.candidates_coords, category=key or spec.categories[0],
                               status="candidate")
        report = user.attrs.pop("report")
        user = drop_off_network(user, result.network, result.scenario.analysis.max_access_m,
                                report)
        _record_report(result, report)
    return candidate_sites(
        network=result.network if user is None else None,
        user_sites=user,
        facilities=result.facilities,
        category=key,
        spacing_m=spec.candidate_spacing_m,
        study_area=area,
    )


def _record_report(result: ScenarioResult, report: FacilityReport) -> None:
    """Add a candidates file's report to the notes, the audit and the dropped rows, once."""
    audit = result.facility_audit
    if len(audit) and (audit["source"] == report.source).any():
        return
    result.notes.extend(report.lines())
    result.facility_audit = _appended(audit, report.audit())
    result.facilities_dropped = _appended(result.facilities_dropped,
                                          report.dropped.assign(source=report.source))


def _appended(old: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    return frame if not len(old) else pd.concat([old, frame], ignore_index=True)


def _demand_of(result: ScenarioResult, cat: Category) -> pd.Series:
    cells = result.demand.cells
    group = cat.group if cat.group in cells.columns else "total"
    return pd.Series(cells[group].to_numpy(dtype=float), index=cells["cell_id"].to_numpy())


def optimize_step(result: ScenarioResult, spec: OptimizeSpec, area, progress: Progress) -> OptimizeResult:
    """The answer of one optimisation request on the result's network and demand."""
    if spec.model == "joint":
        return _joint(result, spec, area)
    cat = result.categories[spec.categories[0]]
    sites = _site_table(result, spec, cat.key, area)
    site_xy = np.column_stack([sites.geometry.x, sites.geometry.y])
    matrix = coverage_matrix(result.network, site_xy, result.homes, cat.distance_m,
                             max_access_m=result.scenario.analysis.max_access_m,
                             progress=lambda f: progress(f"catchments of {cat.key} sites", f))
    demand = _demand_of(result, cat)
    opts = dict(time_limit_s=spec.time_limit_s)
    if spec.model == "mclp":
        return mclp(matrix, demand, sites, p=spec.new_sites, budget=spec.budget,
                    demand_xy=result.demand.points(), **opts)
    if spec.model == "lscp":
        return lscp(matrix, demand, sites, use_cost=spec.minimise == "cost",
                    demand_xy=result.demand.points(), **opts)
    return capacitated_mclp(matrix, demand, _with_capacities(sites, spec, cat),
                            p=spec.new_sites, budget=spec.budget, **opts)


def _joint(result: ScenarioResult, spec: OptimizeSpec, area) -> OptimizeResult:
    sites = _site_table(result, spec, None, area)
    # existing facilities of the requested categories count for their own category
    own = (sites["status"] != "existing") | sites["category"].isin(spec.categories)
    sites = sites[own.to_numpy()].reset_index(drop=True)
    site_xy = np.column_stack([sites.geometry.x, sites.geometry.y])
    joint = {}
    for key in spec.categories:
        cat = result.categories[key]
        matrix = coverage_matrix(result.network, site_xy, result.homes, cat.distance_m,
                                 max_access_m=result.scenario.analysis.max_access_m)
        weight = (spec.weights or {}).get(cat.key, 1.0)
        joint[cat.key] = JointCategory(matrix, _demand_of(result, cat), weight)
    return joint_mclp(joint, sites, p=spec.new_sites, budget=spec.budget,
                      time_limit_s=spec.time_limit_s)


def _with_capacities(sites: gpd.GeoDataFrame, spec: OptimizeSpec, cat: Category) -> gpd.GeoDataFrame:
    """Sites whose data give no capacity get one: new sites ``spec.new_site_capacity``, else
    the category's norm; existing facilities the norm. Without either, say what to add."""
    cap = pd.to_numeric(sites["capacity"], errors="coerce").astype(float)
    new = sites["status"].isin(["candidate", "required"]).to_numpy()
    norm = np.nan if cat.capacity_per_site is None else float(cat.capacity_per_site)
    fill_new = norm if spec.new_site_capacity is None else float(spec.new_site_capacity)
    cap = cap.where(~(new & cap.isna()), fill_new).where(~(~new & cap.isna()), norm)
    if cap[new].isna().any():
        raise InputError(
            f"{int(cap[new].isna().sum())} candidate sites have no capacity and {cat.key} has "
            "no norm capacity per site: give new_site_capacity (places of one new site) or a "
            "capacity column in the candidates file."
        )
    if cap.isna().any():
        raise InputError(
            f"{int(cap.isna().sum())} existing {cat.key} facilities have no capacity and the "
            "category has no norm to assume: add a capacity column (床位/学位/托位) to the "
            'facility data, or use model = "mclp".'
        )
    return sites.assign(capacity=cap.to_numpy())
