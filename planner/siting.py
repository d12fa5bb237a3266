"""Where new sites should go, from GeoDataFrames: demand (cells or points with people),
candidate sites and a walk network in, the chosen sites with their proven gap out.

Each model builds its walking-distance catchments along the streets (every point joins the
nearest street segment) and calls the location models of :mod:`planner.optimize`::

    problem = MaxCover.from_geodataframe(cells, candidates, network, distance_m=500, p=5)
    answer = problem.solve()
    answer.sites, answer.covered_people, answer.gap
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from planner.catchment import coverage_matrix
from planner.errors import CRSError, InputError
from planner.network import WalkNetwork
from planner.optimize import OptimizeResult, candidate_sites, capacitated_mclp, lscp, mclp


@dataclass(frozen=True)
class SitingResult:
    """The answer of a siting model.

    Attributes:
        sites: the chosen new sites in funding order (network CRS) with ``order``,
            ``marginal_people`` (people each adds given the ones before it) and
            ``cumulative_people``.
        covered_people: people within reach after the new sites open (served people for the
            capacitated model).
        objective: the model's objective: people covered (served) for the covering models,
            number (or cost) of new sites for set covering.
        bound: proven bound on the best possible objective.
        gap: proven relative gap between objective and bound (0 = proven optimal).
        status: ``optimal``, ``time_limit``, ``size_limit``, ``greedy`` or ``trivial``.
        answer: the full :class:`~planner.optimize.OptimizeResult` (per-cell table, closed
            sites, people no site can reach, …).
    """

    sites: gpd.GeoDataFrame
    covered_people: float
    objective: float
    bound: float
    gap: float
    status: str
    answer: OptimizeResult

    @classmethod
    def of(cls, answer: OptimizeResult) -> SitingResult:
        """The summary of a location model's answer."""
        cov = answer.coverage
        covered = cov.get("people_served_after", cov.get("people_covered_after", np.nan))
        return cls(answer.sites, float(covered), answer.objective, answer.bound, answer.gap,
                   answer.status, answer)

    @property
    def message(self) -> str:
        """One line for people."""
        return self.answer.message


@dataclass(frozen=True)
class Problem:
    """A siting instance: who each site reaches, and the people to reach.

    Attributes:
        coverage: sites × demand points (CSR) of walking metres within the distance.
        demand: people per demand point (indexed like the demand GeoDataFrame).
        sites: the site table (existing sites first, then candidates) in the network CRS.
        demand_xy: (n, 2) demand points in metres.
    """

    coverage: sp.csr_matrix
    demand: pd.Series
    sites: gpd.GeoDataFrame
    demand_xy: np.ndarray

    @classmethod
    def from_geodataframe(
        cls,
        demand: gpd.GeoDataFrame,
        candidates: gpd.GeoDataFrame,
        network: WalkNetwork,
        *,
        distance_m: float,
        weight_col: str = "total",
        existing: gpd.GeoDataFrame | None = None,
        max_access_m: float = 300.0,
    ) -> Problem:
        """Catchments of ``existing`` facilities and ``candidates`` (points) over ``demand``
        (points or cells; a cell counts at a point inside it) within ``distance_m`` metres of
        walking; people from ``weight_col``. A ``status`` column of the candidates
        (``candidate`` | ``required`` | ``existing`` | ``closable``) is kept; ``cost`` and
        ``capacity`` columns feed budgets and capacities."""
        xy, people = _demand(demand, network, weight_col)
        sites = candidate_sites(
            user_sites=_in_crs(candidates, network, "candidates"),
            facilities=None if existing is None else _in_crs(existing, network, "existing"),
        )
        site_xy = sites.geometry.get_coordinates().to_numpy()
        matrix = coverage_matrix(network, site_xy, xy, distance_m, max_access_m=max_access_m)
        return cls(matrix, people, sites, xy)


