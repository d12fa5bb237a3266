"""Chinese for the English texts the program writes into result tables: facility drop reasons,
classification rules and the per-row notes (coverage, equity, capacity ratios).

Each text is made of ``"; "``-separated parts; a part written from a known template is
translated with its numbers, names and codes kept, any other part is kept as written (names of
places, OSM tag values and the reasons of the bundled exclusion rules stay as the data gives
them). CSV files keep the English; the Chinese workbook and report show these translations.
"""

from __future__ import annotations

import re
from collections.abc import Callable

#: Why a facility row was left out (the ``reason`` codes of the facility audit).
REASONS: dict[str, str] = {
    "no coordinates": "缺少坐标",
    "coordinates out of range": "坐标超出有效范围",
    "no category": "无法归入任何类别（名称与标签均未匹配规则）",
    "not a living-circle category": "不属于生活圈设施（被排除规则否决）",
    "category not requested": "类别不在本次分析范围内",
    "duplicate": "重复记录（同类同名且距离很近，已合并）",
    "outside the study area": "位于研究范围之外",
    "farther than max_access_m from any street": "距最近步行道路过远",
    "far outside the network": "远离路网（坐标或坐标系可能有误）",
}
#: Population groups in the words of a note.
GROUPS: dict[str, str] = {"total": "全体", "age_60_plus": "60岁及以上", "age_65_plus": "65岁及以上",
                          "age_0_2": "0–2岁", "age_3_5": "3–5岁"}
#: Capacity units.
UNITS: dict[str, str] = {"beds": "床位", "places": "托位/学位", "units": "单位"}
#: How a facility's capacity was set (``capacity_source``).
CAPACITY_SOURCES: dict[str, str] = {"given": "输入数据", "norm": "标准默认值",
                                    "median": "已知容量中位数", "dropped": "按0计"}
_CHOICE = {"type string": "类型字段", "OSM tags": "OSM 标签", "name keyword": "名称关键词",
           "first listed": "规则表中靠前"}


def _group(code: str) -> str:
    return GROUPS.get(code.strip("'\""), code)


def _unit(code: str) -> str:
    return UNITS.get(code, code)


def _need(text: str) -> str:
    if m := re.fullmatch(r"([\d.,]+) (\S+) per 1,000 people of (\S+)", text):
        return f"每千名{_group(m[3])}人口 {m[1]} {_unit(m[2])}"
    if m := re.fullmatch(r"1 (\S+) per person of (\S+)", text):
        return f"每名{_group(m[2])}人口 1 {_unit(m[1])}"
    return text


