"""The assessment report (现状评估与规划建议): a Chinese Word document built from a scenario result.

Contents: study area; data sources with dates and licences; method (walking distance along the
streets, each category's distance with its standard, walking speeds); what was left out and
why; per category its headline numbers, its static gap map and its ten largest gap areas with
the streets they lie on; the proposed sites with their nearest street, GCJ-02 and WGS-84
coordinates and the people each newly covers, and what the proven optimality gap means; the
complete living-circle index and the equity figures, each with one sentence that reads them;
with ``[districts]``, the coverage per district; last, the run's notes as the program logged them.

The maps are made by the caller (``planner.maps.static``) and passed in as PNG paths, so the
library does not depend on the map package. :func:`to_pdf` converts the document with
LibreOffice where it is installed.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Mm, Pt

from planner.errors import PlannerError
from planner.fonts import fontconfig_file
from planner.report_data import (
    Streets,
    data_sources,
    degrees,
    metres,
    pct,
    people,
)
from planner.standards import OVERRIDE_SOURCE, load_speeds
from planner.texts_zh import reason_zh, run_note_zh

BODY_FONT = "宋体"  # SimSun: the body face of Chinese official documents
HEADING_FONT = "黑体"  # SimHei
GAP_ROWS = 10
GROUP_ZH = {"total": "全部人口", "age_60_plus": "60 岁以上老年人", "age_65_plus": "65 岁以上老年人",
            "age_0_2": "0–2 岁婴幼儿", "age_3_5": "3–5 岁幼儿"}
SPEED_ZH = {"total": "成年人", "age_60_plus": "60 岁以上老年人", "age_65_plus": "65 岁以上老年人",
            "age_0_2": "婴幼儿照护者", "age_3_5": "幼儿接送者"}
GAP_HEADER = ["排名", "所在街道", "未覆盖人口", "面积（平方千米）", "GCJ-02 经度", "GCJ-02 纬度"]
GAP_WIDTHS_MM = (12, 62, 20, 20, 23, 23)
SITE_HEADER = ["建设顺序", "最近道路", "GCJ-02 经度", "GCJ-02 纬度", "WGS-84 经度", "WGS-84 纬度",
               "新增覆盖人口"]
SITE_WIDTHS_MM = (14, 38, 21, 21, 21, 21, 24)
DISTRICT_COLUMNS = 5  # categories per district table (A4 portrait)
NOTES_HEADING = "附：运行说明（程序运行记录）"
ENGLISH_MARK = "【英文原文】"


def build_report(result, path: str | Path, *, maps: Mapping[str, Path] | None = None) -> Path:
    """Write the Chinese assessment report of ``result`` (a ScenarioResult) as a .docx.

    Args:
        result: the scenario run.
        path: the .docx to write (folders are made).
        maps: category key → PNG of its static gap map (a category without one gets none).
    """
    doc = _document()
    streets = Streets.of(result.network)
    keys = list(result.distances.columns)
    _title(doc, result)
    _study_area(doc, result)
    _sources(doc, result)
    _method(doc, result, keys)
    _dropped(doc, result)
    doc.add_heading("五、分类评估", level=1)
    gaps = _gaps_with_streets(result, streets)
    for n, key in enumerate(keys, start=1):
        _category(doc, result, key, n, (maps or {}).get(key), gaps)
    _proposals(doc, result, streets)
    _complete(doc, result)
    _equity(doc, result, keys)
    _districts(doc, result, keys)
    _notes(doc, result)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc.save(out)
    return out


def soffice() -> str | None:
    """The LibreOffice executable, or None when LibreOffice is not installed."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def to_pdf(docx: str | Path, *, timeout_s: float = 300.0) -> Path | None:
    """Convert the report to PDF beside it with LibreOffice (headless), Chinese set in the
    bundled CJK font where the machine has none; None when LibreOffice is not installed."""
    exe = soffice()
    if exe is None:
        return None
    docx = Path(docx).resolve()
    with tempfile.TemporaryDirectory(prefix="planner-soffice-") as tmp:
        env = {**os.environ, "FONTCONFIG_FILE": str(fontconfig_file(tmp))}
        cmd = [exe, f"-env:UserInstallation={Path(tmp, 'profile').as_uri()}", "--headless",
               "--convert-to", "pdf", "--outdir", str(docx.parent), str(docx)]
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                                  timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise PlannerError(f"LibreOffice did not convert {docx.name} within {timeout_s:g} s; "
                               "open it in Word or WPS and save it as PDF.") from None
    pdf = docx.with_suffix(".pdf")
    if proc.returncode != 0 or not pdf.exists():
        raise PlannerError(f"LibreOffice could not convert {docx.name} to PDF (exit "
                           f"{proc.returncode}: {proc.stderr.strip()[:300]}); open it in Word or "
                           "WPS and save it as PDF.")
    return pdf


