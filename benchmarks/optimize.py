"""Benchmark: MCLP on the same instances — this optimizer vs spopt and a plain scipy milp model.

Instances: a street-like synthetic network (planner.synthetic.street_network), random demand
points with skewed populations and random candidate sites, catchments at 1,200 m walking
distance from planner.catchment.coverage_matrix. Sizes (demand × candidates), in two layouts:

                             sprawl (default)         compact
    small  1,000 × 100       ≈ 8 km square            ≈ 2 km square
    medium 10,000 × 1,000    ≈ 16 km square           ≈ 7 km square
    large  100,000 × 10,000  ≈ 32 km square           ≈ 21 km square

*compact* packs demand as densely as the issue's reference measurement (greedy covers about
80 % of 10k × 1k people with 10 sites): few sites reach most people and catchments overlap
heavily, so small budgets are the hard case. *sprawl* spreads demand over a region about ten
times larger: 50 sites cover about 80 %, and large budgets are the hard case.

Peers, each in its own process with its own time limit (the process is stopped when the limit
plus a grace period passes, so model building counts):
    ours        planner.optimize.mclp (reduction, local search, LP bound, HiGHS), no tie-break
    greedy      planner.optimize.mclp(solver="greedy") with its proven bound
    plain_milp  scipy.optimize.milp on the textbook model (binary x and y, every cell and site)
    spopt_cbc / spopt_highs  spopt MCLP.from_cost_matrix + PuLP with CBC / HiGHS (dense matrix)

    python benchmarks/optimize.py [--sizes small,medium] [--layouts sprawl,compact]
                                  [--p 10,50] [--limit 10]
                                  [--peer-limit 20] [--peers ours,greedy,plain_milp,spopt_cbc]
                                  [--repeat 1] [--out benchmarks/results/optimize.json]

``--repeat N`` runs each peer N times per instance (each in a fresh process) and prints the
spread of our gap and time: the searches are cut off by time, so answers vary between runs.

Prints a table and writes benchmarks/results/optimize.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # measure this checkout's code, not an installed copy
OUT = ROOT / "benchmarks" / "results" / "optimize.json"
SIZES = {"small": (1_000, 100), "medium": (10_000, 1_000), "large": (100_000, 10_000)}
#: Street-network nodes (80 m apart) per layout and size.
NODES = {"sprawl": {"small": 10_000, "medium": 40_000, "large": 160_000},
         "compact": {"small": 700, "medium": 7_000, "large": 70_000}}
RADIUS_M = 1_200.0
DENSE_LIMIT = 2e8  # spopt's dense cost matrix: at most this many entries (1.6 GB)


def build_instance(size: str, layout: str = "sprawl", seed: int = 7):
    """(coverage CSR sites × cells, people per cell, seconds to build)."""
    from planner.catchment import coverage_matrix
    from planner.synthetic import street_network

    n_demand, n_sites = SIZES[size]
    n_nodes = NODES[layout][size]
    t0 = time.perf_counter()
    net = street_network(n_nodes, seed=seed, spacing_m=80.0)
    rng = np.random.default_rng(seed)
    lo, hi = net.node_xy.min(axis=0), net.node_xy.max(axis=0)
    demand_xy = lo + rng.random((n_demand, 2)) * (hi - lo)
    site_xy = lo + rng.random((n_sites, 2)) * (hi - lo)
    # neighbourhoods: a few dense centres over a thin background
    centres = lo + rng.random((max(3, n_demand // 2000), 2)) * (hi - lo)
    d2 = ((demand_xy[:, None, :] - centres[None]) ** 2).sum(-1).min(axis=1)
    people = np.round(rng.gamma(2.0, 20.0, n_demand) * (0.2 + 3 * np.exp(-d2 / 1500.0**2)))
    cov = coverage_matrix(net, site_xy, demand_xy, RADIUS_M, workers=2)
    return cov, people, time.perf_counter() - t0


def peer_ours(cov, w, p, limit):
    from planner.optimize import mclp

    t0 = time.perf_counter()
    r = mclp(cov, w, pd.DataFrame({"status": ["candidate"] * cov.shape[0]}), p=p,
             time_limit_s=limit, tie_break=False)
    return {"seconds": time.perf_counter() - t0, "objective": r.objective, "bound": r.bound,
            "gap": r.gap, "status": r.status, "greedy_objective": r.greedy_objective,
            "reduction": r.reduction.as_dict()}


def peer_greedy(cov, w, p, limit):
    from planner.optimize import mclp

    t0 = time.perf_counter()
    r = mclp(cov, w, pd.DataFrame({"status": ["candidate"] * cov.shape[0]}), p=p,
             solver="greedy")
    return {"seconds": time.perf_counter() - t0, "objective": r.objective, "bound": r.bound,
            "gap": r.gap, "status": r.status}


def peer_plain_milp(cov, w, p, limit):
    """The textbook model: max Σ w y, y_i ≤ Σ_j a_ij x_j, Σ x = p, x and y binary."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    t0 = time.perf_counter()
    n_s, n_c = cov.shape
    a = sp.csr_matrix((np.ones(cov.nnz), cov.indices, cov.indptr), shape=cov.shape)
    rows = sp.vstack([sp.hstack([-a.T, sp.identity(n_c)]),
                      sp.hstack([sp.csr_matrix(np.ones((1, n_s))), sp.csr_matrix((1, n_c))])],
                     format="csr")
    lo = np.concatenate([np.full(n_c, -np.inf), [p]])
    hi = np.concatenate([np.zeros(n_c), [p]])
    res = milp(np.concatenate([np.zeros(n_s), -w]), integrality=np.ones(n_s + n_c),
               bounds=Bounds(0, 1), constraints=LinearConstraint(rows, lo, hi),
               options={"time_limit": limit})
    out = {"seconds": time.perf_counter() - t0, "status": res.message.split("(")[0].strip()}
    if res.x is not None:
        x = res.x[:n_s] > 0.5
        covered = np.zeros(n_c, bool)
        covered[a[x].indices] = True
        out["objective"] = float(w[covered].sum())
    if getattr(res, "mip_dual_bound", None) is not None:
        out["bound"] = -float(res.mip_dual_bound)
        if out.get("objective"):
            out["gap"] = (out["bound"] - out["objective"]) / out["objective"]
    return out


