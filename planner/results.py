"""The typed parts of a scenario's result: gap areas, cells off the streets, capacity-aware
access, district coverage and the answers to optimisation requests, each with its tables and
layers (GeoDataFrames in the network's metric CRS; distances in metres, counts in people)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import pandas as pd

from planner.optimize import OptimizeResult
from planner.scenario_file import OptimizeSpec


@dataclass(frozen=True)
class Gaps:
    """Uncovered inhabited cells and the contiguous gap areas they form, per category.

    Attributes:
        cells: uncovered cells (layer ``gap_cells``).
        areas: gap areas ranked by uncovered people (layer ``gap_areas``).
        table: the areas without geometry, with the longitude/latitude of a point inside each
            (table ``gap_areas``).
    """

    cells: gpd.GeoDataFrame
    areas: gpd.GeoDataFrame
    table: pd.DataFrame


@dataclass(frozen=True)
class OffStreets:
    """Inhabited cells farther than ``max_access_m`` from any walkable street: not reachable
    from the streets, counted apart from "uncovered" (layer and table ``cells_off_streets``;
    ``access_m`` is the distance to the nearest street in metres)."""

    cells: gpd.GeoDataFrame
    table: pd.DataFrame


@dataclass(frozen=True)
class Capacity:
    """Capacity-aware access for categories with capacity norms.

    Attributes:
        access: people served / covered but over capacity / uncovered per category
            (table ``capacity_access``).
        by_facility: each facility's places, people in its catchment and ratio
            (table ``capacity_by_facility``).
    """

    access: pd.DataFrame
    by_facility: pd.DataFrame


@dataclass(frozen=True)
class Districts:
    """Coverage per district (街道/社区): table ``coverage_by_district`` and the district
    polygons (layer ``districts``)."""

    table: pd.DataFrame
    layer: gpd.GeoDataFrame


@dataclass
class Optimization:
    """One optimisation request and its answer.

    Attributes:
        name: ``optimize_<n>_<model>_<categories>``, the prefix of its tables.
        request: the scenario's request.
        answer: the solver's answer; its attributes (``sites``, ``objective``, ``bound``,
            ``gap``, ``status``, ``message`` …) also read through this object.
        sites_table: the chosen sites with x/y and longitude/latitude (table ``<name>_sites``).
        summary_table: one row: people covered before/after, status, objective (people),
            bound, gap, seconds (table ``<name>_coverage``).
        uncoverable_table: people no candidate site can reach, with their location
            (table ``<name>_uncoverable``), or None.
        closed_table: existing sites the answer closes (table ``<name>_closed``), or None.
    """

    name: str
    request: OptimizeSpec
    answer: OptimizeResult
    sites_table: pd.DataFrame
    summary_table: pd.DataFrame
    uncoverable_table: pd.DataFrame | None = None
    closed_table: pd.DataFrame | None = None

    def __getattr__(self, name: str) -> Any:
        if name == "answer":  # not set yet (copying, unpickling)
            raise AttributeError(name)
        return getattr(self.answer, name)

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """This request's tables by their output names."""
        out = {f"{self.name}_sites": self.sites_table, f"{self.name}_coverage": self.summary_table}
        if self.uncoverable_table is not None:
            out[f"{self.name}_uncoverable"] = self.uncoverable_table
        if self.closed_table is not None:
            out[f"{self.name}_closed"] = self.closed_table
        return out

    @property
    def proposals(self) -> gpd.GeoDataFrame | None:
        """The chosen sites as a layer, tagged with the request (None without sites)."""
        sites = self.answer.sites
        if not isinstance(sites, gpd.GeoDataFrame) or not len(sites):
            return None
        return sites.assign(request=self.name, categories=",".join(self.request.categories),
                            category=self.request.categories[0])
