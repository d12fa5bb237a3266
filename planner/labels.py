"""Readable names for the workbook: column headers with units, sheet names and one-line sheet
descriptions, in Chinese and English.

CSV files keep the code names of the columns; only the workbook shows these. A header is
``label（unit）`` in Chinese and ``label (unit)`` in English; the unit also decides how a value
is rounded in the workbook (people to whole persons, percentages to one decimal, distances to
whole metres)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal, NamedTuple

from planner.texts_zh import CAPACITY_SOURCES, note_zh, reason_zh, rule_zh
from planner.texts_zh import UNITS as UNITS_ZH

Lang = Literal["zh", "en"]

#: Unit kinds: their text per language and the decimals a workbook keeps (None: as it is).
UNITS: dict[str, tuple[str, str, int | None]] = {
    "people": ("人", "people", 0),
    "pct": ("%", "%", 1),
    "pp": ("百分点", "pp", 1),
    "share": ("%", "%", 1),  # a 0–1 share, shown as a percentage
    "m": ("米", "m", 0),
    "min": ("分钟", "min", 1),
    "s": ("秒", "s", 1),
    "m_s": ("米/秒", "m/s", 2),
    "km2": ("平方公里", "km²", 2),
    "deg": ("度", "°", 6),
    "ratio": ("", "", 2),
    "num": ("", "", 2),
    "count": ("", "", 0),
    "": ("", "", None),
}


class Label(NamedTuple):
    """A column's header text in Chinese and English and its unit kind (a key of UNITS)."""

    zh: str
    en: str
    unit: str = ""