def _spopt(cov, w, p, limit, solver_name):
    import pulp
    from spopt.locate import MCLP

    t0 = time.perf_counter()
    dense = np.full(cov.shape[::-1], 10 * RADIUS_M)
    coo = cov.tocoo()
    dense[coo.col, coo.row] = coo.data
    model = MCLP.from_cost_matrix(dense, w, service_radius=RADIUS_M, p_facilities=p)
    built = time.perf_counter() - t0
    solver = (pulp.PULP_CBC_CMD(msg=False, timeLimit=limit) if solver_name == "cbc"
              else pulp.HiGHS(msg=False, timeLimit=limit))
    model = model.solve(solver)
    return {"seconds": time.perf_counter() - t0, "build_seconds": built,
            "objective": float(pulp.value(model.problem.objective)),
            "status": pulp.LpStatus[model.problem.status]}


def peer_spopt_cbc(cov, w, p, limit):
    return _spopt(cov, w, p, limit, "cbc")


def peer_spopt_highs(cov, w, p, limit):
    return _spopt(cov, w, p, limit, "highs")


PEERS = {"ours": peer_ours, "greedy": peer_greedy, "plain_milp": peer_plain_milp,
         "spopt_cbc": peer_spopt_cbc, "spopt_highs": peer_spopt_highs}


def _child(name, cov, w, p, limit, queue):
    try:
        queue.put(PEERS[name](cov, w, p, limit))
    except Exception as exc:  # reported in the table, the run goes on
        queue.put({"error": f"{type(exc).__name__}: {exc}"[:200]})


