"""Population-weighted coverage of the living-circle categories.

Inputs are plain: the walking distance (metres, ``np.inf`` = no facility within the search
bound, on another network part, or the cell is off the streets) from every demand cell
to the nearest facility of each category, as computed by ``planner.catchment.nearest_distance``,
and the demand cells with their population columns (people per cell).

Two ways to measure (README, "Concepts"):

* **compliance** — a cell is covered when its walking distance is ≤ the category's compliance
  distance (``Category.distance_m``, e.g. 300 m);
* **time** — a person of group *g* is covered at level *L* minutes when the walk takes ≤ *L*
  minutes at *g*'s walking speed, i.e. distance ≤ 60·L·speed[g] metres.

Distances must have been computed with a search bound at least :func:`required_distance_m`,
otherwise cells between the bound and a threshold read as uncovered; the equity table's mean,
median and Gini cover the walks measured up to its ``search_bound_m`` (:data:`SEARCH_BOUND_M`).

Modules: :mod:`~planner.coverage.measure` (groups, distances, thresholds),
:mod:`~planner.coverage.tables` (coverage and headline tables),
:mod:`~planner.coverage.districts`, :mod:`~planner.coverage.circle` (complete living-circle
index) and :mod:`~planner.coverage.equity`; the public names are importable from here.
"""

from planner.coverage.circle import CompleteCircle, complete_circle
from planner.coverage.districts import (
    assign_districts,
    district_coverage,
    district_names,
    outside_districts,
)
from planner.coverage.equity import equity_table, weighted_gini, weighted_median
from planner.coverage.measure import (
    BASIC_CATEGORIES,
    COVERAGE_COLUMNS,
    NO_FACILITIES,
    NO_PEOPLE,
    NONE_REACHABLE,
    OLDER_GROUP,
    SEARCH_BOUND_M,
    Mode,
    check_distances,
    facility_counts,
    people_matrix,
    population_groups,
    required_distance_m,
    search_bounds,
    threshold_m,
)
from planner.coverage.tables import coverage_table, headline_table

__all__ = [
    "BASIC_CATEGORIES",
    "COVERAGE_COLUMNS",
    "NONE_REACHABLE",
    "NO_FACILITIES",
    "NO_PEOPLE",
    "OLDER_GROUP",
    "SEARCH_BOUND_M",
    "CompleteCircle",
    "Mode",
    "assign_districts",
    "check_distances",
    "complete_circle",
    "coverage_table",
    "district_coverage",
    "district_names",
    "equity_table",
    "facility_counts",
    "headline_table",
    "outside_districts",
    "people_matrix",
    "population_groups",
    "required_distance_m",
    "search_bounds",
    "threshold_m",
    "weighted_gini",
    "weighted_median",
]