# --- document and its pieces ----------------------------------------------------------------


def _document():
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Mm(25))
    for name, face, size in (("Normal", BODY_FONT, 10.5), ("Title", HEADING_FONT, 20),
                             ("Heading 1", HEADING_FONT, 15), ("Heading 2", HEADING_FONT, 12.5),
                             ("Heading 3", HEADING_FONT, 11)):
        style = doc.styles[name]
        style.font.size = Pt(size)
        _east_asian(style, face)
    return doc


def _east_asian(style, face: str) -> None:
    """Set the style's Chinese (East Asian) font; Latin text keeps the style's own."""
    rpr = style.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.append(fonts)
    fonts.set(qn("w:eastAsia"), face)
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(attr), None)
    fonts.set(qn("w:ascii"), "Arial" if face == HEADING_FONT else "Times New Roman")
    fonts.set(qn("w:hAnsi"), "Arial" if face == HEADING_FONT else "Times New Roman")


def table(doc, header: Sequence[str], rows: Sequence[Sequence[object]], *,
          numeric_from: int = 1, widths_mm: Sequence[float] | None = None):
    """A grid table with a bold header row; numbers from column ``numeric_from`` on are right
    aligned; ``widths_mm`` fixes the column widths. Returns the python-docx table."""
    t = doc.add_table(rows=1, cols=len(header))
    t.style = "Table Grid"
    t.autofit = widths_mm is None
    for cell, text in zip(t.rows[0].cells, header, strict=True):
        cell.text = str(text)
        for run in cell.paragraphs[0].runs:
            run.bold = True
    for row in rows:
        cells = t.add_row().cells
        for i, (cell, value) in enumerate(zip(cells, row, strict=True)):
            cell.text = str(value)
            if i >= numeric_from and _is_number(str(value)):
                cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
    for i, width in enumerate(widths_mm or ()):
        t.columns[i].width = Mm(width)  # the grid, which LibreOffice reads
    for row in t.rows:
        for i, cell in enumerate(row.cells):
            if widths_mm is not None:
                cell.width = Mm(widths_mm[i])
            for run in cell.paragraphs[0].runs:
                run.font.size = Pt(9)
    doc.add_paragraph()
    return t


def _is_number(text: str) -> bool:
    return text.replace(",", "").replace("%", "").replace(".", "", 1).lstrip("-").isdigit()


def _title(doc, result) -> None:
    doc.add_heading(f"{result.scenario.name} 一刻钟便民生活圈现状评估与规划建议", level=0)
    p = doc.add_paragraph(f"生成日期：{dt.date.today().isoformat()}。本报告由开源规划工具根据"
                          "真实路网、设施与人口数据自动计算生成；数字均可由同一情景文件复现。")
    p.runs[0].italic = True
    if result.scenario.description:
        doc.add_paragraph(f"情景说明：{result.scenario.description}")


