"""Benchmark: the HTTP API under 50 concurrent clients reading precomputed coverage results.

Starts ``planner serve`` on 127.0.0.1 (a free port) with a fresh data directory, precomputes
one coverage job on the bundled central-Helsinki extract through the API itself, then runs two
mixes, each with ``--clients`` concurrent keep-alive clients looping for ``--seconds``:

- light: the reads a city portal makes most — the result summary (JSON), the gap-cell layer
  (GeoJSON, WGS-84) and the coverage table (CSV);
- heavy: the downloads — the coverage table as XLSX, the workbook of every table, the map
  (HTML) and every GeoJSON layer (cells, isochrones, facilities …).

Then it measures the event-loop stall: while one client posts a ``--body-mb`` MB scenario (a
GeoJSON FeatureCollection of facilities), another asks ``/v1/health`` every 20 ms; the longest
wait beyond the quiet baseline is the stall every other client would see.

Clients ask for gzip as browsers and HTTP libraries do (``--no-gzip``: they do not). Clients
and server share the machine, so the numbers are a floor for a dedicated server; the server's
CPU time per request is reported too, as the machine-independent figure.

    python benchmarks/api_load.py [--clients 50] [--seconds 15] [--body-mb 50] [--no-gzip]

Prints tables and writes benchmarks/results/api_load.json. Targets: p99 ≤ 1 s for both mixes,
stall ≤ 0.1 s.
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
import threading
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

    def __init__(self, host: str, port: int, gzip: bool = True) -> None:
        self.host, self.port = host, port
        # browsers, curl --compressed, httpx and requests all ask for gzip
        self.accept = "Accept-Encoding: gzip\r\n" if gzip else ""
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, int]:
        """Status and body size of GET ``path``."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.accept}\r\n"
                          .encode())
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
                  samples: list[tuple[str, float, int, int]], gzip: bool) -> None:
    conn = _Connection(host, port, gzip)
    i = offset
    while time.perf_counter() < stop_at:
        url = urls[i % len(urls)]
        t0 = time.perf_counter()
        try:
            status, size = await conn.get(url)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            status, size, conn = 0, 0, _Connection(host, port, gzip)
        samples.append((url, time.perf_counter() - t0, status, size))
        i += 1
    if conn.writer is not None:
        conn.writer.close()


