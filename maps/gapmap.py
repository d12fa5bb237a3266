"""The gap map: a Folium page of who reaches which service, where the gaps are, and what to add.

One overlay per category holds its walking-time (or compliance) cells, its gap areas ranked by
uncovered people, its isochrones, existing facilities and proposed sites; further overlays show
all facilities, the complete living-circle index, districts with their coverage table and the
walk network. Basemaps: ``"none"`` (no tiles; streets drawn from the network, works offline),
``"osm"`` (OpenStreetMap tiles) or ``"amap"`` (Amap/Gaode tiles; every overlay is shifted to
GCJ-02 so it sits on Amap's streets). Save with :func:`save_gap_map` for a self-contained HTML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.ops import polylabel

from planner.coverage import CompleteCircle, check_distances, district_names, people_matrix
from planner.errors import CRSError, InputError
from planner.maps.elements import (
    Chrome,
    IconLayer,
    RankLabels,
    ShapeLayer,
    escape,
    heading,
    icon_row,
    legend_row,
    path_row,
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
    both,
    category_label,
    category_style,
    check_lang,
    complete_colours,
    group_name,
    time_class_labels,
)
from planner.maps.offline import OfflineMap, offline_map, save_offline
from planner.maps.styles import (
    OFF_STREETS,
    PinStyle,
    district_style,
    facility_icon,
    fill,
    gap_style,
    isochrone_style,
    proposal_icon,
    street_style,
)
from planner.standards import Category

if TYPE_CHECKING:
    from planner.network import WalkNetwork

Basemap = Literal["none", "osm", "amap"]
Classes = Literal["time", "compliance"]
AMAP_TILES = (
    "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
    "&x={x}&y={y}&z={z}"
)
#: Gap areas labelled with their rank number, per category (the page hides those past the fifth
#: where no free place is left beside their gap).
RANKS_SHOWN = 10
#: A rank label is placed this far (m) from the facilities and proposed sites in its gap when
#: the gap has room.
LABEL_CLEARANCE_M = 25.0
#: Proposed sites closer than this (m) are one site: one marker lists every category.
SAME_SITE_M = 1.0
SIMPLIFY_M = 1.0
#: Isochrones are drawn on 2.5 m cells (planner.isochrones); their cell steps go on the map.
ISOCHRONE_SIMPLIFY_M = 3.0
STREET_SIMPLIFY_M = 3.0
#: Streets are drawn this far (m) around the demand cells, not over the whole network.
STREET_MARGIN_M = 300.0
#: Legend sections, top to bottom.
SECTIONS = ("classes", "gaps", "facilities", "proposed", "complete", "other")


@dataclass
class _Page:
    """What every layer function needs: the map, whether the page is in GCJ-02, the language
    it opens in, its overlays (JS names) and the legend rows collected so far (per section)."""

    m: folium.Map
    gcj: bool
    lang: Lang
    groups: list[str] = field(default_factory=list)
    gap_layers: list[str] = field(default_factory=list)
    iso_layers: list[str] = field(default_factory=list)
    legend: dict[str, list[str]] = field(default_factory=lambda: {s: [] for s in SECTIONS})

    def group(self, name: str, show: bool) -> folium.FeatureGroup:
        group = folium.FeatureGroup(name=name, show=show).add_to(self.m)
        self.groups.append(group.get_name())
        return group

    def legend_html(self) -> str:
        rows = self.legend["gaps"]
        if self.gap_layers:
            rows.append(heading(both("gap_head")))
            rows.append(path_row(gap_style(GAP_COLOUR), both("gap"), self.gap_layers))
            rank = '<span class="plc-icon"><span class="plc-rank plc-static">1</span></span>'
            rows.append(legend_row(rank, both("ranks", n=RANKS_SHOWN), self.gap_layers))
        if self.iso_layers:
            rows.append(path_row(isochrone_style(ISOCHRONE_COLOUR, False), both("isochrone"),
                                 self.iso_layers))
        if self.legend["other"]:
            self.legend["other"].insert(0, heading(both("other_layers")))
        return "".join("".join(rows) for rows in self.legend.values())


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
        proposed: proposed sites, points with ``category`` (or comma-separated
            ``categories``), optionally ``name``, ``order`` and ``marginal_people``; sites of
            several categories at one place are drawn as one marker listing each.
        network: the walk network, drawn as streets (visible when ``basemap="none"``).
        off_streets: the cells farther than max_access_m from any street (``cell_id``,
            ``total``, ``access_m``): drawn as their own layer and left out of every category's
            classes.
        basemap: ``"none"`` (offline), ``"osm"`` or ``"amap"`` (overlays shifted to GCJ-02).
        lang: language shown when the page opens, ``"zh"`` or ``"en"``; the page holds both
            and a button in its title switches.
        shown: category shown when the page opens (default the first one any cell reaches).
    """
    dist = _check(cells, distances, categories, speeds, classes, basemap, lang, shown)
    shown = shown or next((k for k, d in dist.items() if np.isfinite(d).any()), next(iter(dist)))
    page = _Page(_base_map(basemap), basemap == "amap", lang)
    total = people_matrix(cells, ["total"])[:, 0]
    off = (cells["cell_id"].isin(off_streets["cell_id"]).to_numpy()
           if off_streets is not None and len(off_streets) and "cell_id" in cells else
           np.zeros(len(cells), dtype=bool))
    inhabited = (total > 0) & ~off
    view = to_map_coords(gpd.GeoSeries([shapely.box(*cells.total_bounds)], crs=cells.crs),
                         gcj02=page.gcj)
    if network is not None:
        x0, y0, x1, y1 = cells.to_crs(network.crs).total_bounds
        pad = STREET_MARGIN_M
        _streets(page, network, (x0 - pad, y0 - pad, x1 + pad, y1 + pad), show=basemap == "none")
    pins = {k: PinStyle(*category_style(k, i, categories[k])) for i, k in enumerate(dist)}
    layers = _category_layers(page, cells, dist, categories, pins, inhabited, total, classes,
                              speeds, facilities, gaps, isochrones, proposed, shown)
    if isochrones is not None and "category" not in isochrones.columns:
        _isochrones(page, page.group(both("isochrone"), True), isochrones, None)
    if facilities is not None and len(facilities):
        _all_facilities(page, facilities, dist, pins, categories, layers)
    if proposed is not None and len(proposed):
        _proposals(page, proposed, pins, categories, dist)
    if off.any():
        _off_streets(page, off_streets)
    if complete is not None:
        _complete(page, cells, complete, inhabited, total)
    if districts is not None:
        _districts(page, districts, district_table, categories, cells.crs)
    control = folium.LayerControl(collapsed=False, position="topright").add_to(page.m)
    note = (both("time_note", total=speeds.get("total", "–"), older=speeds.get("age_60_plus", "–"))
            if classes == "time" else both("compliance_note"))
    Chrome(
        title=escape(title) if title else both("title"),
        subtitle=f"{both('title')} · {note}" if title else note,
        legend=page.legend_html(), source=both("source"), north=both("north"),
        switch=both("switch"), legend_label=both("legend"), lang=page.lang,
        plain=basemap == "none", layers=control.get_name(), groups=page.groups,
        bounds=bounds_latlon(view),
    ).add_to(page.m)
    return page.m


