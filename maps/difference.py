"""Difference map of two scenarios: cells newly covered and no longer covered, per category."""

from __future__ import annotations

from pathlib import Path

import folium
import geopandas as gpd

from planner.maps.geo import bounds_latlon, feature_collection, to_map_coords
from planner.maps.offline import save_offline

COLOURS = {"newly covered": "#1a9850", "no longer covered": "#d73027"}
LABELS_ZH = {"newly covered": "新增覆盖", "no longer covered": "不再覆盖"}


def difference_map(changes: gpd.GeoDataFrame, title: str, *, lang: str = "zh") -> folium.Map:
    """A map with one layer per category of the cells whose coverage changed.

    Args:
        changes: cells (polygons, any CRS) with ``category``, ``change`` and ``people`` columns,
            e.g. :attr:`planner.compare.Comparison.changes`.
        title: shown in the page title and the legend.
        lang: ``"zh"`` or ``"en"`` labels.
    """
    m = folium.Map(tiles=None, control_scale=True, prefer_canvas=True)
    m.get_root().title = title
    if len(changes):
        geoms = to_map_coords(changes.geometry, simplify_m=1.0)
        for key in sorted(changes["category"].unique()):
            mask = (changes["category"] == key).to_numpy()
            part = changes.loc[mask, ["change", "people"]].round({"people": 1}).reset_index(drop=True)
            if lang == "zh":
                part["change"] = part["change"].map(LABELS_ZH)
            colours = changes.loc[mask, "change"].map(COLOURS).tolist()
            part["_colour"] = colours
            layer = folium.FeatureGroup(name=key, show=True)
            folium.GeoJson(
                feature_collection(geoms[mask], part),
                style_function=lambda f: {"fillColor": f["properties"]["_colour"], "color": "#555",
                                          "weight": 0.3, "fillOpacity": 0.7},
                tooltip=folium.GeoJsonTooltip(["change", "people"]),
            ).add_to(layer)
            layer.add_to(m)
        m.fit_bounds(bounds_latlon(geoms))
    folium.LayerControl(collapsed=False).add_to(m)
    rows = "".join(
        f'<div><span style="display:inline-block;width:12px;height:12px;background:{c};'
        f'margin-right:6px"></span>{LABELS_ZH[k] if lang == "zh" else k}</div>'
        for k, c in COLOURS.items()
    )
    legend = (
        '<div style="position:fixed;bottom:24px;left:12px;z-index:9999;background:white;'
        f'padding:8px 10px;border:1px solid #999;font:12px &quot;Planner CJK&quot;,sans-serif"><b>{title}</b>{rows}</div>'
    )
    m.get_root().html.add_child(folium.Element(legend))
    return m


def save_difference_map(changes: gpd.GeoDataFrame, title: str, path: str | Path, **kw) -> Path:
    """Write :func:`difference_map` as one self-contained HTML file that opens offline."""
    return save_offline(difference_map(changes, title, **kw), path)
