"""The province's tables from its units: coverage counts per unit × category, the monitoring
table (one row per unit and category, and the province's own rows), the units layer for the
overview map, proposals and cells."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from planner.coverage.tables import headline_table
from planner.province.plan import UnitTask
from planner.province.unit_run import UnitOutcome, read_parts
from planner.standards import Category

#: The coverage rows that add up over units (people), and what identifies a row.
COUNTS = ["people", "people_covered", "people_uncovered", "people_off_streets", "facilities"]
ROW_KEY = ["category", "name_zh", "name_en", "mode", "level_min", "threshold_m", "group",
           "speed_m_s"]
#: The note of a total row whose category has no facility near any unit.
NO_DATA = ("no facility of this category in the inputs near any unit: 0 % means no data, not "
           "no service; check the facility sources or leave the category out "
           "(analysis.categories)")
#: The code and name of the rows that cover every unit that finished.
ALL_UNITS = ("ALL", "全部单元")


@dataclass
class ProvinceResult:
    """Everything a province run produced (people in persons, distances in metres).

    Attributes:
        units: the units layer (lon/lat) with each unit's status, people, complete-circle
            index, people not reachable from the streets, proposals and, per category, the
            share of its served group covered (``<category>_pct``).
        monitoring: one row per unit and category (the scenario's headline: coverage of
            everyone and of the served group, at each level), then the rows of all units.
        coverage: coverage counts per unit × category × mode × level × group.
        proposals: the sites each unit's optimisations chose (lon/lat), or None.
        cells: every unit's cells with their walking distance to each category (metres).
        outcomes: how each unit's run ended.
        notes: what the run assumed, in words.
        crs: the working CRS every unit was computed in.
        cell_m: the side of the cells (metres).
        facility_audit: every row of the facility files, its category and rule, and whether it
            lies within reach of some unit (OSM features are audited in each unit's folder).
    """

    units: gpd.GeoDataFrame
    monitoring: pd.DataFrame
    coverage: pd.DataFrame
    proposals: gpd.GeoDataFrame | None
    cells: pd.DataFrame
    outcomes: list[UnitOutcome]
    notes: list[str] = field(default_factory=list)
    crs: str | None = None
    cell_m: float | None = None
    facility_audit: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def failed(self) -> list[UnitOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table by its output name."""
        units = pd.DataFrame(self.units.drop(columns="geometry"))
        out = {"province_monitoring": self.monitoring,
               "province_units": pd.concat([units, self._all_units_row(units)],
                                           ignore_index=True),
               "province_coverage": self.coverage}
        if self.proposals is not None:
            out["province_proposals"] = pd.DataFrame(self.proposals.drop(columns="geometry"))
        if len(self.facility_audit):
            out["facility_audit"] = self.facility_audit
        return out


    def _all_units_row(self, units: pd.DataFrame) -> pd.DataFrame:
        """The units table's last row: every finished unit together."""
        done = units[units["status"].isin(["done", "reused"])]
        people = done["people"].sum()
        circle = (done["complete_circle_pct"] * done["people"]).sum() / people if people else None
        row = {"unit_code": ALL_UNITS[0], "unit_name": ALL_UNITS[1],
               "status": f"{len(done)} of {len(units)} units with figures", "people": people,
               "complete_circle_pct": None if circle is None else round(circle, 2),
               **{c: done[c].sum() for c in ("not_reachable_people", "facilities", "new_sites",
                                              "group_newly_covered")},
               "run_seconds": round(float(done["run_seconds"].sum()), 2)}
        if len(self.monitoring):
            total = self.monitoring[self.monitoring["unit_code"] == ALL_UNITS[0]]
            row.update({f"{k}_pct": v for k, v in zip(total["category"],
                                                      total["served_coverage_pct"], strict=True)})
        return pd.DataFrame([row])


def add_up(coverage: pd.DataFrame, in_reach: pd.Series | None = None) -> pd.DataFrame:
    """Coverage counts summed over units, with the percentages recomputed; ``in_reach``
    (facilities per category that could serve some unit) words the note of a category with
    none inside the units."""
    total = coverage.groupby(ROW_KEY, dropna=False, sort=False)[COUNTS].sum().reset_index()
    total["coverage_pct"] = np.round(100.0 * total["people_covered"]
                                     / total["people"].where(total["people"] > 0), 2).fillna(0.0)
    reach = total["category"].map(in_reach if in_reach is not None else {}).fillna(0)
    total["note"] = np.select(
        [(total["facilities"] == 0) & (reach == 0), total["facilities"] == 0],
        [NO_DATA,
         "no facilities of this category inside the units: coverage counts those within "
         "walking distance outside them"], "")
    return total


def monitoring_table(coverage: pd.DataFrame, categories: Mapping[str, Category],
                     in_reach: pd.Series | None = None) -> pd.DataFrame:
    """The headline per unit and category, then the same over all units (code ``ALL``)."""
    frames = []
    for (code, name), rows in coverage.groupby(["unit_code", "unit_name"], sort=False):
        head = headline_table(rows.drop(columns=["unit_code", "unit_name"]), categories)
        frames.append(head.assign(unit_code=code, unit_name=name))
    head = headline_table(add_up(coverage, in_reach), categories)
    frames.append(head.assign(unit_code=ALL_UNITS[0], unit_name=ALL_UNITS[1]))
    table = pd.concat(frames, ignore_index=True)
    first = ["unit_code", "unit_name"]
    return table[first + [c for c in table.columns if c not in first]]


def merge_units(units: gpd.GeoDataFrame, tasks: Sequence[UnitTask],
                outcomes: Sequence[UnitOutcome], categories: Mapping[str, Category],
                notes: Sequence[str] = (), crs: str | None = None) -> ProvinceResult:
    """Read every finished unit's parts and merge them (failed units keep their error in
    ``units`` and have no rows elsewhere)."""
    parts = {t.code: read_parts(t.out_dir) for t, o in zip(tasks, outcomes, strict=True)
             if o.status in ("done", "reused")}
    coverage = (pd.concat([p["coverage"] for p in parts.values()], ignore_index=True)
                if parts else pd.DataFrame(columns=["unit_code", "unit_name", *ROW_KEY, *COUNTS]))
    in_reach = pd.DataFrame([p["summary"].get("facilities_in_reach", {})
                             for p in parts.values()]).sum()
    monitoring = monitoring_table(coverage, categories, in_reach) if parts else pd.DataFrame()
    cells = (pd.concat([p["cells"] for p in parts.values()], ignore_index=True) if parts
             else pd.DataFrame())
    found = [p["proposals"] for p in parts.values() if p["proposals"] is not None]
    proposals = None
    if found:
        table = pd.concat(found, ignore_index=True)
        proposals = gpd.GeoDataFrame(
            table, geometry=gpd.points_from_xy(table["lon_wgs84"], table["lat_wgs84"]), crs=4326)
    layer = _units_layer(units, outcomes, parts, monitoring)
    cell_m = tasks[0].scenario.population.cell_m if tasks else None
    return ProvinceResult(layer, monitoring, coverage, proposals, cells, list(outcomes),
                          list(notes), crs, cell_m)


def _units_layer(units: gpd.GeoDataFrame, outcomes: Sequence[UnitOutcome], parts: dict,
                 monitoring: pd.DataFrame) -> gpd.GeoDataFrame:
    rows = []
    for outcome in outcomes:
        summary = parts.get(outcome.code, {}).get("summary", {})
        people = 0.0 if outcome.status == "empty" else summary.get("people")
        rows.append({
            "unit_code": outcome.code, "status": outcome.status, "error": outcome.error,
            "run_seconds": round(outcome.seconds, 2), "people": people,
            "complete_circle_pct": (round(100 * summary["complete_circle_people"] / people, 2)
                                    if people else None),
            "not_reachable_people": summary.get("not_reachable_people"),
            "facilities": summary.get("facilities"),
            "new_sites": summary.get("new_sites"),
            "group_newly_covered": summary.get("people_newly_covered"),
        })
    table = pd.DataFrame(rows)
    if len(monitoring):
        wide = monitoring.pivot(index="unit_code", columns="category",
                                values="served_coverage_pct")
        wide.columns = [f"{c}_pct" for c in wide.columns]
        table = table.merge(wide, left_on="unit_code", right_index=True, how="left")
    layer = units.merge(table, on="unit_code", how="left")
    return layer.to_crs(4326)
