"""The HTTP contract: authentication, validation, size limits and clear 4xx errors."""

from __future__ import annotations

import pytest
from api_support import (
    HELSINKI_POINT,
    built_data_dir,
    client,
    feature_collection,
    streamed_upload,
    wait_job,
)

KEY = "s3cret-key"


@pytest.fixture(scope="module")
def net_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("requests")
    return d, built_data_dir(d)


@pytest.fixture()
def c(net_dir):
    with client(net_dir[0], max_upload_mb=0.05) as c:
        yield c


def _error(r, status: int, kind: str | None = None) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "detail"} and body["detail"]
    if kind:
        assert body["error"] == kind
    return body["detail"]


def test_health_and_categories(c):
    assert c.get("/v1/health").json()["status"] == "ok"
    cats = {x["key"]: x for x in c.get("/v1/categories").json()}
    assert cats["kindergarten"]["name_zh"] == "幼儿园" and cats["kindergarten"]["distance_m"] > 0
    assert all(x["name_en"] and x["level_min"] in (5, 10, 15) for x in cats.values())


def test_api_key(tmp_path):
    with client(tmp_path, api_key=KEY) as c:
        assert c.get("/v1/health").status_code == 200  # monitoring stays open
        detail = _error(c.get("/v1/categories"), 401, "Unauthorized")
        assert "X-API-Key" in detail
        _error(c.get("/v1/jobs", headers={"X-API-Key": "wrong"}), 401)
        _error(c.post("/v1/uploads", files={"file": ("a.csv", b"x,y\n")},
                      headers={"X-API-Key": "wrong"}), 401)
        assert c.get("/v1/categories", headers={"X-API-Key": KEY}).status_code == 200
        assert c.get("/v1/jobs", headers={"X-API-Key": KEY}).json() == []


def test_oversize_upload_is_refused_while_streaming(c, net_dir):
    big = b"lon,lat\n" + b"24.94,60.17\n" * 10_000  # ≈ 120 kB > 0.05 MB
    detail = _error(c.post("/v1/uploads", files={"file": ("big.csv", big)}), 413,
                    "PayloadTooLarge")
    assert "PLANNER_MAX_UPLOAD_MB" in detail

    body, headers = streamed_upload(20, 8192)  # no Content-Length: checked while streaming
    _error(c.post("/v1/uploads", content=body, headers=headers), 413, "PayloadTooLarge")
    assert not any((net_dir[0] / "uploads").iterdir())


def test_upload_names_cannot_reach_other_paths(c, net_dir):
    r = c.post("/v1/uploads", files={"file": ("../../etc/kindergartens.csv", b"lon,lat\n1,2\n")})
    assert r.status_code == 201, r.text
    up = r.json()
    assert up["filename"] == "kindergartens.csv" and up["size_bytes"] == 12
    assert (net_dir[0] / "uploads" / up["id"] / "kindergartens.csv").is_file()
    assert c.get(f"/v1/uploads/{up['id']}").json() == up
    assert "extension" in _error(c.post("/v1/uploads", files={"file": ("run.sh", b"rm")}), 400)
    assert "empty" in _error(c.post("/v1/uploads", files={"file": ("e.csv", b"")}), 400)


def test_malformed_geojson(c, net_dir):
    nid = net_dir[1]
    bad_docs = [
        {"type": "FeatureColection", "features": []},
        {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": None}]},
        {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": ["a", 60]}}]},
        {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [2_700_000, 6_670_000]}}]},
        {"type": "FeatureCollection", "features": []},
    ]
    for doc in bad_docs:
        body = {"network_id": nid, "facilities": [
            {"source": "geojson", "geojson": doc, "category": "kindergarten"}]}
        detail = _error(c.post("/v1/scenarios", json=body), 422, "ValidationError")
        assert "facilities.0.geojson" in detail
    detail = _error(c.post("/v1/scenarios", content=b"{not json",
                           headers={"content-type": "application/json"}), 422)
    assert "JSON" in detail
    r = c.post("/v1/scenarios", json={"network_id": nid, "facilities": [
        {"source": "geojson", "geojson": feature_collection([HELSINKI_POINT])}]})
    assert "category" in _error(r, 400, "InputError")


def test_projected_coordinates_are_named(c, net_dir):
    body = {"network_id": net_dir[1], "facilities": [{
        "source": "geojson", "category": "kindergarten",
        "geojson": feature_collection([[385_000.0, 6_672_000.0]])}]}
    assert "longitude first" in _error(c.post("/v1/scenarios", json=body), 422)


def test_swapped_coordinates(c, net_dir):
    lon, lat = HELSINKI_POINT
    body = {"network_id": net_dir[1], "facilities": [{
        "source": "geojson", "category": "kindergarten",
        "geojson": feature_collection([[lat, lon], [lat + 0.001, lon]])}]}
    detail = _error(c.post("/v1/scenarios", json=body), 400, "CRSError")
    assert "swap" in detail and "2 of 2" in detail


