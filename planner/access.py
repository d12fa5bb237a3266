"""Capacity-aware access: the two-step floating catchment area method (2SFCA).

Step 1, per facility *j*: ratio ``R_j = S_j / Σ_{k in catchment(j)} D_k`` — capacity (beds,
places) per unit of demand within its catchment. Step 2, per cell *i*:
``A_i = Σ_{j reaching i} R_j`` — capacity per unit of demand the cell can reach.

Demand ``D_k`` = capacity units the norm asks for in cell *k*: people of the norm's
``demand_group`` × ``demand_per_1000 / 1000`` (one unit per person of the served group when the
category has no norm). The ratio is thus capacity per unit *needed*, and ``A_i ≥ 1`` means the
capacity the cell reaches meets the norm.

People are counted in the group the category **serves** (``Category.group``), the same base as
the headline coverage — e.g. childcare: 0–2-year-olds, although its norm (4.5 places per 1,000
residents) is stated per resident. Each cell's served-group people split into **served**
(``min(A_i, 1)`` of them: the share of the norm's need the reachable capacity meets),
**covered but over capacity** (the rest of a covered cell) and **uncovered** (no facility within
the threshold). Capacity is never over-spent in the norm's units:
``Σ_k D_k·min(A_k, 1) ≤ Σ_j S_j``. A grid without the served group's column counts everyone
and says so; the demand group's column is required.

Catchments come as a sparse facilities × cells matrix (``planner.catchment.coverage_matrix``):
its *structure* is the set of pairs within the threshold (explicit zeros count), read through
``indptr/indices``, never ``.nonzero()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix, issparse

from planner.coverage import people_matrix
from planner.errors import InputError
from planner.standards import Category

MissingCapacity = Literal["norm", "median", "drop"]


def two_step_fca(
    catchment: csr_matrix, capacity: np.ndarray, demand: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Classic 2SFCA on a facilities × cells catchment structure.

    Args:
        catchment: sparse (facilities, cells); a stored entry (even 0) = the cell is in the
            facility's catchment.
        capacity: (facilities,) capacity of each facility (units, ≥ 0).
        demand: (cells,) demand of each cell (units, ≥ 0).

    Returns:
        ``(ratio, access)``: per facility capacity per unit of demand in its catchment (``inf``
        when the catchment holds no demand but the facility has capacity, NaN when both are 0);
        per cell the sum of the ratios of the facilities reaching it, counting only finite
        ratios (a facility with an empty catchment serves no one).
    """
    m = _structure(catchment)
    capacity = np.asarray(capacity, dtype=float)
    demand = np.asarray(demand, dtype=float)
    if capacity.shape != (m.shape[0],) or demand.shape != (m.shape[1],):
        raise InputError(
            f"The catchment matrix is {m.shape[0]} facilities × {m.shape[1]} cells, but "
            f"{capacity.shape[0]} capacities and {demand.shape[0]} cell demands were given; "
            "build the matrix from the same facilities and cells, in the same order."
        )
    reached = m @ demand
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = capacity / reached
    usable = np.where(np.isfinite(ratio), ratio, 0.0)
    access = m.T @ usable
    return ratio, access


def _structure(catchment: csr_matrix) -> csr_matrix:
    """The 0/1 pattern of a sparse matrix, explicit zeros included."""
    if not issparse(catchment):
        raise InputError(
            "The catchment must be a scipy.sparse matrix (facilities × cells), as returned by "
            "planner.catchment.coverage_matrix."
        )
    c = csr_matrix(catchment)
    c.sum_duplicates()
    return csr_matrix((np.ones(len(c.indices)), c.indices.copy(), c.indptr.copy()), shape=c.shape)


@dataclass(frozen=True)
class CapacityAccess:
    """Result of :func:`capacity_access` for one category.

    Attributes:
        category: category key.
        group: the served group people are counted in; demand_group: the norm's group.
        facilities: per facility: ``capacity`` used, ``capacity_source`` (given / norm /
            median / dropped), ``catchment_cells``, ``catchment_people`` (served group),
            ``catchment_demand`` (units the norm asks for), ``ratio`` (capacity per unit needed;
            ``inf`` when nobody of the demand group lives in the catchment) and ``note``
            (what the ratio says and why it is infinite, undefined or very large).
        cells: per cell: ``access`` (A_i), ``covered``, ``people``, ``served``,
            ``over_capacity``, ``uncovered`` (people of ``group``).
        split: one-row table: people served / covered but over capacity / uncovered.
        note: how missing capacities were treated (empty when none were missing).
    """

    category: str
    group: str
    demand_group: str
    facilities: pd.DataFrame
    cells: pd.DataFrame
    split: pd.DataFrame
    note: str


