"""Coverage per district (街道/社区): cells assigned to the polygons they lie in, and the
coverage and facility counts of each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.coverage.measure import COVERAGE_COLUMNS
from planner.coverage.tables import coverage_long
from planner.district_cells import RULE, districts_of_points
from planner.errors import CRSError, InputError
from planner.standards import LEVELS, Category


def assign_districts(cells: gpd.GeoDataFrame, districts: gpd.GeoDataFrame) -> np.ndarray:
    """Row of ``districts`` holding each cell's centre (−1 outside all districts), by the rule
    the calibration to district totals also follows (:data:`planner.district_cells.RULE`).

    The district layer is reprojected to the cells' CRS; a layer without a CRS or one that
    covers no cell centre raises an error.
    """
    if districts.crs is None or cells.crs is None:
        raise CRSError(
            "The district layer or the demand cells have no CRS; set it when reading the layer, "
            "e.g. districts.set_crs('EPSG:4326')."
        )
    if len(districts) == 0:
        raise InputError("The district layer is empty; give at least one polygon.")
    poly = districts.to_crs(cells.crs).geometry.values
    kinds = set(shapely.get_type_id(poly).tolist())
    if not kinds <= {3, 6}:
        raise InputError(
            "The district layer must hold polygons (街道/社区 boundaries); found geometry types "
            f"{sorted(set(districts.geom_type))}."
        )
    zone = districts_of_points(_cell_centres(cells), poly)
    if (zone < 0).all():
        b = np.round(districts.to_crs(cells.crs).total_bounds, 0)
        c = np.round(cells.total_bounds, 0)
        raise InputError(
            f"The district layer does not overlap the demand cells: districts span {b.tolist()} "
            f"and cells span {c.tolist()} in {cells.crs.to_string()}. Check that the layer covers "
            "the study area and declares the CRS it was written in."
        )
    return zone


def outside_districts(cells: gpd.GeoDataFrame, districts: gpd.GeoDataFrame) -> str | None:
    """A note on the people (and cells) whose cell centre lies outside every district, which
    the per-district table leaves out; None when every cell is in a district."""
    out = assign_districts(cells, districts) < 0
    if not out.any():
        return None
    people = float(cells["total"].to_numpy()[out].sum())
    return (f"{people:,.0f} people in {int(out.sum()):,} cells lie outside every district and "
            f"are not in the coverage per district (rule: {RULE}).")


def _cell_centres(cells: gpd.GeoDataFrame) -> np.ndarray:
    if {"x", "y"} <= set(cells.columns):
        return cells[["x", "y"]].to_numpy(dtype=float)
    return shapely.get_coordinates(cells.geometry.centroid.values)


def district_names(districts: pd.DataFrame, name_column: str | None) -> np.ndarray:
    """Labels of the districts: ``name_column``, else a 'name' column, else 'district N'."""
    if name_column is not None:
        if name_column not in districts.columns:
            raise InputError(
                f"The district layer has no column {name_column!r}; columns: "
                f"{[c for c in districts.columns if c != 'geometry']}."
            )
        return districts[name_column].astype(str).to_numpy()
    if "name" in districts.columns:
        return districts["name"].astype(str).to_numpy()
    return np.array([f"district {i + 1}" for i in range(len(districts))])


def district_coverage(
    distances: Mapping[str, np.ndarray],
    cells: gpd.GeoDataFrame,
    categories: Mapping[str, Category],
    speeds: Mapping[str, float],
    districts: gpd.GeoDataFrame,
    *,
    name_column: str | None = None,
    facilities: pd.DataFrame | None = None,
    groups: Sequence[str] | None = None,
    levels: Sequence[int] = LEVELS,
    off_streets: np.ndarray | None = None,
) -> pd.DataFrame:
    """:func:`coverage_table` per district (街道/社区/any admin polygon).

    A cell belongs to the district containing its centre, the rule of the calibration to
    district totals, so a calibrated district holds exactly its total; cells outside every
    district are left out (:func:`outside_districts` counts them). ``facilities`` counts those
    inside the district. Adds columns ``district`` (row of the layer) and ``district_name``.
    """
    zone = assign_districts(cells, districts)
    names = district_names(districts, name_column)
    out = coverage_long(
        distances, cells, categories, speeds, zone, len(districts), facilities, groups, levels,
        off_streets,
    )
    if facilities is not None and len(facilities) and isinstance(facilities, gpd.GeoDataFrame):
        out["facilities"] = _facilities_per_district(facilities, districts, cells.crs, out)
    out.insert(0, "district_name", names[out["zone"].to_numpy()])
    out.insert(0, "district", out.pop("zone"))
    return out[["district", "district_name", *COVERAGE_COLUMNS]]


def _facilities_per_district(facilities: gpd.GeoDataFrame, districts: gpd.GeoDataFrame, crs,
                             rows: pd.DataFrame) -> np.ndarray:
    """Facilities of each row's category inside each row's district (``zone``)."""
    try:
        zone = assign_districts(facilities.to_crs(crs), districts)
    except InputError:  # no facility inside any district
        zone = np.full(len(facilities), -1)
    counts = pd.Series(1, index=pd.MultiIndex.from_arrays(
        [zone, facilities["category"].to_numpy()])).groupby(level=[0, 1]).sum()
    keys = pd.MultiIndex.from_arrays([rows["zone"].to_numpy(), rows["category"].to_numpy()])
    return counts.reindex(keys, fill_value=0).to_numpy()