async def load(port: int, urls: list[str], clients: int, seconds: float,
               gzip: bool) -> tuple[list, float]:
    samples: list[tuple[str, float, int, int]] = []
    t0 = time.perf_counter()
    stop_at = t0 + seconds
    await asyncio.gather(*(_client("127.0.0.1", port, urls, stop_at, k, samples, gzip)
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


def _endpoint(url: str) -> str:
    return "result" if url.endswith("/result") else url.split("/")[-1]


def run_mix(server_pid: int, port: int, urls: list[str], clients: int, seconds: float,
            gzip: bool) -> dict:
    """Warm up, then ``clients`` keep-alive clients loop over ``urls`` for ``seconds``."""
    cpu0, own0 = _cpu_s(server_pid), time.process_time()
    for url in urls:  # warm up
        httpx.get(f"http://127.0.0.1:{port}{url}", timeout=60).raise_for_status()
    samples, elapsed = asyncio.run(load(port, urls, clients, seconds, gzip))
    server_cpu, client_cpu = _cpu_s(server_pid) - cpu0, time.process_time() - own0
    lat = np.array([s[1] for s in samples])
    ok = np.array([s[2] == 200 for s in samples])
    nbytes = sum(s[3] for s in samples)
    overall = {**_stats(lat), "errors": int((~ok).sum()),
               "throughput_rps": round(len(samples) / elapsed, 1),
               "mb_per_s": round(nbytes / elapsed / 1e6, 1),
               "server_cpu_ms_per_request": round(1000 * server_cpu / len(samples), 2),
               "client_cpu_ms_per_request": round(1000 * client_cpu / len(samples), 2)}
    per_url = {}
    for url in urls:
        sel = np.array([s[0] == url for s in samples])
        sizes = [s[3] for s in samples if s[0] == url and s[2] == 200]
        per_url[_endpoint(url)] = {**_stats(lat[sel]), "kb": round(max(sizes, default=0) / 1e3)}
    return {"seconds": round(elapsed, 2), "overall": overall, "per_endpoint": per_url}


def _scenario_body(network_id: str, mb: float) -> bytes:
    """A scenario whose facilities are a GeoJSON FeatureCollection of about ``mb`` MB."""
    lon, lat = HELSINKI_POINT
    feature = ('{"type": "Feature", "properties": {"name": "site %d"}, "geometry": '
               '{"type": "Point", "coordinates": [%.6f, %.6f]}}')
    n = int(mb * 1e6 / len(feature % (0, lon, lat)))
    features = ",".join(feature % (i, lon + (i % 1000) * 1e-6, lat) for i in range(n))
    return (f'{{"network_id": "{network_id}", "facilities": [{{"source": "geojson", '
            f'"category": "kindergarten", "geojson": {{"type": "FeatureCollection", '
            f'"features": [{features}]}}}}]}}').encode()


def measure_stall(port: int, network_id: str, body_mb: float) -> dict:
    """Longest /v1/health wait while a large scenario body is posted, against a quiet baseline."""
    base = f"http://127.0.0.1:{port}"
    body = _scenario_body(network_id, body_mb)
    outcome: dict = {}

    def post() -> None:
        t0 = time.perf_counter()
        r = httpx.post(f"{base}/v1/scenarios", content=body, timeout=600,
                       headers={"content-type": "application/json"})
        outcome.update(status=r.status_code, seconds=round(time.perf_counter() - t0, 2))

    def probe(c: httpx.Client, until) -> list[float]:
        waits = []
        while until():
            t0 = time.perf_counter()
            c.get("/v1/health").raise_for_status()
            waits.append(time.perf_counter() - t0)
            time.sleep(0.02)
        return waits

    with httpx.Client(base_url=base, timeout=600) as c:
        quiet_until = time.perf_counter() + 2
        quiet = probe(c, lambda: time.perf_counter() < quiet_until)
        poster = threading.Thread(target=post)
        poster.start()
        busy = probe(c, poster.is_alive)
        poster.join()
    baseline = float(np.median(quiet))
    return {"body_mb": round(len(body) / 1e6, 1), "post_status": outcome.get("status"),
            "post_s": outcome.get("seconds"), "health_baseline_ms": round(1000 * baseline, 1),
            "health_max_ms_during_post": round(1000 * max(busy), 1),
            "stall_ms": round(1000 * (max(busy) - baseline), 1), "probes": len(busy)}


def _print_mix(name: str, clients: int, mix: dict) -> None:
    overall = mix["overall"]
    print(f"\n{name} mix: {clients} clients × {mix['seconds']:.1f} s on 127.0.0.1 "
          "(kB: the largest answer as sent)")
    print(f"{'endpoint':<28}{'requests':>10}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}{'kB':>8}")
    for url, s in [("all", {**overall, "kb": ""}), *mix["per_endpoint"].items()]:
        print(f"{url:<28}{s['requests']:>10}{s['p50_ms']:>10}{s['p99_ms']:>10}{s['max_ms']:>10}"
              f"{s['kb']:>8}")
    print(f"throughput {overall['throughput_rps']} requests/s ({overall['mb_per_s']} MB/s), "
          f"errors {overall['errors']}, target p99 ≤ 1000 ms: "
          f"{'met' if overall['p99_ms'] <= 1000 else 'NOT met'}; CPU per request: server "
          f"{overall['server_cpu_ms_per_request']} ms, load client "
          f"{overall['client_cpu_ms_per_request']} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--body-mb", type=float, default=50.0)
    ap.add_argument("--no-gzip", action="store_true",
                    help="clients do not ask for gzip (every file is sent as it is on disk)")
    args = ap.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="planner-api-load-"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(data_dir / "server.log", "w")  # noqa: SIM115
    env = {**os.environ, "PLANNER_API_KEY": "", "PLANNER_MAX_UPLOAD_MB": str(2 * args.body_mb)}
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
            network_id = c.get(f"/v1/scenarios/{result['target_id']}").json()["network_id"]
        layer = next(x for x in result["layers"] if x["name"] == "gap_cells")
        table = next(t for t in result["tables"] if t["name"] == "coverage")
        light = [f"/v1/jobs/{result['job_id']}/result", layer["url"], table["csv"]]
        heavy = [table["xlsx"], result["map_url"], *(x["url"] for x in result["layers"])]
        if result.get("workbook_url"):
            heavy.insert(1, result["workbook_url"])
        mixes = {name: run_mix(server.pid, port, urls, args.clients, args.seconds,
                               not args.no_gzip)
                 for name, urls in (("light", light), ("heavy", heavy))}
        stall = measure_stall(port, network_id, args.body_mb)
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
        log.close()

    report = {
        "clients": args.clients, "gzip": not args.no_gzip,
        "precompute_s": round(precompute_s, 1), **mixes,
        "stall": stall, "gap_cells_features": layer["features"],
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_avg_1min": round(os.getloadavg()[0], 2)},
    }
    print(f"precompute {precompute_s:.1f} s")
    for name, mix in mixes.items():
        _print_mix(name, args.clients, mix)
    print(f"\nevent-loop stall while a {stall['body_mb']} MB scenario is posted (answer "
          f"{stall['post_status']} after {stall['post_s']} s): /v1/health waited up to "
          f"{stall['health_max_ms_during_post']} ms (quiet: {stall['health_baseline_ms']} ms), "
          f"stall {stall['stall_ms']} ms, target ≤ 100 ms: "
          f"{'met' if stall['stall_ms'] <= 100 else 'NOT met'}")
    print(f"1-min load average {report['machine']['load_avg_1min']} on {os.cpu_count()} CPUs")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
