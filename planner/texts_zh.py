"""Chinese for the English texts the program writes into result tables: facility drop reasons,
classification rules and the per-row notes (coverage, equity, capacity ratios).

Each text is made of ``"; "``-separated parts; a part written from a known template is
translated with its numbers, names and codes kept, any other part is kept as written (names of
places, OSM tag values and the reasons of the bundled exclusion rules stay as the data gives
them). CSV files keep the English; the Chinese workbook and report show these translations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

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
_BUILDINGS_OUT = {
    "non-residential building type": "非居住建筑类型",
    "shop/amenity/office/… tag on the building": "建筑带有商店、设施或办公标签",
    "inside commercial/industrial/retail land use": "位于商业、工业或零售用地内",
    "shed-sized footprint": "占地面积过小（棚屋类）",
    "one storey holding shops, offices or other uses (points inside)": "单层且内有商店、办公等其他用途",
    "generic building=yes under the residential rule": "按“仅计住宅”规则不计的通用建筑（building=yes）",
}
def _left_out(reason: str) -> str:
    if reason in _BUILDINGS_OUT:
        return _BUILDINGS_OUT[reason]
    if (m := re.fullmatch(r"(.+) \((.+)\)", reason)) and m[1] in _BUILDINGS_OUT:
        return f"{_BUILDINGS_OUT[m[1]]}（{m[2]}）"
    return reason


def _shares(source: str) -> str:
    if m := re.fullmatch(r"the (\w+) defaults in age_structure\.toml", source):
        return f"age_structure.toml 中 {m[1]} 的默认比例"
    return source


#: Templates of the run's notes (``result.notes``): the common ones, translated in full.
_RUN_TEMPLATES: list[tuple[str, Callable[[re.Match[str], Callable[[str], str]], str]]] = [
    (r"(.+): (\d+) rows read, (\d+) facilities kept\.",
     lambda m, k: f"{m[1]}：读入 {m[2]} 条记录，保留 {m[3]} 处设施。"),
    (r"dropped (\d+) \((.+)\)", lambda m, k: f"剔除 {m[1]} 条（{reason_zh(m[2])}）"),
    (r"no facilities found for: (.+)", lambda m, k: f"以下类别未找到设施：{k(m[1])}"),
    (r"(\d+) buildings? left out: (.+)\.", lambda m, k: f"{m[1]} 栋建筑未计入：{_left_out(m[2])}。"),
    (r"Building types in no list of population\.toml, counted as generic: (.+)\.",
     lambda m, k: f"population.toml 各列表中没有的建筑类型，按通用建筑计：{m[1]}。"),
    (r"(\d+) of (\d+) buildings counted as homes have no levels or height tag; assumed (\S+) "
     r"storeys \((\S+) for houses\)\.",
     lambda m, k: f"计为住宅的 {m[2]} 栋建筑中有 {m[1]} 栋没有层数或高度标签，按 {m[3]} 层计（独立住宅"
               f"按 {m[4]} 层）。"),
    (r"(\d+) buildings? counted as homes holds? shops, offices or other uses \(points inside\): "
     r"the ground floor is not counted as homes\.",
     lambda m, k: f"{m[1]} 栋计为住宅的建筑内有商店、办公等其他用途：首层不计为住宅。"),
    (r"Residents = residential floor area ÷ (\S+) m² per person: ([\d,]+) people\.",
     lambda m, k: f"居民人数 = 住宅建筑面积 ÷ 人均 {m[1]} 平方米：{m[2]} 人。"),
    (r"The source has no age structure: (.+) are total × fixed shares from (.+), the same in "
     r"every cell\.",
     lambda m, k: f"人口数据不含年龄结构：{'、'.join(_group(g) for g in m[1].split(', '))}人口按"
               f"总人口 × 固定比例（{_shares(m[2])}）估算，各网格比例相同。"),
    (r"Calibrated to the given total of ([\d,]+) people: every cell × (\S+) \(the estimate was "
     r"([\d,]+)\)\.",
     lambda m, k: f"按给定总人口 {m[1]} 人校准：每个网格 × {m[2]}（估算值为 {m[3]} 人）。"),
    (r"Complete living circle \((.+)\): (\S+) of people reach every one within its compliance "
     r"distance\.",
     lambda m, k: f"完整生活圈（{k(m[1])}）：{m[2]} 的居民在各自服务半径内能步行到达全部类别。"),
    (r"Proven optimal \(gap (.+)\)\.", lambda m, k: f"已证明最优（最优性差距 {m[1]}）。"),
    (r"Time limit reached: the best answer found is within (.+) of the optimum \(proven bound\); "
     r"raise time_limit_s to close the gap\.",
     lambda m, k: f"达到求解时间上限：所得方案与最优解相差不超过 {m[1]}（已证明的界）；"
               "增大 time_limit_s 可缩小差距。"),
]
_COMPILED = [(re.compile(p), f) for p, f in _TEMPLATES]
_RUN_COMPILED = [(re.compile(p), f) for p, f in _RUN_TEMPLATES]
_KEYED = re.compile(r"([a-z0-9_]+): (.+)")


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


def run_note_zh(text: str, names: Mapping[str, str] | None = None) -> str:
    """A note of the run (``result.notes``) in Chinese where it follows a known template, else
    as written; ``names`` (category key → Chinese name) names the categories a note lists or
    starts with (``childcare: …``); other keys (an optimisation's name) are kept."""
    def keys(joined: str) -> str:
        return "、".join((names or {}).get(k, k) for k in joined.split(", "))

    for pattern, fill in _RUN_COMPILED:
        if m := pattern.fullmatch(text):
            return fill(m, keys)
    if m := _KEYED.fullmatch(text):
        for inner in (run_note_zh(m[2], names), note_zh(m[2])):
            if inner != m[2]:
                return f"{keys(m[1])}：{inner}"
    return text
