"""Benchmark: the HTTP API under 50 concurrent clients reading precomputed coverage results.

Starts ``planner serve`` on 127.0.0.1 (a free port) with a fresh data directory, precomputes
one coverage job on the bundled central-Helsinki extract through the API itself, then lets
``--clients`` concurrent clients loop for ``--seconds`` over the reads a city portal makes:
the result summary (JSON), the gap-cell layer (GeoJSON, WGS-84) and the coverage table (CSV).
Clients and server share the machine, so the numbers are a floor for a dedicated server; the
server's CPU time per request is reported too, as the machine-independent figure.

    python benchmarks/api_load.py [--clients 50] [--seconds 15]

Prints a table and writes benchmarks/results/api_load.json. Target: p99 ≤ 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "api_load.json"
HELSINKI_POINT = [24.9410, 60.1700]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_job(c: httpx.Client, job_id: str, timeout_s: float = 300.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = c.get(f"/v1/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            if job["status"] != "done":
                raise SystemExit(f"job {job_id} ended {job['status']}: {job['error']}")
            return job
        time.sleep(0.5)
    raise SystemExit(f"job {job_id} did not finish in {timeout_s} s")


def precompute(c: httpx.Client) -> dict:
    """Upload the sample network, create a scenario, run coverage; returns the result."""
    from planner.sample import helsinki_pbf

    with open(helsinki_pbf(), "rb") as fh:
        net = c.post("/v1/networks", files={"file": ("Helsinki.osm.pbf", fh)}).json()
    _wait_job(c, net["job_id"])
    scenario = c.post("/v1/scenarios", json={
        "name": "load test", "network_id": net["id"],
        "facilities": [{"source": "osm"}],
        "analysis": {"categories": ["kindergarten", "elderly_day_care", "convenience",
                                    "pharmacy", "clinic"]},
    }).json()
    job = c.post(f"/v1/scenarios/{scenario['id']}/coverage").json()
    job = _wait_job(c, job["id"])
    return c.get(job["result_url"]).json()


class _Connection:
    """A minimal keep-alive HTTP/1.1 client connection: light enough that 50 of them in one
    process leave the CPU to the server (httpx spends ≈ 6 ms of CPU per request here)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, int]:
        """Status and body size of GET ``path``."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        length = int(headers.get("content-length", headers.get("Content-Length", "0")))
        body = await self.reader.readexactly(length)
        if headers.get("connection", "").lower() == "close":
            self.writer.close()
            self.writer = None
        return status, len(body)


async def _client(host: str, port: int, urls: list[str], stop_at: float, offset: int,
                  samples: list[tuple[str, float, int]]) -> None:
    conn = _Connection(host, port)
    i = offset
    while time.perf_counter() < stop_at:
        url = urls[i % len(urls)]
        t0 = time.perf_counter()
        try:
            status, _ = await conn.get(url)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            status, conn = 0, _Connection(host, port)
        samples.append((url, time.perf_counter() - t0, status))
        i += 1
    if conn.writer is not None:
        conn.writer.close()


async def load(port: int, urls: list[str], clients: int, seconds: float) -> tuple[list, float]:
    samples: list[tuple[str, float, int]] = []
    t0 = time.perf_counter()
    stop_at = t0 + seconds
    await asyncio.gather(*(_client("127.0.0.1", port, urls, stop_at, k, samples)
                           for k in range(clients)))
    return samples, time.perf_counter() - t0


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stats(latencies: np.ndarray) -> dict:
    ms = latencies * 1000
    return {"requests": int(len(ms)), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1), "max_ms": round(float(ms.max()), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=15.0)
    args = ap.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="planner-api-load-"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(data_dir / "server.log", "w")  # noqa: SIM115
    env = {**os.environ, "PLANNER_API_KEY": ""}
    env.pop("PLANNER_API_KEY")
    server = subprocess.Popen(
        [sys.executable, "-c", "from planner.cli import main; main()", "serve", "--host",
         "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"server did not start; see {data_dir / 'server.log'}")
            time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=60) as c:
            t0 = time.perf_counter()
            result = precompute(c)
            precompute_s = time.perf_counter() - t0
        layer = next(x for x in result["layers"] if x["name"] == "gap_cells")
        table = next(t for t in result["tables"] if t["name"] == "coverage")
        urls = [f"/v1/jobs/{result['job_id']}/result", layer["url"], table["csv"]]
        cpu0, own0 = _cpu_s(server.pid), time.process_time()
        for url in urls:  # warm up
            httpx.get(base + url, timeout=30).raise_for_status()
        samples, elapsed = asyncio.run(load(port, urls, args.clients, args.seconds))
        server_cpu, client_cpu = _cpu_s(server.pid) - cpu0, time.process_time() - own0
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
        log.close()

    lat = np.array([s[1] for s in samples])
    ok = np.array([s[2] == 200 for s in samples])
    overall = {**_stats(lat), "errors": int((~ok).sum()),
               "throughput_rps": round(len(samples) / elapsed, 1),
               "server_cpu_ms_per_request": round(1000 * server_cpu / len(samples), 2),
               "client_cpu_ms_per_request": round(1000 * client_cpu / len(samples), 2)}
    per_url = {}
    for url in urls:
        sel = np.array([s[0] == url for s in samples])
        per_url[url.split("/")[-1] if "/result" not in url else "result"] = _stats(lat[sel])
    report = {
        "clients": args.clients, "seconds": round(elapsed, 2), "precompute_s": round(precompute_s, 1),
        "overall": overall, "per_endpoint": per_url,
        "gap_cells_features": layer["features"],
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_avg_1min": round(os.getloadavg()[0], 2)},
    }
    print(f"\n{args.clients} clients × {elapsed:.1f} s on 127.0.0.1 (precompute {precompute_s:.1f} s)")
    print(f"{'endpoint':<28}{'requests':>10}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for name, s in [("all", overall), *per_url.items()]:
        print(f"{name:<28}{s['requests']:>10}{s['p50_ms']:>10}{s['p99_ms']:>10}{s['max_ms']:>10}")
    print(f"throughput {overall['throughput_rps']} requests/s, errors {overall['errors']}, "
          f"target p99 ≤ 1000 ms: {'met' if overall['p99_ms'] <= 1000 else 'NOT met'}")
    print(f"CPU per request: server {overall['server_cpu_ms_per_request']} ms, load client "
          f"{overall['client_cpu_ms_per_request']} ms; 1-min load average "
          f"{report['machine']['load_avg_1min']} on {os.cpu_count()} CPUs")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
