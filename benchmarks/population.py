"""Benchmark: the full WorldPop Wuhan age/sex stack (26 rasters × 1662 × 1668 cells, EPSG:4326)
regridded to a metric UTM grid by exact overlap areas; target ≤ 30 s and ≤ 2 GB peak memory.

Checks the result against the raw rasters (people per group, summed directly) and, as a peer,
times GDAL's ``Resampling.sum`` warp (rasterio.warp.reproject) of the total to the same grid.
Each case runs in a fresh process so its peak RSS is its own (imports included).

    python benchmarks/population.py [--cell 100] [--repeat 1] [--no-peer]

Data: WorldPop (CC-BY 4.0; Tatem 2017, Scientific Data 4:170004). Prints a table and writes
benchmarks/results/population.json.
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
WUHAN = ROOT.parent / "shared" / "data" / "wuhan_worldpop"
BANDS = {"total": range(20, 85, 5), "age_60_plus": range(60, 85, 5),
         "age_65_plus": range(65, 85, 5)}


def _ours(cell: float) -> dict:
    from planner.io.population import read_age_stack

    t0 = time.perf_counter()
    grid = read_age_stack(WUHAN, cell_m=cell)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "cells": len(grid), "crs": grid.crs.to_string(),
            "totals": grid.totals()}


def _gdal_sum(cell: float) -> dict:
    """Peer: sum the layers into one total raster, then GDAL warp with Resampling.sum."""
    import numpy as np
    import rasterio
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    t0 = time.perf_counter()
    total = None
    for path in sorted(WUHAN.glob("pop_*_*_wuhan.tif")):
        with rasterio.open(path) as ds:
            a = ds.read(1).astype(np.float64)
            a[(a == ds.nodata) | ~np.isfinite(a) | (a < 0)] = 0
            total = a if total is None else total + a
            src_crs, src_transform, bounds = ds.crs, ds.transform, ds.bounds
    dst_crs = "EPSG:32650"
    transform, width, height = calculate_default_transform(
        src_crs, dst_crs, total.shape[1], total.shape[0], *bounds, resolution=cell)
    out = np.zeros((height, width))
    reproject(total, out, src_transform=src_transform, src_crs=src_crs, dst_transform=transform,
              dst_crs=dst_crs, resampling=Resampling.sum, src_nodata=None, dst_nodata=0)
    return {"seconds": time.perf_counter() - t0, "cells": int((out > 0).sum()),
            "crs": dst_crs, "totals": {"total": float(out.sum())}}


def _raw_sums() -> dict:
    """People per group summed straight from the rasters (the reference)."""
    import numpy as np
    import rasterio

    sums = dict.fromkeys(BANDS, 0.0)
    for age in range(20, 85, 5):
        for sex in "fm":
            with rasterio.open(WUHAN / f"pop_{age}_{sex}_wuhan.tif") as ds:
                a = ds.read(1).astype(np.float64)
                s = float(a[(a != ds.nodata) & np.isfinite(a) & (a > 0)].sum())
            for g, bands in BANDS.items():
                sums[g] += s if age in bands else 0.0
    return sums


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", type=float, default=100.0, help="grid cell size, metres")
    parser.add_argument("--repeat", type=int, default=1, help="fresh-process runs per case")
    parser.add_argument("--no-peer", action="store_true", help="skip the GDAL warp peer")
    args = parser.parse_args()
    if not WUHAN.is_dir():
        raise SystemExit(f"{WUHAN} is absent: the benchmark needs the shared WorldPop data.")

    reference = _raw_sums()
    cases = {"exact overlap (planner)": _ours}
    if not args.no_peer:
        cases["GDAL warp Resampling.sum"] = _gdal_sum
    results = {}
    for name, func in cases.items():
        r = measure(func, args.cell, args.repeat)
        r["relative_error"] = {g: v / reference[g] - 1 for g, v in r["totals"].items()}
        results[name] = r

    print(f"\nWuhan WorldPop stack (26 rasters, {len(reference)} groups) → {args.cell:g} m grid; "
          f"target ≤ 30 s, ≤ 2048 MB")
    print(f"{'case':28} {'seconds':>8} {'peak MB':>8} {'cells':>9} {'total':>12} "
          f"{'rel. error':>11}  groups")
    for name, r in results.items():
        err = r["relative_error"]
        print(f"{name:28} {r['seconds']:8.2f} {r['peak_rss_mb']:8.0f} {r['cells']:9,} "
              f"{r['totals']['total']:12,.0f} {err['total']:11.2e}  "
              + ", ".join(f"{g} {e:.1e}" for g, e in err.items() if g != "total"))
    out = ROOT / "benchmarks" / "results" / "population.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "cell_m": args.cell, "reference_totals": reference, "results": results,
        "machine": {"python": platform.python_version(), "machine": platform.machine(),
                    "cpus": mp.cpu_count()},
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }, indent=2, ensure_ascii=False))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
