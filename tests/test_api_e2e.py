"""End to end through the HTTP interface (TestClient): network → scenario → coverage and
optimisation jobs → GeoJSON, tables and map; and the results surviving a restart."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from api_support import HELSINKI_POINT, built_data_dir, client, wait_job
from test_api_content import _polygons

from planner.labels import header

NEW_SITES = 10
#: Facilities sent in the request: a kindergarten and an elderly day-care centre.
FACILITIES = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"name": "幼儿园", "kind": "kindergarten"},
     "geometry": {"type": "Point", "coordinates": HELSINKI_POINT}},
    {"type": "Feature", "properties": {"name": "日间照料中心", "kind": "elderly_day_care"},
     "geometry": {"type": "Point", "coordinates": [24.9480, 60.1745]}},
]}

pytestmark = pytest.mark.slow  # coverage and optimisation jobs on the sample network


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One scenario with a coverage and an optimisation job, both finished."""
    data_dir = tmp_path_factory.mktemp("e2e")
    network_id = built_data_dir(data_dir)
    with client(data_dir, workers=2) as c:
        body = {
            "name": "helsinki kindergartens",
            "network_id": network_id,
            "facilities": [
                {"source": "geojson", "category_column": "kind",
                 "geojson": FACILITIES},
            ],
            "population": {"source": "buildings", "cell_m": 100},
            "analysis": {"categories": ["kindergarten", "elderly_day_care"]},
            "categories": {"kindergarten": {"distance_m": 400}},
            "districts": {"upload_id": c.post("/v1/uploads", files={"file": (
                "jiedao.geojson", _polygons(名称="Kluuvi"))}).json()["id"], "name_column": "名称"},
        }
        r = c.post("/v1/scenarios", json=body)
        assert r.status_code == 201, r.text
        scenario = r.json()
        cov = c.post(f"/v1/scenarios/{scenario['id']}/coverage")
        opt = c.post(f"/v1/scenarios/{scenario['id']}/optimize", json={
            "model": "mclp", "categories": ["kindergarten"], "new_sites": NEW_SITES,
            "time_limit_s": 20})
        second = c.post(f"/v1/scenarios/{scenario['id']}/optimize", json={
            "model": "capacitated", "categories": ["kindergarten"], "new_sites": 2,
            "time_limit_s": 10})
        assert cov.status_code == opt.status_code == second.status_code == 202, (
            cov.text, opt.text, second.text)
        jobs = {k: wait_job(c, r.json()["id"], timeout_s=120) for k, r in
                (("coverage", cov), ("optimize", opt), ("second", second))}
        network = c.get(f"/v1/networks/{network_id}").json()
    return {"dir": data_dir, "network": network, "scenario": scenario, "jobs": jobs}


@pytest.fixture()
def c(run):
    with client(run["dir"]) as c:
        yield c