#: Every column the result tables carry, by code name.
COLUMNS: dict[str, Label] = {
    # what a row is about
    "category": Label("设施类别", "Category"),
    "name_zh": Label("中文名称", "Name (Chinese)"),
    "name_en": Label("英文名称", "Name (English)"),
    "categories": Label("设施类别", "Categories"),
    "mode": Label("测算方式", "Measure"),
    "level_min": Label("生活圈层级", "Life-circle level", "min"),
    "threshold_m": Label("距离标准", "Distance norm", "m"),
    "distance_m": Label("步行距离标准", "Walking distance norm", "m"),
    "search_bound_m": Label("搜索上限", "Search limit", "m"),
    "group": Label("人群", "Group"),
    "served_group": Label("服务人群", "Group served"),
    "demand_group": Label("需求人群", "Demand group"),
    "speed_m_s": Label("步行速度", "Walking speed", "m_s"),
    "district": Label("行政区编号", "District no."),
    "district_name": Label("行政区", "District"),
    "note": Label("说明", "Note"),
    # people and coverage
    "people": Label("人口", "People", "people"),
    "people_total": Label("总人口", "People in all", "people"),
    "people_covered": Label("覆盖人口", "People covered", "people"),
    "people_uncovered": Label("未覆盖人口", "People not covered", "people"),
    "people_off_streets": Label("无法计算步行距离人口", "People off the streets", "people"),
    "people_pct": Label("人口占比", "Share of people", "pct"),
    "coverage_pct": Label("覆盖率", "Coverage", "pct"),
    "served_people": Label("服务人群人口", "People of the group served", "people"),
    "served_coverage_pct": Label("服务人群覆盖率", "Coverage of the group served", "pct"),
    "facilities": Label("设施数", "Facilities", "count"),
    "categories_reached": Label("可达设施类别数", "Categories within reach", "count"),
    "cells": Label("网格数", "Cells", "count"),
    # equity
    "compliance_gap_pp": Label("距离达标差（老年人−全体）", "Distance gap (older − all)", "pp"),
    "time_gap_pp": Label("时间达标差（老年人−全体）", "Time gap (older − all)", "pp"),
    # gaps
    "rank": Label("排序", "Rank", "count"),
    "gap_id": Label("缺口编号", "Gap no."),
    "area_km2": Label("面积", "Area", "km2"),
    # capacity
    "capacity": Label("容量", "Capacity", "num"),
    "capacity_unit": Label("容量单位", "Capacity unit"),
    "capacity_total": Label("总容量", "Total capacity", "num"),
    "capacity_needed": Label("按标准需要的容量", "Capacity the norm asks for", "num"),
    "capacity_source": Label("容量来源", "Capacity from"),
    "served": Label("获服务人口", "People served", "people"),
    "over_capacity": Label("超出容量人口", "People over capacity", "people"),
    "uncovered": Label("未覆盖人口", "People not covered", "people"),
    "served_pct": Label("获服务比例", "Served", "pct"),
    "over_capacity_pct": Label("超出容量比例", "Over capacity", "pct"),
    "uncovered_pct": Label("未覆盖比例", "Not covered", "pct"),
    "catchment_cells": Label("服务范围网格数", "Cells in catchment", "count"),
    "catchment_people": Label("服务范围人口", "People in catchment", "people"),
    "catchment_demand": Label("服务范围需求容量", "Capacity needed in catchment", "num"),
    "ratio": Label("供需比", "Supply/demand ratio", "ratio"),
    # places
    "id": Label("编号", "ID"),
    "ref": Label("来源编号", "Source ID"),
    "name": Label("名称", "Name"),
    "cell_id": Label("网格编号", "Cell ID"),
    "site_row": Label("候选点序号", "Candidate no."),
    "ix": Label("网格列号", "Grid column"),
    "iy": Label("网格行号", "Grid row"),
    "x": Label("投影坐标X", "Projected x", "m"),
    "y": Label("投影坐标Y", "Projected y", "m"),
    "lon_wgs84": Label("经度 WGS-84", "Longitude WGS-84", "deg"),
    "lat_wgs84": Label("纬度 WGS-84", "Latitude WGS-84", "deg"),
    "lon_gcj02": Label("经度 GCJ-02", "Longitude GCJ-02", "deg"),
    "lat_gcj02": Label("纬度 GCJ-02", "Latitude GCJ-02", "deg"),
    "lon_bd09": Label("经度 BD-09", "Longitude BD-09", "deg"),
    "lat_bd09": Label("纬度 BD-09", "Latitude BD-09", "deg"),
    "access_m": Label("到最近街道距离", "Distance to the nearest street", "m"),
    # facility audit
    "source": Label("数据来源", "Source"),
    "outcome": Label("处理结果", "Outcome"),
    "facility_ids": Label("设施编号", "Facility IDs"),
    "rule": Label("分类规则", "Rule"),
    "reason": Label("原因", "Reason"),
    "reasons": Label("原因", "Reasons"),
    "detail": Label("详情", "Detail"),
    # optimisation
    "status": Label("状态", "Status"),
    "cost": Label("费用", "Cost", "num"),
    "order": Label("选址顺序", "Order", "count"),
    "marginal_people": Label("新增覆盖人口", "People added", "people"),
    "cumulative_people": Label("累计覆盖人口", "People covered so far", "people"),
    "people_covered_before": Label("规划前覆盖人口", "People covered before", "people"),
    "people_covered_after": Label("规划后覆盖人口", "People covered after", "people"),
    "people_newly_covered": Label("新增覆盖人口", "People newly covered", "people"),
    "people_no_longer_covered": Label("不再覆盖人口", "People no longer covered", "people"),
    "people_served_before": Label("规划前获服务人口", "People served before", "people"),
    "people_served_after": Label("规划后获服务人口", "People served after", "people"),
    "people_newly_served": Label("新增获服务人口", "People newly served", "people"),
    "people_lost_by_closures": Label("因关闭失去服务人口", "People losing service to closures",
                                     "people"),
    "share_covered_before": Label("规划前覆盖率", "Covered before", "share"),
    "share_covered_after": Label("规划后覆盖率", "Covered after", "share"),
    "share_served_before": Label("规划前服务率", "Served before", "share"),
    "share_served_after": Label("规划后服务率", "Served after", "share"),
    "covered_before": Label("规划前是否覆盖", "Covered before"),
    "covered_after": Label("规划后是否覆盖", "Covered after"),
    "objective": Label("目标值", "Objective", "num"),
    "bound": Label("最优上界", "Bound", "num"),
    "gap": Label("最优性差距", "Optimality gap", "share"),
    "seconds": Label("求解时间", "Solve time", "s"),
    # province runs
    "unit_code": Label("单元代码", "Unit code"),
    "unit_name": Label("单元名称", "Unit"),
    "run_seconds": Label("计算用时", "Run time", "s"),
    "error": Label("错误", "Error"),
    "complete_circle_pct": Label("完整生活圈人口比例", "People in a complete circle", "pct"),
    "not_reachable_people": Label("无法计算步行距离人口", "People off the streets", "people"),
    "new_sites": Label("新增设施数", "New sites", "count"),
    "group_newly_covered": Label("新增覆盖服务人群人口", "People of the group served newly covered",
                                 "people"),
    "plan": Label("方案", "Plan"),
    # comparison
    "diff_pp": Label("覆盖率变化", "Change in coverage", "pp"),
    "diff_people": Label("覆盖人口变化", "Change in people covered", "people"),
    "cells_newly_covered": Label("新增覆盖网格数", "Cells newly covered", "count"),
    "cells_no_longer_covered": Label("不再覆盖网格数", "Cells no longer covered", "count"),
    "people_newly_within_level": Label("新增层级时间内人口", "People newly within the level",
                                       "people"),
    "people_no_longer_within_level": Label("不再处于层级时间内人口",
                                           "People no longer within the level", "people"),
    "change": Label("变化", "Change"),
}

