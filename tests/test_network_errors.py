"""Every bad network input gives a PlannerError that names the problem and the fix."""

import os
import socket
import subprocess
import sys
import time

import geopandas as gpd
import osmnx as ox
import pytest
import requests
import shapely
from conftest import FIXTURES, ROOT
from typer.testing import CliRunner

from planner.cli import app
from planner.errors import CRSError, EmptyNetworkError, InputError, OfflineError
from planner.io.osm import CONNECT_TIMEOUT_S, load_network, network_from_osmnx
from planner.network import WalkNetwork, build_network

LINE = shapely.LineString([(112.55, 37.87), (112.551, 37.87)])


def test_missing_file():
    with pytest.raises(InputError, match="does not exist"):
        load_network("no/such/streets.osm.pbf")


@pytest.mark.parametrize("name", ["bad.osm", "bad.osm.pbf", "bad.geojson"])
def test_unreadable_file(tmp_path, name):
    path = tmp_path / name
    path.write_text("this is not map data")
    with pytest.raises(InputError, match="Cannot read"):
        load_network(path)


def test_unknown_extension(tmp_path):
    path = tmp_path / "streets.docx"
    path.write_text("x")
    with pytest.raises(InputError, match="Cannot tell the format"):
        load_network(path)


def test_empty_layer(tmp_path):
    path = tmp_path / "empty.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises(InputError, match="empty"):
        load_network(path)


def test_no_line_geometries():
    pts = gpd.GeoDataFrame({"highway": ["footway"]}, geometry=[shapely.Point(112.5, 37.8)], crs=4326)
    with pytest.raises(InputError, match="no line geometries"):
        build_network(pts)


def test_no_highway_column():
    ways = gpd.GeoDataFrame({"kind": ["road"]}, geometry=[LINE], crs=4326)
    with pytest.raises(InputError, match="no 'highway' column.*kind"):
        build_network(ways)


def test_no_crs(tmp_path):
    ways = gpd.GeoDataFrame({"highway": ["footway"]}, geometry=[LINE])
    with pytest.raises(CRSError, match="no coordinate reference system.*set_crs"):
        build_network(ways)
    ways.to_file(tmp_path / "nocrs.shp")
    with pytest.raises(CRSError, match="no coordinate reference system"):
        load_network(tmp_path / "nocrs.shp")


def test_projected_coordinates_declared_geographic():
    line = shapely.LineString([(500_000, 4_190_000), (500_100, 4_190_000)])
    ways = gpd.GeoDataFrame({"highway": ["footway"]}, geometry=[line], crs=4326)
    with pytest.raises(CRSError, match="look projected"):
        build_network(ways)


def test_degrees_declared_projected():
    ways = gpd.GeoDataFrame({"highway": ["footway"]}, geometry=[LINE], crs=32649)
    with pytest.raises(CRSError, match="look like degrees"):
        build_network(ways)


def test_geographic_working_crs_refused():
    ways = gpd.GeoDataFrame({"highway": ["footway"]}, geometry=[LINE], crs=4326)
    with pytest.raises(CRSError, match="not projected"):
        build_network(ways, crs=4326)


def test_no_walkable_ways():
    ways = gpd.GeoDataFrame({"highway": ["motorway", "construction"]}, geometry=[LINE, LINE], crs=4326)
    with pytest.raises(EmptyNetworkError, match="None of the 2 ways is walkable"):
        build_network(ways)


def test_bad_options():
    ways = gpd.GeoDataFrame({"highway": ["footway"]}, geometry=[LINE], crs=4326)
    with pytest.raises(InputError, match="keep"):
        build_network(ways, keep="biggest")
    with pytest.raises(InputError, match="tolerance"):
        build_network(ways, tolerance_m=-1)


def test_not_a_saved_network(tmp_path):
    with pytest.raises(InputError, match="not a saved walk network"):
        WalkNetwork.load(tmp_path)


def test_place_that_geocodes_to_nothing(monkeypatch):
    def nothing(*args, **kwargs):
        raise ox._errors.InsufficientResponseError("Nominatim geocoder returned 0 results")

    monkeypatch.setattr(ox.graph, "graph_from_place", nothing)
    with pytest.raises(InputError, match="returned nothing for the place 'Nowhere'"):
        network_from_osmnx("Nowhere")