def _study_area(doc, result) -> None:
    doc.add_heading("一、研究范围", level=1)
    net = result.network.summary()
    w, s, e, n = net["bbox_lonlat"]
    cells = result.demand.cells
    total = float(cells["total"].sum())
    older = float(cells["age_60_plus"].sum()) if "age_60_plus" in cells else float("nan")
    doc.add_paragraph(
        f"研究范围为经度 {w:.4f}°–{e:.4f}°、纬度 {s:.4f}°–{n:.4f}°（WGS-84）之间的步行路网覆盖区域。"
        f"步行路网共 {net['walkable_km']:,.1f} 千米、{net['junctions_and_dead_ends']:,} 个路口与端点；"
        f"人口按 {result.scenario.population.cell_m:g} 米网格统计，共 {len(cells):,} 个网格、"
        f"{people(total)} 人，其中 60 岁以上 {people(older)} 人。"
        f"纳入分析的现状设施共 {len(result.facilities):,} 处。")


def _sources(doc, result) -> None:
    doc.add_heading("二、数据来源", level=1)
    rows = [(s.what, s.name, s.date, s.licence) for s in data_sources(result)]
    table(doc, ["数据", "来源", "日期", "许可"], rows, numeric_from=99)
    doc.add_paragraph("坐标：OpenStreetMap 与 GPS 为 WGS-84；高德、腾讯为 GCJ-02，百度为 BD-09。"
                      "输入中的 GCJ-02/BD-09 坐标均已精确换算，本报告表格同时给出 GCJ-02（可直接"
                      "粘贴到高德地图）与 WGS-84 经纬度。")


def _method(doc, result, keys: list[str]) -> None:
    doc.add_heading("三、方法", level=1)
    access = result.scenario.analysis.max_access_m
    doc.add_paragraph(
        "可达性按沿步行路网的实际步行距离计算，而非直线缓冲区：每个人口网格、设施与候选点都"
        "接入最近的道路线段，接入段与路段的部分长度都计入步行距离。距任何步行道路超过 "
        f"{access:g} 米的网格不计算步行距离，单独列为“无法从街道到达”。覆盖分两种口径："
        "合规口径以各类设施的服务半径（步行距离）为准；时间口径按服务人群的步速计算 5、10、"
        "15 分钟可达比例。评估达标与否以合规口径为准（本报告的覆盖率、缺口与选址均按服务半径"
        "计算）；时间口径是补充说明：服务半径短于设施所在生活圈层级的步行距离时（如 500 米的"
        "药店在 10 分钟圈内），时间口径的比例会高于合规口径，两者并不矛盾。")
    rows = []
    for key in keys:
        cat = result.categories[key]
        rows.append((cat.name_zh, f"{cat.level_min} 分钟", f"{cat.distance_m:g} 米",
                     GROUP_ZH.get(cat.group, cat.group), _standard(cat)))
    table(doc, ["设施类别", "生活圈层级", "服务半径", "服务人群", "依据"], rows, numeric_from=99,
          widths_mm=(30, 18, 18, 26, 68))
    speeds = load_speeds(overrides=result.scenario.speeds or None)
    rows = [(SPEED_ZH.get(g, g), f"{v:g}", f"{v * 60:.0f}") for g, v in speeds.items()]
    doc.add_paragraph("步行速度（各类设施按其服务人群的步速计算步行时间）：")
    table(doc, ["人群", "步速（米/秒）", "每分钟步行（米）"], rows)


def _standard(cat) -> str:
    """The sources of the category's distance and level in Chinese (``source_zh``; a scenario's
    own source without one is quoted as written), with an unverified one marked."""
    parts = []
    for field, label in (("distance_m", "服务半径"), ("level_min", "层级")):
        prov = next((p for p in cat.provenance if p.field == field), None)
        if prov is None:
            continue
        if prov.source == OVERRIDE_SOURCE:
            parts.append(f"{label}：本情景设定（情景文件 [categories]）")
            continue
        text = prov.source_zh or f"情景文件所注来源（原文）：{prov.source}"
        parts.append(f"{label}：{text}" + ("" if prov.verified else "（常用取值，原文未核对）"))
    return "；".join(parts) or "—"