#: Columns of the equity table, per group: ``<base>_total`` everyone, ``<base>_older`` older adults.
_PER_GROUP: dict[str, Label] = {
    "people": Label("人口", "People", "people"),
    "compliance_pct": Label("距离达标率", "Within the distance", "pct"),
    "speed_m_s": Label("步行速度", "Walking speed", "m_s"),
    "time_pct": Label("时间达标率", "Within the level's minutes", "pct"),
    "mean_distance_m": Label("平均步行距离", "Mean walk", "m"),
    "median_distance_m": Label("步行距离中位数", "Median walk", "m"),
    "gini_distance": Label("步行距离基尼系数", "Gini of walks", "ratio"),
    "mean_walk_min": Label("平均步行时间", "Mean walk", "min"),
    "measured_pct": Label("可测算比例", "Walk measured", "pct"),
    "beyond_bound_pct": Label("超出搜索上限比例", "Beyond the search limit", "pct"),
    "no_facility_on_part_pct": Label("所在路网无设施比例", "No facility on their street network",
                                     "pct"),
    "off_network_pct": Label("远离街道比例", "Off the streets", "pct"),
    "coverage_pct": Label("覆盖率", "Coverage", "pct"),
    "people_covered": Label("覆盖人口", "People covered", "people"),
}
_SUFFIXES: dict[str, tuple[str, str]] = {
    "total": ("（全体）", " (everyone)"),
    "older": ("（老年人）", " (older adults)"),
    "a": ("（方案A）", " (A)"),
    "b": ("（方案B）", " (B)"),
}
_WITHIN = re.compile(r"within_(\d+)_min_pct")
_AGE = re.compile(r"age_(\d+)_(\d+|plus)")


def label(column: str) -> Label | None:
    """The label of a result column (code name), or None when it has none."""
    if column in COLUMNS:
        return COLUMNS[column]
    if column == "total":
        return Label("总人口", "People", "people")
    if m := _AGE.fullmatch(column):
        lo, hi = m.groups()
        if hi == "plus":
            return Label(f"{lo}岁及以上人口", f"People aged {lo}+", "people")
        return Label(f"{lo}–{hi}岁人口", f"People aged {lo}–{hi}", "people")
    if m := _WITHIN.fullmatch(column):
        n = m.group(1)
        return Label(f"服务人群{n}分钟内覆盖率", f"Group served within {n} min", "pct")
    base, _, suffix = column.rpartition("_")
    if suffix == "pct" and base in SHORT:  # a units table's coverage of one category's group
        zh, en = SHORT[base]
        return Label(f"{zh}服务人群覆盖率", f"Group served by {en}", "pct")
    if suffix in _SUFFIXES and (inner := _PER_GROUP.get(base) or label(base)) is not None:
        zh, en = _SUFFIXES[suffix]
        return Label(inner.zh + zh, inner.en + en, inner.unit)
    return None


