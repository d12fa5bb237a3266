"""Against a real ``planner serve`` (uvicorn) process on 127.0.0.1: uploads, a scenario, a
coverage job and its GeoJSON and map over HTTP with an API key; then the server killed mid-job
and restarted on the same data directory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from api_support import FINAL, HELSINKI_POINT, built_data_dir, streamed_upload

KEY = "city-it-team-key"
H = {"X-API-Key": KEY}

pytestmark = pytest.mark.slow  # real server processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(data_dir: Path, timeout_s: float = 60.0):
    """A ``planner serve`` process in its own process group, always killed with its workers."""
    port = _free_port()
    env = {**os.environ, "PLANNER_API_KEY": KEY, "PLANNER_MAX_UPLOAD_MB": "1"}
    log = open(data_dir.parent / f"server-{port}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-c", "from planner.cli import main; main()", "serve",
         "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            assert proc.poll() is None, f"server exited: {(data_dir.parent / log.name).read_text()}"
            try:
                if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start in time"
            time.sleep(0.2)
        with httpx.Client(base_url=base, headers=H, timeout=30) as client:
            yield proc, base, client
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the server, its fork server and its workers
        proc.wait(timeout=10)
        log.close()


def _wait(client: httpx.Client, job_id: str, until=FINAL, timeout_s: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in until:
            return job
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} not {until} within {timeout_s} s: {job}")


def test_session_kill_and_restart(tmp_path):
    data_dir = tmp_path / "data"
    network_id = built_data_dir(data_dir)
    with server(data_dir) as (proc, base, c):
        assert httpx.get(f"{base}/v1/categories").status_code == 401  # no key
        assert c.get(f"/v1/networks/{network_id}").json()["status"] == "ready"
        body, headers = streamed_upload(40)  # 2.5 MB > 1 MB, without a Content-Length
        r = c.post("/v1/uploads", content=body, headers=headers)
        assert r.status_code == 413 and "PLANNER_MAX_UPLOAD_MB" in r.json()["detail"]
        lon, lat = HELSINKI_POINT
        csv = f"名称,经度,纬度\n新幼儿园,{lon},{lat}\n".encode()
        r = c.post("/v1/uploads", files={"file": ("幼儿园.csv", csv)})
        assert r.status_code == 201, r.text
        upload = r.json()
        r = c.post("/v1/scenarios", json={
            "network_id": network_id,
            "facilities": [{
                "source": "upload", "upload_id": upload["id"], "coords": "wgs84",
                "lon": "经度", "lat": "纬度", "name_column": "名称", "category": "kindergarten"}],
            "analysis": {"categories": ["kindergarten", "elderly_day_care"], "levels_min": [5]}})
        assert r.status_code == 201, r.text
        scenario = r.json()
        job = c.post(f"/v1/scenarios/{scenario['id']}/coverage").json()
        done = _wait(c, job["id"])
        assert done["status"] == "done", done
        result = c.get(done["result_url"]).json()
        layer = next(x for x in result["layers"] if x["name"] == "facilities")
        fc = c.get(layer["url"])
        assert fc.headers["content-type"].startswith("application/geo+json")
        names = [f["properties"]["name"] for f in fc.json()["features"]]
        assert names == ["新幼儿园"] and layer["features"] == 1
        assert "<html" in c.get(result["map_url"]).text.lower()
        # a second job, killed with the server while it runs
        slow = c.post(f"/v1/scenarios/{scenario['id']}/optimize",
                      json={"categories": ["kindergarten"], "new_sites": 5}).json()
        assert _wait(c, slow["id"], until=("running", *FINAL))["status"] == "running"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    with server(data_dir) as (_, _base, c):
        killed = c.get(f"/v1/jobs/{slow['id']}").json()
        assert killed["status"] == "interrupted" and "submit it again" in killed["error"]
        assert c.get(f"/v1/jobs/{slow['id']}/result").status_code == 409
        assert c.get(done["result_url"]).json() == result
        assert c.get(layer["url"]).json() == fc.json()