def test_online_path_reuses_xml_path(monkeypatch):
    """The online source builds exactly what the XML source builds from the same data."""
    seen = {}

    def fake_download(place, **kwargs):  # parses under the settings in force at download time
        seen.update(kwargs, place=place)
        return ox.graph.graph_from_xml(FIXTURES / "junctions.osm", simplify=False, retain_all=True)

    monkeypatch.setattr(ox.graph, "graph_from_place", fake_download)
    online = network_from_osmnx("迎泽区, 太原市, 山西省, 中国")
    offline = load_network(FIXTURES / "junctions.osm")
    assert seen["network_type"] == "walk" and seen["simplify"] is False
    assert (online.n_nodes, online.n_edges) == (offline.n_nodes, offline.n_edges)
    assert online.total_length_m == pytest.approx(offline.total_length_m)


def test_online_needs_exactly_one_area():
    with pytest.raises(InputError, match="exactly one"):
        network_from_osmnx()


def test_cli_network_summary_and_errors(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["network", str(FIXTURES / "junctions.osm"), "-o", str(tmp_path / "n")])
    assert result.exit_code == 0, result.output
    assert "walkable km" in result.output and "EPSG:32649" in result.output
    assert (tmp_path / "n" / "network.npz").exists()
    bad = runner.invoke(app, ["network", str(tmp_path / "missing.osm"), "-o", str(tmp_path / "m")])
    assert bad.exit_code == 2 and "does not exist" in bad.output



def _no_connection(kind=requests.exceptions.ConnectionError, seen=None):
    """An osmnx download that finds no network, as requests reports it."""

    def download(*args, **kwargs):
        if seen is not None:
            seen.update(timeout=ox.settings.requests_timeout, overpass=ox.settings.overpass_settings)
        url = "https://nominatim.openstreetmap.org/search?q=x"
        raise kind(f"Failed to resolve {url}", request=requests.Request("GET", url).prepare())

    return download


@pytest.mark.parametrize("kind", [requests.exceptions.ConnectionError, requests.exceptions.ConnectTimeout,
                                  requests.exceptions.ReadTimeout])
def test_offline_download_is_one_clear_error(monkeypatch, kind):
    seen = {}
    before = ox.settings.requests_timeout, ox.settings.overpass_settings
    monkeypatch.setattr(ox.graph, "graph_from_place", _no_connection(kind, seen))
    with pytest.raises(OfflineError, match=r"OpenStreetMap cannot be reached \(nominatim"
                       r".openstreetmap.org: .*local .osm or .osm.pbf") as info:
        network_from_osmnx("迎泽区, 太原市, 山西省, 中国")
    assert "\n" not in str(info.value)
    # a short connect timeout while downloading; the Overpass query limit keeps its value
    assert seen["timeout"] == (CONNECT_TIMEOUT_S, before[0])
    assert f"[timeout:{before[0]:g}]" in seen["overpass"]
    assert (ox.settings.requests_timeout, ox.settings.overpass_settings) == before


def test_offline_facilities_and_buildings(monkeypatch):
    from planner.io.facilities import load_facilities
    from planner.pipeline.inputs import _online_buildings

    monkeypatch.setattr(ox.features, "features_from_place", _no_connection())
    with pytest.raises(OfflineError, match="cannot be reached"):
        load_facilities("迎泽区, 太原市", online=True)
    with pytest.raises(OfflineError, match="cannot be reached"):
        _online_buildings("迎泽区, 太原市")


def test_cli_offline_is_one_line_and_exit_code_2(monkeypatch, tmp_path):
    monkeypatch.setattr(ox.graph, "graph_from_place", _no_connection())
    runner = CliRunner()
    for args in (["network", "迎泽区, 太原市", "--online", "-o", str(tmp_path / "n")],
                 ["run", "--place", "迎泽区, 太原市", "-o", str(tmp_path / "out")]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and "Traceback" not in result.output
        assert "cannot be reached" in errors[0] and '[network] source = "city.osm.pbf"' in errors[0]


@pytest.mark.slow
def test_real_run_without_internet_ends_within_seconds(tmp_path):
    try:
        socket.getaddrinfo("nominatim.openstreetmap.org", 443)
        pytest.skip("this machine reaches OpenStreetMap; the offline run is checked with mocks")
    except OSError:
        pass
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", "from planner.cli import main; main()", "run", "--place", "迎泽区, 太原市, 山西省, 中国",
         "-o", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    seconds = time.perf_counter() - t0
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0 and "OpenStreetMap cannot be reached" in done.stderr
    assert seconds < 30  # about 5 s on an idle machine; the bound leaves room for a busy one