#: Code values the workbook shows in words, by column: value → (Chinese, English).
_MODES = {"compliance": ("距离达标", "distance norm"), "time": ("步行时间", "walking time")}
_OUTCOMES = {"kept": ("采用", "kept"), "dropped": ("剔除", "dropped"),
             "partly kept": ("部分采用", "partly kept")}
_GROUP_COLUMNS = ("group", "served_group", "demand_group")
_STATUSES = {"existing": "现状设施", "candidate": "候选点", "required": "必建", "closable": "可关闭",
             "optimal": "已证明最优", "time_limit": "达到求解时间上限", "infeasible": "无可行解",
             "error": "求解出错", "done": "已完成", "reused": "沿用上次结果", "failed": "失败",
             "empty": "无常住人口"}
#: Columns whose code values the Chinese workbook shows in words (English keeps the code).
_ZH_VALUES: dict[str, Callable[[str], str]] = {
    "capacity_unit": lambda v: UNITS_ZH.get(v, v),
    "capacity_source": lambda v: CAPACITY_SOURCES.get(v, v),
    "status": lambda v: _STATUSES.get(v, v),
    "source": lambda v: "路网节点" if v == "network" else v,
    "reason": reason_zh,
    "reasons": reason_zh,
    "detail": rule_zh,
    "rule": rule_zh,
    "note": note_zh,
}


def value_text(column: str, value: str, lang: Lang) -> str:
    """How the workbook shows a code value of a column: a group (``age_60_plus`` → 60岁及以上
    / aged 60+), a measure (``compliance`` → 距离达标 / distance norm) or an audit outcome in
    words; in Chinese also capacity units and sources, statuses, drop reasons, rules and notes
    (see :mod:`planner.texts_zh`); any other value as it is."""
    i = 0 if lang == "zh" else 1
    if lang == "zh" and column in _ZH_VALUES:
        return _ZH_VALUES[column](value)
    if column == "mode" and value in _MODES:
        return _MODES[value][i]
    if column == "outcome" and value in _OUTCOMES:
        return _OUTCOMES[value][i]
    if column in _GROUP_COLUMNS:
        if value == "total":
            return ("全体", "everyone")[i]
        if m := _AGE.fullmatch(value):
            lo, hi = m.groups()
            return (f"{lo}岁及以上", f"aged {lo}+")[i] if hi == "plus" else (
                f"{lo}–{hi}岁", f"aged {lo}–{hi}")[i]
    return value


def translated(column: str) -> bool:
    """Whether :func:`value_text` may change the values of a column."""
    return column in ("mode", "outcome", *_GROUP_COLUMNS, *_ZH_VALUES)


def header(column: str, lang: Lang) -> str:
    """The workbook header of a column: its label with the unit in brackets; the code name
    when the column has no label."""
    found = label(column)
    if found is None:
        return column
    text = found.zh if lang == "zh" else found.en
    unit = UNITS[found.unit][0 if lang == "zh" else 1]
    if not unit:
        return text
    if lang == "zh":  # 距离达标率（全体） → 距离达标率（全体，%）
        return f"{text[:-1]}，{unit}）" if text.endswith("）") else f"{text}（{unit}）"
    return f"{text[:-1]}, {unit})" if text.endswith(")") else f"{text} ({unit})"


def unit_of(column: str) -> str:
    """The unit kind of a column ("" when it has none or no label)."""
    found = label(column)
    return "" if found is None else found.unit


