"""Rasters → DemandGrid: hand-computed grids, an independent shapely reference, bad input,
age bands, and the real WorldPop Wuhan stack (skipped when ../shared/data is absent)."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import rasterio
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.transform import from_origin
from typer.testing import CliRunner

from planner.cli import app
from planner.errors import CRSError, InputError
from planner.io.population import load_population
from planner.io.raster import age_band_weights, find_age_stack, read_age_stack, read_raster

UTM = "EPSG:32650"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WUHAN = SHARED / "wuhan_worldpop"


def write_raster(path, data, *, transform, crs=UTM, nodata=None):
    data = np.asarray(data, dtype=np.float32)
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[0], width=data.shape[1],
                       count=1, dtype="float32", crs=crs, transform=transform,
                       nodata=nodata) as dst:
        dst.write(data, 1)
    return path


def by_cell(grid, column="total"):
    return {(int(i), int(j)): v for i, j, v in zip(grid.cells.ix, grid.cells.iy,
                                                    grid.cells[column], strict=True)}


# --- hand-computed answers -----------------------------------------------------------------------


def test_aligned_metric_raster_sums_blocks(tmp_path):
    data = np.arange(1, 17, dtype=float).reshape(4, 4)  # 50 m pixels, top-left (500000, 3400200)
    path = write_raster(tmp_path / "a.tif", data, transform=from_origin(500000, 3400200, 50, 50))
    grid = read_raster(path, crs=UTM, cell_m=100)
    # 100 m cell (5000, 34001) is the top-left 2×2 block: 1 + 2 + 5 + 6
    assert by_cell(grid) == pytest.approx({(5000, 34001): 14.0, (5001, 34001): 22.0,
                                           (5000, 34000): 46.0, (5001, 34000): 54.0})
    assert grid.totals()["total"] == pytest.approx(136.0)


def test_shifted_raster_splits_pixels_by_area(tmp_path):
    # one 50 m pixel of 8 people spanning x 75..125, y 0..50: half in each of two cells
    data = np.array([[8.0]])
    path = write_raster(tmp_path / "s.tif", data, transform=from_origin(500075, 3400050, 50, 50))
    grid = read_raster(path, crs=UTM, cell_m=100)
    assert by_cell(grid) == pytest.approx({(5000, 34000): 4.0, (5001, 34000): 4.0})
    # and 30 people over a 150 m pixel from x 50..200, y 0..150 at 100 m cells:
    # overlaps 50×100, 100×100, 50×50, 100×50 of 22,500 m²
    path = write_raster(tmp_path / "b.tif", [[30.0]],
                        transform=from_origin(500050, 3400150, 150, 150))
    grid = read_raster(path, crs=UTM, cell_m=100)
    assert by_cell(grid) == pytest.approx({(5000, 34000): 30 * 5000 / 22500,
                                           (5001, 34000): 30 * 10000 / 22500,
                                           (5000, 34001): 30 * 2500 / 22500,
                                           (5001, 34001): 30 * 5000 / 22500})


def test_geographic_raster_matches_shapely_reference(tmp_path):
    rng = np.random.default_rng(7)
    data = rng.uniform(0, 50, (6, 7)).astype(np.float32).astype(np.float64)
    transform = from_origin(112.55, 37.87, 0.001, 0.001)  # Taiyuan, ~88 × 111 m cells
    path = write_raster(tmp_path / "g.tif", data, transform=transform, crs="EPSG:4326")
    grid = read_raster(path, crs="EPSG:4547", cell_m=50)  # CGCS2000 Gauss-Krüger CM 114E
    # reference: every raster cell as a densified lon/lat polygon, projected, intersected
    rows, cols = np.mgrid[0:6, 0:7]
    x0, y0 = transform * (cols.ravel(), rows.ravel())
    cells = shapely.segmentize(shapely.box(x0, y0 - 0.001, x0 + 0.001, y0), 0.0001)
    proj = np.asarray(gpd.GeoSeries(cells, crs=4326).to_crs("EPSG:4547").values)
    x, y = grid.points().T
    boxes = shapely.box(x - 25, y - 25, x + 25, y + 25)
    share = shapely.area(shapely.intersection(proj[:, None], boxes[None, :]))
    expected = (data.ravel()[:, None] * share / shapely.area(proj)[:, None]).sum(axis=0)
    np.testing.assert_allclose(grid.cells["total"], expected, rtol=1e-4, atol=1e-6)
    assert grid.totals()["total"] == pytest.approx(data.sum(), rel=1e-12)


@settings(max_examples=12, deadline=None)
@given(lon=st.floats(73, 134), lat=st.floats(18, 53), res=st.sampled_from([0.0005, 0.00083333, 0.002]),
       cell=st.sampled_from([50.0, 100.0, 250.0]), seed=st.integers(0, 1000))
def test_geographic_regrid_preserves_totals_and_aligns(lon, lat, res, cell, seed):
    import tempfile

    data = np.random.default_rng(seed).uniform(0, 30, (5, 6)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_raster(Path(tmp) / "r.tif", data, crs="EPSG:4326",
                            transform=from_origin(lon, lat, res, res))
        grid = read_raster(path, cell_m=cell)
    assert grid.totals()["total"] == pytest.approx(float(data.astype(float).sum()), rel=1e-9)
    assert np.allclose(grid.cells.x % cell, cell / 2) and np.allclose(grid.cells.y % cell, cell / 2)
    assert grid.crs.is_projected


# --- anomalies and bad input -----------------------------------------------------------------------


def test_nodata_nan_and_negative_count_as_zero_and_are_reported(tmp_path):
    data = [[5.0, -9999.0], [np.nan, -3.0]]
    path = write_raster(tmp_path / "n.tif", data, transform=from_origin(500000, 3400200, 100, 100),
                        nodata=-9999.0)
    grid = read_raster(path, crs=UTM, cell_m=100)
    assert grid.totals()["total"] == pytest.approx(5.0)
    assert len(grid) == 1
    assert grid.meta["nodata_cells"] == 2 and grid.meta["negative_cells"] == 1
    assert any("nodata" in n for n in grid.notes) and any("negative" in n for n in grid.notes)


def test_cells_outside_the_grid_crs_are_reported(tmp_path):
    # UTM 50N (central meridian 117°E) cannot project 30°E on the equator; 65–100°E it can
    path = write_raster(tmp_path / "far.tif", [[5.0, 7.0]], crs="EPSG:4326",
                        transform=from_origin(30.0, 0.5, 35.0, 0.5))
    grid = read_raster(path, crs=UTM, cell_m=1000)
    assert grid.totals()["total"] == pytest.approx(7.0)
    assert any("1 raster cells (5 people) fall outside" in n for n in grid.notes)


def test_raster_without_crs(tmp_path):
    path = write_raster(tmp_path / "x.tif", [[1.0]], transform=from_origin(0, 1, 1, 1), crs=None)
    with pytest.raises(CRSError, match="has no CRS.*gdal_edit"):
        read_raster(path, crs=UTM)


def test_area_outside_raster_names_both_extents(tmp_path):
    path = write_raster(tmp_path / "r.tif", np.ones((3, 3)), crs="EPSG:4326",
                        transform=from_origin(114.0, 30.6, 0.001, 0.001))
    far = gpd.GeoSeries([shapely.box(112.5, 37.8, 112.6, 37.9)], crs=4326)  # Taiyuan
    with pytest.raises(InputError, match=r"study area \(lon 112\.\d+.*does not overlap the raster \(lon 114\.0"):
        read_raster(path, area=far)


def test_nodata_everywhere(tmp_path):
    path = write_raster(tmp_path / "e.tif", np.full((4, 4), -1.0), nodata=-1.0,
                        transform=from_origin(500000, 3400200, 50, 50))
    with pytest.raises(InputError, match="no people.*16 of 16 raster values are nodata"):
        read_raster(path, crs=UTM)


def test_unreadable_raster(tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_text("not a tiff")
    with pytest.raises(InputError, match="Cannot read raster"):
        read_raster(bad, crs=UTM)


def test_clip_to_study_area(tmp_path):
    path = write_raster(tmp_path / "c.tif", np.full((2, 4), 10.0),
                        transform=from_origin(500000, 3400200, 100, 100))
    area = shapely.box(500000, 3400000, 500250, 3400200)  # 2.5 of 4 columns, in the grid CRS
    grid = read_raster(path, crs=UTM, cell_m=100, area=area)
    assert grid.totals()["total"] == pytest.approx(50.0)
    # only the raster columns the area touches are read: 3 of 4
    assert grid.meta["source_total"] == grid.meta["unclipped_total"] == pytest.approx(60.0)


# --- age bands and stacks ---------------------------------------------------------------------------


def test_age_band_weights_worldpop_layout():
    w, notes = age_band_weights([0, 1, *range(5, 85, 5)])
    assert w["age_0_2"] == {0: 1.0, 1: 0.5}  # under-1, and 2 of the 4 years 1–4
    assert w["age_3_5"] == {1: 0.5, 5: 0.2}
    assert w["age_60_plus"] == {a: 1.0 for a in range(60, 85, 5)}
    assert w["age_65_plus"] == {a: 1.0 for a in range(65, 85, 5)}
    assert any("spread evenly" in n for n in notes)


def test_age_band_weights_without_children():
    w, notes = age_band_weights(list(range(20, 85, 5)))
    assert set(w) == {"age_60_plus", "age_65_plus"}
    assert any("age_0_2, age_3_5 are not in the grid" in n for n in notes)
    assert any("aged 20 and over" in n for n in notes)
    w, _ = age_band_weights(list(range(20, 85, 5)), {"old_75_84": (75, 84)})
    assert w == {}  # the open 80+ band cannot be cut at 84


def test_find_age_stack_patterns(tmp_path):
    for age in (0, 1, 5):
        for sex in "fm":
            (tmp_path / f"chn_{sex}_{age}_2020.tif").touch()
    (tmp_path / "readme.txt").touch()
    stack = find_age_stack(tmp_path)
    assert list(stack) == [0, 1, 5] and set(stack[1]) == {"f", "m"}
    assert find_age_stack(tmp_path, "chn_{sex}_{age}_2020.tif") == stack
    with pytest.raises(InputError, match="No file .* matches"):
        find_age_stack(tmp_path, "pop_{age}_{sex}.tif")
    (tmp_path / "chn_f_10_2020.tif").touch()
    with pytest.raises(InputError, match="incomplete"):
        find_age_stack(tmp_path)


def test_read_age_stack_hand_computed(tmp_path):
    t = from_origin(500000, 3400100, 100, 100)
    people = {0: 2.0, 1: 8.0, 5: 10.0, 60: 3.0, 80: 1.0}
    for age, value in people.items():
        for sex, k in (("f", 1.0), ("m", 0.5)):
            write_raster(tmp_path / f"pop_{age}_{sex}_x.tif", [[value * k]], transform=t)
    grid = load_population(tmp_path, crs=UTM)
    cell = grid.cells.iloc[0]
    assert cell["total"] == pytest.approx(1.5 * sum(people.values()))
    # the stack has 0, 1, 5 but not 10–55 or 65–75: 0–2 and 3–5 are computable, 60+ is not
    assert cell["age_0_2"] == pytest.approx(1.5 * (2 + 8 / 2))
    assert cell["age_3_5"] == pytest.approx(1.5 * (8 / 2 + 10 / 5))
    assert "age_60_plus" not in grid.groups and "age_65_plus" not in grid.groups
    assert grid.meta["age_bands"] == [0, 1, 5, 60, 80]


def test_single_raster_gets_shanxi_age_shares_by_default(tmp_path):
    path = write_raster(tmp_path / "t.tif", [[1000.0]], transform=from_origin(500000, 3400100,
                                                                              100, 100))
    grid = load_population(path, crs=UTM)
    assert grid.cells["age_60_plus"].iloc[0] == pytest.approx(189.2)
    assert grid.cells["age_65_plus"].iloc[0] == pytest.approx(129.0)
    assert "age_0_2" in grid.meta["derived"]
    bare = load_population(path, crs=UTM, age_shares=None)
    assert bare.groups == ["total"]


def test_cli_population(tmp_path):
    path = write_raster(tmp_path / "t.tif", np.full((3, 3), 7.0),
                        transform=from_origin(500000, 3400300, 100, 100))
    out = tmp_path / "grid.parquet"
    result = CliRunner().invoke(app, ["population", str(path), "--cell-m", "100", "--crs", UTM,
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "63" in result.output and "cells: 9" in result.output
    assert load_population(out).totals()["total"] == pytest.approx(63.0)
    bad = CliRunner().invoke(app, ["population", str(path), "--cell-m", "5", "-o", str(out)])
    assert bad.exit_code == 2 and "Cell size" in bad.output


# --- the real WorldPop Wuhan stack -----------------------------------------------------------------

needs_wuhan = pytest.mark.skipif(not WUHAN.is_dir(), reason=f"{WUHAN} is absent (shared data)")
GROUP_BANDS = {"total": range(20, 85, 5), "age_60_plus": range(60, 85, 5),
               "age_65_plus": range(65, 85, 5)}


def wuhan_boundary() -> gpd.GeoDataFrame:
    """The shared boundary file has one stray character ('"5",m"name"') that makes it invalid
    GeoJSON; read it with that character removed."""
    text = (WUHAN / "wuhan-boundary.geojson").read_text(encoding="utf-8")
    return gpd.GeoDataFrame.from_features(json.loads(text.replace('",m"name"', '", "name"')),
                                          crs=4326)


@pytest.fixture(scope="module")
def wuhan_raw():
    """Cell-centre lon/lat and people per group of every raw raster cell (nodata → 0)."""
    with rasterio.open(WUHAN / "pop_20_f_wuhan.tif") as ds:
        rows, cols = np.mgrid[0 : ds.height, 0 : ds.width]
        lon, lat = ds.transform * (cols + 0.5, rows + 0.5)
    sums = {g: np.zeros(lon.shape) for g in GROUP_BANDS}
    for age in range(20, 85, 5):
        for sex in "fm":
            with rasterio.open(WUHAN / f"pop_{age}_{sex}_wuhan.tif") as ds:
                a = ds.read(1).astype(np.float64)
            a[(a == ds.nodata) | ~np.isfinite(a) | (a < 0)] = 0
            for g, bands in GROUP_BANDS.items():
                if age in bands:
                    sums[g] += a
    return lon, lat, sums


def source_sums(raw, inside) -> dict[str, float]:
    """People per group in the raw rasters over cells whose centre passes ``inside(lon, lat)``."""
    lon, lat, sums = raw
    mask = inside(lon, lat)
    return {g: float(a[mask].sum()) for g, a in sums.items()}


@pytest.fixture(scope="module")
def wuhan_250():
    return read_age_stack(WUHAN, cell_m=250, area=wuhan_boundary())


@pytest.mark.slow
@needs_wuhan
@pytest.mark.shared
def test_wuhan_250m_clipped_to_boundary(wuhan_250, wuhan_raw):
    grid = wuhan_250
    assert grid.groups == ["total", "age_60_plus", "age_65_plus"]
    boundary = wuhan_boundary().geometry.iloc[0]
    shapely.prepare(boundary)
    ref = source_sums(wuhan_raw, lambda x, y: shapely.contains_xy(boundary, x, y))
    for g, value in grid.totals().items():
        assert value == pytest.approx(ref[g], rel=0.005), g
    assert any("age_0_2, age_3_5 are not in the grid" in n for n in grid.notes)
    assert any("aged 20 and over" in n for n in grid.notes)
    # every cell centre lies within a cell of the boundary
    utm_boundary = wuhan_boundary().to_crs(grid.crs).geometry.iloc[0]
    assert shapely.dwithin(utm_boundary, shapely.points(grid.points()), 250).all()
    assert (grid.cells["age_65_plus"] <= grid.cells["age_60_plus"] + 1e-9).all()
    assert (grid.cells["age_60_plus"] <= grid.cells["total"] + 1e-9).all()
    # before clipping the whole window's people are kept exactly
    assert grid.meta["unclipped_total"] == pytest.approx(grid.meta["source_total"], rel=1e-9)


@pytest.mark.slow
@needs_wuhan
@pytest.mark.shared
def test_wuhan_100m_central_window_preserves_groups(wuhan_raw):
    lon0, lat0, lon1, lat1 = 114.20, 30.50, 114.40, 30.65  # central Wuhan
    area = gpd.GeoSeries([shapely.box(lon0, lat0, lon1, lat1)], crs=4326)
    grid = read_age_stack(WUHAN, cell_m=100, area=area)
    assert grid.cell_size_m == 100 and grid.crs.to_epsg() == 32650
    to_utm = pyproj.Transformer.from_crs(4326, grid.crs, always_xy=True)
    box_utm = area.to_crs(grid.crs).geometry.iloc[0]
    shapely.prepare(box_utm)

    def inside(lon, lat):
        return shapely.contains_xy(box_utm, *to_utm.transform(lon, lat))

    ref = source_sums(wuhan_raw, inside)
    for g, value in grid.totals().items():
        assert value == pytest.approx(ref[g], rel=0.005), g
    assert np.allclose(grid.cells.x % 100, 50) and np.allclose(grid.cells.y % 100, 50)
