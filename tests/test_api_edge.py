"""What happens before a request reaches a route: the API key before any body, decompression
limits, CORS and security headers on every answer, HEAD/OPTIONS, offline documentation pages,
no server paths in answers — and, against a real server, a responsive event loop while large
bodies arrive."""

from __future__ import annotations

import bz2
import gzip
import html
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from api_support import HELSINKI_POINT, built_data_dir, client, feature_collection
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.api.store import new_id
from planner.api.uploads import _Inflation

KEY = "山西-城市密钥"  # non-ASCII: sent as UTF-8 bytes
H = {"X-API-Key": KEY.encode()}
ORIGIN = "https://gis.example.cn"


def _sent_chunks(n: int, chunk: bytes):
    """A multipart body generator that records how many chunks were taken from it."""
    taken = []

    def body():
        yield (b'--zz\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n'
               b"Content-Type: text/csv\r\n\r\n")
        for i in range(n):
            taken.append(i)
            yield chunk
        yield b"\r\n--zz--\r\n"

    return body(), taken


def test_key_is_checked_before_the_body_is_read(tmp_path):
    with client(tmp_path, api_key=KEY) as c:
        body, taken = _sent_chunks(200, b"1" * 65536)
        r = c.post("/v1/uploads", content=body,
                   headers={"content-type": "multipart/form-data; boundary=zz"})
        assert r.status_code == 401 and r.json()["error"] == "Unauthorized"
        assert len(taken) <= 1  # the 13 MB body was never read
        assert r.headers["www-authenticate"] == "APIKey"
        r = c.post("/v1/scenarios", content=b"{" * 100_000,
                   headers={"X-API-Key": b"wrong", "content-type": "application/json"})
        assert r.status_code == 401
        assert not any((tmp_path / "uploads").glob("*"))


def test_bodies_read_into_memory_are_small(tmp_path):
    with client(tmp_path) as c:
        junk = {"model": "mclp", "categories": ["kindergarten"], "junk": "x" * 2_000_000}
        r = c.post(f"/v1/scenarios/{new_id()}/optimize", json=junk)
        assert r.status_code == 413 and "POST /v1/scenarios" in r.json()["detail"]
        body, _ = _sent_chunks(100, b"1" * 65536)  # streamed, no Content-Length
        r = c.post(f"/v1/scenarios/{new_id()}/optimize", content=body,
                   headers={"content-type": "application/json"})
        assert r.status_code == 413
        # a scenario document may be large: it is streamed to a file, then validated
        left = tmp_path / "incoming" / "left-by-a-killed-server.json"
        left.parent.mkdir()
        left.write_text("{}")
        os.utime(left, (time.time() - 7200,) * 2)
        r = c.post("/v1/scenarios", json={"network_id": new_id(), "junk": "x" * 2_000_000})
        assert r.status_code == 422 and "junk" in r.json()["detail"]
        assert not any((tmp_path / "incoming").iterdir())


def test_non_ascii_key_is_compared_as_utf8(tmp_path):
    with client(tmp_path, api_key=KEY) as c:
        assert c.get("/v1/categories", headers=H).status_code == 200
        assert c.get("/v1/jobs", headers=H).json() == []
        assert c.get("/v1/jobs", headers={"X-API-Key": "山西".encode()}).status_code == 401
        assert c.get("/v1/health").status_code == 200  # monitoring needs no key