def _geojson(c, url: str) -> dict:
    r = c.get(url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    doc = r.json()
    assert doc["type"] == "FeatureCollection"
    return doc


def _inside_wgs84_bbox(doc: dict, bbox: list[float], margin_deg: float = 0.01) -> None:
    import shapely

    geoms = shapely.from_geojson([__import__("json").dumps(f["geometry"]) for f in doc["features"]])
    xy = shapely.get_coordinates(geoms)
    w, s, e, n = bbox
    assert ((xy[:, 0] > w - margin_deg) & (xy[:, 0] < e + margin_deg)).all()
    assert ((xy[:, 1] > s - margin_deg) & (xy[:, 1] < n + margin_deg)).all()


def test_jobs_finish_with_progress_and_timings(run):
    assert run["network"]["status"] == "ready"
    assert run["network"]["summary"]["nodes"] > 1000
    for kind, job in run["jobs"].items():
        assert job["status"] == "done", job
        assert job["kind"] == kind.replace("second", "optimize") and job["progress"] == 1.0
        assert {"network", "facilities", "catchments", "coverage"} <= set(job["timings"])
        assert job["result_url"] == f"/v1/jobs/{job['id']}/result"
    assert "optimize_1" in run["jobs"]["optimize"]["timings"]


def test_coverage_result_layers_are_wgs84(run, c):
    job = run["jobs"]["coverage"]
    res = c.get(job["result_url"]).json()
    assert res["kind"] == "coverage" and res["target_id"] == run["scenario"]["id"]
    headline = {row["category"]: row for row in res["summary"]["headline"]}
    assert set(headline) == {"kindergarten", "elderly_day_care"}
    assert 0 <= headline["kindergarten"]["coverage_pct"] <= 100
    assert "map" not in res["summary"]  # no server paths on the wire
    layers = {x["name"]: x for x in res["layers"]}
    assert {"facilities", "cells", "gap_cells", "isochrones"} <= set(layers)
    bbox = run["network"]["summary"]["bbox_lonlat"]
    for layer in layers.values():
        doc = _geojson(c, layer["url"])
        assert len(doc["features"]) == layer["features"]
        _inside_wgs84_bbox(doc, bbox)
    # the kindergarten sent as GeoJSON comes back at the same place (metric CRS and back)
    fac = _geojson(c, layers["facilities"]["url"])
    assert len(fac["features"]) == 2
    for sent in FACILITIES["features"]:
        back = next(f for f in fac["features"]
                    if f["properties"]["category"] == sent["properties"]["kind"])
        assert back["properties"]["name"] == sent["properties"]["name"]
        assert np.allclose(back["geometry"]["coordinates"], sent["geometry"]["coordinates"],
                           atol=1e-7)
    # people in the cells layer add up to the summary's total
    cells = _geojson(c, layers["cells"]["url"])
    total = sum(f["properties"]["total"] for f in cells["features"])
    assert total == pytest.approx(res["summary"]["people"]["total"], abs=0.1)


def test_tables_and_map(run, c):
    res = c.get(run["jobs"]["coverage"]["result_url"]).json()
    tables = {t["name"]: t for t in res["tables"]}
    assert "coverage" in tables
    csv = c.get(tables["coverage"]["csv"])
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    from_csv = pd.read_csv(io.BytesIO(csv.content), encoding="utf-8-sig")
    xlsx = c.get(tables["coverage"]["xlsx"])
    assert xlsx.status_code == 200
    from_xlsx = pd.read_excel(io.BytesIO(xlsx.content))
    assert [header(c, "zh") for c in from_csv.columns] == list(from_xlsx.columns)
    assert len(from_csv) == len(from_xlsx)
    page = c.get(res["map_url"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<html" in page.text.lower() and len(page.text) > 10_000


def test_optimize_result_proposes_the_sites(run, c):
    res = c.get(run["jobs"]["optimize"]["result_url"]).json()
    opt = res["summary"]["optimizations"]
    assert len(opt) == 1 and opt[0]["new_sites"] == NEW_SITES and opt[0]["status"] == "optimal"
    layers = {x["name"]: x for x in res["layers"]}
    proposals = _geojson(c, layers["proposals"]["url"])
    assert len(proposals["features"]) == NEW_SITES
    _inside_wgs84_bbox(proposals, run["network"]["summary"]["bbox_lonlat"])


def test_plans_are_named_as_the_cli_names_them(run, c):
    """The scenario's second optimisation request is plan 2, named by the requested model, as
    the second [[optimize]] entry of a scenario file is in planner run's outputs."""
    first = c.get(run["jobs"]["optimize"]["result_url"]).json()
    second = c.get(run["jobs"]["second"]["result_url"]).json()
    assert "optimize_1_mclp_kindergarten_sites" in {t["name"] for t in first["tables"]}
    assert {"optimize_2_capacitated_kindergarten_sites",
            "optimize_2_capacitated_kindergarten_coverage"} <= {t["name"] for t in second["tables"]}
    plan = second["summary"]["optimizations"][0]
    assert (plan["model"], plan["formulation"]) == ("capacitated", "capacitated_mclp")
    assert any(n.startswith("optimize_2_capacitated_kindergarten: ")
               for n in second["summary"]["notes"])


def test_overrides_and_districts_reach_the_job(run, c):
    res = c.get(run["jobs"]["coverage"]["result_url"]).json()
    tables = {t["name"]: t for t in res["tables"]}
    by_district = pd.read_csv(io.BytesIO(c.get(tables["coverage_by_district"]["csv"]).content),
                              encoding="utf-8-sig")
    assert "Kluuvi" in by_district.to_numpy().tolist()[0]
    coverage = pd.read_csv(io.BytesIO(c.get(tables["coverage"]["csv"]).content),
                           encoding="utf-8-sig")
    rows = coverage[(coverage["category"] == "kindergarten") & (coverage["mode"] == "compliance")]
    assert len(rows) and (rows["threshold_m"] == 400).all()


def test_unknown_result_names_are_404(run, c):
    job = run["jobs"]["coverage"]
    r = c.get(f"/v1/jobs/{job['id']}/layers/nope.geojson")
    assert r.status_code == 404 and "facilities" in r.json()["detail"]
    assert c.get(f"/v1/jobs/{job['id']}/tables/nope.csv").status_code == 404
    net_job = run["network"]["job_id"]
    assert c.get(f"/v1/jobs/{net_job}/map.html").status_code == 404


def test_results_survive_a_restart(run):
    job = run["jobs"]["coverage"]
    with client(run["dir"]) as first:
        before = first.get(job["result_url"]).json()
    with client(run["dir"]) as again:  # a new app on the same data directory
        assert again.get(f"/v1/jobs/{job['id']}").json()["status"] == "done"
        assert again.get(job["result_url"]).json() == before
        layer = before["layers"][0]
        assert len(_geojson(again, layer["url"])["features"]) == layer["features"]
        assert again.get(before["map_url"]).status_code == 200
        listed = {j["id"] for j in again.get("/v1/jobs").json()}
        assert {j["id"] for j in run["jobs"].values()} <= listed


def test_the_audit_names_the_users_files(run, c):
    """The facility audit names each source by the file the user sent: the network's OSM file
    and an uploaded table, as planner run names the scenario's files."""
    lon, lat = HELSINKI_POINT
    table = f"名称,lon,lat,类型\n阳光幼儿园,{lon},{lat},幼儿园\n".encode()
    up = c.post("/v1/uploads", files={"file": ("amap_kindergartens.csv", table)}).json()["id"]
    r = c.post("/v1/scenarios", json={
        "network_id": run["network"]["id"],
        "facilities": [{"source": "osm"}, {"source": "upload", "upload_id": up,
                                           "coords": "wgs84", "category_column": "类型"}],
        "population": {"source": "buildings", "cell_m": 250},
        "analysis": {"categories": ["kindergarten"], "mode": "compliance"}})
    assert r.status_code == 201, r.text
    job = wait_job(c, c.post(f"/v1/scenarios/{r.json()['id']}/coverage").json()["id"],
                   timeout_s=120)
    assert job["status"] == "done", job
    res = c.get(job["result_url"]).json()
    audit = next(t for t in res["tables"] if t["name"] == "facility_audit")
    sources = set(pd.read_csv(io.BytesIO(c.get(audit["csv"]).content),
                              encoding="utf-8-sig")["source"])
    assert sources == {"Helsinki.osm.pbf", "amap_kindergartens.csv"}