def save_gap_map(m: folium.Map, path: str | Path) -> Path:
    """Write the map as one self-contained HTML file that opens without internet (Leaflet and
    the Chinese font subset inlined)."""
    return save_offline(m, path)


def _check(cells, distances, categories, speeds, classes, basemap, lang, shown) -> dict:
    check_lang(lang)
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
    return dist


def _base_map(basemap: str) -> folium.Map:
    m = offline_map(OfflineMap(tiles=None, control_scale=False, zoom_control=False,
                               zoom_snap=0.25))
    if basemap == "osm":
        folium.TileLayer("OpenStreetMap", name="OpenStreetMap", control=False).add_to(m)
    elif basemap == "amap":
        folium.TileLayer(
            AMAP_TILES, attr="© 高德地图 AutoNavi", name="Amap", subdomains="1234",
            max_zoom=18, control=False,
        ).add_to(m)
    return m


# --- layers per category ----------------------------------------------------------------------


def _category_layers(page, cells, dist, categories, pins, inhabited, total, classes, speeds,
                     facilities, gaps, isochrones, proposed, shown) -> dict[str, str]:
    """One overlay per category: its classed cells, gap areas with rank labels, isochrones and
    existing facilities. Returns category → layer name (JS)."""
    counts = (facilities["category"].value_counts() if facilities is not None
              else pd.Series(dtype=int))
    names = {}
    for key, d in dist.items():
        cat = categories[key]
        name = category_label(cat)
        if facilities is not None and counts.get(key, 0) == 0:
            name += both("no_facilities")
        group = page.group(name, key == shown)
        names[key] = page.groups[-1]
        _class_cells(page, group, cells, d, cat, inhabited, total, classes, speeds)
        if isochrones is not None and "category" in isochrones.columns:
            _isochrones(page, group, isochrones, key)
        here = facilities[facilities["category"] == key] if facilities is not None else None
        if gaps is not None:
            near = [p for p in (here, None if proposed is None else proposed[_hosts(proposed, key)])
                    if p is not None]
            _gaps(page, group, gaps[gaps["category"] == key], near)
        if here is not None and len(here):
            _icons(group, here, [facility_icon(pins[key])], np.zeros(len(here), dtype=int),
                   page.gcj, [escape(n) if n else category_label(cat) for n in _names(here)])
    _class_legend(page, classes, list(names.values()))
    return names


