"""A declared coordinate system that does not fit the points is questioned: Amap's GCJ-02 read as
Baidu's BD-09 (or as WGS-84) moves every point by hundreds of metres, which no single point shows,
but the points then sit away from the streets they line."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import planner as pl
from planner.facilities import FacilityWarning
from planner.io.coords import convert
from planner.io.facilities import facility_report

LON0, LAT0, BLOCK_M = 112.55, 37.85, 400.0  # central Taiyuan, 400 m blocks


@pytest.fixture(scope="module")
def grid():
    dlon = BLOCK_M / (111_320 * np.cos(np.radians(LAT0)))
    dlat = BLOCK_M / 110_540
    lines = [shapely.LineString([(LON0 + j * dlon, LAT0 + i * dlat),
                                 (LON0 + (j + 1) * dlon, LAT0 + i * dlat)])
             for i in range(9) for j in range(8)]
    lines += [shapely.LineString([(LON0 + i * dlon, LAT0 + j * dlat),
                                  (LON0 + i * dlon, LAT0 + (j + 1) * dlat)])
              for i in range(9) for j in range(8)]
    net = pl.network_from_lines(gpd.GeoDataFrame({"highway": ["residential"] * len(lines)},
                                                 geometry=lines, crs=4326))
    rng = np.random.default_rng(7)
    street = rng.integers(1, 8, 15)
    lon = LON0 + (street + rng.uniform(0.1, 0.9, 15)) * dlon
    lat = LAT0 + street * dlat + rng.uniform(10, 30, 15) / 110_540  # 10–30 m off a street
    return net, lon, lat


def _read(net, lon, lat, written_in: str, declared: str):
    x, y = convert(lon, lat, "wgs84", written_in)
    table = pd.DataFrame({"name": [f"便利店{i}号" for i in range(len(x))], "lon": x, "lat": y})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fac = pl.read_facilities(table, net, coords=declared, category="convenience")
    hints = [str(w.message) for w in caught
             if issubclass(w.category, FacilityWarning) and "declared" in str(w.message)]
    return facility_report(fac), hints


@pytest.mark.parametrize(("written_in", "declared"), [
    ("gcj02", "bd09"), ("gcj02", "wgs84"), ("bd09", "gcj02"), ("wgs84", "gcj02")])
def test_a_wrong_declaration_is_questioned_with_the_better_system(grid, written_in, declared):
    report, hints = _read(*grid, written_in, declared)
    assert len(hints) == 1 and f"read as {written_in}" in hints[0]
    assert any("check the declared coordinate system" in n for n in report.notes)


@pytest.mark.parametrize("system", ["wgs84", "gcj02", "bd09"])
def test_a_right_declaration_passes_quietly(grid, system):
    report, hints = _read(*grid, system, system)
    assert hints == [] and not any("declared" in n for n in report.notes)
