"""Points join the network at ground level: never from the side into a tunnel or onto a bridge,
unless no ground-level edge is within reach."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.catchment import nearest_distance
from planner.network import WalkNetwork, build_network, ground_ways
from planner.snap import joined_off_ground, snap_points
from planner.synthetic import network_from_arrays

# nodes: a street y = 0 (0–1000 m); a tunnel 4 m north of it from (100, 4) to (900, 4), whose
# portals lead up to the street's ends; a bridge 6 m south from (300, -6) to (700, -6),
# reached by ramps from the street at x = 250 and x = 750.
NODES = [[0, 0], [500, 0], [1000, 0], [100, 4], [900, 4], [300, -6], [700, -6], [250, 0], [750, 0]]
EDGES = [(0, 7), (7, 1), (1, 8), (8, 2), (0, 3), (3, 4), (4, 2), (7, 5), (5, 6), (6, 8)]
EDGE_WAY = [0, 0, 0, 0, 0, 1, 0, 0, 2, 0]
WAYS = pd.DataFrame(
    {
        "osm_id": ["1", "2", "3"],
        "highway": ["residential", "service", "footway"],
        "name": [pd.NA, pd.NA, pd.NA],
        "tunnel": [pd.NA, "yes", pd.NA],
        "bridge": [pd.NA, pd.NA, "viaduct"],
        "layer": [pd.NA, "-4", "1"],
    }
)


def _net():
    u, v = np.array(EDGES).T
    return network_from_arrays(NODES, u, v, ways=WAYS, edge_way=EDGE_WAY)


def _segment_distance(net, xy, edges):
    a = net.node_xy[net.edge_u[edges]]
    b = net.node_xy[net.edge_v[edges]]
    ab = b - a
    t = np.clip(((xy - a) * ab).sum(1) / (ab * ab).sum(1), 0, 1)
    return np.hypot(*(xy - (a + t[:, None] * ab)).T)


def test_ground_rule():
    ways = pd.DataFrame(
        {
            "tunnel": ["yes", "culvert", "no", "building_passage", None, "", None, None],
            "bridge": [None, None, None, None, "yes", "no", "viaduct", None],
        }
    )
    assert ground_ways(ways).tolist() == [False, False, True, True, False, True, False, True]
    assert ground_ways(pd.DataFrame({"highway": ["footway"]})).tolist() == [True]


def test_a_point_above_the_tunnel_joins_the_street_not_the_tunnel():
    net = _net()
    s = snap_points(net, [[500.0, 5.0], [500.0, -7.0]])  # 1 m from the tunnel / the bridge
    assert net.edge_way[s.edge].tolist() == [0, 0]
    assert s.access_m == pytest.approx([5.0, 7.0])
    # walking 20 m along the street, not 400 m through the tunnel and back
    d = nearest_distance(net, [[500.0, 5.0]], [[520.0, 5.0]], 5000)
    assert d[0] == pytest.approx(5.0 + 20.0 + 5.0)


def test_tunnels_and_bridges_are_still_walked_through():
    net = _net()
    assert net.edge_ground.tolist() == [w == 0 for w in EDGE_WAY]
    d = nearest_distance(net, [[0.0, 0.0]], [[1000.0, 0.0]], 5000)
    assert d[0] == pytest.approx(1000.0)  # the street; the tunnel is longer, but it is in the graph
    assert net.n_edges == len(EDGES)


def test_no_ground_edge_within_reach_falls_back_to_any_edge():
    net = _net()
    s = snap_points(net, [[500.0, -6.0]], max_access_m=5.0)  # on the bridge, street 6 m away
    assert s.ok.all() and net.edge_way[s.edge[0]] == 2 and s.access_m[0] == pytest.approx(0.0)
    island = network_from_arrays(
        [[0, 0], [100, 0]], [0], [1], ways=WAYS.iloc[[2]].reset_index(drop=True)
    )
    assert not island.edge_ground.any()
    s = snap_points(island, [[50.0, 10.0]])
    assert s.ok.all() and s.access_m[0] == pytest.approx(10.0)
    assert joined_off_ground(island, s).tolist() == [True]  # said in the run's notes


def test_points_that_join_a_tunnel_or_bridge_are_counted():
    net = _net()
    s = snap_points(net, [[500.0, -6.0], [500.0, 1.0], [500.0, 900.0]], max_access_m=5.0)
    assert joined_off_ground(net, s).tolist() == [True, False, False]  # the last is too far


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-50, 1050), st.floats(-40, 40)), min_size=1, max_size=40
    ),
    st.sampled_from([3.0, 8.0, 30.0, 300.0]),
)
def test_matches_brute_force_nearest_ground_edge(points, max_access_m):
    net = _net()
    xy = np.array(points)
    s = snap_points(net, xy, max_access_m=max_access_m)
    ground = np.flatnonzero(net.edge_ground)
    every = np.arange(net.n_edges)
    for i, p in enumerate(xy):
        d_ground = _segment_distance(net, np.repeat(p[None], len(ground), 0), ground).min()
        d_any = _segment_distance(net, np.repeat(p[None], len(every), 0), every).min()
        expected = d_ground if d_ground <= max_access_m else d_any
        assert s.access_m[i] == pytest.approx(expected, abs=1e-9)
        assert s.ok[i] == (expected <= max_access_m)
        if d_ground <= max_access_m:
            assert net.edge_ground[s.edge[i]]


def test_layers_keep_tunnel_and_bridge_tags_and_old_saved_networks_load(tmp_path):
    lines = gpd.GeoDataFrame(
        {
            "highway": ["residential", "service"],
            "tunnel": [None, "yes"],
            "bridge": [None, None],
            "layer": [None, "-1"],
        },
        geometry=[
            shapely.LineString([(500000, 4200000), (500200, 4200000)]),
            shapely.LineString([(500000, 4200000), (500100, 4200003), (500200, 4200000)]),
        ],
        crs="EPSG:32650",
    )
    net = build_network(lines)
    assert net.ways["tunnel"].isna().iloc[0] and net.ways["tunnel"].iloc[1] == "yes"
    assert net.ways["layer"].iloc[1] == "-1"
    assert net.edge_ground.sum() == 1
    folder = net.save(tmp_path / "net")
    assert WalkNetwork.load(folder).edge_ground.tolist() == net.edge_ground.tolist()
    # a network saved before the tags were kept: every edge counts as ground level
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "format_version": 1}))
    net.ways[["osm_id", "highway", "name"]].to_parquet(folder / "ways.parquet", index=False)
    old = WalkNetwork.load(folder)
    assert old.edge_ground.all() and list(old.ways.columns)[-3:] == ["tunnel", "bridge", "layer"]


@pytest.fixture(scope="module")
def helsinki():
    from planner import sample
    from planner.io.osm import load_network

    return load_network(sample.helsinki_pbf())


def test_sample_keeps_the_service_tunnel_tags(helsinki):
    ways = helsinki.ways.set_index("osm_id")
    assert ways.loc["609208686", ["tunnel", "layer"]].tolist() == ["yes", "-4"]
    assert ways.loc["155134863", ["tunnel", "layer"]].tolist() == ["yes", "-1"]


def test_sample_cell_beside_a_service_tunnel_walks_the_streets(helsinki):
    """A 100 m cell south of Bulevardi (centre 24.93570 °E, 60.16655 °N) and the pharmacy
    Apteekki Bulevardia (OSM node 1377222624, 24.93669 °E, 60.16438 °N), 248 m apart: the
    cell used to join an underground service tunnel (way 43997238, layer -3) and the walk
    between them came to 2,836 m."""
    to_net = pyproj.Transformer.from_crs(4326, helsinki.crs, always_xy=True)
    cell = np.array([to_net.transform(24.935702, 60.166549)])
    pharmacy = np.array([to_net.transform(24.9366904, 60.1643803)])
    straight = float(np.hypot(*(cell - pharmacy)[0]))
    assert straight == pytest.approx(248, abs=2)
    d = nearest_distance(helsinki, cell, pharmacy, 5000)[0]
    assert straight < d < 2 * straight  # 461 m along the streets
    s = snap_points(helsinki, np.vstack([cell, pharmacy]))
    assert helsinki.edge_ground[s.edge].all()
