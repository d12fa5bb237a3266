"""Benchmark: the multi-source nearest search kernel against scipy and the previous heap kernel.

Every method answers the same question on the same graph in the same run: for every node, the
walking distance (m) to the nearest of ``--facilities`` facility nodes (random, fixed seed)
within ``--radius`` m.

- scipy ``csgraph.dijkstra(adj, indices=facilities, min_only=True, limit=radius)``;
- heap: the engine's previous kernel (bounded Dijkstra, 4-ary heap), from tests/test_kernels.py;
- sweep: :func:`planner.kernels.multi_source_search` with labels (which facility), as
  ``planner.catchment.nearest`` runs it, and without (``nearest_distance``, isochrones);
- sweep on 2 threads: each thread searches from half the facilities (split in node order),
  then the elementwise minimum, with the winner's label (exact; not used by the engine, whose
  categories already run in parallel).

CPU time is the process's (all threads). The machine may be shared: each method runs
``--repeat`` times, interleaved round by round so that all see the same load, and the fastest
run is kept (wall and CPU time separately).
Distances must equal the heap's to the last bit and scipy's to 1e-9 relative; labels must equal
the heap's (lengths are real numbers, so nearest facilities are unique).

    python benchmarks/nearest.py                          # 100k and 1M nodes
    python benchmarks/nearest.py --sizes 1M --facilities 10000 --steps 2,4,8,16
    python benchmarks/nearest.py --sizes 1M --order coords  # nodes numbered as OSM builds do

Results: printed table and ``benchmarks/results/nearest.json``.
Taiyuan streets © OpenStreetMap contributors, ODbL 1.0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from fresh_process import run_metadata  # noqa: E402
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from planner.kernels import STEP_EDGES, graph_arrays, multi_source_search, search_step
from planner.synthetic import street_network

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_kernels import heap_search  # noqa: E402

SIZES = {"10k": 10_000, "100k": 100_000, "1M": 1_000_000}
TAIYUAN = ROOT.parent / "shared" / "data" / "taiyuan" / "road.json"


def load(size: str, taiyuan: Path):
    if size == "taiyuan":
        if not taiyuan.is_file():
            print(f"skipping Taiyuan: {taiyuan} not found")
            return None
        from planner.io.osm import load_network

        return load_network(taiyuan)
    return street_network(SIZES[size], seed=0)


def timed(methods: dict, repeat: int) -> dict:
    """Best (wall s, CPU s) and the last output of every method, interleaved runs."""
    best = {k: (np.inf, np.inf) for k in methods}
    out = {}
    for _ in range(repeat):
        for name, fn in methods.items():
            t0, c0 = time.perf_counter(), time.process_time()
            out[name] = fn()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return {k: (*best[k], out[k]) for k in methods}


def two_threads(pool, indptr, indices, weights, fac, zero, lab, bound, step):
    """Half the facilities per thread, then the elementwise minimum with the winner's label."""
    h = len(fac) // 2
    parts = [
        pool.submit(multi_source_search, indptr, indices, weights, fac[s], zero[s], lab[s], bound,
                    True, step)
        for s in (slice(0, h), slice(h, None))
    ]  # fmt: skip
    (d, lbl), (d2, lbl2) = (f.result() for f in parts)
    closer = d2 < d
    d[closer] = d2[closer]
    lbl[closer] = lbl2[closer]
    return d, lbl


def renumbered(net, order: str):
    """The network's CSR arrays with nodes renumbered: "built" keeps them; "coords" sorts them
    by (x, y) as OSM networks come out of vertex merging; "random" shuffles them."""
    indptr, indices, weights = graph_arrays(net)
    n = net.n_nodes
    if order == "built":
        return indptr, indices, weights
    if order == "coords":
        new_of = np.empty(n, np.int64)
        new_of[np.lexsort((net.node_xy[:, 1], net.node_xy[:, 0]))] = np.arange(n)
    else:
        new_of = np.random.default_rng(1).permutation(n)
    rows = np.repeat(new_of, np.diff(indptr))
    adj = csr_matrix((weights, (rows, new_of[indices])), shape=(n, n))
    adj.sort_indices()
    return adj.indptr.astype(np.int64), adj.indices.astype(np.int32), adj.data