def _names(points: gpd.GeoDataFrame) -> list[str]:
    return (points["name"].fillna("").astype(str).tolist() if "name" in points
            else [""] * len(points))


def _class_cells(page, group, cells, d, cat, inhabited, total, classes, speeds) -> None:
    if classes == "time":
        minutes = d / float(speeds[cat.group]) / 60.0
        uppers = np.array([u for u, _ in TIME_CLASSES])
        label = np.searchsorted(uppers, minutes, side="left")
        names = [both("minutes", x=x) for x in time_class_labels()]
    else:
        label = (d > cat.distance_m).astype(int)
        dm = f"{cat.distance_m:g}"
        names = [both("within", d=dm), both("beyond", d=dm)]
    if not inhabited.any():
        return
    present, merged, people = dissolve_by(cells[inhabited], label[inhabited], total[inhabited])
    geoms = to_map_coords(merged, gcj02=page.gcj, simplify_m=SIMPLIFY_M)
    props = pd.DataFrame({
        "s": present.astype(int),
        "t": [f"{names[v]} · " + both("people", n=f"{p:,.0f}") for v, p in
              zip(present, people, strict=True)],
    })
    ShapeLayer(feature_collection(geoms, props), _class_styles(classes)).add_to(group)


def _class_styles(classes) -> list:
    colours = [c for _, c in TIME_CLASSES] if classes == "time" else list(COMPLIANCE_COLOURS)
    return [fill(c, 0.55) for c in colours]


def _class_legend(page, classes, layers: list[str]) -> None:
    rows = page.legend["classes"]
    styles = _class_styles(classes)
    if classes == "time":
        rows.append(heading(both("walk_time")))
        labels = time_class_labels()
    else:
        rows.append(heading(both("compliance")))
        labels = [both("within_any"), both("beyond_any")]
    rows.extend(path_row(st, lab, layers) for st, lab in zip(styles, labels, strict=True))