def _dropped(doc, result) -> None:
    doc.add_heading("四、数据剔除与未计入说明", level=1)
    dropped = result.tables.get("facilities_dropped", pd.DataFrame())
    audit = result.tables.get("facility_audit", pd.DataFrame())
    doc.add_paragraph(
        f"设施数据共读入 {len(audit):,} 条记录，保留 {len(result.facilities):,} 处设施；每一条记录的"
        "归类依据或剔除原因都列在成果表 facility_audit 中。剔除原因统计如下：")
    counts = (dropped["reason"].value_counts() if len(dropped) and "reason" in dropped
              else pd.Series(dtype=int))
    rows = [(reason_zh(str(r)), f"{int(n):,}") for r, n in counts.items()]
    table(doc, ["剔除原因", "条数"], rows or [("无", "0")])
    off = result.tables.get("cells_off_streets", pd.DataFrame())
    n_off = len(off)
    p_off = float(off["total"].sum()) if n_off else 0.0
    doc.add_paragraph(
        f"距步行道路超过 {result.scenario.analysis.max_access_m:g} 米的人口网格共 {n_off:,} 个、"
        f"{people(p_off)} 人，未计入覆盖或缺口（见成果表 cells_off_streets）；这类情况通常是小区"
        "内部道路未录入路网，应补充路网而非新增设施。")


# --- per category ---------------------------------------------------------------------------


def _gaps_with_streets(result, streets: Streets) -> pd.DataFrame:
    """The gap-area table with the streets each area lies on."""
    table_ = result.tables.get("gap_areas", pd.DataFrame())
    layer = result.layers.get("gap_areas")
    if layer is None or not len(table_):
        return table_.assign(streets=pd.Series(dtype=object))
    names = pd.DataFrame({"category": layer["category"].to_numpy(),
                          "gap_id": layer["gap_id"].to_numpy(),
                          "streets": streets.along(layer.geometry)})
    return table_.merge(names, on=["category", "gap_id"], how="left")


def _category(doc, result, key: str, n: int, image: Path | None, gaps: pd.DataFrame) -> None:
    cat = result.categories[key]
    head = result.tables["headline"].set_index("category").loc[key]
    doc.add_heading(f"5.{n} {cat.name_zh}（{cat.level_min} 分钟生活圈，服务半径 "
                    f"{cat.distance_m:g} 米）", level=2)
    doc.add_paragraph(_headline_sentence(result, cat, head))
    if image is not None:
        doc.add_picture(str(image), width=Mm(160))
        caption = doc.add_paragraph(f"图 {n}　{cat.name_zh}：步行时间与覆盖缺口（数字为缺口排名，"
                                    "星标为建议新增设施）")
        caption.alignment = WD_ALIGN_PARAGRAPH.CENTER
    own = gaps[(gaps["category"] == key) & (gaps["people"] >= 0.5)] if len(gaps) else gaps
    own = own.sort_values("rank").head(GAP_ROWS)  # areas of less than one person are not listed
    if not len(own):
        doc.add_paragraph("无覆盖缺口：所有可从街道到达的服务人群均在服务半径内。")
        return
    group = GROUP_ZH.get(str(own["group"].iloc[0]), str(own["group"].iloc[0]))
    doc.add_paragraph(f"未覆盖人口最多的 {len(own)} 个缺口区域（未覆盖人口为{group}；街道按区内"
                      "长度排列，坐标为区内一点）：")
    rows = [(int(r["rank"]), r["streets"], people(r["people"]), f"{r['area_km2']:.2f}",
             degrees(r["lon_gcj02"]), degrees(r["lat_gcj02"])) for _, r in own.iterrows()]
    table(doc, GAP_HEADER, rows, numeric_from=2, widths_mm=GAP_WIDTHS_MM)


