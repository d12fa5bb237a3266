"""WalkNetwork from every source: topology, lengths, components, save/load."""

import bz2
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from conftest import FIXTURES

from planner.io.osm import load_network, ways_from_layer, ways_from_xml
from planner.network import WalkNetwork, build_network
from planner.sample import helsinki_pbf
from planner.walkable import load_walk_rules, walkable_mask

OSM = FIXTURES / "junctions.osm"
GEOD = pyproj.Geod(ellps="WGS84")
LON0, LAT0 = 112.55, 37.87


def fixture_lonlat(x: float, y: float) -> tuple[float, float]:
    """Fixture node grid (see tests/fixtures/junctions.osm): 0.001° steps."""
    return LON0 + x * 0.001, LAT0 + y * 0.001


def geodesic(a, b) -> float:
    return GEOD.inv(*fixture_lonlat(*a), *fixture_lonlat(*b))[2]


def edge_set(net: WalkNetwork, decimals: int = 3) -> dict[frozenset, float]:
    xy = np.round(net.node_xy, decimals)
    return {
        frozenset((tuple(xy[u]), tuple(xy[v]))): length
        for u, v, length in zip(net.edge_u, net.edge_v, net.edge_length, strict=True)
    }


# --- hand-written OSM XML with known topology -----------------------------------------------

WALKED = {  # node pairs of the walkable ways in the largest component
    ((0, 0), (1, 0)), ((1, 0), (2, 0)),  # residential way 101, not split at node (1, 0)
    ((1, -1), (1, 0)), ((1, 0), (1, 1)),  # footway 102 crossing it at the shared node
    ((2, 0), (3, 0)),  # trunk with foot=yes
    ((1, 1), (1, 2)),  # steps
}


def test_xml_fixture_exact_topology_and_lengths():
    net = load_network(OSM)
    assert (net.n_nodes, net.n_edges) == (7, 6)
    expected = sum(geodesic(a, b) for a, b in WALKED)
    assert net.total_length_m == pytest.approx(expected, rel=5e-4)
    assert net.junction_count == 5  # 4 dead ends + the crossing; node (2, 0) joins two ways
    assert net.crs.is_projected and net.crs.to_epsg() == 32649
    assert net.report.components == 2 and net.report.dropped_components == 1
    assert net.report.dropped_length_m == pytest.approx(geodesic((10, 10), (11, 10)), rel=5e-4)
    # every node pair of WALKED is one edge of the right length
    tr = pyproj.Transformer.from_crs(4326, net.crs, always_xy=True)
    for a, b in WALKED:
        pa, pb = (np.array(tr.transform(*fixture_lonlat(*p))) for p in (a, b))
        ia = np.argmin(np.hypot(*(net.node_xy - pa).T))
        ib = np.argmin(np.hypot(*(net.node_xy - pb).T))
        hit = ((net.edge_u == ia) & (net.edge_v == ib)) | ((net.edge_u == ib) & (net.edge_v == ia))
        assert hit.sum() == 1
        assert net.edge_length[hit][0] == pytest.approx(geodesic(a, b), rel=5e-4)


def test_xml_keep_all_components():
    net = load_network(OSM, keep="all")
    assert (net.n_nodes, net.n_edges) == (9, 7)
    assert len(np.unique(net.component_labels())) == 2


def test_csr_is_symmetric_and_matches_edges():
    net = load_network(OSM)
    adj = net.adjacency()
    assert (adj != adj.T).nnz == 0
    assert adj.nnz == 2 * net.n_edges
    assert np.all(net.edge_length > 0)


def test_bz2_xml_equals_plain(tmp_path):
    packed = tmp_path / "junctions.osm.bz2"
    packed.write_bytes(bz2.compress(OSM.read_bytes()))
    assert edge_set(load_network(packed)) == pytest.approx(edge_set(load_network(OSM)))


def _fixture_as_ogr_lines(path):
    """The same OSM ways as an ogr2ogr-style 'lines' GeoJSON: whole ways, hstore other_tags."""
    ways = ways_from_xml(OSM)
    features = []
    for osm_id, group in ways.groupby("osm_id"):
        merged = shapely.line_merge(shapely.union_all(group.geometry.values))
        row = group.iloc[0]
        other = ",".join(f'"{k}"=>"{row[k]}"' for k in ("foot", "access") if pd.notna(row[k]))
        features.append(
            {
                "type": "Feature",
                "properties": {"osm_id": str(osm_id), "highway": row["highway"],
                               "other_tags": other or None},
                "geometry": shapely.geometry.mapping(merged),
            }
        )
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_same_graph_from_xml_and_geojson_lines(tmp_path):
    layer = _fixture_as_ogr_lines(tmp_path / "lines.geojson")
    from_xml, from_layer = load_network(OSM, keep="all"), load_network(layer, keep="all")
    assert (from_layer.n_nodes, from_layer.n_edges) == (from_xml.n_nodes, from_xml.n_edges)
    assert edge_set(from_layer) == pytest.approx(edge_set(from_xml))


