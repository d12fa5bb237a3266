"""Facilities nobody can walk to are dropped with their reason, never kept silently; points far
from the whole network are an error naming the likely causes."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.errors import CRSError, InputError
from planner.facilities import (
    FAR_OUTSIDE,
    OFF_STREETS,
    FacilityReport,
    FacilityWarning,
    drop_off_network,
    merge_across_sources,
)
from planner.io.facilities import facility_report, load_facilities
from planner.synthetic import network_from_arrays

UTM = "EPSG:32649"  # central Taiyuan


def grid_network(origin=(660_000.0, 4_192_000.0), n=5, step=200.0):
    """A 5 × 5 street grid, 200 m blocks, in central Taiyuan (UTM 49N)."""
    x0, y0 = origin
    xy = np.array([(x0 + i * step, y0 + j * step) for j in range(n) for i in range(n)])
    u, v = [], []
    for j in range(n):
        for i in range(n):
            k = j * n + i
            if i + 1 < n:
                u.append(k), v.append(k + 1)
            if j + 1 < n:
                u.append(k), v.append(k + n)
    return network_from_arrays(xy, np.array(u), np.array(v), crs=UTM)


def facility_csv(path, points_xy, crs=UTM):
    lonlat = gpd.GeoSeries(gpd.points_from_xy(*np.asarray(points_xy).T), crs=crs).to_crs(4326)
    pd.DataFrame({"name": [f"幼儿园{i}" for i in range(len(lonlat))], "lon": lonlat.x,
                  "lat": lonlat.y}).to_csv(path, index=False)
    return path


def loaded(path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FacilityWarning)
        return load_facilities(path, category="kindergarten", crs="wgs84", to_crs=UTM,
                               dedupe_m=0, **kwargs)


def test_facility_457_m_from_the_streets_is_dropped_with_its_distance(tmp_path):
    net = grid_network()
    x0, y0 = 660_000.0, 4_192_000.0
    path = facility_csv(tmp_path / "k.csv", [(x0 + 100, y0 + 50), (x0 + 800 + 457, y0 + 400)])
    fac = loaded(path)
    report = facility_report(fac)
    with pytest.warns(FacilityWarning, match="no facility of kindergarten"):
        pass_one = drop_off_network(fac.iloc[1:], net, 300.0,
                                    FacilityReport("one", counts={"kindergarten": 1}))
    assert len(pass_one) == 0
    kept = drop_off_network(fac, net, 300.0, report)
    assert kept["name"].tolist() == ["幼儿园0"]
    row = report.dropped.iloc[-1]
    assert row["reason"] == OFF_STREETS and row["name"] == "幼儿园1"
    assert "457 m away" in row["detail"]
    assert report.counts == {"kindergarten": 1}


def test_points_thousands_of_km_away_are_dropped_and_named(tmp_path):
    net = grid_network()
    x0, y0 = 660_000.0, 4_192_000.0
    path = tmp_path / "k.csv"
    lonlat = gpd.GeoSeries(gpd.points_from_xy([x0 + 100], [y0 + 50]), crs=UTM).to_crs(4326)
    pd.DataFrame({"name": ["近", "远"], "lon": [lonlat.x[0], 121.47],
                  "lat": [lonlat.y[0], 31.23]}).to_csv(path, index=False)  # Shanghai
    fac = loaded(path)
    report = facility_report(fac)
    with pytest.warns(FacilityWarning, match="more than 20 km from the network"):
        kept = drop_off_network(fac, net, 300.0, report)
    assert kept["name"].tolist() == ["近"]
    far = report.dropped[report.dropped["reason"] == FAR_OUTSIDE]
    assert far["name"].tolist() == ["远"] and "swapped" in far["detail"].iloc[0]


def test_every_point_far_away_is_an_error_that_names_swapped_coordinates(tmp_path):
    net = grid_network()
    x0, y0 = 660_000.0, 4_192_000.0
    lonlat = gpd.GeoSeries(gpd.points_from_xy([x0 + 100, x0 + 300], [y0 + 50, y0 + 200]),
                           crs=UTM).to_crs(4326)
    path = tmp_path / "swapped.csv"
    # the latitude column holds longitudes and vice versa; both stay within ±90 only in
    # places like Helsinki, so swap here by hand and declare the projected CRS's degrees
    pd.DataFrame({"name": ["a", "b"], "lon": lonlat.y, "lat": lonlat.x}).to_csv(path, index=False)
    with pytest.raises(CRSError, match="swapped"):
        load_facilities(path, category="kindergarten", crs="wgs84", to_crs=UTM)
    fac = gpd.GeoDataFrame({"name": ["a"], "category": ["kindergarten"]},
                           geometry=gpd.points_from_xy([x0 + 90_000], [y0]), crs=UTM)
    with pytest.raises(CRSError, match="wrong coordinate system"):
        drop_off_network(fac, net, 300.0, FacilityReport("far.csv"))


# --- the audit: every input row exactly once -----------------------------------------------

NAMES = ["阳光幼儿园", "红星幼儿园", "老百姓大药房", "麦当劳", "", "唐久便利店", "迎泽区养老院"]


@st.composite
def facility_rows(draw):
    """A table of Taiyuan POIs: some unnamed or of no category, some without coordinates,
    out of range, far from the streets or far away, some repeated nearby."""
    n = draw(st.integers(1, 25))
    x0, y0 = 660_000.0, 4_192_000.0
    kinds = draw(st.lists(st.sampled_from(["grid", "off", "far", "nan", "range"]), min_size=n,
                          max_size=n))
    rows = []
    for i, kind in enumerate(kinds):
        name = draw(st.sampled_from(NAMES))
        x = x0 + draw(st.floats(0, 800)) if kind != "off" else x0 + 1500
        y = y0 + draw(st.floats(0, 800))
        if kind == "far":
            x += 90_000
        lon, lat = gpd.GeoSeries(gpd.points_from_xy([x], [y]), crs=UTM).to_crs(4326).iloc[0].coords[0]
        if kind == "nan":
            lon = np.nan
        if kind == "range":
            lat = 123.0
        rows.append({"name": name, "lon": lon, "lat": lat, "n": i})
    if n > 1 and draw(st.booleans()):  # the same facility twice, 3 m apart
        rows.append({**rows[0], "lon": rows[0]["lon"] + 3e-5})
    return pd.DataFrame(rows)


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(facility_rows())
def test_every_input_row_is_in_the_audit_exactly_once(frame):
    net = grid_network()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FacilityWarning)
            fac = load_facilities(frame, crs="wgs84", to_crs=UTM, category_column="name")
            report = facility_report(fac)
            fac = drop_off_network(fac, net, 300.0, report)
    except InputError:  # nothing usable at all: named as an error, which is no silent drop
        return
    audit = report.audit()
    assert sorted(audit["ref"]) == sorted(f"row {i}" for i in range(len(frame)))
    assert audit["ref"].is_unique
    kept = audit[audit["outcome"] != "dropped"]
    ids = [i for text in kept["facility_ids"] for i in text.split("; ")]
    assert sorted(ids) == sorted(fac["id"])
    assert (audit.loc[audit["outcome"] == "dropped", "reasons"] != "").all()
    assert not (audit["reasons"] == "not classified").any()


def test_a_facility_in_two_inputs_is_kept_once(tmp_path):
    """An OSM extract and an Amap export both list 阳光幼儿园, 20 m apart: one facility, the
    other row reported as the same facility in another input; distinct names stay."""
    x0, y0 = 660_000.0, 4_192_000.0
    osm = facility_csv(tmp_path / "osm.csv", [(x0 + 100, y0 + 50), (x0 + 300, y0 + 50)])
    amap = facility_csv(tmp_path / "amap.csv", [(x0 + 100, y0 + 70), (x0 + 300, y0 + 80)])
    pd.read_csv(amap).assign(name=["幼儿园0", "别的幼儿园"]).to_csv(amap, index=False)
    frames, reports = [], []
    for path in (osm, amap):
        fac = loaded(path)
        reports.append(facility_report(fac))
        frames.append(fac)
    both = merge_across_sources(frames, reports)
    assert sorted(both["name"]) == ["别的幼儿园", "幼儿园0", "幼儿园1"]
    dup = reports[1].dropped
    assert dup["reason"].tolist() == ["duplicate"]
    assert dup["detail"].iloc[0].startswith("same facility as osm.csv:")
    assert "20.0 m" in dup["detail"].iloc[0]
    assert reports[1].counts == {"kindergarten": 1}
    audit = reports[1].audit().set_index("name")
    assert audit.loc["幼儿园0", "outcome"] == "dropped"
    assert audit.loc["别的幼儿园", "outcome"] == "kept"
    # within one input, two rows of one name 20 m apart are two facilities (dedupe_m = 10 m)
    assert len(merge_across_sources([frames[0]], [reports[0]])) == 2


NAME_ONLY_OSM = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6">
  <node id="1" lat="37.8702" lon="112.5501"><tag k="name" v="向阳幼儿园"/></node>
  <node id="2" lat="37.8710" lon="112.5510"><tag k="name" v="阳光小学站"/>
    <tag k="highway" v="bus_stop"/></node>
  <node id="3" lat="37.8720" lon="112.5520"><tag k="name" v="华晋医药公司"/>
    <tag k="office" v="company"/></node>
  <node id="4" lat="37.8730" lon="112.5530"><tag k="name" v="柳巷街道居家养老服务站"/></node>
  <node id="5" lat="37.8740" lon="112.5540"><tag k="place" v="neighbourhood"/>
    <tag k="name" v="双塔小学片区"/></node>
  <node id="6" lat="37.8750" lon="112.5550"><tag k="amenity" v="bench"/></node>
</osm>
"""


