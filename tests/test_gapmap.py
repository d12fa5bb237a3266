"""The gap map: offline page, layers, labels in both languages, GCJ-02 shift, small files, one
style source for layers and legend, combined proposal markers, rank labels, the embedded font."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely

from planner.catchment import nearest_by_category
from planner.coverage import complete_circle, coverage_table, district_coverage, required_distance_m
from planner.errors import InputError
from planner.gaps import gap_areas, gap_cells
from planner.io.coords import wgs84_to_gcj02
from planner.io.osm import load_network
from planner.isochrones import isochrones
from planner.maps import gap_map, save_gap_map
from planner.maps.offline import OfflineAssetError, inline_assets
from planner.outputs import write_tables
from planner.standards import load_categories, load_speeds
from planner.synthetic import street_network

KEYS = ("convenience", "fresh_market", "pharmacy", "elderly_day_care", "childcare")
EXTERNAL = re.compile(r'<(?:script|link)\b[^>]*(?:src|href)="(?:https?:)?//', re.I)
PAIR = re.compile(r"\[(-?\d+\.\d+),(-?\d+\.\d+)\]")


def build_case(seed: int = 3) -> dict:
    """A synthetic town: street network, 100 m demand cells, facilities (none for childcare),
    distances from the catchment engine, gaps, complete circle, two districts, isochrones."""
    cats, speeds = load_categories(), load_speeds()
    net = street_network(400, seed=seed, spacing_m=80.0)
    rng = np.random.default_rng(seed)
    x0, y0 = np.floor(net.node_xy.min(axis=0) / 100) * 100
    x1, y1 = np.ceil(net.node_xy.max(axis=0) / 100) * 100
    ix, iy = np.meshgrid(np.arange(x0, x1, 100.0), np.arange(y0, y1, 100.0))
    x, y = ix.ravel() + 50, iy.ravel() + 50
    total = rng.gamma(2.0, 60.0, len(x)).round()
    cells = gpd.GeoDataFrame(
        {"cell_id": np.arange(len(x)), "x": x, "y": y, "total": total,
         "age_60_plus": (total * rng.uniform(0.1, 0.3, len(x))).round(),
         "age_0_2": (total * 0.03).round()},
        geometry=shapely.box(x - 50, y - 50, x + 50, y + 50),
        crs=net.crs,
    )
    rows = []
    for k in KEYS[:-1]:
        nodes = rng.choice(net.n_nodes, 4, replace=False)
        for j, n in enumerate(nodes):
            rows.append({"id": f"{k}-{j}", "name": f"{k} <{j}>", "category": k,
                         "capacity": np.nan, "geometry": shapely.Point(net.node_xy[n] + 5)})
    fac = gpd.GeoDataFrame(rows, crs=net.crs)
    bound = required_distance_m({k: cats[k] for k in KEYS}, speeds)
    dist_frame = nearest_by_category(net, cells[["x", "y"]].to_numpy(), fac, {k: bound for k in KEYS})
    dist = {k: dist_frame[k].to_numpy() for k in KEYS}
    mid = (x0 + x1) / 2
    districts = gpd.GeoDataFrame(
        {"name": ["西街道", "东街道"]},
        geometry=[shapely.box(x0, y0, mid, y1), shapely.box(mid, y0, x1, y1)],
        crs=net.crs,
    ).to_crs(4326)
    pharm = fac[fac["category"] == "pharmacy"]
    iso = isochrones(net, shapely.get_coordinates(pharm.geometry.values), [300.0, 500.0])
    iso["category"] = "pharmacy"
    proposed = gpd.GeoDataFrame(
        {"category": ["childcare"], "name": ["新托育点"]},
        geometry=[shapely.Point(net.node_xy[0])], crs=net.crs,
    )
    return {
        "cells": cells, "distances": dist, "categories": cats, "speeds": speeds,
        "facilities": fac, "gaps": gap_areas(gap_cells(dist, cells, cats), cats),
        "complete": complete_circle(dist, cells, cats),
        "districts": districts,
        "district_table": district_coverage(dist, cells, cats, speeds, districts, facilities=fac),
        "isochrones": iso, "proposed": proposed, "network": net,
    }


@pytest.fixture(scope="module")
def case():
    return build_case()


def contains(page: str, label: str) -> bool:
    """Label in the page as text or as a JSON string (layer names are ASCII-escaped)."""
    return label in page or json.dumps(label)[1:-1] in page


def shown(page: str, lang: str) -> str:
    """The page's text as a reader of ``lang`` sees it: JSON escapes decoded, the other
    language's spans and every tag removed, entities unescaped."""
    page = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), page)
    page = page.replace('\\"', '"').replace("\\/", "/")
    other = "en" if lang == "zh" else "zh"
    page = re.sub(rf'<span class="plc-{other}">.*?</span>', "", page)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def fits(page: str) -> np.ndarray:
    """The bounds ([[south, west], [north, east]]) the page fits its view to."""
    found = re.findall(r"\.fit\(\s*(\[\[[-\d.,\s\[\]]*\]\])", page)
    return np.array(json.loads(found[-1]))


