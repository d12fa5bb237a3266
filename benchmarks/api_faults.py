"""Benchmark: the HTTP API under connection and process faults.

Starts ``planner serve`` on 127.0.0.1 (a free port) with a fresh data directory, opens
``--connections`` half-open connections (a request line and one header, never finished) and
measures the /v1/health latency meanwhile and when the server has closed them all (the header
timeout, ``PLANNER_HEADER_TIMEOUT_S``, default 10 s). Then it uploads the bundled Helsinki
extract, and while its network build job runs kills the server with SIGKILL and measures how
long the job's worker outlives it.

    python benchmarks/api_faults.py [--connections 900]

Prints a table and writes benchmarks/results/api_faults.json. Needs ``ulimit -n`` above twice
the connections.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "api_faults.json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(data_dir: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from planner.cli import main; main()", "serve", "--port",
         str(port), "--data-dir", str(data_dir)],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError("the server did not start")


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def half_open(base: str, port: int, n: int) -> dict[str, float]:
    socks, t0 = [], time.monotonic()
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=120)
        s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    latency = []
    for _ in range(5):
        t = time.monotonic()
        httpx.get(f"{base}/v1/health", timeout=60)
        latency.append(time.monotonic() - t)
    closed = []
    for s in socks:
        s.recv(10)
        closed.append(time.monotonic() - t0)
        s.close()
    return {"connections": n, "health_max_ms": round(max(latency) * 1000, 1),
            "all_closed_after_s": round(max(closed), 2)}


def orphan(base: str, proc: subprocess.Popen, data_dir: Path) -> dict[str, float]:
    from planner.sample import helsinki_pbf

    with open(helsinki_pbf(), "rb") as fh:
        job_id = httpx.post(f"{base}/v1/networks", files={"file": ("h.osm.pbf", fh)},
                            timeout=60).json()["job_id"]
    db = f"file:{data_dir / 'planner.sqlite3'}?mode=ro"
    for _ in range(600):
        with sqlite3.connect(db, uri=True) as con:
            status, pid = con.execute("SELECT status, pid FROM jobs WHERE id=?",
                                      (job_id,)).fetchone()
        if status == "running" and pid:
            break
        time.sleep(0.01)
    t0 = time.monotonic()
    os.kill(proc.pid, signal.SIGKILL)
    while _alive(pid) and time.monotonic() - t0 < 30:
        time.sleep(0.005)
    return {"worker_outlived_server_s": round(time.monotonic() - t0, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=900)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir, port = Path(tmp) / "data", _free_port()
        proc = _serve(data_dir, port)
        base = f"http://127.0.0.1:{port}"
        try:
            result = {**half_open(base, port, args.connections), **orphan(base, proc, data_dir)}
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    for key, value in result.items():
        print(f"{key:28} {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