def _in_crs(layer: gpd.GeoDataFrame, network: WalkNetwork, what: str) -> gpd.GeoDataFrame:
    if not isinstance(layer, gpd.GeoDataFrame):
        raise InputError(f"The {what} must be a GeoDataFrame of points, not "
                         f"{type(layer).__name__}; read it with geopandas.read_file or "
                         "planner.read_facilities().")
    if layer.crs is None:
        raise CRSError(f"The {what} layer has no CRS; set it (layer.set_crs(4326) for "
                       "longitude/latitude) before siting.")
    return layer.to_crs(network.crs)


def _demand(demand: gpd.GeoDataFrame, network: WalkNetwork,
            weight_col: str) -> tuple[np.ndarray, pd.Series]:
    demand = _in_crs(demand, network, "demand")
    if weight_col not in demand.columns:
        raise InputError(f"The demand layer has no column {weight_col!r} (it has "
                         f"{', '.join(map(str, demand.columns))}); pass weight_col= the "
                         "column of people.")
    if not demand.index.is_unique:
        raise InputError("The demand layer's index has repeated labels; call "
                         "reset_index(drop=True) first.")
    points = demand.geometry.representative_point()
    people = pd.to_numeric(demand[weight_col], errors="coerce").astype(float)
    return points.get_coordinates().to_numpy(), people


class _Model:
    """A siting model over a :class:`Problem`; subclasses name the location model."""

    _model: Callable[..., OptimizeResult]

    def __init__(self, problem: Problem, **options: Any) -> None:
        self.problem = problem
        self.options = options

    @classmethod
    def from_geodataframe(
        cls,
        demand: gpd.GeoDataFrame,
        candidates: gpd.GeoDataFrame,
        network: WalkNetwork,
        *,
        distance_m: float,
        weight_col: str = "total",
        existing: gpd.GeoDataFrame | None = None,
        max_access_m: float = 300.0,
        **options: Any,
    ):
        """The model on GeoDataFrames (see :meth:`Problem.from_geodataframe` for the
        arguments; ``options`` are the model's own, e.g. ``p``)."""
        problem = Problem.from_geodataframe(
            demand, candidates, network, distance_m=distance_m, weight_col=weight_col,
            existing=existing, max_access_m=max_access_m)
        return cls(problem, **options)

    def solve(self, *, time_limit_s: float = 60.0, mip_gap: float = 0.0,
              **options: Any) -> SitingResult:
        """Solve within ``time_limit_s`` seconds; ``mip_gap`` 0 proves optimality; ``options``
        replace the model's (e.g. ``p=10`` on the same catchments)."""
        pb = self.problem
        answer = self._model(pb.coverage, pb.demand, pb.sites, time_limit_s=time_limit_s,
                             mip_gap=mip_gap, **self._extra(pb), **{**self.options, **options})
        return SitingResult.of(answer)

    def _extra(self, problem: Problem) -> dict[str, Any]:
        return {"demand_xy": problem.demand_xy}


class MaxCover(_Model):
    """Maximal covering: open ``p`` new sites (or spend at most ``budget``, the total of the
    candidates' ``cost``) reaching the most people within the walking distance.

    Options: ``p`` (new sites), ``budget`` (cost), ``required`` (ids that must open)."""

    _model = staticmethod(mclp)


class SetCover(_Model):
    """Set covering: the fewest new sites (``use_cost=True``: the least total cost) so that
    everyone some site can reach is within the walking distance; people no site can reach are
    listed in ``answer.uncoverable``.

    Options: ``use_cost``, ``required``."""

    _model = staticmethod(lscp)


class CapacitatedMaxCover(_Model):
    """Maximal covering with capacities: the most people served, each by an open site within
    the walking distance, no site serving more than its ``capacity`` (people; a column of the
    candidates and existing sites).

    Options: ``p``, ``budget``, ``default_capacity`` (people, for sites without one),
    ``required``."""

    _model = staticmethod(capacitated_mclp)

    def _extra(self, problem: Problem) -> dict[str, Any]:
        return {}
