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
from planner.outputs import write_layers, write_tables
from planner.workbook import sheet_names
from tests.test_coverage import grid


def test_tables_csv_and_workbook(tmp_path):
    cov = pd.DataFrame({"category": ["pharmacy", "childcare"], "name_zh": ["药店", "托儿所/托育点"], "coverage_pct": [75.54, np.nan]})
    gaps = pd.DataFrame({"rank": [1, 2], "people": [42.4, 20.0]})
    paths = write_tables({"coverage": cov, "gap_areas": gaps}, tmp_path)
    assert [p.name for p in paths] == ["coverage.csv", "gap_areas.csv", "coverage.xlsx"]
    back = pd.read_csv(tmp_path / "coverage.csv", encoding="utf-8-sig")
    assert list(back.columns) == ["category", "name_zh", "coverage_pct"]  # code names in CSV
    assert back["name_zh"].tolist() == ["药店", "托儿所/托育点"] and back["coverage_pct"][0] == 75.54
    assert (tmp_path / "coverage.csv").read_bytes()[:3] == b"\xef\xbb\xbf"
    book = load_workbook(tmp_path / "coverage.xlsx")
    assert book.sheetnames == ["覆盖率明细", "目录", "缺口区域"]
    ws = book["覆盖率明细"]
    assert [c.value for c in ws[1]] == ["设施类别", "中文名称", "覆盖率（%）"]
    assert ws["B3"].value == "托儿所/托育点" and ws["C2"].value == 75.5 and ws["C3"].value is None
    assert ws.freeze_panes == "A2" and ws["A1"].font.bold
    assert [c.value for c in book["缺口区域"]["B"][1:]] == [42, 20]


def test_sheet_names_are_readable_unique_and_excel_safe():
    names = sheet_names(["a/b", "x" * 40, "x" * 40, "A/B", "目录",
                         "optimize_1_mclp_elderly_day_care_sites",
                         "optimize_1_mclp_elderly_day_care_coverage",
                         "optimize_12_joint_elderly_day_care_kindergarten_childcare_uncoverable"])
    assert names[0] == "a_b" and all(len(n) <= 31 for n in names)
    assert len({n.lower() for n in names} | {"目录"}) == len(names) + 1  # the contents' name too
    assert names[5:7] == ["方案1 养老 MCLP 选址", "方案1 养老 MCLP 结果"]
    assert names[7].startswith("方案12 养老+幼儿园") and names[7].endswith("联合 不可达")
    english = sheet_names(["optimize_2_mclp_kindergarten_sites", "headline"], "en")
    assert english == ["Plan 2 kindergarten MCLP sites", "Headline"]


def test_infinite_values_and_ratios_are_explained(tmp_path):
    table = pd.DataFrame({"id": ["a", "b", "c"], "ratio": [7457.5612, np.inf, 0.5],
                          "mean_distance_m_total": [412.6, np.inf, 10.0],
                          "catchment_people": [0.4, 0.0, 2.6]})
    write_tables({"capacity_by_facility": table}, tmp_path, lang="en")
    ws = load_workbook(tmp_path / "coverage.xlsx")["Capacity by facility"]
    head = [c.value for c in ws[1]]
    assert head == ["ID", "Supply/demand ratio", "Mean walk (everyone, m)",
                    "People in catchment (people)", "Note"]
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
    assert [r[1] for r in rows] == [7457.56, "∞", 0.5] and [r[2] for r in rows] == [413, "∞", 10]
    assert [r[3] for r in rows] == [0, 0, 3]
    assert "capacity ÷ the capacity the norm asks for" in rows[0][4]
    assert "nobody who needs this service lives within walking distance" in rows[1][4]
    assert "no facility within walking reach" in rows[1][4]
    csv = pd.read_csv(tmp_path / "capacity_by_facility.csv", encoding="utf-8-sig")
    assert "note" not in csv and np.isinf(csv["ratio"][1])  # the CSV keeps the data as it is


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
