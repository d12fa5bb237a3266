"""Census counts by polygon → DemandGrid: areal and dasymetric weighting, bad input."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.errors import CRSError, InputError
from planner.io.population import disaggregate, load_population, read_census

UTM = "EPSG:32650"
X0, Y0 = 500_000.0, 3_400_000.0  # a grid corner (multiple of 100 m)


def census(rows, crs=UTM):
    """rows: (population, (x0, y0, x1, y1) offsets in metres from the grid corner)."""
    geoms = [shapely.box(X0 + a, Y0 + b, X0 + c, Y0 + d) for _, (a, b, c, d) in rows]
    return gpd.GeoDataFrame({"population": [p for p, _ in rows]}, geometry=geoms, crs=crs)


def by_cell(grid, column="total"):
    ix0, iy0 = int(X0 // grid.cell_size_m), int(Y0 // grid.cell_size_m)
    return {(int(i) - ix0, int(j) - iy0): v for i, j, v in zip(
        grid.cells.ix, grid.cells.iy, grid.cells[column], strict=True)}


def test_areal_weighting_hand_computed():
    # 300 people on 200 × 100 m (two cells, 150 each); 90 people on 150 × 100 m straddling:
    # x 150..300 → 50 m in cell 1, 100 m in cell 2
    layer = census([(300, (0, 0, 200, 100)), (90, (150, 100, 300, 200))])
    grid = read_census(layer, crs=UTM, cell_m=100, age_shares=None)
    assert by_cell(grid) == pytest.approx({(0, 0): 150, (1, 0): 150, (1, 1): 30, (2, 1): 60})
    assert grid.meta["method"] == "areal weighting"


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e4), st.floats(-300, 300), st.floats(-300, 300),
                          st.floats(5, 400), st.floats(5, 400)), min_size=1, max_size=8))
def test_totals_per_polygon_preserved_exactly(specs):
    polys = np.array([shapely.box(x, y, x + w, y + h) for _, x, y, w, h in specs])
    counts = np.array([[p, p / 3] for p, *_ in specs])
    pi, ix, iy, people, fallback = disaggregate(polys, counts, 70.0)
    per_poly = np.stack([np.bincount(pi, weights=people[:, k], minlength=len(polys))
                         for k in range(2)], axis=1)
    np.testing.assert_allclose(per_poly, counts, rtol=1e-12, atol=1e-9)
    assert len(fallback) == 0


def test_dasymetric_follows_floor_area():
    layer = census([(400, (0, 0, 200, 100))])
    # two residential buildings: 20×20 m × 3 levels in cell 0 and 20×20 m × 9 levels in cell 1
    buildings = gpd.GeoDataFrame(
        {"building": ["residential", "apartments"], "building:levels": ["3", "9"]},
        geometry=[shapely.box(X0 + 10, Y0 + 10, X0 + 30, Y0 + 30),
                  shapely.box(X0 + 150, Y0 + 40, X0 + 170, Y0 + 60)], crs=UTM)
    grid = read_census(layer, crs=UTM, cell_m=100, buildings=buildings, age_shares=None)
    assert by_cell(grid) == pytest.approx({(0, 0): 100, (1, 0): 300})
    assert grid.meta["method"].startswith("dasymetric")


def test_dasymetric_building_straddling_cells_and_fallback_polygon():
    layer = census([(120, (0, 0, 200, 100)), (50, (0, 100, 100, 200))])
    # one house 40 m wide centred on the cell border x = 100: 20 m on each side
    buildings = gpd.GeoDataFrame(
        {"building": ["house"]}, geometry=[shapely.box(X0 + 80, Y0 + 20, X0 + 120, Y0 + 40)],
        crs=UTM)
    grid = read_census(layer, crs=UTM, cell_m=100, buildings=buildings, age_shares=None)
    # polygon 0 follows its one building (half in each cell); polygon 1 has no building → areal
    assert by_cell(grid) == pytest.approx({(0, 0): 60, (1, 0): 60, (0, 1): 50})
    assert any("hold no residential building" in n for n in grid.notes)


def test_age_columns_are_split_too_and_shares_not_applied():
    layer = census([(200, (0, 0, 200, 100))])
    layer["age_60_plus"] = [40]
    grid = read_census(layer, crs=UTM, cell_m=100)  # default Shanxi shares: not needed here
    assert by_cell(grid, "age_60_plus") == pytest.approx({(0, 0): 20, (1, 0): 20})
    assert "age_0_2" not in grid.groups


def test_shares_applied_when_census_has_no_ages():
    grid = read_census(census([(1000, (0, 0, 100, 100))]), crs=UTM, cell_m=100,
                       age_shares={"age_60_plus": 0.25})
    assert grid.cells["age_60_plus"].iloc[0] == pytest.approx(250)


def test_load_population_dispatches_census_file(tmp_path):
    path = tmp_path / "shequ.geojson"
    census([(300, (0, 0, 200, 100))], crs=UTM).to_crs(4326).to_file(path)
    grid = load_population(path, crs=UTM, cell_m=100, age_shares=None)
    assert grid.totals()["total"] == pytest.approx(300)
    assert grid.meta["source"] == str(path)


def test_clip_to_area():
    grid = read_census(census([(300, (0, 0, 300, 100))]), crs=UTM, cell_m=100,
                       area=shapely.box(X0, Y0, X0 + 150, Y0 + 100), age_shares=None)
    assert grid.totals()["total"] == pytest.approx(150)


def test_overlapping_polygons_are_reported():
    grid = read_census(census([(10, (0, 0, 200, 100)), (10, (100, 0, 300, 100))]), crs=UTM,
                       age_shares=None)
    assert any("overlap (0.010 km²" in n for n in grid.notes)


# --- bad input -------------------------------------------------------------------------------------


def test_no_population_column():
    layer = census([(10, (0, 0, 100, 100))]).rename(columns={"population": "name"})
    with pytest.raises(InputError, match=r"no population column.*\['name'\]"):
        read_census(layer, crs=UTM)
    with pytest.raises(InputError, match="no column 'pop2020'"):
        read_census(census([(10, (0, 0, 100, 100))]), crs=UTM, column="pop2020")


def test_negative_and_missing_counts():
    with pytest.raises(InputError, match=r"negative counts in rows \[1\]"):
        read_census(census([(10, (0, 0, 100, 100)), (-5, (100, 0, 200, 100))]), crs=UTM)
    layer = census([(10, (0, 0, 100, 100)), (5, (100, 0, 200, 100))])
    layer["population"] = ["10", "n/a"]
    with pytest.raises(InputError, match=r"not a number in rows \[1\]"):
        read_census(layer, crs=UTM)


def test_non_polygon_and_missing_crs():
    layer = gpd.GeoDataFrame({"population": [5]}, geometry=[shapely.Point(X0, Y0)], crs=UTM)
    with pytest.raises(InputError, match="non-polygon"):
        read_census(layer, crs=UTM)
    with pytest.raises(CRSError, match="no coordinate reference system"):
        read_census(census([(5, (0, 0, 100, 100))], crs=None), crs=UTM)


def test_census_cell_size_limits():
    with pytest.raises(InputError, match="Cell size"):
        read_census(census([(5, (0, 0, 100, 100))]), crs=UTM, cell_m=6000)