def run_peer(name, cov, w, p, limit, grace):
    if name.startswith("spopt") and cov.shape[0] * cov.shape[1] > DENSE_LIMIT:
        gb = cov.shape[0] * cov.shape[1] * 8 / 1e9
        return {"skipped": f"dense cost matrix would need {gb:.0f} GB"}
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, cov, w, p, limit, queue))
    t0 = time.perf_counter()
    proc.start()
    try:
        out = queue.get(timeout=limit + grace)
    except Exception:
        out = {"skipped": f"not finished after {limit + grace:.0f} s (stopped)",
               "seconds": time.perf_counter() - t0}
    proc.join(timeout=1)
    if proc.is_alive():
        proc.terminate()
        proc.join()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="small,medium")
    ap.add_argument("--layouts", default="sprawl,compact")
    ap.add_argument("--p", default="10,50")
    ap.add_argument("--limit", type=float, default=10.0, help="our time limit, seconds")
    ap.add_argument("--peer-limit", type=float, default=20.0, help="each peer's limit, seconds")
    ap.add_argument("--grace", type=float, default=10.0,
                    help="seconds past a peer's limit before its process is stopped")
    ap.add_argument("--peers", default="ours,greedy,plain_milp,spopt_cbc,spopt_highs")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each peer per instance")
    ap.add_argument("--out", type=Path, default=OUT, help="JSON file to write")
    args = ap.parse_args()
    rows, spreads = [], []
    for layout in args.layouts.split(","):
        for size in args.sizes.split(","):
            cov, w, build_s = build_instance(size, layout)
            print(f"{layout} {size}: {cov.shape[1]} demand × {cov.shape[0]} candidates, "
                  f"{cov.nnz} covered pairs at {RADIUS_M:.0f} m, {w.sum():.0f} people; built "
                  f"in {build_s:.1f} s", flush=True)
            for p in (int(v) for v in args.p.split(",")):
                for peer in args.peers.split(","):
                    limit = args.limit if peer in ("ours", "greedy") else args.peer_limit
                    runs = []
                    for run in range(args.repeat):
                        out = run_peer(peer, cov, w, p, limit, args.grace)
                        row = {"layout": layout, "size": size, "demand": cov.shape[1],
                               "candidates": cov.shape[0], "pairs": int(cov.nnz), "p": p,
                               "peer": peer, "limit_s": limit, "run": run, **out}
                        if "objective" in out:
                            row["coverage_share"] = out["objective"] / float(w.sum())
                        rows.append(row)
                        runs.append(row)
                        print(_line(row), flush=True)
                    if args.repeat > 1 and all("gap" in r for r in runs):
                        spreads.append(_spread(runs))
    for line in spreads:
        print(line)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": platform.platform(), "radius_m": RADIUS_M,
                                    "repeat": args.repeat, "rows": rows}, indent=1,
                                   default=float), encoding="utf-8")
    print(f"\nwrote {args.out}")


def _spread(runs: list[dict]) -> str:
    """Min / median / max of the gap (%) and the time (s) over repeated runs of one peer."""
    gap = 100 * np.array([r["gap"] for r in runs])
    secs = np.array([r["seconds"] for r in runs])
    obj = np.array([r["objective"] for r in runs])
    r = runs[0]
    return (f"{r['layout']:>7} {r['size']:>6} p={r['p']:<3} {r['peer']:<6} {len(runs)} runs: "
            f"gap {gap.min():.2f} / {np.median(gap):.2f} / {gap.max():.2f} % (min/median/max), "
            f"time {secs.min():.1f} / {np.median(secs):.1f} / {secs.max():.1f} s, people "
            f"{obj.min():,.0f}–{obj.max():,.0f}, gap ≤ 1 % in {(gap <= 1.0).sum()} of {len(runs)}")


def _line(r: dict) -> str:
    obj = f"{r['objective']:>12,.0f}" if "objective" in r else f"{'—':>12}"
    cov = f"{100 * r['coverage_share']:6.2f}%" if "coverage_share" in r else f"{'—':>7}"
    gap = f"{100 * r['gap']:8.4f}%" if "gap" in r else f"{'':>9}"
    bound = f"{r['bound']:>12,.0f}" if "bound" in r else f"{'':>12}"
    secs = f"{r['seconds']:8.2f}s" if "seconds" in r else f"{'':>9}"
    note = r.get("status", "") or ""
    note = r.get("skipped", note) if "skipped" in r else r.get("error", note)
    return (f"{r['layout']:>7} {r['size']:>6} p={r['p']:<3} {r['peer']:<12} {secs} obj {obj} {cov} "
            f"bound {bound} gap {gap}  {note}")


if __name__ == "__main__":
    main()
