"""Tables to CSV + one workbook a bureau can hand in; layers to GeoPackage + GeoParquet, read
back unchanged; the CLI and the API write the same files of a run."""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from typer.testing import CliRunner

from planner.api.export import export_result, write_layer
from planner.cli import app
from planner.compare import compare
from planner.errors import InputError
from planner.io.coords import bd09_to_wgs84, gcj02_to_wgs84, wgs84_to_gcj02
from planner.labels import UNITS, header, label, sheet, unit_of
from planner.lonlat import lonlat_columns, with_lonlat
from planner.outputs import write_layers, write_tables
from planner.scenario import run_scenario
from planner.scenario_file import load_scenario
from planner.workbook import sheet_names, with_notes
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


# --- a run written by the CLI and by the API --------------------------------------------------

SMALL_SCENARIO = """
name = "helsinki-small"
[network]
source = "sample:helsinki"
[[facilities]]
source = "osm"
[population]
source = "buildings"
cell_m = 100
age_shares = "shanxi"
total = 4000
[analysis]
categories = ["kindergarten", "childcare", "pharmacy"]
[speeds]
total = 1.2
age_60_plus = 0.8
[[optimize]]
model = "mclp"
categories = ["kindergarten"]
new_sites = 2
time_limit_s = 20
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The sample, small, run by ``planner run --lang en`` and as an API job is exported."""
    tmp = tmp_path_factory.mktemp("runs")
    toml = tmp / "small.toml"
    toml.write_text(SMALL_SCENARIO, encoding="utf-8")
    cli = CliRunner().invoke(app, ["run", str(toml), "-o", str(tmp / "cli"), "--lang", "en", "--no-report"])
    assert cli.exit_code == 0, cli.output
    result = run_scenario(load_scenario(toml), cache_dir=tmp / "cli" / ".cache")
    manifest = export_result(result, tmp / "api")
    return result, tmp / "cli", tmp / "api", manifest


def _files(folder):
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")
            if p.is_file() and ".cache" not in p.parts}


@pytest.mark.slow  # runs the sample scenario
def test_cli_and_api_write_the_same_files(runs):
    result, cli, api, manifest = runs
    names = {p.name for p in (cli / "tables").glob("*.csv")}
    assert names == {p.name for p in (api / "tables").glob("*.csv")}
    assert names == {f"{t}.csv" for t in manifest["tables"]} == {f"{t}.csv" for t in result.tables}
    extra = {f for f in _files(api) if f.endswith((".geojson", ".gz"))}
    assert _files(cli) == _files(api) - extra  # the API adds GeoJSON and gzipped copies
    assert {f"layers/{x['name']}.geojson" for x in manifest["layers"]} <= extra
    assert (api / manifest["workbook"]).is_file() and (api / manifest["map"]).is_file()
    for name in names:  # the same content, but for how long the solver took
        a, b = (pd.read_csv(d / "tables" / name, encoding="utf-8-sig") for d in (cli, api))
        pd.testing.assert_frame_equal(a.drop(columns="seconds", errors="ignore"),
                                      b.drop(columns="seconds", errors="ignore"))


@pytest.mark.slow  # runs the sample scenario
def test_every_column_and_table_has_a_label(runs):
    result = runs[0]
    same = compare(result, result)  # the tables of `planner compare`
    tables = {**result.tables, "coverage_comparison": same.coverage,
              "people_newly_covered": same.cells}
    missing = [f"{name}.{col}" for name, frame in tables.items() for col in frame.columns
               if label(str(col)) is None]
    assert not missing
    assert all(sheet(name) is not None for name in tables)


@pytest.mark.parametrize(("lang", "first", "contents"), [("en", "Headline", "Contents"),
                                                         ("zh", "概要", "目录")])
