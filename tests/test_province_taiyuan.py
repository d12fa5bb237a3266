"""Runs over units on real streets (central Taiyuan): four units of about 5 × 6 km, each
reading only its window of the street layer (the halo, ≈ 5.7 km, cuts the city), give every
cell the walking distances and every category the coverage of one run over the whole city."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from planner.province import run_province
from planner.province.merge import add_up
from planner.scenario import run_scenario
from planner.scenario_file import load_scenario

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore")]

CRS = "EPSG:32649"
#: The units' extent (UTM 49N, metres): the middle of the street layer.
X0, Y0, X1, Y1 = 632_000.0, 4_182_000.0, 642_000.0, 4_194_000.0

SCENARIO = """
name = "taiyuan"
[network]
source = "{roads}"
crs = "{crs}"
{extra}
[[facilities]]
source = "facilities.csv"
coords = "wgs84"
category_column = "category"
[population]
source = "people.tif"
cell_m = 100
age_shares = "shanxi"
[analysis]
categories = ["kindergarten", "convenience", "clinic"]
max_access_m = 300
"""


@pytest.fixture(scope="module")
def inputs(taiyuan_roads, tmp_path_factory):
    import geopandas as gpd

    folder = tmp_path_factory.mktemp("taiyuan")
    rng = np.random.default_rng(3)
    cell = 100.0
    nx_, ny_ = int((X1 - X0) / cell), int((Y1 - Y0) / cell)
    people = rng.gamma(1.5, 20.0, (ny_, nx_)).astype("float32")
    with rasterio.open(folder / "people.tif", "w", driver="GTiff", width=nx_, height=ny_,
                       count=1, dtype="float32", crs=CRS, nodata=-1.0,
                       transform=from_origin(X0, Y1, cell, cell)) as dst:
        dst.write(people, 1)
    # facilities: around and beyond the units, so border residents use those across a border
    n = 120
    xy = np.column_stack([rng.uniform(X0 - 3000, X1 + 3000, n),
                          rng.uniform(Y0 - 3000, Y1 + 3000, n)])
    points = gpd.GeoSeries(gpd.points_from_xy(*xy.T), crs=CRS).to_crs(4326)
    pd.DataFrame({"name": [f"site {i}" for i in range(n)],
                  "category": rng.choice(["kindergarten", "convenience", "clinic"], n),
                  "lon": points.x, "lat": points.y}).to_csv(folder / "facilities.csv",
                                                           index=False)
    xm, ym = (X0 + X1) / 2, (Y0 + Y1) / 2
    boxes = [shapely.box(X0, Y0, xm, ym), shapely.box(xm, Y0, X1, ym),
             shapely.box(X0, ym, xm, Y1), shapely.box(xm, ym, X1, Y1)]
    gpd.GeoDataFrame({"区划代码": ["140105001", "140105002", "140105003", "140105004"],
                      "名称": ["甲街道", "乙街道", "丙街道", "丁街道"]},
                     geometry=boxes, crs=CRS).to_file(folder / "units.geojson")
    return folder, taiyuan_roads


def scenario(folder, roads, extra=""):
    path = folder / f"scenario{len(extra)}.toml"
    path.write_text(SCENARIO.format(roads=roads.as_posix(), crs=CRS, extra=extra),
                    encoding="utf-8")
    return load_scenario(path)


def test_units_read_their_windows_and_equal_the_whole_city(inputs):
    folder, roads = inputs
    result = run_province(scenario(folder, roads), folder / "units.geojson", folder / "out",
                          serial=True)
    assert [o.status for o in result.outcomes] == ["done"] * 4
    # every facility row is accounted for once, in the province's audit
    audit = result.tables["facility_audit"]
    assert len(audit) == 120 and audit["ref"].is_unique
    assert set(audit["outcome"]) <= {"kept", "dropped"}
    # a unit reads the ways reaching into its window (whole), not the city's
    nodes = [pd.read_json(folder / "out" / "units" / o.code / "summary.json", typ="series")
             ["network"]["nodes"] for o in result.outcomes]
    whole = run_scenario(scenario(folder, roads, "min_component_m = 1000"))
    assert min(nodes) < 0.9 * whole.network.n_nodes
    cells = pd.read_parquet(folder / "out" / "layers" / "province_cells.parquet")
    reference = pd.DataFrame(whole.cells.drop(columns="geometry"))
    people = cells.groupby(["ix", "iy"])["total"].sum().sort_index()
    np.testing.assert_allclose(people, reference.set_index(["ix", "iy"])["total"].sort_index(),
                               rtol=1e-9)
    both = cells.merge(reference, on=["ix", "iy"], suffixes=("", "_whole"))
    assert len(both) == len(cells)
    for column in ("dist_kindergarten", "dist_convenience", "dist_clinic"):
        np.testing.assert_allclose(both[column], both[f"{column}_whole"], atol=1e-6, rtol=0)
    summed = add_up(result.coverage)
    joined = whole.coverage.merge(summed, on=["category", "mode", "level_min", "group"],
                                  suffixes=("_whole", ""))
    assert len(joined) == len(whole.coverage)
    np.testing.assert_allclose(joined["people_covered"], joined["people_covered_whole"],
                               rtol=1e-9, atol=1e-6)