def test_named_osm_points_without_tags_are_read_and_stops_are_not(tmp_path):
    """Chinese OSM holds many POIs with a name only: they are classified by name and reach
    the audit; a bus stop or a place named after a school is no school."""
    path = tmp_path / "named.osm"
    path.write_text(NAME_ONLY_OSM, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FacilityWarning)
        fac = load_facilities(path, to_crs=UTM)
    got = dict(zip(fac["name"], fac["category"], strict=True))
    assert got == {"向阳幼儿园": "kindergarten", "柳巷街道居家养老服务站": "elderly_day_care"}
    audit = facility_report(fac).audit().set_index("ref")
    assert sorted(audit.index) == ["node/1", "node/3", "node/4", "node/6"]
    assert audit.loc["node/3", "outcome"] == "dropped"


def test_a_point_far_from_all_others_is_named_without_a_network(tmp_path):
    """Without a network or study area nothing says where facilities belong, but a point
    thousands of kilometres from the rest is named, and does not choose the UTM zone."""
    path = tmp_path / "far.csv"
    pd.DataFrame({"name": ["甲幼儿园", "乙幼儿园", "丙幼儿园", "远方幼儿园"],
                  "lon": [112.55, 112.56, 112.57, 87.6], "lat": [37.87, 37.87, 37.88, 43.8]}
                 ).to_csv(path, index=False)  # the last one in Ürümqi
    with pytest.warns(FacilityWarning, match="远方幼儿园, 2,"):
        fac = load_facilities(path, category="kindergarten", crs="wgs84")
    assert fac.crs.to_epsg() == 32649  # Taiyuan's UTM zone, not Ürümqi's or one between
    assert len(fac) == 4


def test_a_branch_suffix_on_one_name_does_not_make_two_shops(tmp_path):
    """美特好超市 and 美特好超市(平城店) 8 m apart are one shop; two named branches are two."""
    x0, y0 = 660_000.0, 4_192_000.0
    path = facility_csv(tmp_path / "s.csv", [(x0 + 100, y0 + 50), (x0 + 108, y0 + 50),
                                             (x0 + 300, y0 + 50), (x0 + 305, y0 + 50)])
    pd.read_csv(path).assign(name=["美特好超市", "美特好超市(平城店)", "唐久便利(新建南路店)",
                                   "唐久便利(迎泽大街店)"]).to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FacilityWarning)
        fac = load_facilities(path, category="supermarket", crs="wgs84", to_crs=UTM)
    assert sorted(fac["name"]) == ["唐久便利(新建南路店)", "唐久便利(迎泽大街店)", "美特好超市"]
    assert "美特好超市" in facility_report(fac).dropped["detail"].iloc[0]
