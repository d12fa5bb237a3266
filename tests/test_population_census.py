"""Census counts by polygon → DemandGrid: areal and dasymetric weighting, bad input."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.district_cells import RULE
from planner.errors import CRSError, InputError
from planner.io.calibrate import calibrate_districts, calibrate_total
from planner.io.census import disaggregate, read_census
from planner.io.population import load_population

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


# --- calibration to known totals ------------------------------------------------------------


def test_calibrate_to_one_total():
    grid = read_census(census([(300, (0, 0, 200, 100))]), crs=UTM, cell_m=100,
                       age_shares={"age_60_plus": 0.2})
    out = load_population(grid, total=207_000)
    assert out.totals()["total"] == pytest.approx(207_000, rel=1e-12)
    assert out.totals()["age_60_plus"] == pytest.approx(0.2 * 207_000, rel=1e-12)
    assert out.meta["calibration"]["factor"] == pytest.approx(690)
    assert any("Calibrated to the given total of 207,000 people" in n for n in out.notes)


def test_calibrate_to_district_totals_hand_computed(tmp_path):
    # estimate: 100 people per cell in a 3 × 1 row of cells (centres at x = 50, 150, 250)
    grid = read_census(census([(300, (0, 0, 300, 100))]), crs=UTM, cell_m=100, age_shares=None)
    # district A (x 0..140) holds the centre of cell 0 and straddles cell 1, whose centre is
    # outside every district; B (x 200..260) holds the centre of cell 2
    districts = census([(600, (0, 0, 140, 100)), (10, (200, 0, 260, 100))]).to_crs(4326)
    districts["name"] = ["迎泽街道", "柳巷街道"]
    path = tmp_path / "jiedao.geojson"
    districts.to_file(path)
    out = load_population(grid, districts=path)
    assert by_cell(out) == pytest.approx({(0, 0): 600, (1, 0): 100, (2, 0): 10}, rel=1e-6)
    cal = out.meta["calibration"]
    assert cal["factors"] == pytest.approx({"迎泽街道": 6.0, "柳巷街道": 0.1}, rel=1e-6)
    assert cal["outside_people"] == pytest.approx(100, rel=1e-6)
    assert cal["rule"] == RULE
    assert any("100 estimated people in 1 cell whose centre lies outside every district" in n
               for n in out.notes)
    assert any(RULE in n for n in out.notes)


def test_district_without_estimated_people_is_spread_over_its_cells():
    grid = read_census(census([(100, (0, 0, 100, 100))]), crs=UTM, cell_m=100, age_shares=None)
    districts = census([(50, (0, 0, 100, 100)), (80, (200, 0, 400, 100))])
    out = calibrate_districts(grid, districts.geometry, districts["population"])
    assert by_cell(out) == pytest.approx({(0, 0): 50, (2, 0): 40, (3, 0): 40})
    assert out.meta["calibration"]["spread_by_area"] == ["1"]


def test_calibration_bad_input():
    grid = read_census(census([(100, (0, 0, 100, 100))]), crs=UTM, cell_m=100, age_shares=None)
    with pytest.raises(InputError, match="either one population total or district totals"):
        load_population(grid, total=5, districts=census([(5, (0, 0, 100, 100))]))
    with pytest.raises(InputError, match="finite number of people"):
        calibrate_total(grid, -3)
    swapped = census([(5, (0, 0, 100, 100))]).to_crs(4326)
    swapped.geometry = swapped.geometry.map(lambda g: shapely.transform(g, lambda a: a[:, ::-1]))
    with pytest.raises(CRSError, match="longitude and latitude swapped"):
        load_population(grid, districts=swapped)
    with pytest.raises(CRSError, match="longitude and latitude swapped"):
        read_census(swapped, crs=UTM)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.floats(1, 1e3), st.floats(0, 500), st.floats(0, 500)),
                min_size=1, max_size=10),
       st.lists(st.tuples(st.floats(0, 1e5), st.integers(1, 6)), min_size=1, max_size=4))
def test_calibration_preserves_district_totals_exactly(cells, districts):
    """Random estimates and side-by-side district strips on cell borders: the cells of every
    district add up to its total; people outside all districts keep their estimate."""
    layer = census([(p, (x, y, x + 60, y + 60)) for p, x, y in cells])
    grid = read_census(layer, crs=UTM, cell_m=50, age_shares=None)
    strips, x = [], 0
    for total, width in districts:
        strips.append((total, (x, -100, x + 50 * width, 700)))
        x += 50 * width
    d = census(strips)
    out = calibrate_districts(grid, d.geometry, d["population"])
    got = by_cell(out)
    for total, (x0, _, x1, _) in strips:
        inside = sum(v for (i, _), v in got.items() if x0 <= i * 50 < x1)
        assert inside == pytest.approx(total, rel=1e-9, abs=1e-6)
    before = by_cell(grid)
    outside = {k: v for k, v in before.items() if not 0 <= k[0] * 50 < x}
    assert {k: got[k] for k in outside} == pytest.approx(outside, rel=1e-12)
    assert out.meta["calibration"]["outside_people"] == pytest.approx(sum(outside.values()))


def test_a_study_area_keeps_the_people_living_inside_it_not_the_cells_share():
    # 社区 polygons that do not follow the 100 m grid; each used as the study area keeps exactly
    # its own count (a cell on its border keeps the people of the part inside, not the
    # cell's area share of them)
    layer = census([(6400, (30, 40, 1230, 1170)), (1800, (1230, 40, 1710, 1170))])
    for row in range(2):
        area = gpd.GeoSeries([layer.geometry[row]], crs=UTM)
        grid = read_census(layer, crs=UTM, cell_m=100, area=area, age_shares=None)
        assert grid.cells["total"].sum() == pytest.approx(layer["population"][row], rel=1e-9)