def test_unknown_category(c, net_dir):
    nid = net_dir[1]
    for body in (
        {"network_id": nid, "analysis": {"categories": ["kindergarden"]}},
        {"network_id": nid, "facilities": [{"source": "geojson", "category": "kindergarden",
                                            "geojson": feature_collection([HELSINKI_POINT])}]},
        {"network_id": nid, "facilities": [{
            "source": "geojson", "category_column": "kind",
            "geojson": feature_collection([HELSINKI_POINT], kind="kindergarden")}]},
    ):
        detail = _error(c.post("/v1/scenarios", json=body), 400, "UnknownCategoryError")
        assert "'kindergarden'" in detail and "kindergarten" in detail
    sid = c.post("/v1/scenarios", json={"network_id": nid}).json()["id"]
    r = c.post(f"/v1/scenarios/{sid}/optimize", json={"categories": ["kindergarden"],
                                                     "new_sites": 3})
    _error(r, 400, "UnknownCategoryError")
    r = c.post(f"/v1/scenarios/{sid}/optimize", json={"model": "capacitated", "new_sites": 3,
                                                     "categories": ["kindergarten"],
                                                     "new_site_capacity": -5})
    assert "new_site_capacity" in _error(r, 422, "ValidationError")


def test_optimize_requests_that_cannot_mean_anything_are_refused(c, net_dir):
    sid = c.post("/v1/scenarios", json={"network_id": net_dir[1]}).json()["id"]
    url = f"/v1/scenarios/{sid}/optimize"
    for body, words in [
        ({"categories": ["kindergarten"], "new_sites": 3, "new_site_capacity": 40},
         'new_site_capacity applies to model = "capacitated" only'),
        ({"categories": ["kindergarten"], "new_sites": 3, "capacities": {"kindergarten": 40}},
         "'capacities' is no longer read; use new_site_capacity"),
        ({"categories": ["kindergarten"], "new_sites": 3, "candidate_spacing_m": 5},
         "candidate_spacing_m"),
        ({"categories": ["kindergarten"], "new_sites": 3, "budget": 100},
         "unknown field 'budget'"),
        ({"model": "joint", "categories": ["kindergarten", "kindergarten"], "new_sites": 3},
         "name a category twice"),
        ({"model": "lscp", "categories": ["kindergarten"], "new_sites": 3},
         'for a fixed number of sites use model = "mclp"'),
        ({"categories": ["kindergarten"]}, "the mclp model needs new_sites"),
    ]:
        detail = _error(c.post(url, json=body), 422, "ValidationError")
        assert words in detail and "pydantic" not in detail and "input_value" not in detail


def test_unknown_and_malformed_ids(c):
    other = "0" * 32
    assert "GET /v1/networks" in _error(c.get(f"/v1/networks/{other}"), 404, "NotFound")
    _error(c.get(f"/v1/jobs/{other}/result"), 404)
    _error(c.post("/v1/scenarios", json={"network_id": other}), 404)
    _error(c.get("/v1/jobs/not-an-id"), 422)
    assert "/docs" in _error(c.get("/v1/jobs/..%2F..%2Fetc"), 404)
    _error(c.get(f"/v1/jobs/{other}/layers/..%2Fsecret.geojson"), 404)
    _error(c.get(f"/v1/jobs/{other}/layers/a b.geojson"), 422)
    body = {"network_id": "0" * 32, "facilities": [{"source": "upload", "upload_id": "1" * 32}]}
    _error(c.post("/v1/scenarios", json=body), 404)


def test_scenario_refers_to_uploads_by_id_only(c, net_dir):
    body = {"network_id": net_dir[1], "facilities": [{"source": "upload", "upload_id": "1" * 32}]}
    assert "/v1/uploads" in _error(c.post("/v1/scenarios", json=body), 400, "InputError")
    body["facilities"][0]["upload_id"] = "/etc/passwd"
    _error(c.post("/v1/scenarios", json=body), 422)
    body = {"network_id": net_dir[1], "facilities": [{"source": "/etc/passwd"}]}
    _error(c.post("/v1/scenarios", json=body), 422)


def test_network_requests(c):
    detail = _error(c.post("/v1/networks", data={"name": "x"}), 400, "InputError")
    assert "file" in detail and "place" in detail
    r = c.post("/v1/networks", files={"file": ("a.osm.pbf", b"\x00" * 10)},
               data={"crs": "EPSG:4326"})
    assert "projected" in _error(r, 400, "CRSError")
    r = c.post("/v1/networks", files={"file": ("a.osm.pbf", b"\x00" * 10)},
               data={"crs": "not a crs"})
    _error(r, 400, "InputError")
    r = c.post("/v1/networks", files={"file": ("roads.shp", b"\x00" * 10)})
    _error(r, 400, "InputError")


def test_corrupt_network_file_fails_with_the_reason(c):
    r = c.post("/v1/networks", files={"file": ("broken.osm.pbf", b"\x00garbage" * 10)})
    assert r.status_code == 202
    job = wait_job(c, r.json()["job_id"])
    assert job["status"] == "failed" and "PBF" in job["error"]
    net = c.get(f"/v1/networks/{r.json()['id']}").json()
    assert net["status"] == "failed" and net["error"] == job["error"]
    detail = _error(c.get(f"/v1/jobs/{job['id']}/result"), 409, "Conflict")
    assert "failed" in detail
    _error(c.delete(f"/v1/jobs/{job['id']}"), 409)
    r = c.post("/v1/scenarios", json={"network_id": r.json()["id"]})
    assert "not ready" in _error(r, 400, "NotReadyError")


