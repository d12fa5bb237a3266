"""Shared pieces of the API tests: clients on a data directory, polling, the sample network."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from planner.api import Settings, create_app
from planner.sample import helsinki_pbf

FINAL = ("done", "failed", "cancelled", "interrupted")
#: A kindergarten 20 m off Mannerheimintie in central Helsinki (lon, lat).
HELSINKI_POINT = [24.9410, 60.1700]


def client(data_dir: Path, **settings) -> TestClient:
    """A TestClient of a fresh app on ``data_dir`` (use it as a context manager)."""
    return TestClient(create_app(Settings(data_dir=data_dir, **settings)))


def wait_job(c, job_id: str, timeout_s: float = 60.0, headers: dict | None = None) -> dict:
    """Poll a job until it reaches a final state (bounded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = c.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] in FINAL:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish within {timeout_s} s: {job}")


def upload_network(c, headers: dict | None = None) -> dict:
    """Upload the bundled Helsinki extract and wait for the network to be ready."""
    with open(helsinki_pbf(), "rb") as fh:
        r = c.post("/v1/networks", files={"file": ("Helsinki.osm.pbf", fh)},
                   data={"name": "helsinki"}, headers=headers)
    assert r.status_code == 202, r.text
    job = wait_job(c, r.json()["job_id"], headers=headers)
    assert job["status"] == "done", job
    net = c.get(f"/v1/networks/{r.json()['id']}", headers=headers).json()
    assert net["status"] == "ready"
    return net


def feature_collection(points: list[list[float]], **props) -> dict:
    """A GeoJSON FeatureCollection of points."""
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": f"site {i}", **props},
         "geometry": {"type": "Point", "coordinates": p}} for i, p in enumerate(points)]}


_BUILT: dict[str, object] = {}


def built_data_dir(dest: Path) -> str:
    """Copy a data directory holding a ready Helsinki network to ``dest``; returns the network
    id. The network is built once per test session."""
    import shutil
    import tempfile

    if "dir" not in _BUILT:
        base = Path(tempfile.mkdtemp(prefix="planner-api-net-"))
        with client(base) as c:
            _BUILT["id"] = upload_network(c)["id"]
        _BUILT["dir"] = base
    shutil.copytree(_BUILT["dir"], dest, dirs_exist_ok=True)
    return str(_BUILT["id"])


def streamed_upload(n_chunks: int, chunk: int = 65536):
    """A valid multipart body holding one file of ``n_chunks × chunk`` bytes, as a generator
    (sent without a Content-Length), and its content type."""

    def body():
        yield (b'--zz\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
               b"Content-Type: text/csv\r\n\r\n")
        for _ in range(n_chunks):
            yield b"1" * chunk
        yield b"\r\n--zz--\r\n"

    return body(), {"content-type": "multipart/form-data; boundary=zz"}
