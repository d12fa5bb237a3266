"""Benchmark: a province of units on Dask — units per minute, peak memory per worker,
scheduling overhead against the units' own work, and the speed-up from one worker to two.

The province is synthetic and written to disk as a user would bring it: a street-like
network (planner.synthetic.street_network) of ``--nodes`` junctions as a GeoParquet line layer
with a bbox column (so each unit reads only its window), a 100 m population raster
(GeoTIFF), a CSV of elderly day-care centres, kindergartens and convenience stores in WGS-84,
and a square grid of ``--units`` units. Each unit runs the full scenario (network, facilities,
population, catchments, coverage, isochrones, tables, workbook and layers; no maps and no
optimisation), with the halo that keeps it exact across borders.

    python benchmarks/province.py [--units 100] [--nodes 5000000] [--workers 1 2]

Serial overhead is the wall time with one worker over the sum of the units' own run times,
minus one. Prints a table and writes benchmarks/results/province.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: Targets on this machine (2 cores, 24 GB).
TARGETS = {"speedup": 1.8, "overhead": 0.10, "worker_memory_gb": 4.0}
CRS = "EPSG:32649"
ORIGIN = (250_000.0, 4_000_000.0)
CATEGORIES = {"elderly_day_care": ("日间照料中心", 6.0), "kindergarten": ("幼儿园", 3.0),
              "convenience": ("便利店", 1.0)}  # name, km² per facility

SCENARIO = """name = "synthetic-province"
[network]
source = "streets.parquet"
crs = "{crs}"
[[facilities]]
source = "facilities.csv"
coords = "wgs84"
category_column = "category"
name_column = "name"
[population]
source = "population.tif"
cell_m = 100
age_shares = "shanxi"
[analysis]
categories = {categories}
max_access_m = 300
"""


def write_province(folder: Path, n_units: int, n_nodes: int, seed: int = 11) -> dict:
    """Streets, population, facilities, units and the scenario under ``folder``."""
    import geopandas as gpd
    import rasterio
    import shapely
    from pyproj import Transformer
    from rasterio.transform import from_origin

    from planner.synthetic import street_network

    t0 = time.perf_counter()
    net = street_network(n_nodes, seed=seed, spacing_m=80.0)
    xy = net.node_xy - net.node_xy.min(axis=0) + ORIGIN
    coords = np.stack([xy[net.edge_u], xy[net.edge_v]], axis=1)
    mid = coords.mean(axis=1)
    order = np.lexsort(((mid[:, 0] // 2000), (mid[:, 1] // 2000)))  # 2 km row groups
    lines = shapely.linestrings(coords[order])
    kind = np.where(net.edge_way[order] > 0, "footway", "residential")
    streets = gpd.GeoDataFrame({"highway": kind}, geometry=lines, crs=CRS)
    streets.to_parquet(folder / "streets.parquet", write_covering_bbox=True,
                       row_group_size=20_000)
    x0, y0 = xy.min(axis=0)
    x1, y1 = xy.max(axis=0)
    rng = np.random.default_rng(seed)
    # population: towns (smooth bumps) over a thin rural base, only where streets are
    cell = 100.0
    nx_, ny_ = int(np.ceil((x1 - x0) / cell)), int(np.ceil((y1 - y0) / cell))
    streets_here, _, _ = np.histogram2d(xy[:, 1], xy[:, 0], bins=[ny_, nx_],
                                        range=[[y0, y0 + ny_ * cell], [x0, x0 + nx_ * cell]])
    gx, gy = np.meshgrid(np.arange(nx_) + 0.5, np.arange(ny_) + 0.5)
    density = np.full((ny_, nx_), 2.0)
    for _ in range(max(4, n_units // 2)):
        cx, cy, r = rng.uniform(0, nx_), rng.uniform(0, ny_), rng.uniform(15, 60)
        density += rng.uniform(50, 200) * np.exp(-((gx - cx) ** 2 + (gy - cy) ** 2) / (2 * r * r))
    people = np.where(streets_here > 0, density, 0.0)[::-1].astype("float32")  # north up
    profile = dict(driver="GTiff", width=nx_, height=ny_, count=1, dtype="float32", crs=CRS,
                   transform=from_origin(x0, y0 + ny_ * cell, cell, cell), nodata=-1.0,
                   compress="deflate", tiled=True)
    with rasterio.open(folder / "population.tif", "w", **profile) as dst:
        dst.write(people, 1)
    # facilities near random junctions, in WGS-84
    area_km2 = (x1 - x0) * (y1 - y0) / 1e6
    rows = []
    to_lonlat = Transformer.from_crs(CRS, 4326, always_xy=True)
    for key, (name, km2) in CATEGORIES.items():
        at = rng.integers(0, len(xy), int(area_km2 / km2))
        lon, lat = to_lonlat.transform(*(xy[at] + rng.uniform(-30, 30, (len(at), 2))).T)
        rows += [(f"{name}{i + 1}", key, a, b) for i, (a, b) in enumerate(zip(lon, lat,
                                                                             strict=True))]
    import pandas as pd

    pd.DataFrame(rows, columns=["name", "category", "lon", "lat"]).to_csv(
        folder / "facilities.csv", index=False)
    # units: a square grid
    side = int(np.ceil(np.sqrt(n_units)))
    xs, ys = np.linspace(x0, x1 + 1, side + 1), np.linspace(y0, y1 + 1, side + 1)
    boxes, codes = [], []
    for j in range(side):
        for i in range(side):
            if len(boxes) < n_units:
                boxes.append(shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1]))
                codes.append(f"14{j:02d}{i:02d}")
    units = gpd.GeoDataFrame({"code": codes, "name": [f"单元{c}" for c in codes]},
                             geometry=boxes, crs=CRS).to_crs(4326)
    units.to_file(folder / "units.geojson")
    (folder / "scenario.toml").write_text(SCENARIO.format(
        crs=CRS, categories=json.dumps(list(CATEGORIES))), encoding="utf-8")
    return {"nodes": int(net.n_nodes), "edges": int(net.n_edges), "units": len(units),
            "area_km2": round(area_km2), "people": float(people.sum()),
            "facilities": len(rows), "seconds": round(time.perf_counter() - t0, 1),
            "streets_mb": round((folder / "streets.parquet").stat().st_size / 1e6, 1)}


def prepared(folder: Path, n_units: int, n_nodes: int) -> dict:
    """The province in ``folder``: written now, or kept from an earlier run with the same
    sizes (``--keep``)."""
    meta = folder / "made.json"
    if meta.exists():
        made = json.loads(meta.read_text(encoding="utf-8"))
        if (made["units"], made["nodes"]) == (n_units, n_nodes):
            return made
    made = write_province(folder, n_units, n_nodes)
    meta.write_text(json.dumps(made), encoding="utf-8")
    return made


def run(folder: Path, workers: int) -> dict:
    from planner.province import run_province
    from planner.scenario_file import load_scenario

    out = folder / f"out-{workers}"
    shutil.rmtree(out, ignore_errors=True)
    started, load = time.strftime("%Y-%m-%d %H:%M"), os.getloadavg()[0]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_province(load_scenario(folder / "scenario.toml"), folder / "units.geojson",
                              out, workers=workers)
    wall = time.perf_counter() - t0
    done = [o for o in result.outcomes if o.status == "done"]
    work = sum(o.seconds for o in done)
    return {"workers": workers, "started": started,
            "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2),
            "wall_s": round(wall, 1), "units_done": len(done),
            "units_failed": len(result.failed), "unit_work_s": round(work, 1),
            "units_per_min": round(60 * len(done) / wall, 2),
            "peak_worker_memory_gb": round(max((o.peak_memory_mb for o in done), default=0)
                                           / 1024, 2),
            "mean_unit_s": round(work / max(len(done), 1), 2),
            "people": float(result.units["people"].fillna(0).sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--nodes", type=int, default=5_000_000)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2],
                        help="worker counts to time (none: only write the province)")
    parser.add_argument("--keep", type=Path, help="keep the province in this folder")
    parser.add_argument("--merge", action="store_true", help="keep the earlier results of "
                        "worker counts not timed now (same province)")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="province-"))
    folder.mkdir(parents=True, exist_ok=True)
    made = prepared(folder, args.units, args.nodes)
    print(f"province: {made}", flush=True)
    out = ROOT / "benchmarks" / "results" / "province.json"
    runs = [run(folder, w) for w in args.workers]
    if args.merge and out.exists():  # keep earlier runs of the same province for other counts
        earlier = json.loads(out.read_text(encoding="utf-8"))
        if earlier.get("province", {}).get("nodes") == made["nodes"]:
            runs += [r for r in earlier["runs"] if r["workers"] not in args.workers]
    runs.sort(key=lambda r: r["workers"])
    by = {r["workers"]: r for r in runs}
    summary = {"province": made, "runs": runs, "targets": TARGETS,
               "machine": {"cpu": platform.processor() or platform.machine(),
                           "python": platform.python_version()}}
    if 1 in by:
        summary["serial_overhead"] = round(by[1]["wall_s"] / by[1]["unit_work_s"] - 1, 3)
    if 1 in by and 2 in by:
        summary["speedup_1_to_2"] = round(by[1]["wall_s"] / by[2]["wall_s"], 2)
        # a few hundred cities of about ten units each, on N workers at the measured efficiency
        efficiency = min(summary["speedup_1_to_2"] / 2, 1.0)
        per_unit = by[1]["mean_unit_s"]
        summary["estimate_h"] = {f"300 cities × 10 units on {n} workers":
                                 round(3000 * per_unit / (n * efficiency) / 3600, 2)
                                 for n in (2, 16, 64)}
    print(f"{'workers':>8} {'wall s':>8} {'units/min':>10} {'unit work s':>12} "
          f"{'peak GB/worker':>15}")
    for r in runs:
        print(f"{r['workers']:>8} {r['wall_s']:>8} {r['units_per_min']:>10} "
              f"{r['unit_work_s']:>12} {r['peak_worker_memory_gb']:>15}")
    for key in ("serial_overhead", "speedup_1_to_2", "estimate_h"):
        if key in summary:
            print(f"{key}: {summary[key]}")
    out.write_text(json.dumps(summary, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {out}")
    if args.keep is None:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