def test_population_and_facility_uploads_are_checked(c, net_dir):
    nid = net_dir[1]
    from test_api_content import _geotiff

    tif = c.post("/v1/uploads", files={"file": ("worldpop.tif", _geotiff())}).json()
    csv = c.post("/v1/uploads", files={"file": ("pois.csv", b"lon,lat\n24.94,60.17\n")}).json()
    r = c.post("/v1/scenarios", json={"network_id": nid, "population": {
        "source": "upload", "upload_id": tif["id"], "cell_m": 100}})
    assert r.status_code == 201, r.text
    assert r.json()["population"] == "population_worldpop.tif"
    r = c.post("/v1/scenarios", json={"network_id": nid, "population": {
        "source": "upload", "upload_id": csv["id"]}})
    assert "pois.csv" in _error(r, 400, "InputError")
    r = c.post("/v1/scenarios", json={"network_id": nid, "facilities": [
        {"source": "upload", "upload_id": tif["id"]}]})
    assert ".csv" in _error(r, 400, "InputError")
    r = c.post("/v1/scenarios", json={"network_id": nid, "speeds": {"age_60_plus": 4.3}})
    assert "m/s" in _error(r, 400, "InputError")
    r = c.post("/v1/scenarios", json={"network_id": nid, "population": {
        "age_shares": "../../etc/passwd"}})
    _error(r, 422)


def test_population_building_use_and_calibration(c, net_dir):
    nid = net_dir[1]
    from test_api_content import _polygons

    districts = c.post("/v1/uploads", files={"file": ("jiedao.geojson",
                                                      _polygons(population=900))}).json()
    r = c.post("/v1/scenarios", json={"network_id": nid, "population": {
        "building_use": "all", "m2_per_person": 34, "districts": districts["id"],
        "districts_column": "population"}})
    assert r.status_code == 201, r.text
    r = c.post("/v1/scenarios", json={"network_id": nid, "population": {
        "building_use": "tagged"}})
    assert "building_use" in str(_error(r, 422))
    r = c.post("/v1/scenarios", json={"network_id": nid, "population": {
        "total": 5, "districts": districts["id"]}})
    assert "not both" in str(_error(r, 422))


def test_cors(tmp_path):
    origin = "https://gis.example.cn"
    with client(tmp_path, cors_origins=[origin]) as c:
        r = c.options("/v1/jobs", headers={"Origin": origin,
                                           "Access-Control-Request-Method": "GET"})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == origin
        r = c.get("/v1/health", headers={"Origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in r.headers


def test_category_overrides_and_districts_are_the_scenario_files(c, net_dir):
    """The body takes [categories] and [districts] as a scenario file does; both reach the
    stored scenario, and optimisations see the overrides."""
    from test_api_content import _polygons

    from planner.api.scenario_doc import load_stored_scenario
    from planner.api.store import Store

    nid = net_dir[1]
    r = c.post("/v1/scenarios", json={"network_id": nid, "categories": {
        "elderly_home": {"distanc_m": 800}}})
    assert "did you mean 'distance_m'" in _error(r, 400, "InputError")
    zones = c.post("/v1/uploads", files={"file": ("jiedao.geojson",
                                                  _polygons(名称="Kluuvi"))}).json()["id"]
    for districts, words in [(zones, "population.districts is the one"),
                             ({"file": "jiedao.geojson"}, "POST the district polygons")]:
        r = c.post("/v1/scenarios", json={"network_id": nid, "districts": districts})
        assert words in _error(r, 422, "ValidationError")
    r = c.post("/v1/scenarios", json={"network_id": nid, "districts": {
        "upload_id": zones, "name_column": "街道"}})
    assert "no column '街道'" in _error(r, 400, "InputError")
    canteen = {"name_zh": "社区食堂", "name_en": "Community canteen", "group": "age_60_plus",
               "level_min": 10, "distance_m": 500}
    r = c.post("/v1/scenarios", json={
        "network_id": nid, "districts": {"upload_id": zones, "name_column": "名称"},
        "categories": {"elderly_home": {"distance_m": 800}, "canteen": canteen}})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    scenario = load_stored_scenario(Store(net_dir[0]), sid, {"optimize": []})
    assert scenario.categories["elderly_home"] == {"distance_m": 800}
    assert scenario.districts.name_column == "名称"
    assert scenario.path(scenario.districts.file).name == "jiedao.geojson"
    body = {"categories": ["canteen"], "new_sites": 2}
    r = c.post(f"/v1/scenarios/{sid}/optimize", json=body)
    assert r.status_code == 202, r.text
    c.delete(f"/v1/jobs/{r.json()['id']}")
    plain = c.post("/v1/scenarios", json={"network_id": nid}).json()["id"]
    _error(c.post(f"/v1/scenarios/{plain}/optimize", json=body), 400, "UnknownCategoryError")