#: Why a value can be infinite, by unit kind, for the note column.
INFINITE: dict[str, tuple[str, str]] = {
    "ratio": ("∞：服务范围内没有需求人口（步行可达范围内无人居住），供需比无穷大",
              "∞: nobody who needs this service lives within walking distance, so the ratio is "
              "infinite"),
    "m": ("∞：在搜索上限内步行无法到达任何设施", "∞: no facility within walking reach"),
    "min": ("∞：在搜索上限内步行无法到达任何设施", "∞: no facility within walking reach"),
}
#: What a ratio column means, for the note column of the rows that have one.
RATIOS: dict[str, tuple[str, str]] = {
    "ratio": ("供需比 = 设施容量 ÷ 其步行服务范围内按标准需要的容量；大于1表示容量有余，小于1表示不足",
              "ratio = the facility's capacity ÷ the capacity the norm asks for within its "
              "walking catchment; above 1 spare, below 1 short"),
    "gini_distance": ("基尼系数0表示人人步行距离相同，越接近1越不均衡",
                      "Gini 0: everyone walks the same distance; towards 1: ever more unequal"),
}


class Sheet(NamedTuple):
    """A table's sheet name and one-line description in Chinese and English."""

    zh: str
    en: str
    about_zh: str
    about_en: str


TABLES: dict[str, Sheet] = {
    "headline": Sheet("概要", "Headline", "各类设施的覆盖率：全体人口及其服务人群在5/10/15分钟内",
                      "Coverage of every category: everyone, and the group it serves within "
                      "5/10/15 minutes"),
    "coverage": Sheet("覆盖率明细", "Coverage", "按类别×测算方式×层级×人群的覆盖率",
                      "Coverage by category × measure × level × group"),
    "coverage_by_district": Sheet("分区覆盖率", "By district", "各街道/社区的覆盖率",
                                  "Coverage per district"),
    "equity": Sheet("公平性", "Equity", "老年人与全体人口的步行距离与覆盖率对比",
                    "Older adults against everyone: walks and coverage"),
    "complete_circle": Sheet("完整生活圈", "Complete circle", "每个网格可达的设施类别数及人口",
                             "How many categories each home reaches, and the people"),
    "gap_areas": Sheet("缺口区域", "Gap areas", "未覆盖人口集中的区域，按人口排序",
                       "Areas of people not covered, ranked by people"),
    "capacity_access": Sheet("容量可及性", "Capacity access",
                             "考虑设施容量后获服务、超出容量与未覆盖的人口",
                             "People served, over capacity and not covered, given capacities"),
    "capacity_by_facility": Sheet("设施供需比", "Capacity by facility",
                                  "每个设施的容量与其步行服务范围内的需求之比",
                                  "Each facility's capacity against the need within its reach"),
    "cells_off_streets": Sheet("远离街道网格", "Cells off streets",
                               "距最近街道过远、无法计算步行距离的人口网格",
                               "Homes too far from any street to measure a walk"),
    "facility_audit": Sheet("设施核查", "Facility audit", "每条输入设施记录的分类与去向",
                            "Every input facility row: its category and fate"),
    "facilities_dropped": Sheet("剔除设施", "Facilities dropped", "未采用的设施记录及原因",
                                "Facility rows left out, and why"),
    "coverage_comparison": Sheet("覆盖率对比", "Coverage compared",
                                 "两个方案的覆盖率并列及变化",
                                 "Coverage of the two scenarios side by side, and the change"),
    "people_newly_covered": Sheet("新增覆盖人口", "Newly covered", "方案B比方案A新增或失去覆盖的人口",
                                  "People B covers that A does not, and the reverse"),
}
TABLES.update({
    "province_monitoring": Sheet("监测表", "Monitoring", "各单元各类设施的覆盖率，及全部单元合计",
                                 "Coverage of every category in every unit, and in all units"),
    "province_units": Sheet("单元概况", "Units", "各单元人口、完整生活圈、新增选址及运行状态",
                            "Each unit's people, complete circle, proposals and run status"),
    "province_coverage": Sheet("单元覆盖明细", "Coverage by unit",
                               "按单元×类别×测算方式×层级×人群的覆盖人口",
                               "People covered by unit × category × mode × level × group"),
    "province_proposals": Sheet("单元选址", "Proposals by unit", "各单元优化选址结果",
                                "The sites each unit's optimisation proposes"),
})
#: Sheet listing every other sheet.
CONTENTS = Sheet("目录", "Contents", "本工作簿各工作表及说明", "Every sheet of this workbook")
#: Sheet of the run's notes (assumptions, calibration, rules applied), the workbook's last.
NOTES = Sheet("说明", "Notes", "本次运行的假设与处理说明（校准、年龄比例、建筑规则等），为最后一个工作表",
              "The run's assumptions and decisions (calibration, age shares, building rule); "
              "the last sheet")