def _headline_sentence(result, cat, head) -> str:
    group = GROUP_ZH.get(str(head["served_group"]), str(head["served_group"]))
    within = [head.get(f"within_{m}_min_pct") for m in result.scenario.analysis.levels_min]
    mins = "、".join(f"{m}" for m in result.scenario.analysis.levels_min)
    speeds = load_speeds(overrides=result.scenario.speeds or None)
    speed = speeds.get(cat.group, speeds["total"])
    text = (f"现状设施 {int(head['facilities'])} 处。{group} {people(head['served_people'])} 人中，"
            f"{pct(head['served_coverage_pct'])} 在 {cat.distance_m:g} 米服务半径内")
    if all(v is not None and not (isinstance(v, float) and math.isnan(v)) for v in within):
        text += (f"；按 {speed:g} 米/秒步速，{mins} 分钟内可达的比例依次为 "
                 + "、".join(pct(v) for v in within))
    served_uncovered = float(head["served_people"]) * (1 - float(head["served_coverage_pct"]) / 100)
    if str(head["served_group"]) == "total":
        text += f"。未覆盖 {people(head['people_uncovered'])} 人"
    else:  # the served group first, then everyone, so the two figures are not confused
        text += (f"。{group}中未覆盖约 {people(served_uncovered)} 人（按全部人口计未覆盖 "
                 f"{people(head['people_uncovered'])} 人）")
    text += f"，无法从街道到达 {people(head['people_off_streets'])} 人（全部人口）。"
    if int(head["facilities"]) == 0:
        text += "研究范围内没有该类设施，所有居民均在缺口之内。"
    return text


# --- proposals ------------------------------------------------------------------------------


def _proposals(doc, result, streets: Streets) -> None:
    doc.add_heading("六、选址建议", level=1)
    if not result.scenario.optimize:
        doc.add_paragraph("本情景未提出选址优化请求。")
        return
    for i, spec in enumerate(result.scenario.optimize, start=1):
        name = f"optimize_{i}_{spec.model}_{'_'.join(spec.categories)}"
        cats = "、".join(result.categories[k].name_zh for k in spec.categories)
        doc.add_heading(f"6.{i} {cats}（{_model_zh(spec.model)}）", level=2)
        sites = result.tables.get(f"{name}_sites", pd.DataFrame())
        if "status" in sites:
            sites = sites[sites["status"] != "existing"]
        coverage = result.tables.get(f"{name}_coverage", pd.DataFrame())
        doc.add_paragraph(_request_sentence(coverage, len(sites)))
        if len(sites):
            table(doc, SITE_HEADER, _site_rows(sites, streets), widths_mm=SITE_WIDTHS_MM)
        if len(coverage):
            c = coverage.iloc[0]
            doc.add_paragraph(gap_sentence(spec.model, float(c["objective"]), float(c["bound"]),
                                           float(c["gap"]), len(sites)))


def _model_zh(model: str) -> str:
    return {"mclp": "最大覆盖模型", "lscp": "集合覆盖模型", "capacitated": "容量约束最大覆盖模型",
            "joint": "多类设施合建模型"}.get(model, model)


def _request_sentence(coverage: pd.DataFrame, n_sites: int) -> str:
    if not len(coverage) or "people_newly_covered" not in coverage:
        return f"建议新增 {n_sites} 处。"
    c = coverage.iloc[0]
    return (f"建议新增 {n_sites} 处，新增覆盖 {people(c['people_newly_covered'])} 人；服务人群的"
            f"覆盖率由 {pct(100 * c['share_covered_before'])} 提高到 "
            f"{pct(100 * c['share_covered_after'])}。")


def _site_rows(sites: pd.DataFrame, streets: Streets) -> list[tuple]:
    import shapely

    points = shapely.points(sites["x"].to_numpy(float), sites["y"].to_numpy(float))
    names = streets.nearest(points)
    order = sites["order"] if "order" in sites else pd.Series(range(1, len(sites) + 1))
    newly = sites["marginal_people"] if "marginal_people" in sites else [np.nan] * len(sites)
    return [(int(o), name, degrees(r["lon_gcj02"]), degrees(r["lat_gcj02"]),
             degrees(r["lon_wgs84"]), degrees(r["lat_wgs84"]), people(float(m)))
            for o, name, (_, r), m in zip(order, names, sites.iterrows(), newly, strict=True)]


