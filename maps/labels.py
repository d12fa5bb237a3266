"""Texts (Chinese / English), category colours and icon glyphs of the gap map."""

from __future__ import annotations

import html
from typing import Literal

from planner.errors import InputError
from planner.standards import Category

Lang = Literal["zh", "en"]

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "title": "一刻钟便民生活圈 · 服务覆盖与缺口分析",
        "time_note": "步行时间按各类设施服务人群的步速计算（成人 {total} m/s，老年人 {older} m/s）",
        "compliance_note": "按各类设施的合规服务距离（沿步行网络）",
        "walk_time": "步行时间（分钟）",
        "compliance": "合规距离",
        "within": "≤ {d} 米",
        "beyond": "> {d} 米",
        "within_any": "在合规距离内",
        "beyond_any": "超出合规距离",
        "gap": "覆盖缺口：合规距离外的人口（按未覆盖人口排序）",
        "gap_tip": "缺口 #{rank}：未覆盖 {people} 人（{group}），{cells} 个网格",
        "facilities": "现状设施",
        "all_facilities": "全部现状设施",
        "proposed": "建议新增设施",
        "proposal_order": "建设顺序第 {order} 位",
        "proposal_people": "新增覆盖 {people:,.0f} 人",
        "isochrone": "步行等时圈",
        "complete": "完整生活圈：达到基本服务类别数",
        "complete_layer": "完整生活圈指数 {pct}",
        "complete_tip": "达到 {n}/{k} 类 · {people} 人",
        "off_streets_layer": "距街道过远、无法计算步行距离：{people} 人",
        "off_streets_tip": "距最近街道 {m} 米 · {people} 人（未计入覆盖或缺口，请补充路网）",
        "districts": "行政分区（街道/社区）",
        "district_table": "合规覆盖率",
        "category": "类别",
        "everyone": "全部人口",
        "older": "老年人",
        "streets": "步行网络",
        "no_facilities": "（无设施，覆盖率 0%）",
        "cells_tip": "{label} · {people} 人",
        "source": "路网与设施：© OpenStreetMap 贡献者",
        "north": "北",
        "group_total": "全部人口",
        "group_age_60_plus": "60岁以上",
        "group_age_65_plus": "65岁以上",
        "group_age_0_2": "0–2岁",
        "group_age_3_5": "3–5岁",
        "minutes": "{x} 分钟",
        "people": "{n} 人",
        "other_layers": "其他图层",
        "gap_head": "覆盖缺口",
        "off_streets": "距街道过远的人口网格（未计入覆盖或缺口）",
        "legend": "图例",
        "layers": "图层",
        "switch": "EN",
        "proposed_layer": "建议新增设施（{n} 处）",
        "proposed_one": "建议新增：{category}",
        "proposed_shared": "同址建议：一处用于多类设施",
        "proposed_head": "建议新增设施",
        "ranks": "缺口排名（1 = 未覆盖人口最多；至多标注 {n} 处）",
    },
    "en": {
        "title": "15-minute living circle · service coverage and gaps",
        "time_note": "Walking time at the speed of each service's users (adults {total} m/s, older adults {older} m/s)",
        "compliance_note": "Within each category's compliance distance along the walk network",
        "walk_time": "Walking time (minutes)",
        "compliance": "Compliance distance",
        "within": "≤ {d} m",
        "beyond": "> {d} m",
        "within_any": "within compliance distance",
        "beyond_any": "beyond compliance distance",
        "gap": "Coverage gaps: beyond the compliance distance (ranked by uncovered people)",
        "gap_tip": "Gap #{rank}: {people} people uncovered ({group}), {cells} cells",
        "facilities": "Existing facilities",
        "all_facilities": "All existing facilities",
        "proposed": "Proposed new sites",
        "proposal_order": "funding order {order}",
        "proposal_people": "{people:,.0f} people newly covered",
        "isochrone": "Walking isochrones",
        "complete": "Complete circle: basic categories reached",
        "complete_layer": "Complete living-circle index {pct}",
        "complete_tip": "{n}/{k} categories reached · {people} people",
        "off_streets_layer": "Not reachable from the streets: {people} people",
        "off_streets_tip": "{m} m from the nearest street · {people} people (in neither coverage nor gaps; complete the street layer)",
        "districts": "Districts (subdistricts/communities)",
        "district_table": "Coverage (compliance)",
        "category": "Category",
        "everyone": "Everyone",
        "older": "Older adults",
        "streets": "Walk network",
        "no_facilities": " (no facilities, 0 % coverage)",
        "cells_tip": "{label} · {people} people",
        "source": "Streets and facilities: © OpenStreetMap contributors",
        "north": "N",
        "group_total": "everyone",
        "group_age_60_plus": "aged 60+",
        "group_age_65_plus": "aged 65+",
        "group_age_0_2": "aged 0–2",
        "group_age_3_5": "aged 3–5",
        "minutes": "{x} min",
        "people": "{n} people",
        "other_layers": "Other layers",
        "gap_head": "Coverage gaps",
        "off_streets": "Cells too far from any street (in neither coverage nor gaps)",
        "legend": "Legend",
        "layers": "Layers",
        "switch": "中文",
        "proposed_layer": "Proposed new sites ({n})",
        "proposed_one": "Proposed: {category}",
        "proposed_shared": "One proposed site for several categories",
        "proposed_head": "Proposed new site",
        "ranks": "Gap rank (1 = most people uncovered; up to {n} labelled)",
    },
}

