"""DemandGrid and the exact overlap geometry behind it, checked against shapely."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.demand import (
    DemandGrid,
    apply_age_shares,
    check_cell_size,
    clip_grid,
    geometry_cell_areas,
    grid_from_cells,
    polygon_cell_fractions,
)
from planner.errors import CRSError, InputError

UTM = "EPSG:32650"


def _quad(cx, cy, w, h, angle):
    base = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]]) * [w, h]
    c, s = np.cos(angle), np.sin(angle)
    return base @ np.array([[c, s], [-s, c]]) + [cx, cy]


coords = st.floats(-150, 250, allow_nan=False)
sizes = st.floats(0.5, 180, allow_nan=False)
angles = st.floats(0, np.pi, allow_nan=False)


def test_nonconvex_polygon_fractions_match_shapely():
    # an L-shape over four 100 m cells; its overlap with cell (0, 0) is 50·50 + 100·50 m²
    ring = np.array([[-50, -50], [50, -50], [50, 50], [150, 50], [150, 100], [-50, 100]], float)
    src, ix, iy, frac = polygon_cell_fractions(ring[None], 100.0)
    poly = shapely.polygons(ring)
    boxes = shapely.box(ix * 100.0, iy * 100.0, (ix + 1) * 100.0, (iy + 1) * 100.0)
    np.testing.assert_allclose(frac, shapely.area(shapely.intersection(poly, boxes)) / poly.area)
    assert frac[(ix == 0) & (iy == 0)][0] * poly.area == pytest.approx(50 * 50 + 100 * 50)
    assert frac.sum() == pytest.approx(1.0)


def test_degenerate_polygons_get_no_pairs():
    flat = np.array([[[0, 0], [10, 0], [20, 0], [5, 0]]], float)
    assert len(polygon_cell_fractions(flat, 100.0)[0]) == 0
    assert len(polygon_cell_fractions(np.zeros((0, 4, 2)), 100.0)[0]) == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(coords, coords, sizes, sizes, angles), min_size=1, max_size=15),
       st.sampled_from([30.0, 50.0, 100.0]))
def test_polygon_cell_fractions_partition_each_polygon(specs, cell):
    quads = np.stack([_quad(*s) for s in specs])
    quads[::2] = quads[::2, ::-1]  # clockwise and counter-clockwise rings
    src, ix, iy, frac = polygon_cell_fractions(quads, cell)
    np.testing.assert_allclose(np.bincount(src, weights=frac, minlength=len(quads)), 1.0,
                               atol=1e-9)
    # each pair against an independent shapely intersection
    boxes = shapely.box(ix * cell, iy * cell, (ix + 1) * cell, (iy + 1) * cell)
    polys = shapely.polygons(quads)
    ref = shapely.area(shapely.intersection(polys[src], boxes)) / shapely.area(polys[src])
    np.testing.assert_allclose(frac, ref, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(coords, coords, sizes, sizes, angles), min_size=1, max_size=10))
def test_geometry_cell_areas_matches_brute_force(specs):
    polys = shapely.polygons(np.stack([_quad(*s) for s in specs]))
    gi, ix, iy, area = geometry_cell_areas(polys, 40.0, max_pairs=7)  # tiny batches on purpose
    np.testing.assert_allclose(np.bincount(gi, weights=area, minlength=len(polys)),
                               shapely.area(polys), rtol=1e-9)
    boxes = shapely.box(ix * 40.0, iy * 40.0, (ix + 1) * 40.0, (iy + 1) * 40.0)
    np.testing.assert_allclose(area, shapely.area(shapely.intersection(polys[gi], boxes)),
                               atol=1e-7)


def test_grid_from_cells_sums_aligns_and_drops_empty():
    grid = grid_from_cells(
        np.array([3, 3, 4, -2]), np.array([7, 7, 7, 1]),
        {"total": np.array([1.0, 2.0, 0.0, 5.0]), "age_60_plus": np.array([0.5, 0.5, 0, 1])},
        cell_m=100.0, crs=UTM,
    )
    cells = grid.cells.set_index(["ix", "iy"])
    assert len(grid) == 2  # (4, 7) had no people
    assert cells.loc[(3, 7), "total"] == 3.0
    assert cells.loc[(3, 7), "age_60_plus"] == 1.0
    assert (cells.loc[(-2, 1), "x"], cells.loc[(-2, 1), "y"]) == (-150.0, 150.0)
    assert grid.groups == ["total", "age_60_plus"]
    grid.cells["district"] = "迎泽区"  # a label column is not a population group
    assert grid.groups == ["total", "age_60_plus"]
    assert list(grid.cells["cell_id"]) == [0, 1]
    np.testing.assert_allclose(grid.points(), grid.cells[["x", "y"]].to_numpy())
    bounds = shapely.bounds(grid.cells.geometry.values)
    np.testing.assert_allclose(bounds % 100.0, 0.0)  # aligned to multiples of the cell size
    assert grid.crs.to_epsg() == 32650


def test_save_load_roundtrip(tmp_path):
    grid = grid_from_cells(np.array([1, 2]), np.array([1, 1]), {"total": np.array([4.0, 6.0])},
                           cell_m=250.0, crs=UTM, meta={"source": "unit", "notes": ["n1"]})
    back = DemandGrid.load(grid.save(tmp_path / "g.parquet"))
    assert back.cell_size_m == 250.0
    assert back.meta["source"] == "unit" and back.notes == ["n1"]
    assert back.crs == grid.crs
    assert_geodataframe_equal(back.cells, grid.cells)


def test_load_rejects_plain_parquet(tmp_path):
    gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(0, 0)], crs=UTM).to_parquet(
        tmp_path / "p.parquet")
    with pytest.raises(InputError, match="not a demand grid"):
        DemandGrid.load(tmp_path / "p.parquet")
    with pytest.raises(InputError, match="does not exist"):
        DemandGrid.load(tmp_path / "missing.parquet")


@pytest.mark.parametrize("size", [5, 9.99, 5001, 20000, float("nan"), "abc"])
def test_cell_size_bounds(size):
    with pytest.raises(InputError, match="Cell size"):
        check_cell_size(size)


def test_cell_size_outside_recommended_warns():
    with pytest.warns(UserWarning, match="recommended"):
        assert check_cell_size(20) == 20.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_cell_size(100) == 100.0


def test_geographic_crs_refused():
    one = {"total": np.array([1.0])}
    with pytest.raises(CRSError, match="not projected in metres: it is geographic"):
        grid_from_cells([0], [0], one, cell_m=100, crs="EPSG:4326")
    with pytest.raises(CRSError, match="US survey foot"):
        grid_from_cells([0], [0], one, cell_m=100, crs="EPSG:2249")


def test_clip_grid_keeps_area_share():
    grid = grid_from_cells(np.array([0, 1, 5]), np.array([0, 0, 0]),
                           {"total": np.array([10.0, 10.0, 10.0])}, cell_m=100.0, crs=UTM)
    clipped = clip_grid(grid, shapely.box(0, 0, 150, 100))  # all of cell 0, half of cell 1
    assert sorted(clipped.cells["total"]) == [5.0, 10.0]
    assert list(clipped.cells["cell_id"]) == [0, 1]


def test_apply_age_shares_only_fills_missing_groups():
    grid = grid_from_cells(np.array([0, 1]), np.array([0, 0]),
                           {"total": np.array([100.0, 50.0]), "age_60_plus": np.array([30.0, 5])},
                           cell_m=100.0, crs=UTM)
    out = apply_age_shares(grid, {"age_60_plus": 0.2, "age_0_2": 0.03}, source="test shares")
    assert list(out.cells["age_60_plus"]) == [30.0, 5.0]  # the source's own numbers stay
    np.testing.assert_allclose(out.cells["age_0_2"], [3.0, 1.5])
    assert "age_0_2" in out.meta["derived"] and "age_60_plus" not in out.meta["derived"]
    assert any("test shares" in n for n in out.notes)
    with pytest.raises(InputError, match="between 0 and 1"):
        apply_age_shares(grid, {"age_3_5": 1.5})