def gap_sentence(model: str, objective: float, bound: float, gap: float, n_sites: int) -> str:
    """The proven optimality gap in one plain sentence."""
    if model == "lscp":
        need = math.ceil(bound - 1e-6) if math.isfinite(bound) else None
        if gap is not None and gap <= 1e-9:
            return "已证明这是满足要求的最少选址方案：不存在更少的方案。"
        return (f"本方案用 {objective:,.0f}，已证明任何方案至少需要 {need:,}；"
                "真正的最少值就在两者之间。")
    if gap is None or not math.isfinite(gap) or not math.isfinite(bound):
        return "求解器未能给出最优性证明：本方案可行，但无法保证是最好的。"
    if gap <= 1e-9:
        return (f"已证明本方案为最优：在所有候选点中，任何 {n_sites} 处选址都不可能比它覆盖更多人"
                "（最优性差距 0%）。")
    return (f"已证明任何 {n_sites} 处选址最多能覆盖 {people(bound)} 人，本方案覆盖 "
            f"{people(objective)} 人，即最多还差 {people(bound - objective)} 人"
            f"（最优性差距 {gap:.1%}）。")


# --- complete circle and equity -------------------------------------------------------------


def _complete(doc, result) -> None:
    doc.add_heading("七、完整生活圈指数", level=1)
    circle = result.complete
    if circle is None:
        doc.add_paragraph("未计算完整生活圈指数：本情景未分析其基本服务类别。")
        return
    names = "、".join(result.categories[k].name_zh for k in circle.keys)
    k = len(circle.keys)
    doc.add_paragraph(
        f"完整生活圈指数为 {pct(100 * circle.index)}：即 {pct(100 * circle.index)} 的居民在各自服务"
        f"半径内能步行到达全部 {k} 类基本服务（{names}）；其余居民至少缺少一类。")
    t = result.tables["complete_circle"]
    rows = [(f"{int(r['categories_reached'])} / {k}", f"{int(r['cells']):,}", people(r["people"]),
             pct(r["people_pct"])) for _, r in t.iterrows()]
    table(doc, ["达到的基本服务类别数", "网格数", "人口", "占比"], rows)
    top = t.loc[t["people"].idxmax()]
    n = int(top["categories_reached"])
    doc.add_paragraph(f"人数最多的一档是达到 {n} 类（{pct(top['people_pct'])}）：这部分居民在步行"
                      f"范围内只有 {n}/{k} 类基本服务，还缺 {k - n} 类。")


def _equity(doc, result, keys: list[str]) -> None:
    doc.add_heading("八、公平性", level=1)
    eq = result.tables["equity"].set_index("category")
    rows = []
    for key in keys:
        r = eq.loc[key]
        rows.append((result.categories[key].name_zh, pct(r["compliance_pct_total"]),
                     pct(r["compliance_pct_older"]), _pp(r["compliance_gap_pp"]),
                     metres(r["mean_distance_m_total"]), metres(r["mean_distance_m_older"]),
                     _gini(r["gini_distance_total"])))
    table(doc, ["设施类别", "全部人口覆盖率", "老年人覆盖率", "差距（百分点）", "平均步行距离（全部）",
                "平均步行距离（老年人）", "步行距离基尼系数"], rows)
    derived = str(result.demand.meta.get("derived", {}).get("age_60_plus", ""))
    if "× total" in derived:  # every cell has the same share of older people
        doc.add_paragraph("本次人口数据不含年龄结构，老年人按固定比例分配到每个网格（"
                          f"{derived}），因此老年人与全体居民的覆盖率相同，差距无法从数据中看出；"
                          "请使用分年龄人口数据（如 WorldPop 年龄栅格或七普分年龄人口）评估公平性。")
    else:
        doc.add_paragraph(equity_sentence(eq.loc[keys]))
    doc.add_paragraph(gini_sentence(eq.loc[keys], result.categories))


def _pp(v: float) -> str:
    return "—" if v is None or not math.isfinite(v) else f"{v:+.1f}"