@pytest.mark.slow  # runs the sample scenario
def test_the_workbook_is_an_annex(runs, lang, first, contents):
    result, cli, api, _ = runs
    book = load_workbook((cli if lang == "en" else api) / "tables" / "coverage.xlsx")
    names = book.sheetnames
    notes = "Notes" if lang == "en" else "说明"
    assert result.notes and names[-1] == notes  # the run's notes, last
    assert names[:2] == [first, contents] and book.active.title == first
    assert len(names) == len(result.tables) + 2 and len({n.lower() for n in names}) == len(names)
    assert all(len(n) <= 31 and "~" not in n for n in names)
    listed = [row for row in book[contents].iter_rows(min_row=2, values_only=True)]
    assert [row[0] for row in listed] == [n for n in names if n != contents]
    assert all(row[1] and not row[1].startswith(("optimize_", "headline")) for row in listed)
    by_sheet = dict(zip(sheet_names(list(result.tables), lang), result.tables.values(),
                        strict=True))
    for name in names:
        ws = book[name]
        assert ws.freeze_panes == "A2" and ws["A1"].font.bold
        if name in (contents, notes):
            continue
        frame = with_notes(by_sheet[name], lang)
        heads = [c.value for c in ws[1]]
        assert heads == [header(str(c), lang) for c in frame.columns]
        for i, col in enumerate(frame.columns):
            unit, cells = unit_of(str(col)), [c.value for c in ws[get_column_letter(i + 1)][1:]]
            numbers = [v for v in cells if isinstance(v, (int, float)) and not isinstance(v, bool)]
            if unit in ("people", "m"):
                assert all(isinstance(v, int) for v in numbers), (name, col)
            if unit == "pct":
                assert all(round(v, 1) == v for v in numbers), (name, col)
            if UNITS[unit][0]:  # a unit to name
                assert heads[i].endswith(")" if lang == "en" else "）"), heads[i]
            assert ws.column_dimensions[get_column_letter(i + 1)].width >= 4
    people = "People (people)" if lang == "en" else "人口（人）"
    assert people in [c.value for c in book[first][1]]
    served = [r[11] for r in book[first].iter_rows(min_row=2, values_only=True)]  # group served
    assert served == (["aged 3–5", "aged 0–2", "everyone"] if lang == "en" else
                      ["3–5岁", "0–2岁", "全体"])  # kindergarten, childcare, pharmacy
    modes = {r[3] for r in book[names[2]].iter_rows(min_row=2, values_only=True)}  # coverage
    assert modes == ({"distance norm", "walking time"} if lang == "en" else {"距离达标", "步行时间"})
    ratios = book[sheet_names(["capacity_by_facility"], lang)[0]]
    heads = [c.value for c in ratios[1]]
    rows = list(ratios.iter_rows(min_row=2, values_only=True))
    assert rows and all(("ratio" if lang == "en" else "供需比")
                        in row[heads.index("Note" if lang == "en" else "说明")] for row in rows)


_SENTENCE = re.compile(r"[A-Za-z]{2,}(?:[ ,:]+[A-Za-z]{2,}){2,}")  # three English words in a row


@pytest.mark.slow  # runs the sample scenario
def test_the_notes_sheet_lists_the_run_notes(runs):
    result, cli, api, _ = runs
    for folder, lang in ((cli, "en"), (api, "zh")):
        book = load_workbook(folder / "tables" / "coverage.xlsx")
        name = "Notes" if lang == "en" else "说明"
        rows = list(book[name].iter_rows(min_row=2, values_only=True))
        assert [r[0] for r in rows] == list(range(1, len(result.notes) + 1))
        assert [r[-1] for r in rows] == list(result.notes)  # the program's text, unchanged
        contents = book["Contents" if lang == "en" else "目录"]
        last = list(contents.iter_rows(min_row=2, values_only=True))[-1]
        assert last[0] == name and last[2] == len(result.notes)
        assert ("last sheet" if lang == "en" else "最后一个工作表") in last[1]