def bench(label: str, net, args, pool) -> list[dict]:
    indptr, indices, weights = renumbered(net, args.order)
    step = search_step(net)
    n = net.n_nodes
    rng = np.random.default_rng(0)
    fac = np.sort(rng.choice(n, min(args.facilities, n), replace=False)).astype(np.int64)
    zero, lab = np.zeros(len(fac)), np.arange(len(fac), dtype=np.int64)
    adj = csr_matrix((weights, indices, indptr), shape=(n, n))
    R = args.radius
    seeds = (indptr, indices, weights, fac, zero, lab, R)
    methods = {
        "scipy dijkstra min_only": lambda: (
            dijkstra(adj, indices=fac, min_only=True, limit=R, return_predecessors=False),
            None,
        ),
        "heap (previous kernel), labels": lambda: heap_search(*seeds, True),
        "sweep, labels": lambda: multi_source_search(*seeds, True, step),
        "sweep, distances only": lambda: multi_source_search(*seeds, False, step),
        "sweep, labels, 2 threads": lambda: two_threads(pool, *seeds, step),
    }
    median = step / STEP_EDGES
    for k in args.steps:
        if k != STEP_EDGES:
            methods[f"sweep, labels, step {k:g} edges"] = (
                lambda s: lambda: multi_source_search(*seeds, True, s)
            )(k * median)
    res = timed(methods, args.repeat)
    ref_d, ref_l = res["heap (previous kernel), labels"][2]
    sp_wall, sp_cpu = res["scipy dijkstra min_only"][:2]
    reached = int(np.isfinite(ref_d).sum())
    print(f"\n{label} ({args.order} node order): {n:,} nodes, {net.n_edges:,} edges, "
          f"{len(fac)} facilities, radius {R:g} m, {reached:,} nodes reached; "
          f"step {step:.1f} m ({STEP_EDGES:g} median edges)")  # fmt: skip
    rows = []
    for name, (wall, cpu, (d, lbl)) in res.items():
        finite = np.isfinite(ref_d)
        same = bool(
            np.array_equal(np.isfinite(d), finite)
            and np.allclose(d[finite], ref_d[finite], rtol=1e-9, atol=0)
        )
        bitwise = bool(np.array_equal(d, ref_d))
        labels = None if lbl is None or len(lbl) == 0 else bool(np.array_equal(lbl, ref_l))
        row = dict(network=label, node_order=args.order, nodes=n, edges=net.n_edges,
                   facilities=len(fac), radius_m=R, reached=reached, method=name,
                   seconds=wall, cpu_seconds=cpu,
                   scipy_over_method_wall=sp_wall / wall, scipy_over_method_cpu=sp_cpu / cpu,
                   same_distances=same, bitwise_equal_to_heap=bitwise, same_labels=labels)  # fmt: skip
        rows.append(row)
        print(f"  {name:36s} {wall:8.4f} s {cpu:8.4f} s cpu   scipy/this {sp_wall / wall:5.2f} "
              f"(cpu {sp_cpu / cpu:5.2f})  same={same} bitwise={bitwise} labels={labels}")  # fmt: skip
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="100k,1M", help="comma list of taiyuan,10k,100k,1M")
    p.add_argument("--facilities", type=int, default=1000, help="facility nodes")
    p.add_argument("--radius", type=float, default=1200.0, help="search bound in metres")
    p.add_argument(
        "--order",
        choices=("built", "coords", "random"),
        default="built",
        help="node numbering: as built, sorted by (x, y) like OSM networks, or random",
    )
    p.add_argument("--repeat", type=int, default=5, help="runs per method; the best is kept")
    p.add_argument(
        "--steps",
        default="",
        help="extra band widths for the sweep, in median edge lengths (e.g. 2,4,16)",
    )
    p.add_argument("--taiyuan", type=Path, default=TAIYUAN, help="Taiyuan road.json (OSM lines)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "nearest.json")
    args = p.parse_args()
    args.steps = [float(s) for s in args.steps.split(",") if s.strip()]

    warm = street_network(100)  # compile outside the timings
    a = (*graph_arrays(warm), np.array([0, 5]), np.zeros(2), np.arange(2), 200.0)
    heap_search(*a, True)
    multi_source_search(*a, True, search_step(warm))
    multi_source_search(*a, False, search_step(warm))

    load_before = os.getloadavg()
    rows = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for size in args.sizes.split(","):
            net = load(size.strip(), args.taiyuan)
            if net is not None:
                rows += bench(size.strip(), net, args, pool)
    meta = run_metadata(args, load_before, timing=f"best of {args.repeat} interleaved runs; cpu = the process's CPU time")
    print(f"\nbest of {args.repeat} interleaved runs; load average before {load_before[0]:.1f}, "
          f"after {meta['load_average_after'][0]:.1f} on {meta['cpus']} CPUs")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "results": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