def _gini(v: float) -> str:
    return "—" if v is None or not math.isfinite(v) else f"{v:.2f}"


def equity_sentence(eq: pd.DataFrame) -> str:
    """One sentence on older adults' coverage against everyone's (``compliance_gap_pp``)."""
    gaps = eq["compliance_gap_pp"].astype(float).dropna()
    if not len(gaps) or gaps.min() >= -0.05:
        return "老年人的合规覆盖率在各类设施上都不低于全体居民：服务分布没有对老年人不利。"
    worst = gaps.idxmin()
    return (f"老年人覆盖率与全体居民相比差距最大的是{eq.loc[worst, 'name_zh']}（低 "
            f"{-gaps[worst]:.1f} 个百分点），说明该类设施离老年人集中居住的地方较远，应优先在"
            "老年人密集的缺口区域补点。")


def gini_sentence(eq: pd.DataFrame, categories) -> str:
    """One sentence reading the Gini coefficients of the walk to the nearest facility."""
    gini = eq["gini_distance_total"].astype(float).dropna()
    if not len(gini):
        return "各类设施都无法测得步行距离，未计算基尼系数。"
    worst = gini.idxmax()
    return (f"基尼系数衡量居民到最近设施步行距离的不均衡程度（0 表示人人相同，越接近 1 越不均）；"
            f"最不均衡的是{categories[worst].name_zh}（{gini[worst]:.2f}），即少数居民要比多数人"
            "走得远得多。")


def _districts(doc, result, keys: list[str]) -> None:
    """Per district of the scenario's ``[districts]``: its people and the compliance coverage
    of each category's served group (tables of ``DISTRICT_COLUMNS`` categories each)."""
    table_ = result.tables.get("coverage_by_district")
    if table_ is None or not len(table_):
        return
    doc.add_heading("九、分区覆盖", level=1)
    rows = table_[table_["mode"] == "compliance"]
    served = {k: result.categories[k].group for k in keys}
    available = set(rows["group"])
    order = list(dict.fromkeys(zip(rows["district"], rows["district_name"], strict=True)))
    total = rows[rows["group"] == "total"].groupby("district")["people"].first()
    doc.add_paragraph(
        f"按情景文件 [districts] 给出的 {len(order)} 个分区统计（每个人口网格计入其中心所在的分区）；"
        "表中为各类设施服务人群在服务半径内的比例，人口为分区全部人口。")
    for start in range(0, len(keys), DISTRICT_COLUMNS):
        part = keys[start:start + DISTRICT_COLUMNS]
        header = ["分区", "人口"] + [
            f"{result.categories[k].name_zh}（{GROUP_ZH.get(g, g) if g in available else '全部人口'}）"
            for k in part for g in [served[k]]]
        body = []
        for district, name in order:
            mine = rows[rows["district"] == district]
            cells = []
            for k in part:
                group = served[k] if served[k] in available else "total"
                hit = mine[(mine["category"] == k) & (mine["group"] == group)]["coverage_pct"]
                cells.append(pct(float(hit.iloc[0])) if len(hit) else "—")
            body.append([str(name), people(float(total.get(district, float("nan")))), *cells])
        table(doc, header, body)


def _notes(doc, result) -> None:
    notes = result.summary()["notes"]
    if not notes:
        return
    doc.add_heading(NOTES_HEADING, level=1)
    doc.add_paragraph("以下为程序在本次计算中自动记录的假设与处理（人口校准、年龄结构比例、建筑估算"
                      "规则、设施剔除等）。常见条目已译为中文；尚无译文的条目保留程序的英文原文，"
                      f"标注{ENGLISH_MARK}。全部原文见 summary.json 与成果表工作簿的“说明”工作表。")
    names = {k: c.name_zh for k, c in result.categories.items()}
    for note in map(str, notes):
        text = run_note_zh(note, names)
        doc.add_paragraph(text if text != note else f"{ENGLISH_MARK}{note}", style="List Bullet")