def layer_data(page: str, kind: str, with_styles: bool = False) -> list:
    """The GeoJSON collections the page draws with PLC.<kind> (iconLayer, rankLayer…), with
    their style or icon tables when asked."""
    decoder = json.JSONDecoder()
    out = []
    for match in re.finditer(rf"PLC\.{kind}\(", page):
        data, end = decoder.raw_decode(page, match.end())
        if with_styles:
            start = re.compile(r"[,\s]*").match(page, end).end()
            data = (data, decoder.raw_decode(page, start)[0])
        out.append(data)
    return out


def render(case, tmp_path, name="map.html", **kw):
    args = {k: v for k, v in case.items() if k not in ("cells", "distances", "categories")}
    args.update(kw)
    m = gap_map(case["cells"], case["distances"], case["categories"], **args)
    path = save_gap_map(m, tmp_path / name)
    return path.read_text(encoding="utf-8")


def test_offline_page_with_all_layers_zh(case, tmp_path):
    page = render(case, tmp_path, lang="zh", shown="pharmacy")
    assert not EXTERNAL.search(page)
    assert "Leaflet 1.9.3" in page and "jquery" not in page.lower()
    assert "data:image/png;base64," in page  # the layer-control images inlined
    text = shown(page, "zh")
    for label in ("药店", "便利店/小超市", "托儿所/托育点（无设施，覆盖率 0%）", "全部现状设施",
                  "步行网络", "行政分区（街道/社区）", "完整生活圈指数", "西街道", "缺口 #1",
                  "步行时间（分钟）", "新托育点"):
        assert label in text, label
    assert "&lt;0&gt;" in page and "<0>" not in page  # facility names are escaped
    assert "&lt;span" not in page  # labels are never escaped twice
    assert "Pharmacy" not in text and '"lang":"zh"' in page
    assert len(page) < 1_500_000


def test_notebook_view_is_the_self_contained_page(case):
    args = {k: v for k, v in case.items() if k not in ("cells", "distances", "categories")}
    m = gap_map(case["cells"], case["distances"], case["categories"], **args)
    view = m._repr_html_()
    assert view.startswith("<iframe srcdoc=") and "planner-asset:" not in view
    assert "Leaflet 1.9.3" in view and "Planner CJK" in view


def test_folium_save_writes_the_self_contained_page(case, tmp_path):
    args = {k: v for k, v in case.items() if k not in ("cells", "distances", "categories")}
    m = gap_map(case["cells"], case["distances"], case["categories"], **args)
    m.save(str(tmp_path / "a.html"))  # folium's own way of saving, as a notebook user would
    with open(tmp_path / "b.html", "wb") as fh:
        m.save(fh)
    for name in ("a.html", "b.html"):
        page = (tmp_path / name).read_text(encoding="utf-8")
        assert "planner-asset:" not in page and "Leaflet 1.9.3" in page and "Planner CJK" in page


def test_english_labels_and_compliance_classes(case, tmp_path):
    """The page opens in English and holds the Chinese set for its language switch."""
    page = render(case, tmp_path, lang="en", classes="compliance")
    text = shown(page, "en")
    for label in ("Pharmacy", "Childcare (ages 0–2) (no facilities, 0 % coverage)",
                  "Compliance distance", "≤ 300 m", "Walk network", "Gap #1"):
        assert label in text, label
    assert "药店" not in text and "药店" in shown(page, "zh")
    assert '"lang":"en"' in page and 'class="plc-lang"' in page


def test_coordinates_rounded_and_amap_shifted(case, tmp_path):
    osm = render(case, tmp_path, "osm.html", basemap="osm", network=None)
    amap = render(case, tmp_path, "amap.html", basemap="amap", network=None)
    pairs = PAIR.findall(osm)
    assert pairs and all(len(a.split(".")[1]) <= 5 and len(b.split(".")[1]) <= 5 for a, b in pairs)
    assert "tile.openstreetmap.org" in osm and "autonavi.com" in amap

    b_osm, b_amap = fits(osm), fits(amap)
    lon, lat = wgs84_to_gcj02(b_osm[:, 1], b_osm[:, 0])
    assert np.allclose(b_amap[:, 1], lon, atol=2e-5) and np.allclose(b_amap[:, 0], lat, atol=2e-5)
    assert 0.003 < (b_amap[0, 1] - b_osm[0, 1]) < 0.01  # ≈ 500 m east in Shanxi