def fill_capacity(
    capacity: np.ndarray, category: Category, missing: MissingCapacity = "norm"
) -> tuple[np.ndarray, np.ndarray, str]:
    """Replace unknown (NaN) capacities; returns (capacity, source per facility, note).

    ``"norm"``: the category's default site capacity, or else the median of the known ones;
    ``"median"``: the median of the known capacities; ``"drop"``: the facility counts with
    capacity 0 (it still covers, but serves no one).
    """
    cap = np.asarray(capacity, dtype=float).copy()
    if (cap[np.isfinite(cap)] < 0).any() or np.isinf(cap).any():
        raise InputError(
            f"Capacities of {category.key!r} must be finite and ≥ 0 ({category.capacity_unit or 'units'}); "
            "use NaN for unknown."
        )
    unknown = np.isnan(cap)
    source = np.where(unknown, "", "given").astype(object)
    n = int(unknown.sum())
    if n == 0:
        return cap, source, ""
    known = cap[~unknown]
    unit = category.capacity_unit or "units"
    if missing not in ("norm", "median", "drop"):
        raise InputError(f"missing must be 'norm', 'median' or 'drop', not {missing!r}.")
    if missing == "norm" and category.capacity_per_site is not None:
        fill, how = float(category.capacity_per_site), "norm"
        text = f"the norm's default of {fill:g} {unit} per site"
    elif missing in ("norm", "median") and len(known):
        fill, how = float(np.median(known)), "median"
        text = f"the median of the {len(known)} known capacities, {fill:g} {unit}"
    elif missing == "drop":
        fill, how = 0.0, "dropped"
        text = "zero capacity (they cover but serve no one)"
    else:
        raise InputError(
            f"No facility of {category.key!r} has a capacity and the category has no default "
            "site capacity: capacity-aware access cannot be computed. Add a 'capacity' column, "
            "set capacity_per_site for the category, or pass missing='drop'."
        )
    cap[unknown] = fill
    source[unknown] = how
    return cap, source, f"{n} of {len(cap)} facilities had no capacity; they were given {text}."


def capacity_access(
    catchment: csr_matrix,
    facilities: pd.DataFrame,
    cells: pd.DataFrame,
    category: Category,
    *,
    missing: MissingCapacity = "norm",
) -> CapacityAccess:
    """2SFCA ratios and the served / over-capacity / uncovered split for one category.

    Args:
        catchment: sparse (facilities, cells) pairs within the category's threshold, rows in the
            order of ``facilities`` (all of this category), columns in the order of ``cells``.
        facilities: the category's facilities with a ``capacity`` column (NaN = unknown).
        cells: demand cells with population columns (people).
        missing: treatment of unknown capacities (see :func:`fill_capacity`).
    """
    if "capacity" not in facilities.columns:
        raise InputError(
            "The facilities table has no 'capacity' column; add one (NaN where unknown)."
        )
    if "category" in facilities.columns and (facilities["category"] != category.key).any():
        raise InputError(
            f"capacity_access got facilities of other categories than {category.key!r}; pass "
            "only the rows of this category, in the catchment matrix's row order."
        )
    group, demand_group, group_note = _groups(cells, category)
    people = people_matrix(cells, [group])[:, 0]
    per_person = category.demand_per_1000 / 1000.0 if category.demand_per_1000 else 1.0
    cap, source, note = fill_capacity(facilities["capacity"].to_numpy(dtype=float), category, missing)
    note = " ".join(n for n in (group_note, note) if n)
    demand = people_matrix(cells, [demand_group])[:, 0] * per_person
    ratio, access = two_step_fca(catchment, cap, demand)
    m = _structure(catchment)
    covered = np.asarray(m.sum(axis=0)).ravel() > 0
    served = np.where(covered, people * np.minimum(access, 1.0), 0.0)
    over = np.where(covered, people - served, 0.0)
    uncovered = np.where(covered, 0.0, people)
    fac = pd.DataFrame(
        {
            "id": facilities["id"].to_numpy() if "id" in facilities else np.arange(len(facilities)),
            "capacity": cap,
            "capacity_source": source,
            "catchment_cells": np.diff(m.indptr),
            "catchment_people": m @ people,
            "catchment_demand": m @ demand,
            "ratio": ratio,
        }
    )
    fac["note"] = ratio_notes(fac, category, demand_group)
    cell = pd.DataFrame(
        {
            "access": access,
            "covered": covered,
            "people": people,
            "served": served,
            "over_capacity": over,
            "uncovered": uncovered,
        }
    )
    if "cell_id" in cells.columns:
        cell.insert(0, "cell_id", cells["cell_id"].to_numpy())
    split = split_row(category, group, people.sum(), served.sum(), over.sum(), uncovered.sum(),
                      cap.sum(), note, demand_group=demand_group, capacity_needed=demand.sum())
    return CapacityAccess(category.key, group, demand_group, fac, cell, split, note)


