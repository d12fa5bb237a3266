"""The units layer of a province run is checked before any unit runs, and a street component
is kept by its length (or because it leaves the window), the same in a window as in the whole
area."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.errors import CRSError, InputError
from planner.network import build_network
from planner.province.units import read_units


def squares(n: int, crs=4326, **columns) -> gpd.GeoDataFrame:
    boxes = [shapely.box(112.5 + 0.01 * i, 37.8, 112.51 + 0.01 * i, 37.81) for i in range(n)]
    return gpd.GeoDataFrame(columns, geometry=boxes, crs=crs)


def test_units_read_with_their_names_and_codes():
    units, notes = read_units(squares(2, 名称=["小店区", "迎泽区"], 区划代码=[140105, 140106]))
    assert units["unit_code"].tolist() == ["140105", "140106"]
    assert units["unit_name"].tolist() == ["小店区", "迎泽区"]
    assert notes == []


def test_units_without_codes_are_numbered_and_said_so():
    units, notes = read_units(squares(3, name=["a", "b", "c"]))
    assert units["unit_code"].tolist() == ["001", "002", "003"]
    assert "numbered" in notes[0]


@pytest.mark.parametrize("frame, message", [
    (squares(2, code=["1", "1"]), "unique"),
    (squares(1, code=[""]), "no code"),
    (gpd.GeoDataFrame({"code": ["1"]}, geometry=[shapely.Point(112.5, 37.8)], crs=4326),
     "no polygon"),
    (squares(0), "empty"),
])
def test_bad_units_are_refused_with_the_reason(frame, message):
    with pytest.raises(InputError, match=message):
        read_units(frame)


def test_units_need_a_crs_and_named_columns_must_exist():
    with pytest.raises(CRSError):
        read_units(squares(1, crs=None, code=["1"]))
    with pytest.raises(InputError, match="no column '县'"):
        read_units(squares(1, code=["1"]), name_column="县")


def test_overlapping_units_are_noted():
    frame = squares(2, code=["a", "b"])
    frame.loc[1, "geometry"] = frame.geometry[0].buffer(0.001)
    _, notes = read_units(frame)
    assert "overlap" in notes[0]


# --- street components kept by length ------------------------------------------------------------


@st.composite
def street_pieces(draw):
    """Random street pieces on a 20 m lattice (metres, UTM 49N)."""
    n = draw(st.integers(2, 25))
    pieces = []
    for _ in range(n):
        x, y = draw(st.integers(0, 30)), draw(st.integers(0, 30))
        steps = draw(st.lists(st.sampled_from([(1, 0), (0, 1), (-1, 0), (0, -1)]), min_size=1,
                              max_size=8))
        pts = [(x, y)]
        for dx, dy in steps:
            pts.append((pts[-1][0] + dx, pts[-1][1] + dy))
        if len(set(pts)) > 1:
            pieces.append(shapely.LineString(np.array(pts, float) * 20.0 + 500_000))
    return pieces


@settings(max_examples=40, deadline=None)
@given(street_pieces(), st.sampled_from([0.0, 50.0, 120.0, 400.0]))
def test_components_are_kept_by_their_length(pieces, min_m):
    if not pieces:
        return
    ways = gpd.GeoDataFrame({"highway": ["footway"] * len(pieces)}, geometry=pieces,
                            crs="EPSG:32649")
    graph = nx.Graph()
    for line in pieces:
        xy = [tuple(p) for p in np.asarray(line.coords)]
        for a, b in zip(xy[:-1], xy[1:], strict=True):
            if a != b:
                graph.add_edge(a, b, length=float(np.hypot(a[0] - b[0], a[1] - b[1])))
    expected = sum(graph.subgraph(c).size(weight="length") for c in nx.connected_components(graph)
                   if graph.subgraph(c).size(weight="length") >= min_m)
    if expected == 0:
        with pytest.raises(InputError):
            build_network(ways, crs="EPSG:32649", min_component_m=min_m)
        return
    net = build_network(ways, crs="EPSG:32649", min_component_m=min_m)
    assert net.report.kept_length_m == pytest.approx(expected)


def test_a_short_component_leaving_the_window_is_kept():
    inside = shapely.LineString([(500_000, 0), (500_030, 0)])
    leaving = shapely.LineString([(500_100, 0), (500_150, 0)])
    ways = gpd.GeoDataFrame({"highway": ["footway", "footway"]}, geometry=[inside, leaving],
                            crs="EPSG:32649")
    window = shapely.box(499_900, -100, 500_140, 100)
    net = build_network(ways, crs="EPSG:32649", min_component_m=1000, window=window)
    assert net.report.kept_length_m == pytest.approx(50.0)


def test_totals_say_when_a_category_has_no_facility_near_any_unit():
    import pandas as pd

    from planner.province.merge import add_up

    rows = []
    for unit in ("a", "b"):
        for key, inside, covered in (("pharmacy", 0, 0.0), ("clinic", 0, 5.0),
                                     ("convenience", 1, 8.0)):
            rows.append({"unit_code": unit, "unit_name": unit, "category": key, "name_zh": key,
                         "name_en": key, "mode": "compliance", "level_min": 5,
                         "threshold_m": 300.0, "group": "total", "speed_m_s": np.nan,
                         "people": 10.0, "people_covered": covered,
                         "people_uncovered": 10.0 - covered, "people_off_streets": 0.0,
                         "facilities": inside})
    total = add_up(pd.DataFrame(rows), pd.Series({"clinic": 3, "convenience": 2})).set_index(
        "category")
    assert total.loc["pharmacy", "note"].startswith("no facility of this category in the inputs")
    assert "outside them" in total.loc["clinic", "note"]
    assert total.loc["convenience", "note"] == ""
    assert total.loc["convenience", "people_covered"] == 16.0
    assert total.loc["convenience", "coverage_pct"] == 80.0