def test_bad_arguments(case):
    c, d, cats = case["cells"], case["distances"], case["categories"]
    with pytest.raises(InputError, match="lang"):
        gap_map(c, d, cats, speeds=case["speeds"], lang="fr")
    with pytest.raises(InputError, match="basemap"):
        gap_map(c, d, cats, speeds=case["speeds"], basemap="google")
    with pytest.raises(InputError, match="speeds"):
        gap_map(c, d, cats)
    with pytest.raises(InputError, match="shown"):
        gap_map(c, d, cats, speeds=case["speeds"], shown="clinic")


def test_foreign_assets_are_refused():
    with pytest.raises(OfflineAssetError, match="cdn.example"):
        inline_assets('<head><script src="https://cdn.example/x.js"></script></head>')
    with pytest.raises(OfflineAssetError):
        inline_assets('<link rel="stylesheet" href="//cdn.example/x.css"/>')


SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.mark.shared
def test_taiyuan_gap_map_on_amap_and_workbook(tmp_path):
    """Real Taiyuan streets with placed people and facilities: ranked gaps, a workbook, and an
    Amap page whose overlays sit ≈ 556 m east/north-east of their WGS-84 position."""
    roads = SHARED / "taiyuan" / "road.json"
    if not roads.exists():
        pytest.skip(f"real Taiyuan data not found at {roads} (../shared/data is absent)")
    cats, speeds = load_categories(), load_speeds()
    net = load_network(roads)
    rng = np.random.default_rng(7)
    cx, cy = np.round(np.median(net.node_xy, axis=0), -2)
    xs = np.arange(cx - 1500, cx + 1500, 100.0) + 50
    gx, gy = np.meshgrid(xs, xs - cx + cy)
    x, y = gx.ravel(), gy.ravel()
    total = rng.gamma(2.0, 80.0, len(x)).round()
    cells = gpd.GeoDataFrame(
        {"cell_id": np.arange(len(x)), "x": x, "y": y, "total": total,
         "age_60_plus": (total * 0.2).round()},
        geometry=shapely.box(x - 50, y - 50, x + 50, y + 50), crs=net.crs,
    )
    near = np.flatnonzero(np.abs(net.node_xy - [cx, cy]).max(axis=1) < 1500)
    keys = ("convenience", "pharmacy", "elderly_day_care")
    rows = [
        {"category": k, "name": f"{k}-{i}", "geometry": shapely.Point(net.node_xy[n])}
        for k in keys for i, n in enumerate(rng.choice(near, 6, replace=False))
    ]
    fac = gpd.GeoDataFrame(rows, crs=net.crs)
    bound = required_distance_m({k: cats[k] for k in keys}, speeds)
    frame = nearest_by_category(net, cells[["x", "y"]].to_numpy(), fac, {k: bound for k in keys})
    dist = {k: frame[k].to_numpy() for k in keys}
    areas = gap_areas(gap_cells(dist, cells, cats), cats)
    for _, part in areas.groupby("category"):
        assert part["people"].is_monotonic_decreasing and part["rank"].tolist() == list(range(1, len(part) + 1))
    table = coverage_table(dist, cells, cats, speeds, facilities=fac)
    paths = write_tables({"coverage": table, "gap_areas": areas.drop(columns="geometry")}, tmp_path)
    assert (tmp_path / "coverage.xlsx") in paths

    m = gap_map(cells, dist, cats, speeds=speeds, facilities=fac, gaps=areas, network=net,
                basemap="amap")
    page = save_gap_map(m, tmp_path / "taiyuan.html").read_text(encoding="utf-8")
    assert not EXTERNAL.search(page) and len(page) < 1_500_000
    (s, w), _ = fits(page)
    lon, lat = pyproj.Transformer.from_crs(net.crs, 4326, always_xy=True).transform(
        *cells.total_bounds[:2]
    )
    geod = pyproj.Geod(ellps="WGS84")
    shift_m = geod.inv(lon, lat, w, s)[2]
    assert 478 < shift_m < 634