_PEOPLE_CELLS = r"([\d,.]+) people \((\d+) cells\)"
#: (template, its Chinese): a fully matched part is replaced.
_TEMPLATES: list[tuple[str, Callable[[re.Match[str]], str]]] = [
    (r"no facilities of this category: coverage 0 %", lambda m: "研究范围内没有该类设施：覆盖率 0%"),
    (r"no facility reachable on foot: coverage 0 %", lambda m: "步行无法到达任何该类设施：覆盖率 0%"),
    (r"no people of this group in the area", lambda m: "研究范围内没有该人群"),
    (_PEOPLE_CELLS + r" walk beyond ([\d,.]+) m \(not in the mean, median and Gini\)",
     lambda m: f"{m[1]} 人（{m[2]} 个网格）步行距离超过 {m[3]} 米（未计入平均值、中位数和基尼系数）"),
    (r"no facility of this category on the walk network: no walk to measure",
     lambda m: "步行路网上没有该类设施：无法测算步行距离"),
    (_PEOPLE_CELLS + r" live on streets that connect to no facility of this category",
     lambda m: f"{m[1]} 人（{m[2]} 个网格）所在街道与任何该类设施都不连通"),
    (_PEOPLE_CELLS + r" are excluded: farther than the largest access walk from any street",
     lambda m: f"{m[1]} 人（{m[2]} 个网格）未计入：距任何街道都超过最大接入距离"),
    (r"capacity assumed \((\w+)\)",
     lambda m: f"容量为假定值（{CAPACITY_SOURCES.get(m[1], m[1])}）"),
    (r"no populated cell within walking distance \(off the streets or nobody lives near\): "
     r"serves no one, ratio undefined",
     lambda m: "步行范围内没有有人居住的网格（远离街道或附近无人居住）：不服务任何人，供需比无定义"),
    (r"nobody of (\S+) lives in its catchment: ratio infinite, serves no one",
     lambda m: f"服务范围内没有{_group(m[1])}人口：供需比无穷大，不服务任何人"),
    (r"capacity 0: serves no one", lambda m: "容量为 0：不服务任何人"),
    (r"ratio = (\S+) (\S+) / (\S+) (\S+) the norm \((.+)\) asks for in its catchment",
     lambda m: f"供需比 = 容量 {m[1]} {_unit(m[2])} ÷ 服务范围内按标准（{_need(m[5])}）需要的 "
               f"{m[3]} {_unit(m[4])}"),
    (r"far above 1: few people live within its walking distance",
     lambda m: "远大于 1：步行范围内居民很少"),
    (r"below 1: its catchment needs more than it has", lambda m: "小于 1：服务范围内的需求超过其容量"),
    (r"(\d+) of (\d+) facilities had no capacity",
     lambda m: f"{m[2]} 处设施中有 {m[1]} 处未给出容量"),
    (r"they were given the norm's default of (\S+) (\S+) per site\.?",
     lambda m: f"按标准默认值每处 {m[1]} {_unit(m[2])} 计。"),
    (r"they were given the median of the (\d+) known capacities, (\S+) (\S+)\.?",
     lambda m: f"按 {m[1]} 个已知容量的中位数 {m[2]} {_unit(m[3])} 计。"),
    (r"they were given zero capacity \(they cover but serve no one\)\.?",
     lambda m: "按容量 0 计（计入覆盖但不服务任何人）。"),
    (r"The demand grid has no '(\S+)' column, so everyone is counted as served by '(\S+)'\.",
     lambda m: f"人口网格没有{_group(m[1])}人口列，类别 {m[2]} 的服务人群按全体人口计。"),
]
_COMPILED = [(re.compile(p), f) for p, f in _TEMPLATES]


def note_zh(text: str) -> str:
    """A note in Chinese: each ``"; "``-separated part written from a known template
    translated, any other part kept."""
    parts = []
    for part in text.split("; "):
        for pattern, fill in _COMPILED:
            if m := pattern.fullmatch(part.strip()):
                part = fill(m)
                break
        parts.append(part)
    return "；".join(parts)


_RULE_PREFIXES = (("name keyword ", "名称关键词 "), ("type keyword ", "类型关键词 "),
                  ("brand ", "品牌 "), ("tag ", "标签 "), ("name ", "名称 "), ("type ", "类型 "))
_OVER = re.compile(r"(.*) \(over (.+): (type string|OSM tags|name keyword|first listed)\)")
_EXCLUDED = re.compile(r"(?:(\w+) )?excluded: (.*?) \((.*)\)")


def rule_zh(text: str) -> str:
    """A classification rule (``name keyword 药店``, ``tag amenity=pharmacy``, ``… (over x:
    OSM tags)``, ``clinic excluded: name 口腔 (why)``) in Chinese; matched words, tags and
    the exclusion's reason kept as written."""
    if text == "no rule matched":
        return "没有匹配的规则"
    if m := _EXCLUDED.fullmatch(text):
        who = f"类别 {m[1]} " if m[1] else ""
        return f"{who}被排除规则否决：{rule_zh(m[2])}（{m[3]}）"
    if m := _OVER.fullmatch(text):
        return f"{rule_zh(m[1])}（优先于 {m[2]}：依据{_CHOICE[m[3]]}）"
    for en, zh in _RULE_PREFIXES:
        if text.startswith(en):
            return zh + text[len(en):]
    return text


def reason_zh(text: str) -> str:
    """A drop reason, alone or followed by its detail in brackets, in Chinese."""
    for en, zh in REASONS.items():
        if text == en:
            return zh
        if text.startswith(en + " (") and text.endswith(")"):
            return f"{zh}：{rule_zh(text[len(en) + 2:-1])}"
    return note_zh(text)
