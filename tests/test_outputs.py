"""Tables to CSV + one workbook; layers to GeoPackage + GeoParquet, read back unchanged."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from openpyxl import load_workbook
from planner.api.export import write_layer

from planner.errors import InputError
from planner.io.coords import bd09_to_wgs84, gcj02_to_wgs84, wgs84_to_gcj02
from planner.lonlat import lonlat_columns, with_lonlat
from planner.outputs import sheet_names, write_layers, write_tables
from tests.test_coverage import grid


def test_tables_csv_and_workbook(tmp_path):
    cov = pd.DataFrame({"category": ["pharmacy", "childcare"], "name_zh": ["药店", "托儿所/托育点"], "coverage_pct": [75.5, np.nan]})
    gaps = pd.DataFrame({"rank": [1, 2], "people": [42.0, 20.0]})
    paths = write_tables({"coverage": cov, "gap_areas": gaps}, tmp_path)
    assert [p.name for p in paths] == ["coverage.csv", "gap_areas.csv", "coverage.xlsx"]
    back = pd.read_csv(tmp_path / "coverage.csv", encoding="utf-8-sig")
    assert back["name_zh"].tolist() == ["药店", "托儿所/托育点"]
    assert (tmp_path / "coverage.csv").read_bytes()[:3] == b"\xef\xbb\xbf"
    book = load_workbook(tmp_path / "coverage.xlsx")
    assert book.sheetnames == ["coverage", "gap_areas"]
    ws = book["coverage"]
    assert [c.value for c in ws[1]] == ["category", "name_zh", "coverage_pct"]
    assert ws["B3"].value == "托儿所/托育点" and ws["C2"].value == 75.5 and ws["C3"].value is None
    assert ws.freeze_panes == "A2" and ws["A1"].font.bold


def test_sheet_names_are_excel_safe():
    names = sheet_names(["a/b", "x" * 40, "x" * 40, "A/B"])
    assert names[0] == "a_b" and all(len(n) <= 31 for n in names)
    assert len({n.lower() for n in names}) == 4


def test_layers_geopackage_and_geoparquet(tmp_path):
    cells = grid(3, 1, total=[1.0, 2.0, 3.0])
    gaps = cells.iloc[:0]
    paths = write_layers({"cells": cells, "gap areas": gaps}, tmp_path)
    assert [p.name for p in paths] == ["layers.gpkg", "cells.parquet", "gap_areas.parquet"]
    assert sorted(pyogrio.list_layers(tmp_path / "layers.gpkg")[:, 0]) == ["cells", "gap_areas"]
    back = gpd.read_file(tmp_path / "layers.gpkg", layer="cells")
    assert back.crs == cells.crs and back["total"].tolist() == [1.0, 2.0, 3.0]
    pq = gpd.read_parquet(tmp_path / "cells.parquet")
    assert pq.geom_equals(cells.geometry).all()
    # writing again replaces the GeoPackage instead of appending
    write_layers({"cells": cells}, tmp_path)
    assert list(pyogrio.list_layers(tmp_path / "layers.gpkg")[:, 0]) == ["cells"]


def test_bad_outputs(tmp_path):
    with pytest.raises(InputError, match="CRS"):
        write_layers({"x": gpd.GeoDataFrame({"a": [1]}, geometry=gpd.points_from_xy([0], [0]))}, tmp_path)
    with pytest.raises(InputError):
        write_tables({}, tmp_path)


#: Points in central Taiyuan, metres in UTM 49N (where the GCJ-02 offset is ≈ 550 m).
TAIYUAN_XY = np.array([[680_000.0, 4_193_000.0], [683_500.0, 4_190_200.0]])


def test_lonlat_columns_name_their_system_and_round_trip():
    cols = lonlat_columns(TAIYUAN_XY, "EPSG:32649", bd09=True)
    assert list(cols) == ["lon_wgs84", "lat_wgs84", "lon_gcj02", "lat_gcj02", "lon_bd09", "lat_bd09"]
    wgs = gpd.GeoSeries(gpd.points_from_xy(*TAIYUAN_XY.T), crs="EPSG:32649").to_crs(4326)
    assert np.allclose(cols["lon_wgs84"], wgs.x, atol=1e-6)
    back = gcj02_to_wgs84(cols["lon_gcj02"].to_numpy(), cols["lat_gcj02"].to_numpy())
    assert np.allclose(back, (wgs.x, wgs.y), atol=2e-6)  # the 6-decimal rounding, ≈ 0.2 m
    back = bd09_to_wgs84(cols["lon_bd09"].to_numpy(), cols["lat_bd09"].to_numpy())
    assert np.allclose(back, (wgs.x, wgs.y), atol=2e-6)
    shift = np.hypot((cols["lon_gcj02"] - cols["lon_wgs84"]) * 88_000, (cols["lat_gcj02"] - cols["lat_wgs84"]) * 111_000)
    assert (shift > 400).all()  # what a bare WGS-84 pair pasted into Amap would be off by
    assert "lon_bd09" not in lonlat_columns(TAIYUAN_XY, "EPSG:32649")
    table = with_lonlat(pd.DataFrame({"id": ["a", "b"], "lon_wgs84": [0, 0]}), TAIYUAN_XY, "EPSG:32649")
    assert list(table) == ["id", "lon_wgs84", "lat_wgs84", "lon_gcj02", "lat_gcj02"]
    with pytest.raises(InputError, match="one per row"):
        with_lonlat(pd.DataFrame({"id": ["a"]}), TAIYUAN_XY, "EPSG:32649")


def test_api_point_layers_carry_gcj02_degrees(tmp_path):
    sites = gpd.GeoDataFrame({"id": ["a", "b"]}, geometry=gpd.points_from_xy(*TAIYUAN_XY.T), crs="EPSG:32649")
    assert write_layer(sites, tmp_path / "proposals.geojson", bd09=True) == 2
    back = gpd.read_file(tmp_path / "proposals.geojson")
    x, y = wgs84_to_gcj02(back.geometry.x.to_numpy(), back.geometry.y.to_numpy())
    assert np.allclose(back["lon_gcj02"], x, atol=1e-6) and np.allclose(back["lat_gcj02"], y, atol=1e-6)
    assert {"lon_wgs84", "lat_bd09"} <= set(back.columns)
    cells = grid(2, 1, total=[1, 2])  # polygons keep their properties only
    write_layer(cells, tmp_path / "cells.geojson")
    assert "lon_gcj02" not in gpd.read_file(tmp_path / "cells.geojson").columns