def test_joint_proposals_show_in_each_category_with_order_and_people(case, tmp_path):
    net_xy = case["proposed"].geometry.iloc[0]
    joint = gpd.GeoDataFrame(
        {"category": ["childcare"], "categories": ["childcare,pharmacy"], "name": [None],
         "order": [1], "marginal_people": [1234.4]},
        geometry=[net_xy], crs=case["proposed"].crs)
    for lang, words in (("zh", ("药店 · 建设顺序第 1 位 · 新增覆盖 1,234 人",
                                "托儿所/托育点 · 建设顺序第 1 位 · 新增覆盖 1,234 人")),
                        ("en", ("Pharmacy · funding order 1 · 1,234 people newly covered",
                                "Childcare (ages 0–2) · funding order 1 · 1,234 people newly "
                                "covered"))):
        page = render(case, tmp_path, f"joint_{lang}.html", lang=lang, proposed=joint)
        sites = layer_data(page, "iconLayer")[-1]["features"]
        assert len(sites) == 1  # one site, one marker
        tip = shown(sites[0]["properties"]["t"], lang)
        assert all(w in tip for w in words), tip


def test_colocated_proposals_of_two_categories_are_one_marker(case, tmp_path):
    """Two categories proposed at the same three places: three markers, each listing both
    categories; the legend shows the very icons the markers use."""
    pts = [shapely.Point(case["network"].node_xy[n]) for n in (0, 50, 90)]
    rows = [{"category": k, "order": i + 1, "marginal_people": 100.0 * (i + 1) + j,
             "geometry": p} for j, k in enumerate(("pharmacy", "childcare"))
            for i, p in enumerate(pts)]
    proposed = gpd.GeoDataFrame(rows, crs=case["proposed"].crs)
    page = render(case, tmp_path, "colocated.html", proposed=proposed)
    collection = layer_data(page, "iconLayer")[-1]
    assert len(collection["features"]) == 3
    for f, i in zip(collection["features"], range(3), strict=True):
        tip = shown(f["properties"]["t"], "zh")
        assert f"药店 · 建设顺序第 {i + 1} 位" in tip and f"托儿所/托育点 · 建设顺序第 {i + 1} 位" in tip
    _, icons = layer_data(page, "iconLayer", with_styles=True)[-1]
    assert len(icons) == 1 and icons[0]["h"].count("<span style") == 2  # two colour segments
    assert icons[0]["h"] in page.replace('\\"', '"')  # the legend draws the same icon
    legend = shown(page, "zh")
    assert "同址建议：一处用于多类设施" in legend and "建议新增：药店" in legend


def test_legend_is_drawn_from_the_layer_styles(case, tmp_path):
    from planner.maps.labels import GAP_COLOUR
    from planner.maps.styles import PinStyle, facility_icon, gap_style, proposal_icon

    page = render(case, tmp_path, "styles.html")
    decoded = page.replace('\\"', '"').replace("\\/", "/")
    style = gap_style(GAP_COLOUR)
    assert json.dumps(style.leaflet(), separators=(",", ":")) in page  # the gap layer's style
    assert style.swatch() in decoded  # … and its legend symbol
    pin = PinStyle("#c0392b", "药", "P")
    assert facility_icon(pin).html in decoded.replace("\\u003c", "<")
    assert proposal_icon([PinStyle("#e67e22", "托", "C")]).html in decoded


def test_rank_labels_keep_clear_of_markers_and_go_past_five():
    from planner.maps.gapmap import RANKS_SHOWN, label_points

    area = shapely.box(0, 0, 200, 100)
    marker = area.representative_point()
    spot = label_points(np.array([area]), np.array([marker]), clearance_m=25.0)[0]
    assert area.contains(spot) and spot.distance(marker) >= 25.0
    tiny = shapely.box(0, 0, 10, 10)  # no room: the area's own point
    assert tiny.contains(label_points(np.array([tiny]), np.array([shapely.Point(5, 5)]))[0])
    assert RANKS_SHOWN >= 10


def test_page_embeds_a_chinese_font_covering_its_text(case, tmp_path):
    import base64
    import io

    from fontTools.ttLib import TTFont

    page = render(case, tmp_path, "font.html")
    woff = re.search(r'font-family: "Planner CJK".*?base64,([A-Za-z0-9+/=]+)', page)
    assert woff, "no embedded font"
    font = TTFont(io.BytesIO(base64.b64decode(woff.group(1))))
    cmap = font.getBestCmap()
    for ch in "一刻钟便民生活圈缺口药店西街道步行网络":
        assert ord(ch) in cmap, ch
    assert len(woff.group(1)) < 400_000