@pytest.mark.slow  # runs the sample scenario
def test_the_chinese_workbook_shows_values_in_chinese(runs):
    result, cli, api, _ = runs
    book = load_workbook(api / "tables" / "coverage.xlsx")
    names = dict(zip(sheet_names(list(result.tables), "zh"), result.tables, strict=True))
    seen = {}
    for title, table in names.items():
        ws = book[title]
        heads = [c.value for c in ws[1]]
        frame = with_notes(result.tables[table], "zh")
        for i, column in enumerate(frame.columns):
            if column not in ("capacity_unit", "capacity_source", "status", "reason", "note",
                              "rule", "detail"):
                continue
            for cell, code in zip([r[i] for r in ws.iter_rows(min_row=2, values_only=True)],
                                  frame[column], strict=True):
                if not isinstance(code, str) or not code:
                    continue
                seen.setdefault(column, set()).add(cell)
                assert re.search(r"[\u4e00-\u9fff]", cell), (table, column, cell)
                if column in ("capacity_unit", "capacity_source", "status", "note"):
                    assert not _SENTENCE.search(cell), (table, column, cell)
        assert heads[: len(frame.columns)] == [header(str(c), "zh") for c in frame.columns]
    assert {"places"} .isdisjoint(seen["capacity_unit"]) and "托位/学位" in seen["capacity_unit"]
    assert {"候选点"} <= seen["status"] and "已证明最优" in seen["status"]
    assert any(str(v).startswith("不属于生活圈设施") for v in seen["reason"])
    csv = pd.read_csv(api / "tables" / "capacity_access.csv", encoding="utf-8-sig")
    assert set(csv["capacity_unit"]) == {"places"}  # CSV files keep the codes


@pytest.mark.parametrize(("column", "code", "zh"), [
    ("capacity_unit", "beds", "床位"),
    ("capacity_source", "norm", "标准默认值"),
    ("status", "candidate", "候选点"),
    ("status", "optimal", "已证明最优"),
    ("reason", "no category (no rule matched)", "无法归入任何类别（名称与标签均未匹配规则）：没有匹配的规则"),
    ("rule", "name keyword 超市 (over convenience: OSM tags)",
     "名称关键词 超市（优先于 convenience：依据OSM 标签）"),
    ("note", "capacity assumed (norm); ratio = 200 beds / 8.00 beds the norm (40 beds per 1,000 "
             "people of age_60_plus) asks for in its catchment; far above 1: few people live "
             "within its walking distance",
     "容量为假定值（标准默认值）；供需比 = 容量 200 床位 ÷ 服务范围内按标准（每千名60岁及以上人口 40 "
     "床位）需要的 8.00 床位；远大于 1：步行范围内居民很少"),
    ("note", "12 people (3 cells) walk beyond 2,000 m (not in the mean, median and Gini)",
     "12 人（3 个网格）步行距离超过 2,000 米（未计入平均值、中位数和基尼系数）"),
    ("note", "something new", "something new"),  # an unknown text is kept
])
def test_code_values_read_in_chinese_and_stay_codes_in_english(column, code, zh):
    from planner.labels import translated, value_text

    assert translated(column)
    assert value_text(column, code, "zh") == zh and value_text(column, code, "en") == code


def test_run_notes_follow_their_templates_in_chinese():
    from planner.texts_zh import run_note_zh

    names = {"childcare": "托儿所/托育点", "pharmacy": "药店"}
    assert run_note_zh("no facilities found for: childcare, pharmacy", names) == \
        "以下类别未找到设施：托儿所/托育点、药店"
    assert run_note_zh("childcare: 1 of 2 facilities had no capacity; they were given the "
                       "norm's default of 75 places per site.", names) == \
        "托儿所/托育点：2 处设施中有 1 处未给出容量；按标准默认值每处 75 托位/学位 计。"
    assert run_note_zh("optimize_1_mclp_pharmacy: Proven optimal (gap 0 %).") == \
        "optimize_1_mclp_pharmacy：已证明最优（最优性差距 0 %）。"
    assert run_note_zh("Calibrated to the given total of 4,000 people: every cell × 0.3539 (the "
                       "estimate was 11,303).") == "按给定总人口 4,000 人校准：每个网格 × 0.3539（估算值为 11,303 人）。"
    assert run_note_zh("Homes: a rule not in the templates.") == "Homes: a rule not in the templates."
