"""The gap map: a Folium page of who reaches which service, where the gaps are, and what to add.

One overlay per category holds its walking-time (or compliance) cells, its gap areas ranked by
uncovered people, its isochrones, existing facilities and proposed sites; further overlays show
all facilities, the complete living-circle index, districts with their coverage table and the
walk network. Basemaps: ``"none"`` (no tiles; streets drawn from the network, works offline),
``"osm"`` (OpenStreetMap tiles) or ``"amap"`` (Amap/Gaode tiles; every overlay is shifted to
GCJ-02 so it sits on Amap's streets). Save with :func:`save_gap_map` for a self-contained HTML.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from planner.maps.elements import (
    Chrome,
    IconLayer,
    PopupHtml,
    RankLabels,
    heading,
    line_row,
    pin_row,
    swatch,
    table_html,
)
from planner.maps.geo import (
    bounds_latlon,
    dissolve_by,
    feature_collection,
    street_lines,
    to_map_coords,
    without_holes,
)
from planner.maps.labels import (
    COMPLIANCE_COLOURS,
    DISTRICT_COLOUR,
    GAP_COLOUR,
    ISOCHRONE_COLOUR,
    STREET_COLOUR,
    TIME_CLASSES,
    Lang,
    category_name,
    category_style,
    complete_colours,
    group_name,
    text,
    time_class_labels,
)
from planner.maps.offline import offline_map, save_offline

from planner.coverage import CompleteCircle, check_distances, district_names, people_matrix
from planner.errors import CRSError, InputError
from planner.standards import Category

if TYPE_CHECKING:
    from planner.network import WalkNetwork

Basemap = Literal["none", "osm", "amap"]
Classes = Literal["time", "compliance"]
AMAP_TILES = (
    "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
    "&x={x}&y={y}&z={z}"
)
#: Gap areas labelled with their rank number on the map, per category.
RANKS_SHOWN = 5
SIMPLIFY_M = 1.0
#: Isochrones are drawn on 2.5 m cells (planner.isochrones); their cell steps go on the map.
ISOCHRONE_SIMPLIFY_M = 3.0
STREET_SIMPLIFY_M = 3.0
#: Streets are drawn this far (m) around the demand cells, not over the whole network.
STREET_MARGIN_M = 300.0


def gap_map(
    cells: gpd.GeoDataFrame,
    distances: Mapping[str, np.ndarray],
    categories: Mapping[str, Category],
    *,
    speeds: Mapping[str, float] | None = None,
    classes: Classes = "time",
    facilities: gpd.GeoDataFrame | None = None,
    gaps: gpd.GeoDataFrame | None = None,
    complete: CompleteCircle | None = None,
    districts: gpd.GeoDataFrame | None = None,
    district_table: pd.DataFrame | None = None,
    isochrones: gpd.GeoDataFrame | None = None,
    proposed: gpd.GeoDataFrame | None = None,
    network: WalkNetwork | None = None,
    off_streets: gpd.GeoDataFrame | None = None,
    basemap: Basemap = "none",
    lang: Lang = "zh",
    title: str | None = None,
    shown: str | None = None,
) -> folium.Map:
    """Build the gap map.

    Args:
        cells: demand cells (square polygons, metric CRS) with population columns (people).
        distances: category key → walking distance (m) per cell, ``np.inf`` unreachable.
        categories: the standards' categories.
        speeds: walking speed (m/s) per group; needed for ``classes="time"``.
        classes: cells classed 0–5 / 5–10 / 10–15 / > 15 minutes at the speed of the group each
            category serves, or within / beyond the compliance distance.
        facilities: points with ``category`` (and ``name``) columns.
        gaps: gap areas from ``planner.gaps.gap_areas`` (``category``, ``rank``, ``people``…).
        complete: the complete-circle result for the same cells.
        districts: admin polygons; ``district_table`` (``planner.coverage.district_coverage``)
            fills their popups.
        isochrones: polygons with ``distance_m`` and optionally ``category``.
        proposed: proposed sites, points with ``category`` (and ``name``).
        network: the walk network, drawn as streets (visible when ``basemap="none"``).
        off_streets: the cells farther than max_access_m from any street (``cell_id``,
            ``total``, ``access_m``): drawn as their own layer and left out of every category's
            classes.
        basemap: ``"none"`` (offline), ``"osm"`` or ``"amap"`` (overlays shifted to GCJ-02).
        lang: ``"zh"`` or ``"en"`` labels.
        shown: category shown when the page opens (default the first one any cell reaches).
    """
    t = text(lang)
    if basemap not in ("none", "osm", "amap"):
        raise InputError(f"basemap must be 'none', 'osm' or 'amap', not {basemap!r}.")
    if classes not in ("time", "compliance"):
        raise InputError(f"classes must be 'time' or 'compliance', not {classes!r}.")
    if classes == "time" and speeds is None:
        raise InputError("Walking-time classes need speeds; pass speeds=load_speeds().")
    if len(cells) == 0:
        raise InputError("There are no demand cells to draw; build the demand grid first.")
    dist = check_distances(distances, len(cells), categories)
    if not dist:
        raise InputError("No category distances to draw; compute them with nearest_distance.")
    if classes == "time":
        missing = sorted({categories[k].group for k in dist} - set(speeds))
        if missing:
            raise InputError(
                f"No walking speed for {missing}; pass speeds=load_speeds() (m/s per group)."
            )
    if shown is not None and shown not in dist:
        raise InputError(f"shown={shown!r} has no distances; choose one of {sorted(dist)}.")
    shown = shown or next((k for k, d in dist.items() if np.isfinite(d).any()), next(iter(dist)))
    gcj = basemap == "amap"
    total = people_matrix(cells, ["total"])[:, 0]
    off = (cells["cell_id"].isin(off_streets["cell_id"]).to_numpy()
           if off_streets is not None and len(off_streets) and "cell_id" in cells else
           np.zeros(len(cells), dtype=bool))
    inhabited = (total > 0) & ~off
    view = to_map_coords(gpd.GeoSeries([shapely.box(*cells.total_bounds)], crs=cells.crs), gcj02=gcj)

    m = offline_map(
        folium.Map(tiles=None, control_scale=False, zoom_control=True, zoom_snap=0.25)
    )
    if basemap == "osm":
        folium.TileLayer("OpenStreetMap", name=t["basemap_osm"], control=False).add_to(m)
    elif basemap == "amap":
        folium.TileLayer(
            AMAP_TILES, attr="© 高德地图 AutoNavi", name=t["basemap_amap"], subdomains="1234",
            max_zoom=18, control=False,
        ).add_to(m)
    if network is not None:
        x0, y0, x1, y1 = cells.to_crs(network.crs).total_bounds
        pad = STREET_MARGIN_M
        _streets(m, network, (x0 - pad, y0 - pad, x1 + pad, y1 + pad), gcj, t, show=basemap == "none")

    counts = (
        facilities["category"].value_counts() if facilities is not None else pd.Series(dtype=int)
    )
    styles = {k: category_style(k, i, categories[k], lang) for i, k in enumerate(dist)}
    for key, d in dist.items():
        cat = categories[key]
        name = category_name(cat, lang)
        if facilities is not None and counts.get(key, 0) == 0:
            name += t["no_facilities"]
        group = folium.FeatureGroup(name=name, show=key == shown).add_to(m)
        _class_cells(group, cells, d, cat, inhabited, total, classes, speeds, gcj, lang)
        if isochrones is not None:
            _isochrones(group, isochrones, key, gcj)
        if gaps is not None:
            _gaps(group, gaps[gaps["category"] == key], gcj, lang)
        if facilities is not None:
            _pins(group, facilities[facilities["category"] == key], styles, gcj, proposed=False)
        if proposed is not None:
            _pins(group, proposed[_hosts(proposed, key)], styles, gcj, proposed=True,
                  key=key, label=category_name(cat, lang), lang=lang)
    if isochrones is not None and "category" not in isochrones.columns:
        iso = folium.FeatureGroup(name=t["isochrone"], show=True).add_to(m)
        _isochrones(iso, isochrones, None, gcj)
    if facilities is not None and len(facilities):
        everything = folium.FeatureGroup(name=t["all_facilities"], show=False).add_to(m)
        _pins(everything, facilities[facilities["category"].isin(list(dist))], styles, gcj, proposed=False)
    if off.any():
        _off_streets(m, off_streets, gcj, lang)
    if complete is not None:
        _complete(m, cells, complete, inhabited, total, gcj, lang)
    if districts is not None:
        _districts(m, districts, district_table, categories, cells.crs, gcj, lang)

    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    legend = _legend(dist, categories, styles, classes, facilities, gaps, complete,
                     districts, proposed, isochrones, network is not None, lang)
    subtitle = (
        t["time_note"].format(total=speeds.get("total", "–"), older=speeds.get("age_60_plus", "–"))
        if classes == "time" else t["compliance_note"]
    )
    if title:
        subtitle = f"{t['title']} · {subtitle}"
    Chrome(title or t["title"], subtitle, legend, t["source"], t["north"], basemap == "none").add_to(m)
    m.fit_bounds(bounds_latlon(view))
    return m


def save_gap_map(m: folium.Map, path: str | Path) -> Path:
    """Write the map as one self-contained HTML file that opens without internet."""
    return save_offline(m, path)


# --- layers ------------------------------------------------------------------------------------


def _geojson(parent, geoms: np.ndarray, props: pd.DataFrame, style, tooltip: str | None = None):
    layer = folium.GeoJson(
        feature_collection(geoms, props),
        style_function=style,
        tooltip=folium.GeoJsonTooltip(fields=[tooltip], labels=False) if tooltip else None,
        highlight_function=None,
        embed=True,
    )
    layer.add_to(parent)
    return layer


def _class_cells(group, cells, d, cat, inhabited, total, classes, speeds, gcj, lang) -> None:
    t = text(lang)
    if classes == "time":
        minutes = d / float(speeds[cat.group]) / 60.0
        uppers = np.array([u for u, _ in TIME_CLASSES])
        label = np.searchsorted(uppers, minutes, side="left")
        colours = [c for _, c in TIME_CLASSES]
        names = [f"{x} min" if lang == "en" else f"{x} 分钟" for x in time_class_labels()]
    else:
        label = (d > cat.distance_m).astype(int)
        colours = list(COMPLIANCE_COLOURS)
        dm = f"{cat.distance_m:g}"
        names = [t["within"].format(d=dm), t["beyond"].format(d=dm)]
    keep = inhabited
    if not keep.any():
        return
    present, merged, people = dissolve_by(cells[keep], label[keep], total[keep])
    geoms = to_map_coords(merged, gcj02=gcj, simplify_m=SIMPLIFY_M)
    props = pd.DataFrame(
        {
            "fill": [colours[v] for v in present],
            "tip": [
                t["cells_tip"].format(label=names[v], people=f"{p:,.0f}")
                for v, p in zip(present, people, strict=True)
            ],
        }
    )
    _geojson(
        group, geoms, props,
        lambda f: {"fillColor": f["properties"]["fill"], "fillOpacity": 0.55, "weight": 0, "stroke": False},
        "tip",
    )


def _gaps(group, gaps: gpd.GeoDataFrame, gcj: bool, lang: Lang) -> None:
    if len(gaps) == 0:
        return
    t = text(lang)
    geoms = to_map_coords(gaps.geometry, gcj02=gcj, simplify_m=SIMPLIFY_M)
    tips = np.array([
        t["gap_tip"].format(rank=r, people=f"{p:,.0f}", group=group_name(g, lang), cells=c)
        for r, p, g, c in zip(gaps["rank"], gaps["people"], gaps["group"], gaps["cells"], strict=True)
    ])
    _geojson(
        group, geoms, pd.DataFrame({"tip": tips}),
        lambda f: {"color": GAP_COLOUR, "weight": 1.6, "dashArray": "4 3", "fillColor": GAP_COLOUR,
                   "fillOpacity": 0.12},
        "tip",
    )
    top = np.argsort(gaps["rank"].to_numpy(), kind="stable")[:RANKS_SHOWN]
    points = to_map_coords(
        gpd.GeoSeries(gaps.geometry.values[top], crs=gaps.crs).representative_point(), gcj02=gcj
    )
    ranks = pd.DataFrame({"r": gaps["rank"].to_numpy()[top], "t": tips[top]})
    RankLabels(feature_collection(points, ranks)).add_to(group)


def _hosts(proposed: gpd.GeoDataFrame, key: str) -> np.ndarray:
    """Proposed sites serving ``key``: their ``category``, or any of the comma-separated
    ``categories`` of a joint site."""
    if "categories" in proposed.columns:
        return proposed["categories"].fillna("").astype(str).str.split(",").apply(
            lambda keys: key in keys).to_numpy(dtype=bool)
    return (proposed["category"] == key).to_numpy()


def _pins(group, points: gpd.GeoDataFrame, styles, gcj: bool, *, proposed: bool,
          key: str | None = None, label: str = "", lang: Lang = "zh") -> None:
    """Facility pins; proposed sites (drawn as ``key``'s) say their funding order and the
    people each newly covers."""
    if len(points) == 0:
        return
    geoms = to_map_coords(points.geometry, gcj02=gcj)
    names = points["name"].fillna("").astype(str) if "name" in points else pd.Series([""] * len(points))
    cats = np.full(len(points), key, dtype=object) if key else points["category"].to_numpy()
    tips = [html.escape(n) or html.escape(c) for n, c in zip(names, cats, strict=True)]
    if proposed:
        tips = [_proposal_tip(row, name or label, lang) for row, name in
                zip(points.itertuples(index=False), names, strict=True)]
    props = pd.DataFrame(
        {
            "c": [styles[c][0] for c in cats],
            "g": [styles[c][1] for c in cats],
            "t": tips,
            "p": int(proposed),
        }
    )
    IconLayer(feature_collection(geoms, props)).add_to(group)


def _proposal_tip(row, title: str, lang: Lang) -> str:
    t = text(lang)
    tip = html.escape(title)
    order, people = getattr(row, "order", None), getattr(row, "marginal_people", None)
    if order is not None and pd.notna(order):
        tip += " · " + t["proposal_order"].format(order=int(order))
    if people is not None and pd.notna(people):
        tip += " · " + t["proposal_people"].format(people=float(people))
    return tip


def _isochrones(group, iso: gpd.GeoDataFrame, key: str | None, gcj: bool) -> None:
    if "distance_m" not in iso.columns:
        raise InputError("Isochrones need a 'distance_m' column (metres of each ring).")
    sel = iso if key is None or "category" not in iso.columns else iso[iso["category"] == key]
    if key is not None and "category" not in iso.columns:
        return
    if len(sel) == 0:
        return
    geoms = to_map_coords(without_holes(sel.geometry), gcj02=gcj,
                          simplify_m=ISOCHRONE_SIMPLIFY_M)
    ring = np.unique(sel["distance_m"].to_numpy(), return_inverse=True)[1]
    props = pd.DataFrame(
        {"tip": [f"{d:,.0f} m" for d in sel["distance_m"]], "dash": np.where(ring > 0, "6 4", "")}
    )
    _geojson(
        group, geoms, props,
        lambda f: {"color": ISOCHRONE_COLOUR, "weight": 1.5, "fill": False,
                   "dashArray": f["properties"]["dash"]},
        "tip",
    )


def _streets(m, network, box, gcj: bool, t, *, show: bool) -> None:
    lines = street_lines(network.edge_geometries(), network.crs, box)
    geoms = to_map_coords(lines, gcj02=gcj, simplify_m=STREET_SIMPLIFY_M)
    group = folium.FeatureGroup(name=t["streets"], show=show).add_to(m)
    folium.GeoJson(
        feature_collection(geoms),
        style_function=lambda f: {"color": STREET_COLOUR, "weight": 1, "opacity": 0.8},
        interactive=False,
        embed=True,
    ).add_to(group)


def _complete(m, cells, complete: CompleteCircle, inhabited, total, gcj, lang) -> None:
    t = text(lang)
    k = len(complete.keys)
    pct = "–" if np.isnan(complete.index) else f"{100 * complete.index:.1f}%"
    group = folium.FeatureGroup(name=t["complete_layer"].format(pct=pct), show=False).add_to(m)
    if not inhabited.any():
        return
    present, merged, people = dissolve_by(cells[inhabited], complete.reached[inhabited], total[inhabited])
    colours = complete_colours(k)
    geoms = to_map_coords(merged, gcj02=gcj, simplify_m=SIMPLIFY_M)
    props = pd.DataFrame(
        {
            "fill": [colours[v] for v in present],
            "tip": [t["complete_tip"].format(n=v, k=k, people=f"{p:,.0f}") for v, p in zip(present, people, strict=True)],
        }
    )
    _geojson(
        group, geoms, props,
        lambda f: {"fillColor": f["properties"]["fill"], "fillOpacity": 0.75, "weight": 0, "stroke": False},
        "tip",
    )


def _off_streets(m, cells: gpd.GeoDataFrame, gcj: bool, lang: Lang) -> None:
    t = text(lang)
    people = float(cells["total"].sum())
    group = folium.FeatureGroup(name=t["off_streets_layer"].format(people=f"{people:,.0f}"),
                                show=True).add_to(m)
    geoms = to_map_coords(cells.geometry, gcj02=gcj)
    props = pd.DataFrame({"tip": [
        t["off_streets_tip"].format(m=f"{a:,.0f}", people=f"{p:,.0f}")
        for a, p in zip(cells["access_m"], cells["total"], strict=True)
    ]})
    _geojson(
        group, geoms, props,
        lambda f: {"fillColor": "#6b6b6b", "fillOpacity": 0.6, "color": "#000000", "weight": 1,
                   "dashArray": "3 3"},
        "tip",
    )


def _districts(m, districts, table, categories, crs, gcj, lang) -> None:
    t = text(lang)
    if districts.crs is None:
        raise CRSError("The district layer has no CRS; set it (e.g. .set_crs('EPSG:4326')).")
    names = district_names(districts, None)
    geoms = to_map_coords(districts.geometry.to_crs(crs), gcj02=gcj, simplify_m=SIMPLIFY_M * 5)
    group = folium.FeatureGroup(name=t["districts"], show=True).add_to(m)
    for i, (geom, name) in enumerate(zip(geoms, names, strict=True)):
        layer = folium.GeoJson(
            feature_collection(np.array([geom]), pd.DataFrame({"name": [name]})),
            style_function=lambda f: {"color": DISTRICT_COLOUR, "weight": 2, "dashArray": "8 4", "fill": True,
                                      "fillOpacity": 0.0},
            tooltip=name,
            embed=True,
        )
        if table is not None:
            layer.add_child(PopupHtml(_district_popup(table, i, name, categories, lang)))
        layer.add_to(group)


def _district_popup(table: pd.DataFrame, i: int, name: str, categories, lang: Lang) -> str:
    t = text(lang)
    sel = table[(table["district"] == i) & (table["mode"] == "compliance")]
    rows = []
    for key, part in sel.groupby("category", sort=False):
        pct = part.set_index("group")["coverage_pct"]
        cells = [category_name(categories[key], lang), _pct(pct.get("total"))]
        cells.append(_pct(pct.get("age_60_plus")))
        rows.append(cells)
    header = [t["category"], t["everyone"], t["older"]]
    return f"<b>{html.escape(name)}</b> · {html.escape(t['district_table'])}<br>" + table_html(header, rows)


def _pct(v) -> str:
    return "–" if v is None or pd.isna(v) else f"{v:.1f}%"


# --- legend ------------------------------------------------------------------------------------


def _legend(dist, categories, styles, classes, facilities, gaps, complete, districts,
            proposed, isochrones, streets: bool, lang: Lang) -> str:
    t = text(lang)
    parts = []
    if classes == "time":
        parts.append(heading(t["walk_time"]))
        labels = time_class_labels()
        for (_, colour), label in zip(TIME_CLASSES, labels, strict=True):
            parts.append(swatch(colour, label))
    else:
        parts.append(heading(t["compliance"]))
        parts.append(swatch(COMPLIANCE_COLOURS[0], t["within_any"]))
        parts.append(swatch(COMPLIANCE_COLOURS[1], t["beyond_any"]))
    if gaps is not None:
        parts.append(line_row(GAP_COLOUR, t["gap"]))
    if isochrones is not None:
        parts.append(line_row(ISOCHRONE_COLOUR, t["isochrone"]))
    if facilities is not None:
        parts.append(heading(t["facilities"]))
        for key in dist:
            colour, glyph = styles[key]
            parts.append(pin_row(colour, glyph, category_name(categories[key], lang)))
    if proposed is not None and len(proposed):
        parts.append(pin_row("#777", "+", t["proposed"], proposed=True))
    if complete is not None:
        parts.append(heading(t["complete"]))
        k = len(complete.keys)
        for n, colour in enumerate(complete_colours(k)):
            parts.append(swatch(colour, f"{n}/{k}", opacity=0.85))
    if districts is not None:
        parts.append(line_row(DISTRICT_COLOUR, t["districts"]))
    if streets:
        parts.append(line_row(STREET_COLOUR, t["streets"], dashed=False))
    return "".join(parts)