def test_cors_headers_on_errors(tmp_path):
    with client(tmp_path, api_key=KEY, cors_origins=[ORIGIN], max_upload_mb=0.01) as c:
        c.app.add_api_route("/v1/boom", lambda: 1 / 0)
        cors = {"Origin": ORIGIN}
        big = c.post("/v1/uploads", files={"file": ("a.csv", b"1" * 20_000)},
                     headers={**H, **cors})
        assert big.status_code == 413 and big.json()["error"] == "PayloadTooLarge"
        no_key = c.get("/v1/jobs", headers=cors)
        missing = c.get(f"/v1/jobs/{new_id()}", headers={**H, **cors})
        boom = c.get("/v1/boom", headers={**H, **cors})
        assert (no_key.status_code, missing.status_code, boom.status_code) == (401, 404, 500)
        assert boom.json()["error"] == "InternalError"
        for r in (big, no_key, missing, boom):
            assert r.headers["access-control-allow-origin"] == ORIGIN
            assert r.headers["x-content-type-options"] == "nosniff"
        preflight = c.options("/v1/uploads", headers={
            **cors, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == ORIGIN


def _finished_job(data_dir: Path) -> str:
    """A done job with a map, a table and a layer on disk."""
    from planner.api.store import Store

    store = Store(data_dir)
    job_id = new_id()
    folder = store.path("jobs", job_id)
    (folder / "tables").mkdir(parents=True)
    (folder / "layers").mkdir()
    (folder / "map.html").write_text("<html><script>var m = 1;</script></html>")
    (folder / "tables" / "coverage.csv").write_text("category,pct\nkindergarten,50\n")
    (folder / "layers" / "gap_cells.geojson").write_text(
        json.dumps(feature_collection([HELSINKI_POINT])))
    store.insert("jobs", {
        "id": job_id, "kind": "coverage", "target_id": new_id(), "status": "done",
        "created": time.time(), "finished": time.time(), "progress": 1.0, "params": {},
        "summary": {}, "outputs": {"map": True, "tables": ["coverage"],
                                   "layers": [{"name": "gap_cells", "features": 1}]}})
    return job_id


def test_head_options_and_allow(tmp_path):
    with client(tmp_path) as c:
        job_id = _finished_job(tmp_path)
        for url in (f"/v1/jobs/{job_id}/map.html", f"/v1/jobs/{job_id}/tables/coverage.csv",
                    f"/v1/jobs/{job_id}/layers/gap_cells.geojson", "/v1/health",
                    "/docs/assets/swagger-ui.css"):
            get, head = c.get(url), c.head(url)
            assert head.status_code == 200 == get.status_code, url
            assert head.content == b"" and get.content
            assert head.headers["content-length"] == get.headers["content-length"], url
            assert head.headers["content-type"] == get.headers["content-type"], url
        job = c.options(f"/v1/jobs/{job_id}")
        assert job.status_code == 204
        assert job.headers["allow"] == "DELETE, GET, HEAD, OPTIONS"
        put = c.put(f"/v1/jobs/{job_id}")
        assert put.status_code == 405 and put.headers["allow"] == "DELETE, GET, HEAD, OPTIONS"
        assert c.options("/v1/uploads").headers["allow"] == "GET, HEAD, OPTIONS, POST"
        assert c.options("/nowhere").status_code == 404


def test_security_headers(tmp_path):
    with client(tmp_path, cors_origins=[ORIGIN]) as c:
        job_id = _finished_job(tmp_path)
        page = c.get(f"/v1/jobs/{job_id}/map.html")
        csp = page.headers["content-security-policy"]
        # the self-contained map keeps its inline Leaflet and tiles; nothing else is loaded
        assert "default-src 'none'" in csp and "script-src 'unsafe-inline'" in csp
        assert "img-src data: blob: https: http:" in csp and "connect-src 'none'" in csp
        assert f"frame-ancestors 'self' {ORIGIN}" in csp
        for r in (page, c.get("/v1/health"), c.get(f"/v1/jobs/{job_id}/tables/coverage.csv")):
            assert r.headers["x-content-type-options"] == "nosniff"
        docs_csp = c.get("/docs").headers["content-security-policy"]
        assert "script-src 'self' 'unsafe-inline';" in docs_csp
        assert "https:" not in docs_csp.split("frame-ancestors")[0]  # nothing from elsewhere


def test_docs_work_offline(tmp_path):
    with client(tmp_path) as c:
        for page in ("/docs", "/redoc"):
            html = c.get(page).text
            assert "http://" not in html and "https://" not in html, page  # no CDN, no fonts
            for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
                if asset.split(".")[0].split("-")[0] in page:
                    assert f"/docs/assets/{asset}" in html
        for asset, kind in (("swagger-ui-bundle.js", "text/javascript"),
                            ("swagger-ui.css", "text/css"),
                            ("redoc.standalone.js", "text/javascript"),
                            ("favicon.png", "image/png")):
            r = c.get(f"/docs/assets/{asset}")
            assert r.status_code == 200 and r.headers["content-type"].startswith(kind)
            assert len(r.content) > 1000
        assert c.get("/docs/assets/..%2Fcore.py").status_code == 404
        schema = c.get("/openapi.json").json()
        body = schema["paths"]["/v1/scenarios"]["post"]["requestBody"]
        ref = body["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/ScenarioIn"
        assert "FeatureCollection" in schema["components"]["schemas"]


def _zip_bomb(n: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.geojson", b"\0" * n)
    return buf.getvalue()


BOMBS = {  # ≈ 30 MB inside each, a few kB outside
    "bz2": ("city.osm.bz2", bz2.compress(b"<osm>" + b"\0" * 30_000_000)),
    "gzip": ("points.geojson", gzip.compress(b"\0" * 30_000_000)),
    "zip": ("points.geojson", _zip_bomb(30_000_000)),
}


@pytest.mark.parametrize("kind", BOMBS)
def test_decompression_bombs_are_refused_and_leave_nothing(tmp_path, kind):
    name, bomb = BOMBS[kind]
    assert len(bomb) < 100_000
    with client(tmp_path, max_decompressed_mb=5) as c:
        r = c.post("/v1/uploads", files={"file": (name, bomb)})
        assert r.status_code == 413, r.text
        detail = r.json()["detail"]
        assert "5 MB" in detail and "PLANNER_MAX_DECOMPRESSED_MB" in detail
        if kind == "bz2":
            r = c.post("/v1/networks", files={"file": (name, bomb)})
            assert r.status_code == 413, r.text
            assert c.get("/v1/jobs").json() == [] and c.get("/v1/networks").json() == []
        for folder in ("uploads", "networks"):
            assert not any((tmp_path / folder).glob("*")), folder
        # within the limit, the same kinds are accepted
        small = {"bz2": bz2.compress(b"<osm/>" * 1000), "gzip": gzip.compress(b"{}" * 1000),
                 "zip": _zip_bomb(1000)}[kind]
        assert c.post("/v1/uploads", files={"file": (name, small)}).status_code == 201
        broken = c.post("/v1/uploads", files={"file": (name, small[:4] + b"junk" * 50)})
        assert broken.status_code == 400 and "not a valid one" in broken.json()["detail"]


@settings(max_examples=30, deadline=None)
@given(parts=st.lists(st.binary(max_size=3000), min_size=1, max_size=4),
       repeat=st.integers(1, 400), kind=st.sampled_from(["bz2", "gzip"]), cut=st.integers(1, 97))
def test_inflation_counts_exact_sizes_of_multi_stream_files(parts, repeat, kind, cut):
    pack = bz2.compress if kind == "bz2" else gzip.compress
    streams = [p * repeat for p in parts]
    data = b"".join(pack(s) for s in streams)
    counter = _Inflation(kind)
    for i in range(0, len(data), cut):  # arriving in pieces of any size
        counter.feed(data[i:i + cut], 1 << 40)
    assert counter.size == sum(map(len, streams))


def test_no_server_paths_in_answers(tmp_path):
    from planner.api.store import Store

    with client(tmp_path) as c:
        store = Store(tmp_path)
        job_id = new_id()
        inside = tmp_path.resolve() / "scenarios" / new_id() / "facilities_0.csv"
        store.insert("jobs", {
            "id": job_id, "kind": "coverage", "target_id": new_id(), "status": "failed",
            "created": time.time(), "params": {},
            "error": f"Cannot read {inside}: no column lon; also {sys.prefix}/lib/x.py."})
        text = c.get(f"/v1/jobs/{job_id}").text
        assert "Cannot read facilities_0.csv: no column lon; also x.py." in text
        assert str(tmp_path) not in text and sys.prefix not in text
        assert str(tmp_path) not in c.get(f"/v1/jobs/{job_id}/result").text


# --- against a real server ----------------------------------------------------------------------


@contextmanager
def _server(data_dir: Path, key: str | None = "edge-key"):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "PLANNER_API_KEY"}
    env.update({"PLANNER_MAX_UPLOAD_MB": "300", **({"PLANNER_API_KEY": key} if key else {})})
    log = open(data_dir.parent / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-c", "from planner.cli import main; main()", "serve",
         "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (data_dir.parent / "server.log").read_text()
            try:
                if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        yield port, base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        log.close()


class _Latency:
    """Polls /v1/health while a request runs; ``worst`` is the slowest answer in seconds."""

    def __init__(self, base: str) -> None:
        self.base, self.worst, self.count = base, 0.0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll)

    def _poll(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as c:
            while not self._stop.is_set():
                t = time.perf_counter()
                assert c.get("/v1/health").status_code == 200
                self.worst = max(self.worst, time.perf_counter() - t)
                self.count += 1
                time.sleep(0.02)

    def __enter__(self) -> _Latency:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@pytest.mark.slow
def test_real_server_stays_responsive(tmp_path):
    data_dir = tmp_path / "data"
    network_id = built_data_dir(data_dir)
    with _server(data_dir) as (port, base), httpx.Client(
            base_url=base, headers={"X-API-Key": "edge-key"}, timeout=120) as c:
        # 1. a 190 MB body without a key: refused at once, before the body is sent
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"POST /v1/uploads HTTP/1.1\r\nHost: x\r\nContent-Length: 199229440\r\n"
                      b"Content-Type: multipart/form-data; boundary=zz\r\n\r\n--zz\r\n")
            answer = s.recv(4096)
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]

        # 2. a ≈ 16 MB scenario body (more inline points than a request may carry): parsed
        #    and validated in the helper process while /v1/health keeps answering
        points = [[24.9410 + i * 1e-9, 60.1700] for i in range(130_000)]
        fc = feature_collection(points, category="kindergarten")
        fc["features"][-1]["geometry"]["coordinates"] = [500.0, 60.17]
        body = json.dumps({"network_id": network_id, "facilities": [
            {"source": "geojson", "category": "kindergarten", "coords": "wgs84",
             "geojson": fc}]}).encode()
        assert len(body) > 15_000_000
        with _Latency(base) as probe:
            t = time.perf_counter()
            r = c.post("/v1/scenarios", content=body,
                       headers={"content-type": "application/json"})
            took = time.perf_counter() - t
        assert r.status_code == 422, r.text[:500]
        assert "130000 facility points" in r.json()["detail"]
        print(f"16 MB scenario body: answered in {took:.2f} s; /v1/health worst "
              f"{probe.worst * 1000:.0f} ms over {probe.count} polls")
        # ≈ 100 ms is the aim; the margin is for a loaded shared machine (7 s before)
        assert probe.count >= 5 and probe.worst < 0.5

        # 3. a valid ≈ 0.5 MB scenario goes through the helper process too
        ok = feature_collection(points[:4000], category="kindergarten")
        r = c.post("/v1/scenarios", json={
            "network_id": network_id, "facilities": [
                {"source": "geojson", "category": "kindergarten", "coords": "wgs84",
                 "geojson": ok}], "population": {"source": "buildings", "cell_m": 200}})
        assert r.status_code == 201, r.text
        assert c.get(f"/v1/scenarios/{r.json()['id']}").json()["name"] == r.json()["name"]
        assert not any((data_dir / "incoming").iterdir())


CHROMIUM = Path("/usr/bin/chromium")


def _chromium_dom(url: str, profile: Path) -> str:
    run = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--proxy-server=127.0.0.1:9",  # nothing but this server (loopback) is reachable
         f"--user-data-dir={profile}", "--virtual-time-budget=6000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120)
    return run.stdout


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium "
                                                  "(apt-get install -y chromium)")
def test_map_and_docs_work_in_a_browser_under_their_security_policy(tmp_path):
    from test_gapmap import build_case
    from test_gapmap_browser import PROBE

    from planner.maps import gap_map, save_gap_map

    case = build_case()
    args = {k: v for k, v in case.items() if k not in ("cells", "distances", "categories")}
    m = gap_map(case["cells"], case["distances"], case["categories"], lang="zh",
                basemap="none", **args)
    data_dir = tmp_path / "data"
    with _server(data_dir, key=None) as (_, base):
        job_id = _finished_job(data_dir)
        page = save_gap_map(m, data_dir / "jobs" / job_id / "map.html")
        page.write_text(page.read_text(encoding="utf-8").replace("<head>", "<head>" + PROBE, 1),
                        encoding="utf-8")
        dom = _chromium_dom(f"{base}/v1/jobs/{job_id}/map.html", tmp_path / "p1")
        found = re.search(r'<pre id="plc-probe">(.*?)</pre>', dom, re.S)
        assert found, dom[-2000:]
        state = json.loads(html.unescape(found.group(1)))
        assert state["errors"] == [] and state["map"] and state["leaflet"]
        assert state["paths"] >= 8 and state["pins"] >= 4
        assert [u for u in state["external"] if not u.startswith(base)] == []
        docs = _chromium_dom(f"{base}/docs", tmp_path / "p2")
        assert 'data-path="/v1/scenarios"' in docs  # Swagger UI drew the operations