def test_tolerance_noding_joins_near_vertices():
    # two ways whose ends miss each other by ~0.3 m
    a = shapely.LineString([(112.550, 37.87), (112.551, 37.87)])
    b = shapely.LineString([(112.5510034, 37.87), (112.552, 37.87)])
    ways = gpd.GeoDataFrame({"highway": ["footway", "footway"]}, geometry=[a, b], crs=4326)
    assert build_network(ways, keep="all").report.components == 2
    joined = build_network(ways, tolerance_m=0.5)
    assert joined.report.components == 1 and joined.report.merged_vertices == 1
    assert joined.n_nodes == 3


def test_save_load_round_trip(tmp_path):
    net = load_network(OSM)
    loaded = WalkNetwork.load(net.save(tmp_path / "net"))
    assert loaded.crs == net.crs
    for name in ("node_xy", "edge_u", "edge_v", "edge_length", "indptr", "indices", "weights"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(net, name))
    pd.testing.assert_frame_equal(loaded.ways, net.ways)
    assert loaded.summary() == net.summary()
    assert load_network(tmp_path / "net").n_edges == net.n_edges


def test_user_crs_gauss_kruger():
    net = load_network(OSM, crs="EPSG:4546")  # CGCS2000 3-degree GK CM 111E
    assert net.crs.to_epsg() == 4546
    assert net.total_length_m == pytest.approx(load_network(OSM).total_length_m, rel=1e-3)


def test_gdfs():
    net = load_network(OSM)
    edges, nodes = net.edges_gdf(), net.nodes_gdf()
    assert len(edges) == net.n_edges and len(nodes) == net.n_nodes
    assert set(edges.highway) == {"residential", "footway", "trunk", "steps"}
    np.testing.assert_allclose(edges.length, edges.geometry.length)
    assert "迎泽大街" in set(edges.name.dropna())


def test_walk_rules_overridable():
    ways = ways_from_xml(OSM)
    rules = load_walk_rules()
    assert not walkable_mask(ways[ways.highway == "motorway"], rules).any()
    wider = rules.with_overrides(walkable=[*rules.walkable, "motorway"], conditional=[])
    assert walkable_mask(ways[ways.highway == "motorway"], wider).all()


# --- real data ------------------------------------------------------------------------------


def test_helsinki_pbf_builds_connected_in_metres():
    net = load_network(helsinki_pbf())
    assert net.crs.is_projected and net.crs.to_epsg() == 32635
    assert net.n_nodes > 3000 and net.total_length_m > 50_000
    assert len(np.unique(net.component_labels())) == 1
    x, y = net.node_xy.mean(axis=0)
    assert 300_000 < x < 500_000 and 6_600_000 < y < 6_700_000  # UTM 35N metres


@pytest.fixture(scope="module")
def taiyuan(taiyuan_roads):
    return load_network(taiyuan_roads, keep="all")


def test_taiyuan_noded_size(taiyuan):
    assert 16_400 <= taiyuan.n_nodes <= 17_400  # ≈ 16.9k vertices once noded
    # junctions + dead ends (degree ≠ 2); counting way ends too would give more
    assert 4_500 <= taiyuan.junction_count <= 6_000
    labels = taiyuan.component_labels()
    assert np.bincount(labels).max() >= 0.9 * taiyuan.n_nodes


def test_taiyuan_length_matches_filtered_ways(taiyuan, taiyuan_roads):
    ways = ways_from_layer(taiyuan_roads)
    walk = ways[walkable_mask(ways, load_walk_rules())]
    reference = sum(GEOD.geometry_length(g) for g in walk.geometry)
    assert taiyuan.total_length_m == pytest.approx(reference, rel=0.01)


def test_taiyuan_no_zero_length_or_duplicate_edges(taiyuan):
    assert np.all(taiyuan.edge_length > 0)
    pairs = np.sort(np.stack([taiyuan.edge_u, taiyuan.edge_v], axis=1), axis=1)
    assert len(np.unique(pairs, axis=0)) == len(pairs)