def _groups(cells: pd.DataFrame, category: Category) -> tuple[str, str, str]:
    """(served group, demand group, note): the served group falls back to everyone, as in the
    headline, when the grid lacks it; the norm's demand group must be present."""
    group, note = category.group, ""
    if group not in cells.columns:
        group = "total"
        note = (f"The demand grid has no {category.group!r} column, so everyone is counted as "
                f"served by {category.key!r}.")
    demand_group = category.demand_group or group
    if demand_group not in cells.columns:
        raise InputError(
            f"The demand cells have no {demand_group!r} column, the group {category.key!r}'s "
            "capacity norm (demand_per_1000) refers to; add it to the demand grid."
        )
    return group, demand_group, note


def ratio_notes(fac: pd.DataFrame, category: Category, demand_group: str) -> list[str]:
    """Per facility of a :class:`CapacityAccess` table: what its ratio means and why it is
    infinite, undefined or far from 1."""
    unit = category.capacity_unit or "units"
    if category.demand_per_1000:
        need = f"{category.demand_per_1000:g} {unit} per 1,000 people of {demand_group}"
    else:
        need = f"1 {unit} per person of {demand_group}"
    notes = []
    for row in fac.itertuples(index=False):
        assumed = (f"capacity assumed ({row.capacity_source}); "
                   if row.capacity_source in ("norm", "median", "dropped") else "")
        if row.catchment_cells == 0:
            text = ("no populated cell within walking distance (off the streets or nobody lives "
                    "near): serves no one, ratio undefined")
        elif row.catchment_demand <= 0 and row.capacity > 0:
            text = (f"nobody of {demand_group} lives in its catchment: ratio infinite, serves "
                    "no one")
        elif row.capacity <= 0:
            text = "capacity 0: serves no one"
        else:
            text = (f"ratio = {row.capacity:,.6g} {unit} / {row.catchment_demand:,.2f} {unit} "
                    f"the norm ({need}) asks for in its catchment")
            if row.ratio >= 10:
                text += "; far above 1: few people live within its walking distance"
            elif row.ratio < 1:
                text += "; below 1: its catchment needs more than it has"
        notes.append(assumed + text)
    return notes


def split_row(
    category: Category,
    group: str,
    people: float,
    served: float,
    over: float,
    uncovered: float,
    capacity: float,
    note: str,
    *,
    demand_group: str | None = None,
    capacity_needed: float = float("nan"),
) -> pd.DataFrame:
    """One row of the access split table (people and percent of ``group``; the capacity the
    norm asks for, in its units, from ``demand_group``)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.round(100.0 * np.array([served, over, uncovered]) / people, 2)
    return pd.DataFrame(
        [
            {
                "category": category.key,
                "name_zh": category.name_zh,
                "name_en": category.name_en,
                "group": group,
                "capacity_unit": category.capacity_unit or "",
                "capacity_total": capacity,
                "demand_group": demand_group or group,
                "capacity_needed": capacity_needed,
                "people": people,
                "served": served,
                "over_capacity": over,
                "uncovered": uncovered,
                "served_pct": pct[0],
                "over_capacity_pct": pct[1],
                "uncovered_pct": pct[2],
                "note": note,
            }
        ]
    )


def access_split_table(results: list[CapacityAccess]) -> pd.DataFrame:
    """The split rows of several categories stacked into one table."""
    if not results:
        raise InputError("No capacity-aware results to tabulate; run capacity_access first.")
    return pd.concat([r.split for r in results], ignore_index=True)
