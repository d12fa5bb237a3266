"""The complete living-circle index: the share of people whose cell reaches every required
category.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.coverage.measure import (
    BASIC_CATEGORIES,
    Mode,
    check_distances,
    group_speeds,
    people_matrix,
    threshold_m,
)
from planner.errors import InputError
from planner.standards import Category, get_category


@dataclass(frozen=True)
class CompleteCircle:
    """Result of :func:`complete_circle`.

    Attributes:
        keys: categories the index requires.
        missing: requested default categories absent from the distances (not counted).
        reached: per cell, number of the ``keys`` categories within their threshold.
        complete: per cell, whether every category is reached.
        index: share (0–1) of people of ``group`` living in complete cells.
        people: people of ``group`` in all cells; ``people_complete`` those in complete cells.
        table: cells and people by number of categories reached (0 … len(keys)).
    """

    keys: tuple[str, ...]
    missing: tuple[str, ...]
    mode: str
    group: str
    reached: np.ndarray
    complete: np.ndarray
    index: float
    people: float
    people_complete: float
    table: pd.DataFrame


def complete_circle(
    distances: Mapping[str, np.ndarray],
    cells: pd.DataFrame,
    categories: Mapping[str, Category],
    *,
    keys: Sequence[str] | None = None,
    mode: Mode = "compliance",
    speeds: Mapping[str, float] | None = None,
    group: str = "total",
) -> CompleteCircle:
    """Complete living-circle index: the share of people whose cell reaches every category.

    Args:
        keys: the required categories; default :data:`BASIC_CATEGORIES` among those present in
            ``distances`` (the absent ones are listed in ``missing``). Explicit keys must all
            have distances.
        mode: ``"compliance"`` (each category's distance_m) or ``"time"`` (each category's
            level at the walking speed of ``group``; needs ``speeds``).
        group: population column the index weights by.
    """
    dist = check_distances(distances, len(cells), categories)
    if keys is None:
        chosen = tuple(k for k in BASIC_CATEGORIES if k in dist)
        missing = tuple(k for k in BASIC_CATEGORIES if k not in dist)
    else:
        for k in keys:
            get_category(categories, k)
        absent = [k for k in keys if k not in dist]
        if absent:
            raise InputError(
                f"The complete-circle set names {absent}, but no walking distances were computed "
                f"for them (have: {sorted(dist)}). Compute them or drop them from the set."
            )
        chosen, missing = tuple(keys), ()
    if not chosen:
        raise InputError(
            f"None of the complete-circle categories {list(keys or BASIC_CATEGORIES)} has walking "
            "distances; compute distances for them or pass keys=[...]."
        )
    speed = 1.0
    if mode == "time":
        if speeds is None:
            raise InputError("Time mode needs walking speeds; pass speeds=load_speeds().")
        speed = float(group_speeds(speeds, [group])[0])
    thr = np.array(
        [threshold_m(categories[k], mode, categories[k].level_min, speed) for k in chosen]
    )
    stack = np.stack([dist[k] for k in chosen], axis=1)
    reached = (stack <= thr[None]).sum(axis=1).astype(np.int64)
    complete = reached == len(chosen)
    people = people_matrix(cells, [group])[:, 0]
    total = float(people.sum())
    done = float(people[complete].sum())
    by_count = np.bincount(reached, weights=people, minlength=len(chosen) + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.round(100.0 * by_count / total, 2)
    table = pd.DataFrame(
        {
            "categories_reached": np.arange(len(chosen) + 1),
            "cells": np.bincount(reached, minlength=len(chosen) + 1),
            "people": by_count,
            "people_pct": pct,
        }
    )
    return CompleteCircle(
        keys=chosen,
        missing=missing,
        mode=mode,
        group=group,
        reached=reached,
        complete=complete,
        index=done / total if total > 0 else float("nan"),
        people=total,
        people_complete=done,
        table=table,
    )
