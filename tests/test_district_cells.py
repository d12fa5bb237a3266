"""One rule for the district of a cell: after calibrating to district totals, the coverage per
district shows each district's total exactly, and people outside every district are reported."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from planner.coverage import district_coverage, outside_districts
from planner.demand import grid_from_cells
from planner.district_cells import RULE, districts_of_cells, districts_of_points
from planner.io.calibrate import calibrate_districts
from planner.standards import load_categories, load_speeds

UTM = "EPSG:32649"  # UTM 49N (Taiyuan)
X0, Y0 = 500_000.0, 4_180_000.0  # a grid corner (multiple of the cell size)
CELL = 100.0


@pytest.fixture(scope="module")
def cats():
    return load_categories()


@pytest.fixture(scope="module")
def speeds():
    return load_speeds()


def demand(people: np.ndarray):
    """A grid of ``people`` (ny, nx) per cell, its corner at (X0, Y0)."""
    ny, nx = people.shape
    iy, ix = np.mgrid[0:ny, 0:nx]
    return grid_from_cells(ix.ravel() + int(X0 // CELL), iy.ravel() + int(Y0 // CELL),
                           {"total": people.ravel()}, cell_m=CELL, crs=UTM)


def layer(polygons, totals) -> gpd.GeoDataFrame:
    """Districts from polygons in metres from (X0, Y0), in WGS-84 as a file would give them."""
    geoms = [shapely.transform(p, lambda a: a + [X0, Y0]) for p in polygons]
    names = [f"街道{i + 1}" for i in range(len(geoms))]
    return gpd.GeoDataFrame({"名称": names, "常住人口": totals}, geometry=geoms,
                            crs=UTM).to_crs(4326)


def people_per_district(grid, districts, cats, speeds) -> dict[int, float]:
    """People per district in the coverage-per-district table."""
    dist = {"convenience": np.zeros(len(grid.cells))}
    t = district_coverage(dist, grid.cells, cats, speeds, districts, name_column="名称")
    rows = t[(t["mode"] == "compliance") & (t["group"] == "total")]
    return rows.groupby("district")["people"].first().to_dict()


def test_rule_centre_and_shared_border():
    west, east = shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)
    points = np.array([[50, 50], [100, 50], [150, 50], [250, 50]])
    assert districts_of_points(points, np.array([west, east])).tolist() == [0, 0, 1, -1]
    assert districts_of_points(points, np.array([east, west])).tolist() == [1, 0, 0, -1]
    # cells (0..2, 0) of 100 m: centres at x = 50, 150, 250
    assert districts_of_cells(np.arange(3), np.zeros(3, int), 100.0,
                              np.array([shapely.box(0, 0, 140, 100)])).tolist() == [0, -1, -1]


def test_cells_straddling_district_edges_get_the_census_totals(cats, speeds):
    """Two districts with a slanted shared border and outer edges cutting through the edge
    cells; every cell centre lies inside one of them (the shape of the Yingze trial)."""
    rng = np.random.default_rng(7)
    people = rng.uniform(0, 400, size=(6, 10))
    grid = demand(people)
    outline = shapely.box(20, 25, 980, 570)  # edge cells straddle the outline
    cut = shapely.Polygon([(-10, -10), (430, -10), (570, 610), (-10, 610)])
    west, east = outline.intersection(cut), outline.difference(cut)
    districts = layer([west, east], [9_000, 7_000])
    out = calibrate_districts(grid, districts.geometry, districts["常住人口"],
                              districts["名称"])
    cal = out.meta["calibration"]
    assert cal["outside_people"] == 0 and cal["outside_cells"] == 0
    assert cal["rule"] == RULE
    assert out.cells["total"].sum() == pytest.approx(16_000, rel=1e-12)
    got = people_per_district(out, districts, cats, speeds)
    assert got == pytest.approx({0: 9_000, 1: 7_000}, rel=1e-12)
    assert outside_districts(out.cells, districts) is None
    # a cell whose centre lies outside both is kept as estimated and reported by both steps
    smaller = layer([west.intersection(shapely.box(60, 0, 1000, 600)), east], [9_000, 7_000])
    out = calibrate_districts(grid, smaller.geometry, smaller["常住人口"], smaller["名称"])
    left = people[:, 0].sum()
    assert out.meta["calibration"]["outside_people"] == pytest.approx(left)
    assert people_per_district(out, smaller, cats, speeds) == pytest.approx(
        {0: 9_000, 1: 7_000}, rel=1e-12)
    note = outside_districts(out.cells, smaller)
    assert note is not None and f"{left:,.0f} people in 6 cells" in note and RULE in note


coord = st.floats(-150, 650, allow_nan=False)
polygon = st.lists(st.tuples(coord, coord), min_size=3, max_size=6).map(
    lambda pts: shapely.convex_hull(shapely.multipoints(pts)))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.integers(1, 5), st.data(),
       st.lists(st.tuples(polygon, st.floats(0, 50_000)), min_size=2, max_size=3))
def test_calibrated_districts_show_their_totals(nx, ny, data, districts_in):
    """Random grids and 2–3 random (possibly overlapping) polygons: after calibration every
    district's people in the coverage per district equal its total, unless it holds no cell
    centre (then it is reported as not placed); people outside keep their estimate."""
    people = np.array(data.draw(st.lists(st.sampled_from([0.0, 0.5, 3.0, 120.0, 999.0]),
                                         min_size=nx * ny, max_size=nx * ny))).reshape(ny, nx)
    assume(people.sum() > 0)
    polys = [p for p, _ in districts_in]
    assume(all(p.geom_type == "Polygon" and p.area > 1.0 for p in polys))
    totals = [t for _, t in districts_in]
    grid = demand(people)
    districts = layer(polys, totals)
    out = calibrate_districts(grid, districts.geometry, districts["常住人口"],
                              districts["名称"])
    zone = districts_of_cells(out.cells["ix"].to_numpy(), out.cells["iy"].to_numpy(), CELL,
                              districts.to_crs(UTM).geometry.to_numpy())
    assume((zone >= 0).any())  # the table needs a district holding a cell
    cats, speeds = load_categories(), load_speeds()
    got = people_per_district(out, districts, cats, speeds)
    unplaced = out.meta["calibration"]["unplaced"]
    for i, (name, total) in enumerate(zip(districts["名称"], totals, strict=True)):
        if name in unplaced:
            assert unplaced[name] == total and got.get(i, 0.0) == 0.0
        else:
            assert got.get(i, 0.0) == pytest.approx(total, rel=1e-9, abs=1e-6)
    before = demand(people)
    before_zone = districts_of_cells(before.cells["ix"].to_numpy(),
                                     before.cells["iy"].to_numpy(), CELL,
                                     districts.to_crs(UTM).geometry.to_numpy())
    outside = before.cells["total"].to_numpy()[before_zone < 0].sum()
    assert out.meta["calibration"]["outside_people"] == pytest.approx(outside)
    assert out.cells["total"].to_numpy()[zone < 0].sum() == pytest.approx(outside)


def test_district_without_cell_centre_and_overlaps_are_reported():
    grid = demand(np.full((2, 3), 10.0))
    # a district inside one cell holding no centre; one inside the district listed first
    districts = layer([shapely.box(0, 0, 300, 200), shapely.box(205, 105, 240, 140),
                       shapely.box(150, 0, 300, 200)], [600, 50, 80])
    out = calibrate_districts(grid, districts.geometry, districts["常住人口"],
                              districts["名称"])
    cal = out.meta["calibration"]
    # 街道2 is smaller than a cell; 街道3's cells belong to 街道1, listed first
    assert cal["unplaced"] == {"街道2": 50.0, "街道3": 80.0}
    assert out.cells["total"].sum() == pytest.approx(600)
    assert any("街道2, 街道3" in n and "130 people are not placed" in n for n in out.notes)
    assert any("overlap" in n and "listed first" in n for n in out.notes)