def _gaps(page, group, gaps: gpd.GeoDataFrame, near: list[gpd.GeoDataFrame]) -> None:
    if len(gaps) == 0:
        return
    style = gap_style(GAP_COLOUR)
    geoms = to_map_coords(gaps.geometry, gcj02=page.gcj, simplify_m=SIMPLIFY_M)
    tips = np.array([
        both("gap_tip", rank=r, people=f"{p:,.0f}", cells=c,
             group=(group_name(g, "zh"), group_name(g, "en")))
        for r, p, g, c in zip(gaps["rank"], gaps["people"], gaps["group"], gaps["cells"],
                              strict=True)
    ])
    ShapeLayer(feature_collection(geoms, pd.DataFrame({"s": 0, "t": tips})), [style]).add_to(group)
    top = np.argsort(gaps["rank"].to_numpy(), kind="stable")[:RANKS_SHOWN]
    markers = [p.geometry.to_crs(gaps.crs).values for p in near if len(p)]
    spots = label_points(gaps.geometry.values[top], np.concatenate(markers) if markers else None)
    points = to_map_coords(gpd.GeoSeries(spots, crs=gaps.crs), gcj02=page.gcj)
    ranks = pd.DataFrame({"r": gaps["rank"].to_numpy()[top].astype(int), "t": tips[top]})
    RankLabels(feature_collection(points, ranks)).add_to(group)
    page.gap_layers.append(page.groups[-1])


def label_points(areas: np.ndarray, markers: np.ndarray | None,
                 clearance_m: float = LABEL_CLEARANCE_M) -> np.ndarray:
    """A label point per area (metric CRS): the point of the largest part of the area farthest
    from its edge once ``clearance_m`` around each marker is taken out (the area's own
    representative point when markers leave no room)."""
    blocked = (shapely.union_all(shapely.buffer(markers, clearance_m))
               if markers is not None and len(markers) else None)
    out = []
    for area in areas:
        free = area.difference(blocked) if blocked is not None else area
        part = free if not free.is_empty else area
        parts = shapely.get_parts(part)
        polygons = parts[shapely.get_type_id(parts) == 3]
        if len(polygons) == 0:
            out.append(area.representative_point())
            continue
        largest = polygons[np.argmax(shapely.area(polygons))]
        out.append(polylabel(largest, tolerance=2.0))
    return np.array(out, dtype=object)


def _icons(group, points: gpd.GeoDataFrame, icons, which: np.ndarray, gcj: bool,
           tips: list[str]) -> None:
    geoms = to_map_coords(points.geometry, gcj02=gcj)
    props = pd.DataFrame({"i": which.astype(int), "t": tips})
    IconLayer(feature_collection(geoms, props), icons).add_to(group)


def _isochrones(page, group, iso: gpd.GeoDataFrame, key: str | None) -> None:
    if "distance_m" not in iso.columns:
        raise InputError("Isochrones need a 'distance_m' column (metres of each ring).")
    sel = iso if key is None else iso[iso["category"] == key]
    if len(sel) == 0:
        return
    geoms = to_map_coords(without_holes(sel.geometry), gcj02=page.gcj,
                          simplify_m=ISOCHRONE_SIMPLIFY_M)
    ring = np.unique(sel["distance_m"].to_numpy(), return_inverse=True)[1]
    styles = [isochrone_style(ISOCHRONE_COLOUR, False), isochrone_style(ISOCHRONE_COLOUR, True)]
    props = pd.DataFrame({"s": (ring > 0).astype(int),
                          "t": [f"{d:,.0f} m" for d in sel["distance_m"]]})
    ShapeLayer(feature_collection(geoms, props), styles).add_to(group)
    page.iso_layers.append(page.groups[-1])


# --- layers across categories ------------------------------------------------------------------


def _hosts(proposed: gpd.GeoDataFrame, key: str) -> np.ndarray:
    """Proposed sites serving ``key``: their ``category``, or any of the comma-separated
    ``categories`` of a joint site."""
    if "categories" in proposed.columns:
        return proposed["categories"].fillna("").astype(str).str.split(",").apply(
            lambda keys: key in keys).to_numpy(dtype=bool)
    return (proposed["category"] == key).to_numpy()