#: Short category names for sheet names.
SHORT: dict[str, tuple[str, str]] = {
    "elderly_day_care": ("养老", "elderly"),
    "elderly_home": ("养老院", "nursing home"),
    "childcare": ("托育", "childcare"),
    "kindergarten": ("幼儿园", "kindergarten"),
    "convenience": ("便利店", "shop"),
    "fresh_market": ("菜市场", "market"),
    "supermarket": ("超市", "supermarket"),
    "pharmacy": ("药店", "pharmacy"),
    "clinic": ("卫生站", "clinic"),
    "health_centre": ("卫生中心", "health centre"),
    "breakfast": ("早餐", "breakfast"),
    "primary_school": ("小学", "primary"),
    "middle_school": ("初中", "middle school"),
}
_MODELS = {"mclp": ("MCLP", "MCLP"), "lscp": ("LSCP", "LSCP"),
           "capacitated": ("容量MCLP", "cap. MCLP"), "joint": ("联合", "joint")}
_PARTS: dict[str, tuple[str, str, str, str]] = {
    "sites": ("选址", "sites", "新增设施选址及各自新增覆盖人口", "proposed sites and the people each adds"),
    "coverage": ("结果", "result", "规划前后覆盖人口与求解结果", "people covered before and after, solver result"),
    "uncoverable": ("不可达", "unreached", "任何候选点都无法覆盖的人口及位置",
                    "people no candidate site can reach, and where"),
    "closed": ("关闭", "closed", "方案关闭的现有设施", "existing sites the plan closes"),
}
_PLAN = re.compile(r"optimize_(\d+)_(" + "|".join(_MODELS) + r")_(.+)_(" + "|".join(_PARTS) + ")")


def sheet(table: str) -> Sheet | None:
    """Sheet names and descriptions of a result table (None when it has none)."""
    if table in TABLES:
        return TABLES[table]
    if m := _PLAN.fullmatch(table):
        i, model, cats, part = m.groups()
        keys = _category_keys(cats)
        zh_cats = "+".join(SHORT.get(k, (k, k))[0] for k in keys)
        en_cats = "+".join(SHORT.get(k, (k, k))[1] for k in keys)
        p_zh, p_en, a_zh, a_en = _PARTS[part]
        m_zh, m_en = _MODELS[model]
        return Sheet(_fit(f"方案{i} ", zh_cats, f" {m_zh} {p_zh}"),
                     _fit(f"Plan {i} ", en_cats, f" {m_en} {p_en}"),
                     f"方案{i}（{m_zh}，{zh_cats}）：{a_zh}",
                     f"Plan {i} ({m_en}, {en_cats}): {a_en}")
    return None


def _category_keys(joined: str) -> list[str]:
    """Category keys joined by "_" (keys contain "_" themselves): longest known keys first."""
    keys, rest = [], joined
    while rest:
        known = [k for k in SHORT if rest == k or rest.startswith(k + "_")]
        key = max(known, key=len) if known else rest
        keys.append(key)
        rest = rest[len(key) + 1:]
    return keys


def _fit(head: str, middle: str, tail: str, limit: int = 31) -> str:
    """``head + middle + tail`` within ``limit`` characters, shortening the middle."""
    room = limit - len(head) - len(tail)
    if len(middle) > room:
        middle = middle[: max(room - 1, 0)] + "…"
    return head + middle + tail
