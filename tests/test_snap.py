"""Snapping points to the nearest edge (not node), with far points reported."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_graph import random_network

from planner.errors import CRSError, InputError
from planner.snap import snap_points
from planner.synthetic import network_from_arrays


def _two_edges():
    # edge 0: long street along y = 0; edge 1: a spur starting 30 m north of it
    return network_from_arrays([[0, 0], [100, 0], [48, 30], [48, 60]], [0, 2], [1, 3])


def test_nearest_edge_is_not_the_edge_of_the_nearest_node():
    net = _two_edges()
    # nearest node is (48, 30) at 22.1 m, but the street y = 0 is only 8 m away
    s = snap_points(net, [[50.0, 8.0]])
    assert s.edge.tolist() == [0]
    assert s.offset_m[0] == pytest.approx(50.0)
    assert s.access_m[0] == pytest.approx(8.0)
    assert s.ok.all()


def test_projection_beyond_an_end_clamps_to_the_end_node():
    net = _two_edges()
    s = snap_points(net, [[110.0, -5.0]])
    assert s.edge[0] == 0
    assert s.offset_m[0] == pytest.approx(100.0)
    assert s.access_m[0] == pytest.approx(np.hypot(10, 5))


def test_reversed_edge_offsets_count_from_edge_u():
    net = network_from_arrays([[100, 0], [0, 0]], [0], [1])
    s = snap_points(net, [[30.0, 4.0]])
    assert s.offset_m[0] == pytest.approx(70.0)


def test_far_points_are_reported_with_their_distance():
    net = _two_edges()
    s = snap_points(net, [[50.0, 8.0], [50.0, -400.0], [350.0, 0.0]], max_access_m=300)
    assert s.ok.tolist() == [True, False, True]
    assert s.edge[1] == -1 and np.isnan(s.offset_m[1])
    assert s.access_m[1] == pytest.approx(400.0)
    assert s.far.tolist() == [1]
    text = s.describe_far()
    assert "1 of 3" in text and "400 m" in text and "max_access_m" in text
    assert "within reach" in snap_points(net, [[50.0, 8.0]]).describe_far()


def test_geodataframe_input_and_crs_check():
    net = _two_edges()
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([50.0], [8.0]), crs=net.crs)
    assert snap_points(net, pts).edge.tolist() == [0]
    with pytest.raises(CRSError, match="to_crs"):
        snap_points(net, pts.set_crs(4326, allow_override=True))
    with pytest.raises(InputError, match="Points"):
        snap_points(net, gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)], crs=net.crs))


def test_bad_coordinates_name_the_fix():
    net = _two_edges()
    with pytest.raises(InputError, match="NaN"):
        snap_points(net, [[np.nan, 0.0]])
    with pytest.raises(InputError, match=r"\(n, 2\)"):
        snap_points(net, [1.0, 2.0, 3.0])
    with pytest.raises(InputError, match="max_access_m"):
        snap_points(net, [[0.0, 0.0]], max_access_m=-1)
    assert len(snap_points(net, np.empty((0, 2)))) == 0


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 25), st.integers(1, 30))
def test_snap_matches_brute_force(seed, n_nodes, n_points):
    rng = np.random.default_rng(seed)
    net = random_network(rng, n_nodes, 10, 1)
    xy = rng.uniform(-200, 1200, size=(n_points, 2))
    s = snap_points(net, xy, max_access_m=150.0)
    lines = net.edge_geometries()
    dist = shapely.distance(shapely.points(xy)[:, None], lines[None, :])
    np.testing.assert_allclose(s.access_m, dist.min(axis=1), rtol=0, atol=1e-9)
    assert np.array_equal(s.ok, s.access_m <= 150.0)
    ok = np.flatnonzero(s.ok)
    # the snapped location lies on its edge at the access distance from the point
    on_edge = shapely.line_interpolate_point(lines[s.edge[ok]], s.offset_m[ok])
    np.testing.assert_allclose(
        shapely.distance(on_edge, shapely.points(xy[ok])), s.access_m[ok], atol=1e-6
    )


def test_take_drops_far_points():
    net = _two_edges()
    s = snap_points(net, [[50.0, 8.0], [50.0, -400.0], [350.0, 0.0]])
    kept = s.take(s.ok)
    assert len(kept) == 2 and kept.ok.all()
    assert kept.edge.tolist() == s.edge[[0, 2]].tolist()
    assert s.take(np.array([1])).far.tolist() == [0]


def test_threaded_snapping_matches_single_thread(monkeypatch):
    import planner.snap as snap

    net = random_network(np.random.default_rng(7), 40, 30, 1)
    xy = np.random.default_rng(8).uniform(-100, 1100, size=(999, 2))
    one = snap_points(net, xy)
    monkeypatch.setattr(snap, "PARALLEL_POINTS", 100)
    many = snap_points(net, xy)
    assert np.array_equal(one.edge, many.edge)
    assert np.array_equal(one.access_m, many.access_m)
