"""The overview map of a province run: one choropleth per category (share of the group it
serves covered, per unit); each unit links to its own gap map."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import folium
import numpy as np
from branca.element import MacroElement
from jinja2 import Template

from planner.maps.geo import bounds_latlon, feature_collection, to_map_coords
from planner.maps.offline import save_offline
from planner.province.merge import ALL_UNITS, NO_DATA
from planner.province.units import safe_code

#: Classes of coverage (percent of the served group) and their colours, worst first.
BREAKS = (0, 25, 50, 75, 90, 100.01)
COLOURS = ("#d73027", "#fc8d59", "#fee08b", "#91cf60", "#1a9850")
FAILED = "#bdbdbd"
EMPTY = "#f7f7f7"
#: Units named on the map at most (more would cover it).
MAX_LABELS = 300


def _colour(pct: float | None) -> str:
    if pct is None or not np.isfinite(pct):
        return FAILED
    return COLOURS[min(int(np.searchsorted(BREAKS, pct, side="right")) - 1, len(COLOURS) - 1)]


def _popup(row: Any, key: str, label: str, zh: bool) -> str:
    name = html.escape(f"{row.unit_name} ({row.unit_code})")
    if row.status in ("failed", "empty"):
        what = {"failed": ("计算失败", "failed"), "empty": ("无常住人口", "no residents")}
        why = html.escape(str(row.error))
        return f"<b>{name}</b><br>{what[row.status][0 if zh else 1]}: {why}"
    pct = getattr(row, f"{key}_pct", None)
    link = f"units/{html.escape(str(row.folder))}/gap_map.html"
    lines = [f"<b>{name}</b>",
             f"{label}: {'—' if pct is None or not np.isfinite(pct) else f'{pct:.1f} %'}",
             f"{'人口' if zh else 'People'}: {row.people:,.0f}",
             f"{'完整生活圈' if zh else 'Complete circle'}: {row.complete_circle_pct:.1f} %",
             f'<a href="{link}" target="_blank">{"打开本单元缺口地图" if zh else "Open gap map"}'
             "</a>"]
    return "<br>".join(lines)


class _MetricScale(MacroElement):
    """Leaflet's scale bar in metres only."""

    _template = Template("{% macro script(this, kwargs) %}L.control.scale({imperial: false})"
                         ".addTo({{ this._parent.get_name() }});{% endmacro %}")


def _category_names(result: Any, zh: bool) -> dict[str, str]:
    """Category key → its name, in the monitoring table's order."""
    table = result.monitoring
    if not len(table):
        return {}
    first = table.drop_duplicates("category")
    return dict(zip(first["category"], first["name_zh" if zh else "name_en"], strict=True))


def _no_data(result: Any) -> set[str]:
    """Categories with no facility near any unit (their 0 % means no data)."""
    table = result.monitoring
    if not len(table):
        return set()
    rows = table[(table["unit_code"] == ALL_UNITS[0]) & (table["note"] == NO_DATA)]
    return set(rows["category"])


def overview_map(result: Any, *, lang: str = "zh", title: str | None = None) -> folium.Map:
    """A Folium map of a :class:`planner.province.ProvinceResult`'s units: a layer per
    category coloured by the share of its served group covered, units named; failed units
    grey. A click on a unit shows its figures and links to its gap map."""
    zh = lang == "zh"
    units = result.units.reset_index(drop=True)
    units["folder"] = units["unit_code"].astype(str).map(safe_code)
    names = _category_names(result, zh)
    keys = [k for k in names if f"{k}_pct" in units.columns]
    first = next((k for k in keys if k not in _no_data(result)), keys[0] if keys else None)
    m = folium.Map(tiles=None, control_scale=False, prefer_canvas=True)
    heading = title or ("一刻钟便民生活圈 单元监测" if zh else "15-minute living circles by unit")
    m.get_root().title = heading
    geoms = to_map_coords(units.geometry, simplify_m=5.0)
    for key in keys:
        label = names[key]
        props = units[["unit_code"]].assign(
            _colour=[EMPTY if s == "empty" else _colour(v)
                     for s, v in zip(units["status"], units[f"{key}_pct"], strict=True)],
            _popup=[_popup(r, key, label, zh) for r in units.itertuples()],
            _tip=(units["unit_name"] + " " + units["unit_code"]).to_numpy())
        layer = folium.FeatureGroup(name=label, overlay=False, show=key == first)
        folium.GeoJson(
            feature_collection(geoms, props),
            style_function=lambda f: {"fillColor": f["properties"]["_colour"], "color": "#333",
                                      "weight": 0.8, "fillOpacity": 0.75},
            popup=folium.GeoJsonPopup(["_popup"], labels=False),
            tooltip=folium.GeoJsonTooltip(["_tip"], labels=False),
        ).add_to(layer)
        layer.add_to(m)
    if len(units) <= MAX_LABELS:
        _unit_labels(m, units, geoms)
    m.fit_bounds(bounds_latlon(geoms))
    folium.LayerControl(collapsed=False).add_to(m)
    _MetricScale().add_to(m)
    m.get_root().html.add_child(folium.Element(_legend(zh, heading)))
    return m


def _unit_labels(m: folium.Map, units, geoms) -> None:
    """Each unit's name at a point inside it."""
    import shapely

    inside = shapely.point_on_surface(geoms)
    group = folium.FeatureGroup(name="unit names", control=False)
    for name, pt in zip(units["unit_name"], inside, strict=True):
        folium.Marker([pt.y, pt.x], icon=folium.DivIcon(
            html=f'<div style="font:12px &quot;Planner CJK&quot;,sans-serif;color:#222;'
                 f'white-space:nowrap;transform:translate(-50%,-50%);text-shadow:0 0 3px #fff">'
                 f"{html.escape(str(name))}</div>")).add_to(group)
    group.add_to(m)


def _legend(zh: bool, heading: str) -> str:
    names = [f"{a:g}–{min(b, 100):g} %" for a, b in zip(BREAKS[:-1], BREAKS[1:], strict=True)]
    rows = "".join(
        f'<div><span style="display:inline-block;width:12px;height:12px;background:{c};'
        f'margin-right:6px"></span>{n}</div>' for c, n in zip(COLOURS, names, strict=True))
    for colour, text in ((FAILED, "计算失败" if zh else "failed"),
                         (EMPTY, "无常住人口" if zh else "no residents")):
        rows += (f'<div><span style="display:inline-block;width:12px;height:12px;'
                 f'background:{colour};border:1px solid #999;margin-right:6px"></span>{text}</div>')
    title = "服务人群覆盖率" if zh else "Group served covered"
    return (f'<div style="position:fixed;top:10px;left:60px;z-index:9999;background:white;'
            f'padding:6px 10px;border:1px solid #999;font:15px &quot;Planner CJK&quot;,'
            f'sans-serif"><b>{html.escape(heading)}</b></div>'
            '<div style="position:fixed;bottom:24px;left:12px;z-index:9999;background:white;'
            'padding:8px 10px;border:1px solid #999;font:12px &quot;Planner CJK&quot;,sans-serif">'
            f"<b>{title}</b>{rows}</div>")


def overview_writer(lang: str = "zh", title: str | None = None):
    """An ``overview`` for :func:`planner.province.run_province`: saves :func:`overview_map` as
    one self-contained HTML file."""

    def write(result: Any, path: Path) -> Path:
        return save_offline(overview_map(result, lang=lang, title=title), path)

    return write