#: Colour and (Chinese, Latin) glyph of each bundled category; others cycle through PALETTE.
CATEGORY_STYLE: dict[str, tuple[str, str, str]] = {
    "elderly_day_care": ("#8e44ad", "老", "E"),
    "elderly_home": ("#5b2c6f", "养", "N"),
    "childcare": ("#e67e22", "托", "C"),
    "kindergarten": ("#d35400", "幼", "K"),
    "convenience": ("#2874a6", "便", "S"),
    "fresh_market": ("#1e8449", "菜", "M"),
    "supermarket": ("#117a65", "超", "U"),
    "pharmacy": ("#c0392b", "药", "P"),
    "clinic": ("#e74c3c", "卫", "H"),
    "health_centre": ("#922b21", "医", "H"),
    "breakfast": ("#b7950b", "早", "B"),
    "primary_school": ("#2e4053", "小", "1"),
    "middle_school": ("#566573", "中", "2"),
}
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")

#: Walking-time classes (upper bound, minutes) and their fills: green → red.
TIME_CLASSES = ((5, "#1a9641"), (10, "#a6d96a"), (15, "#fdae61"), (float("inf"), "#d7191c"))
COMPLIANCE_COLOURS = ("#1a9641", "#d7191c")
GAP_COLOUR = "#7b1010"
DISTRICT_COLOUR = "#333333"
ISOCHRONE_COLOUR = "#1b4f72"
STREET_COLOUR = "#9a9a9a"
COMPLETE_RAMP = ("#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b")


def text(lang: Lang) -> dict[str, str]:
    """The label table of ``lang`` ("zh" or "en")."""
    if lang not in TEXT:
        raise InputError(f"lang must be 'zh' (中文) or 'en' (English), not {lang!r}.")
    return TEXT[lang]


def bi(zh: str, en: str) -> str:
    """Both languages as escaped HTML; the page shows the one its language switch selects."""
    if zh == en:
        return html.escape(zh)
    return f'<span class="plc-zh">{html.escape(zh)}</span><span class="plc-en">{html.escape(en)}</span>'


def both(key: str, **fields) -> str:
    """Label ``key`` of the text table in both languages (see :func:`bi`), formatted with
    ``fields``; a field given as a (Chinese, English) tuple differs by language."""

    def fmt(i: int, lang: str) -> str:
        values = {k: v[i] if isinstance(v, tuple) else v for k, v in fields.items()}
        return TEXT[lang][key].format(**values)

    return bi(fmt(0, "zh"), fmt(1, "en"))


def check_lang(lang: str) -> Lang:
    """``lang`` if it is "zh" or "en"; otherwise an InputError naming the choices."""
    text(lang)
    return lang  # type: ignore[return-value]


def category_label(category: Category) -> str:
    """The category's name in both languages (HTML)."""
    return bi(category.name_zh, category.name_en)


def category_style(key: str, order: int, category: Category) -> tuple[str, str, str]:
    """(colour, Chinese glyph, Latin glyph) of a category; ``order`` picks a colour for unknown
    keys."""
    if key in CATEGORY_STYLE:
        return CATEGORY_STYLE[key]
    return PALETTE[order % len(PALETTE)], category.name_zh[:1], category.name_en[:1].upper()


def group_name(group: str, lang: Lang) -> str:
    """Population group in words."""
    return text(lang).get(f"group_{group}", group)


def time_class_labels() -> list[str]:
    """'0–5', '5–10', '10–15', '> 15' (minutes)."""
    out, lower = [], 0
    for upper, _ in TIME_CLASSES:
        out.append(f"> {lower}" if upper == float("inf") else f"{lower}–{int(upper)}")
        lower = int(upper) if upper != float("inf") else lower
    return out


def complete_colours(k: int) -> list[str]:
    """k + 1 colours from light (0 categories reached) to dark (all k reached)."""
    idx = [round(i * (len(COMPLETE_RAMP) - 1) / max(k, 1)) for i in range(k + 1)]
    return [COMPLETE_RAMP[i] for i in idx]
