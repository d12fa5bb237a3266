"""The Chinese assessment report and the static gap maps, read back: headings, tables, images,
numbers equal to the result's tables, Chinese rendered with the bundled font, and (where
LibreOffice is installed) a PDF whose pages are saved to tests/artifacts/."""

import re
import shutil
import subprocess
import warnings
from pathlib import Path

import docx
import geopandas as gpd
import numpy as np
import pytest
import shapely
from PIL import Image
from typer.testing import CliRunner

from planner.cli import app
from planner.fonts import cjk_font_path, matplotlib_family, missing_characters
from planner.maps.labels import TEXT
from planner.maps.static import WIDTH_MM, category_maps, static_gap_map
from planner.report import (
    ENGLISH_MARK,
    GAP_HEADER,
    NOTES_HEADING,
    SITE_HEADER,
    build_report,
    gap_sentence,
    soffice,
    to_pdf,
)
from planner.report_data import UNNAMED, degrees, pct, people
from planner.scenario import run_scenario
from planner.scenario_file import load_scenario, parse_scenario
from planner.texts_zh import run_note_zh

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
MAPPED = ["elderly_day_care", "kindergarten", "convenience"]
SECTIONS = ["一、研究范围", "二、数据来源", "三、方法", "四、数据剔除与未计入说明", "五、分类评估",
            "六、选址建议", "七、完整生活圈指数", "八、公平性"]


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The sample run, three of its static maps and its report."""
    out = tmp_path_factory.mktemp("report")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_scenario(load_scenario(), cache_dir=out / ".cache")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        maps = category_maps(result, out / "maps", keys=MAPPED)
    path = build_report(result, out / "report.docx", maps=maps)
    return result, maps, path, [str(w.message) for w in caught]


@pytest.fixture(scope="module")
def document(sample):
    return docx.Document(sample[2])


def tables_with(document, header):
    return [t for t in document.tables if [c.text for c in t.rows[0].cells] == header]


def rows(table):
    return [[c.text for c in row.cells] for row in table.rows[1:]]


# --- static maps -----------------------------------------------------------------------------


@pytest.mark.slow  # runs the sample scenario
def test_static_maps_are_print_resolution_pngs(sample):
    _, maps, _, _ = sample
    assert set(maps) == set(MAPPED)
    for path in maps.values():
        with Image.open(path) as im:
            assert im.format == "PNG"
            assert im.size[0] == pytest.approx(WIDTH_MM / 25.4 * 300, abs=2)  # 160 mm at 300 dpi
            assert 0.6 * im.size[0] < im.size[1] < 2 * im.size[0]
            assert im.info["dpi"] == pytest.approx((300, 300), abs=0.01)
            assert len(im.getcolors(1 << 20) or range(1 << 20)) > 50  # drawn, not blank


@pytest.mark.slow  # runs the sample scenario
def test_chinese_renders_with_the_bundled_font(sample):
    """No glyph is missing (matplotlib warns for each one) and the family resolves to the
    bundled file, whatever fonts the machine has."""
    from matplotlib import font_manager

    assert not [m for m in sample[3] if "missing from" in m], sample[3]
    family = matplotlib_family()
    found = font_manager.findfont(font_manager.FontProperties(family=family),
                                  fallback_to_default=False)
    assert Path(found) == cjk_font_path()


@pytest.mark.slow  # runs the sample scenario
def test_font_covers_every_label_and_category_name(sample):
    result = sample[0]
    labels = "".join(TEXT["zh"].values()) + "".join(c.name_zh for c in result.categories.values())
    assert missing_characters(labels) == []
    assert missing_characters("迎泽大街 坞城路 并州南路 晋祠路 小店区") == []
    assert missing_characters("㙟") == ["㙟"]  # outside GB 2312: named, not hidden


@pytest.mark.slow  # runs the sample scenario
def test_a_static_map_draws_chinese_without_a_missing_glyph(sample, tmp_path):
    result = sample[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = static_gap_map(
            tmp_path / "m.png", key="kindergarten", category=result.categories["kindergarten"],
            cells=result.demand.cells, distance_m=result.distances["kindergarten"].to_numpy(),
            speed_m_s=0.9, network=result.network, subtitle="迎泽区 · 幼儿园缺口", dpi=100)
    assert not [w for w in caught if "missing from" in str(w.message)]
    with Image.open(path) as im:
        assert im.info["dpi"] == pytest.approx((100, 100), abs=0.01)


@pytest.mark.slow  # runs the sample scenario
def test_static_map_refuses_mismatched_distances(sample, tmp_path):
    from planner.errors import InputError

    result = sample[0]
    with pytest.raises(InputError, match="distances for"):
        static_gap_map(tmp_path / "x.png", key="kindergarten",
                       category=result.categories["kindergarten"], cells=result.demand.cells,
                       distance_m=np.zeros(3), speed_m_s=0.9, network=result.network)


# --- the report ------------------------------------------------------------------------------


@pytest.mark.slow  # runs the sample scenario
def test_report_has_every_section_and_a_heading_per_category(sample, document):
    result = sample[0]
    headings = [p.text for p in document.paragraphs if p.style.name.startswith("Heading")]
    for section in SECTIONS:
        assert section in headings
    for n, key in enumerate(result.distances.columns, start=1):
        name = result.categories[key].name_zh
        assert any(h.startswith(f"5.{n} {name}") for h in headings), name
    assert [h for h in headings if h.startswith("6.")] == [
        "6.1 老年人日间照料中心/养老服务站（最大覆盖模型）", "6.2 幼儿园（最大覆盖模型）"]


@pytest.mark.slow  # runs the sample scenario
def test_report_holds_one_image_per_map(sample, document):
    assert len(document.inline_shapes) == len(MAPPED)


@pytest.mark.slow  # runs the sample scenario
def test_gap_tables_equal_the_result(sample, document):
    result = sample[0]
    gaps = result.tables["gap_areas"]
    gaps = gaps[gaps["people"] >= 0.5]  # areas of less than one person are not listed
    tables = tables_with(document, GAP_HEADER)
    with_gaps = [k for k in result.distances.columns if (gaps["category"] == k).any()]
    assert len(tables) == len(with_gaps)
    names = set(result.network.ways["name"].dropna())
    for key, table in zip(with_gaps, tables, strict=True):
        own = gaps[gaps["category"] == key].sort_values("rank").head(10)
        got = rows(table)
        assert [int(r[0]) for r in got] == own["rank"].tolist()
        assert [r[2] for r in got] == [people(v) for v in own["people"]]
        assert [r[3] for r in got] == [f"{v:.2f}" for v in own["area_km2"]]
        assert [r[4] for r in got] == [degrees(v) for v in own["lon_gcj02"]]
        assert [r[5] for r in got] == [degrees(v) for v in own["lat_gcj02"]]
        for r in got:  # street names come from the network's ways
            streets = r[1].removesuffix("附近").split("、")
            assert r[1] == UNNAMED or set(streets) <= names, r[1]
    assert sum(r[1] != UNNAMED for t in tables for r in rows(t)) > 0


@pytest.mark.slow  # runs the sample scenario
def test_proposal_tables_equal_the_optimisation(sample, document):
    result = sample[0]
    tables = tables_with(document, SITE_HEADER)
    assert len(tables) == 2
    names = set(result.network.ways["name"].dropna())
    for i, (spec, table) in enumerate(zip(result.scenario.optimize, tables, strict=True), 1):
        sites = result.tables[f"optimize_{i}_{spec.model}_{'_'.join(spec.categories)}_sites"]
        got = rows(table)
        assert [int(r[0]) for r in got] == sites["order"].tolist()
        assert [r[2] for r in got] == [degrees(v) for v in sites["lon_gcj02"]]
        assert [r[3] for r in got] == [degrees(v) for v in sites["lat_gcj02"]]
        assert [r[4] for r in got] == [degrees(v) for v in sites["lon_wgs84"]]
        assert [r[5] for r in got] == [degrees(v) for v in sites["lat_wgs84"]]
        assert [r[6] for r in got] == [people(v) for v in sites["marginal_people"]]
        assert {r[1] for r in got} <= names | {UNNAMED}
    text = "\n".join(p.text for p in document.paragraphs)
    assert text.count("已证明本方案为最优") == 2  # both sample requests are proven optimal


@pytest.mark.slow  # runs the sample scenario
def test_complete_circle_and_equity_equal_the_result(sample, document):
    result = sample[0]
    table = tables_with(document, ["达到的基本服务类别数", "网格数", "人口", "占比"])[0]
    expected = result.tables["complete_circle"]
    assert [r[2] for r in rows(table)] == [people(v) for v in expected["people"]]
    assert [r[3] for r in rows(table)] == [pct(v) for v in expected["people_pct"]]
    text = "\n".join(p.text for p in document.paragraphs)
    assert f"完整生活圈指数为 {pct(100 * result.complete.index)}" in text
    equity = tables_with(document, ["设施类别", "全部人口覆盖率", "老年人覆盖率", "差距（百分点）",
                                    "平均步行距离（全部）", "平均步行距离（老年人）",
                                    "步行距离基尼系数"])[0]
    eq = result.tables["equity"].set_index("category")
    keys = list(result.distances.columns)
    assert [r[1] for r in rows(equity)] == [pct(eq.loc[k, "compliance_pct_total"]) for k in keys]
    assert [r[2] for r in rows(equity)] == [pct(eq.loc[k, "compliance_pct_older"]) for k in keys]
    assert "基尼系数衡量" in text


@pytest.mark.slow  # runs the sample scenario
def test_sources_name_the_licences_the_run_used(document):
    table = tables_with(document, ["数据", "来源", "日期", "许可"])[0]
    got = rows(table)
    assert [r[0] for r in got] == ["步行路网", "设施点", "人口"]
    assert all("ODbL" in r[3] for r in got)  # the sample is OSM data throughout
    assert "Helsinki.osm.pbf" in got[0][1]


@pytest.mark.slow  # runs the sample scenario
def test_dropped_rows_are_counted_with_their_reasons(sample, document):
    result = sample[0]
    table = tables_with(document, ["剔除原因", "条数"])[0]
    counts = result.tables["facilities_dropped"]["reason"].value_counts()
    assert sum(int(r[1].replace(",", "")) for r in rows(table)) == int(counts.sum())


@pytest.mark.slow  # runs the sample scenario
def test_headline_numbers_are_in_the_text(sample, document):
    result = sample[0]
    text = "\n".join(p.text for p in document.paragraphs)
    head = result.tables["headline"].set_index("category")
    for key in result.distances.columns:
        assert f"{pct(head.loc[key, 'served_coverage_pct'])} 在" in text


def test_street_names_rank_by_length_inside_and_fall_back_to_the_nearest():
    """A cross of 迎泽大街 (400 m inside the square) and 解放路 (200 m inside), an unnamed
    lane; a square no street crosses gets the nearest street "附近"."""
    import geopandas as gpd
    import shapely

    from planner.network import build_network
    from planner.report_data import Streets

    ways = gpd.GeoDataFrame(
        {"highway": ["primary", "secondary", "footway"], "name": ["迎泽大街", "解放路", None],
         "osm_id": ["1", "2", "3"]},
        geometry=[shapely.LineString([(-300, 0), (0, 0), (300, 0)]),
                  shapely.LineString([(0, -100), (0, 0), (0, 100)]),
                  shapely.LineString([(300, 0), (300, 900)])], crs=32649)
    streets = Streets.of(build_network(ways, crs=32649))
    areas = gpd.GeoSeries([shapely.box(-200, -200, 200, 200), shapely.box(350, 100, 450, 200),
                           shapely.box(5000, 5000, 5100, 5100)], crs=32649)
    assert streets.along(areas) == ["迎泽大街、解放路", "迎泽大街附近", UNNAMED]
    assert streets.nearest(shapely.points([(10, 60), (310, 250), (9000, 0)])) == [
        "解放路", "迎泽大街", UNNAMED]


def test_equity_sentences_name_the_worst_category():
    import pandas as pd

    from planner.report import equity_sentence

    eq = pd.DataFrame({"name_zh": ["药店", "幼儿园"], "compliance_gap_pp": [-4.24, -0.5]},
                      index=["pharmacy", "kindergarten"])
    assert "药店（低 4.2 个百分点）" in equity_sentence(eq)
    assert "不低于全体居民" in equity_sentence(eq.assign(compliance_gap_pp=[0.0, 1.0]))


@pytest.mark.slow  # runs the sample scenario
def test_equity_says_when_ages_are_fixed_shares(sample, document):
    text = "\n".join(p.text for p in document.paragraphs)
    assert sample[0].demand.meta["derived"]["age_60_plus"].endswith(
        "(the shanxi defaults in age_structure.toml)")
    assert "老年人按固定比例分配到每个网格" in text


def test_gap_sentence_reads_the_proof():
    assert "已证明本方案为最优" in gap_sentence("mclp", 100.0, 100.0, 0.0, 5)
    text = gap_sentence("mclp", 90.0, 100.0, 0.1, 5)
    assert "最多能覆盖 100 人" in text and "最多还差 10 人" in text and "10.0%" in text
    assert "至少需要 4" in gap_sentence("lscp", 5.0, 3.2, 0.36, 5)
    assert "未能给出最优性证明" in gap_sentence("mclp", 90.0, float("nan"), float("nan"), 5)


# --- command line and PDF --------------------------------------------------------------------


@pytest.mark.slow  # runs the sample scenario
def test_report_command_writes_maps_and_the_document(sample, tmp_path, monkeypatch):
    import planner.maps.static as static
    import planner.scenario as scenario_mod

    maps = static.category_maps
    monkeypatch.setattr(scenario_mod, "run_scenario", lambda *a, **k: sample[0])
    monkeypatch.setattr(static, "category_maps",  # the wiring, not the maps, is tested here
                        lambda result, folder, **k: maps(result, folder, dpi=60, keys=MAPPED))
    res = CliRunner().invoke(app, ["report", "--output-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "report.docx").exists()
    assert sorted(p.stem for p in (tmp_path / "maps").glob("*.png")) == sorted(MAPPED)
    assert len(docx.Document(tmp_path / "report.docx").inline_shapes) == len(MAPPED)


@pytest.mark.slow  # runs the sample scenario
def test_pdf_without_libreoffice_says_so(sample, tmp_path, monkeypatch):
    import planner.maps.static as static
    import planner.report as report_mod
    import planner.scenario as scenario_mod

    maps = static.category_maps
    monkeypatch.setattr(scenario_mod, "run_scenario", lambda *a, **k: sample[0])
    monkeypatch.setattr(static, "category_maps",
                        lambda result, folder, **k: maps(result, folder, dpi=40, keys=MAPPED[:1]))
    monkeypatch.setattr(report_mod, "soffice", lambda: None)
    res = CliRunner().invoke(app, ["report", "-o", str(tmp_path), "--pdf"],
                             env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "LibreOffice (soffice) is not installed" in res.output
    assert (tmp_path / "report.docx").exists() and not (tmp_path / "report.pdf").exists()


def test_run_has_a_report_switch():
    res = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert "--report" in res.output and "--no-report" in res.output


@pytest.mark.skipif(soffice() is None, reason="LibreOffice (soffice) is not installed")
@pytest.mark.slow  # runs the sample scenario
def test_pdf_shows_chinese_and_its_pages_are_saved(sample):
    pdf = to_pdf(sample[2])
    assert pdf is not None and pdf.stat().st_size > 0
    if shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None:
        pytest.skip("poppler-utils (pdftotext, pdftoppm) is not installed")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "研究范围" in text and "公平性" in text  # Chinese set as text in an embedded font
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("report-page-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(ARTIFACTS / "report-page")],
                   check=True)
    assert len(list(ARTIFACTS.glob("report-page-*.png"))) >= 3


_SENTENCE = re.compile(r"[A-Za-z]{2,}(?:[ ,:()]+[A-Za-z]{2,}){2,}")  # three English words in a row


@pytest.mark.slow  # runs the sample scenario
def test_the_tables_of_the_report_are_in_chinese(sample, document):
    """Codes, units, standard numbers, file and street names may be Latin; no English sentence."""
    cells = {c.text for t in document.tables for row in t.rows[1:] for c in row.cells}
    streets = set(sample[0].network.ways["name"].dropna().astype(str))
    english = [c for c in cells if _SENTENCE.search(c)
               and not any(s in c for s in streets if " " in s)]
    assert not english
    method = tables_with(document, ["设施类别", "生活圈层级", "服务半径", "服务人群", "依据"])[0]
    sources = [r[4] for r in rows(method)]
    result = sample[0]
    for key, text in zip(result.distances.columns, sources, strict=True):
        prov = {p.field: p for p in result.categories[key].provenance}
        assert prov["distance_m"].source_zh in text and prov["distance_m"].source not in text


@pytest.mark.slow  # runs the sample scenario
def test_the_appendix_says_the_notes_are_the_program_log(sample, document):
    heads = [p.text for p in document.paragraphs if p.style.name.startswith("Heading")]
    assert heads[-1] == NOTES_HEADING
    bullets = [p.text for p in document.paragraphs if p.style.name == "List Bullet"]
    notes = list(sample[0].notes)
    names = {k: c.name_zh for k, c in sample[0].categories.items()}
    assert bullets[-len(notes):] == [run_note_zh(n, names) if run_note_zh(n, names) != n
                                     else ENGLISH_MARK + n for n in notes]
    translated = [b for b in bullets[-len(notes):] if not b.startswith(ENGLISH_MARK)]
    assert len(translated) >= len(notes) - 2  # the common templates are translated
    assert not any(_SENTENCE.search(b) for b in translated)
    assert "九、分区覆盖" not in heads  # no [districts] in the sample


@pytest.mark.slow  # runs the sample scenario
def test_districts_get_a_section_and_their_files_a_source(sample, tmp_path):
    result = sample[0]
    west, south, east, north = result.demand.cells.to_crs(4326).total_bounds + [-0.01, -0.01,
                                                                                 0.01, 0.01]
    mid = (west + east) / 2
    halves = gpd.GeoDataFrame({"name": ["西区", "东区"], "人口": [1500, 2500]},
                              geometry=[shapely.box(west, south, mid, north),
                                        shapely.box(mid, south, east, north)], crs=4326)
    halves.to_file(tmp_path / "jiedao.geojson")
    s = load_scenario()
    doc = s.model_dump(exclude={"base_dir"})
    doc.update(optimize=[], districts={"file": str(tmp_path / "jiedao.geojson"),
                                       "name_column": "name"})
    doc["analysis"]["categories"] = ["childcare", "pharmacy"]
    doc["population"].update(total=None, districts=str(tmp_path / "jiedao.geojson"),
                             districts_column="人口")  # calibrated to the districts' census
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = run_scenario(parse_scenario(doc, s.base_dir),
                           cache_dir=sample[2].parent / ".cache")
    report = docx.Document(build_report(run, tmp_path / "report.docx"))
    heads = [p.text for p in report.paragraphs if p.style.name.startswith("Heading")]
    assert "九、分区覆盖" in heads
    header = ["分区", "人口", "托儿所/托育点（0–2 岁婴幼儿）", "药店（全部人口）"]
    got = rows(tables_with(report, header)[0])
    by = run.tables["coverage_by_district"]
    by = by[by["mode"] == "compliance"]
    for name, total, childcare, pharmacy in got:
        mine = by[by["district_name"] == name].set_index(["category", "group"])
        assert total == people(mine.loc[("pharmacy", "total"), "people"])
        assert childcare == pct(mine.loc[("childcare", "age_0_2"), "coverage_pct"])
        assert pharmacy == pct(mine.loc[("pharmacy", "total"), "coverage_pct"])
    assert sorted(r[0] for r in got) == ["东区", "西区"]
    sources = rows(tables_with(report, ["数据", "来源", "日期", "许可"])[0])
    assert [r[0] for r in sources] == ["步行路网", "设施点", "人口", "人口校准", "分区边界"]
    assert "2 个分区人口校准" in sources[2][1]
    assert "jiedao.geojson" in sources[3][1] and "人口" in sources[3][1]
    assert "jiedao.geojson" in sources[4][1]