def _all_facilities(page, facilities, dist, pins, categories, layers: dict[str, str]) -> None:
    """All existing facilities in one layer; their legend rows serve it and each category's."""
    keys = list(dist)
    sel = facilities[facilities["category"].isin(keys)]
    group = page.group(both("all_facilities"), False)
    icons = [facility_icon(pins[k]) for k in keys]
    which = sel["category"].map({k: i for i, k in enumerate(keys)}).to_numpy()
    _icons(group, sel, icons, which, page.gcj, [escape(n) or escape(c) for n, c in
                                                 zip(_names(sel), sel["category"], strict=True)])
    rows = page.legend["facilities"]
    rows.append(heading(both("facilities")))
    present = set(sel["category"])
    rows.extend(icon_row(icon, category_label(categories[k]), [layers[k], page.groups[-1]])
                for k, icon in zip(keys, icons, strict=True) if k in present)


def proposal_sites(proposed: gpd.GeoDataFrame, keys: list[str],
                   same_site_m: float = SAME_SITE_M) -> list[tuple[int, list[tuple[str, int]]]]:
    """Proposed sites grouped by place: (first row, [(category, row) …]) per place, categories
    in the order of ``keys``; rows within ``same_site_m`` (m, metric CRS) are one place."""
    xy = shapely.get_coordinates(proposed.geometry.values)
    cell = np.round(xy / same_site_m).astype(np.int64)
    places: dict[tuple[int, int], list[tuple[str, int]]] = {}
    for row, key in enumerate(keys):
        for k in key.split(","):
            places.setdefault(tuple(cell[row]), [])
            if (k, row) not in places[tuple(cell[row])]:
                places[tuple(cell[row])].append((k, row))
    return [(entries[0][1], entries) for entries in places.values()]


def _proposals(page, proposed, pins, categories, dist) -> None:
    """One marker per proposed place, listing every category proposed there with its funding
    order and the people it newly covers."""
    keys = (proposed["categories"].fillna(proposed["category"]).astype(str).tolist()
            if "categories" in proposed.columns else proposed["category"].astype(str).tolist())
    keys = [",".join(k for k in key.split(",") if k in dist) for key in keys]
    keep = np.array([bool(k) for k in keys])
    proposed = proposed[keep].reset_index(drop=True)
    keys = [k for k in keys if k]
    if not len(proposed):
        return
    if proposed.crs is None:
        raise CRSError("The proposed sites have no CRS; set it (e.g. .set_crs('EPSG:4326')).")
    metric = proposed if proposed.crs.is_projected else proposed.to_crs(proposed.estimate_utm_crs())
    order = {k: i for i, k in enumerate(dist)}
    sites = proposal_sites(metric, keys)
    icons, which, tips, first, shared = [], [], [], [], None
    for row, entries in sites:
        entries = sorted(entries, key=lambda e: order[e[0]])
        icon = proposal_icon([pins[k] for k, _ in entries])
        if icon not in icons:
            icons.append(icon)
        which.append(icons.index(icon))
        shared = shared or (icon if len(entries) > 1 else None)
        first.append(row)
        tips.append(_proposal_tip(proposed, entries, categories))
    group = page.group(both("proposed_layer", n=len(sites)), True)
    _icons(group, proposed.iloc[first], icons, np.array(which), page.gcj, tips)
    rows = page.legend["proposed"]
    rows.append(heading(both("proposed")))
    for key in dict.fromkeys(k for _, entries in sites for k, _ in entries):
        rows.append(icon_row(proposal_icon([pins[key]]),
                             both("proposed_one", category=(categories[key].name_zh,
                                                            categories[key].name_en)),
                             [page.groups[-1]]))
    if shared is not None:
        rows.append(icon_row(shared, both("proposed_shared"), [page.groups[-1]]))


def _proposal_tip(proposed: gpd.GeoDataFrame, entries, categories) -> str:
    lines = []
    for key, row in entries:
        record = proposed.iloc[row]
        name = record.get("name") if "name" in proposed else None
        line = category_label(categories[key])
        if isinstance(name, str) and name:
            line = f"{escape(name)} · {line}"
        order, people = record.get("order"), record.get("marginal_people")
        if order is not None and pd.notna(order):
            line += " · " + both("proposal_order", order=int(order))
        if people is not None and pd.notna(people):
            line += " · " + both("proposal_people", people=float(people))
        lines.append(line)
    return f"<b>{both('proposed_head')}</b><br>" + "<br>".join(lines)


def _streets(page, network, box, *, show: bool) -> None:
    lines = street_lines(network.edge_geometries(), network.crs, box)
    geoms = to_map_coords(lines, gcj02=page.gcj, simplify_m=STREET_SIMPLIFY_M)
    style = street_style(STREET_COLOUR)
    group = page.group(both("streets"), show)
    ShapeLayer(feature_collection(geoms), [style], interactive=False).add_to(group)
    page.legend["other"].append(path_row(style, both("streets"), [page.groups[-1]]))


def _complete(page, cells, complete: CompleteCircle, inhabited, total) -> None:
    k = len(complete.keys)
    pct = "–" if np.isnan(complete.index) else f"{100 * complete.index:.1f}%"
    group = page.group(both("complete_layer", pct=pct), False)
    styles = [fill(c, 0.75) for c in complete_colours(k)]
    rows = page.legend["complete"]
    rows.append(heading(both("complete")))
    rows.extend(path_row(st, f"{n}/{k}", [page.groups[-1]]) for n, st in enumerate(styles))
    if not inhabited.any():
        return
    present, merged, people = dissolve_by(cells[inhabited], complete.reached[inhabited],
                                          total[inhabited])
    geoms = to_map_coords(merged, gcj02=page.gcj, simplify_m=SIMPLIFY_M)
    props = pd.DataFrame({
        "s": present.astype(int),
        "t": [both("complete_tip", n=v, k=k, people=f"{p:,.0f}")
              for v, p in zip(present, people, strict=True)],
    })
    ShapeLayer(feature_collection(geoms, props), styles).add_to(group)


def _off_streets(page, cells: gpd.GeoDataFrame) -> None:
    people = float(cells["total"].sum())
    group = page.group(both("off_streets_layer", people=f"{people:,.0f}"), True)
    geoms = to_map_coords(cells.geometry, gcj02=page.gcj)
    props = pd.DataFrame({"s": 0, "t": [
        both("off_streets_tip", m=f"{a:,.0f}", people=f"{p:,.0f}")
        for a, p in zip(cells["access_m"], cells["total"], strict=True)
    ]})
    ShapeLayer(feature_collection(geoms, props), [OFF_STREETS]).add_to(group)
    page.legend["other"].append(path_row(OFF_STREETS, both("off_streets"), [page.groups[-1]]))


def _districts(page, districts, table, categories, crs) -> None:
    if districts.crs is None:
        raise CRSError("The district layer has no CRS; set it (e.g. .set_crs('EPSG:4326')).")
    names = district_names(districts, None)
    geoms = to_map_coords(districts.geometry.to_crs(crs), gcj02=page.gcj,
                          simplify_m=SIMPLIFY_M * 5)
    props = pd.DataFrame({"s": 0, "t": [escape(n) for n in names]})
    if table is not None:
        props["p"] = [_district_popup(table, i, n, categories) for i, n in enumerate(names)]
    style = district_style(DISTRICT_COLOUR)
    group = page.group(both("districts"), True)
    ShapeLayer(feature_collection(geoms, props), [style]).add_to(group)
    page.legend["other"].append(path_row(style, both("districts"), [page.groups[-1]]))


def _district_popup(table: pd.DataFrame, i: int, name: str, categories) -> str:
    sel = table[(table["district"] == i) & (table["mode"] == "compliance")]
    rows = []
    for key, part in sel.groupby("category", sort=False):
        pct = part.set_index("group")["coverage_pct"]
        rows.append([category_label(categories[key]), _pct(pct.get("total")),
                     _pct(pct.get("age_60_plus"))])
    header = [both("category"), both("everyone"), both("older")]
    return (f"<b>{escape(name)}</b> · {both('district_table')}<br>" + table_html(header, rows))


def _pct(v) -> str:
    return "–" if v is None or pd.isna(v) else f"{v:.1f}%"
