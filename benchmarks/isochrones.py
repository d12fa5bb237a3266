"""Benchmark: walking-time polygons (isochrones) drawn on a grid against the exact construction
(the union of buffered street pieces, as the polygons were built before), on the same origins.

Cases: every facility category of the bundled central-Helsinki sample, and of a generated
Chinese-style district of about 3,600 street nodes (benchmarks/main_job.py writes it); three
levels (5/10/15 minutes at 1.2 m/s), 25 m either side of the streets. Reports the seconds of
each construction, the ratio, and the difference in area (symmetric difference / exact area).

    python benchmarks/isochrones.py [--repeat 3]

Prints a table and writes benchmarks/results/isochrones.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's code; the tests' exact construction

from reference_isochrones import exact_isochrone  # noqa: E402

from planner.io.facilities import load_facilities  # noqa: E402
from planner.io.osm import load_network  # noqa: E402
from planner.isochrones import isochrones  # noqa: E402

LEVELS_M = np.array([5, 10, 15]) * 60 * 1.2
BUFFER_M = 25.0


def best(func, repeat: int) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = func()
        times.append(time.perf_counter() - t0)
    return min(times), value


def run_case(name: str, source: Path, repeat: int) -> dict:
    net = load_network(source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fac = load_facilities(source, to_crs=net.crs)
    isochrones(net, net.node_xy[:1], [100.0])  # compile the kernels outside the timing
    drawn_s = exact_s = 0.0
    diff, area = 0.0, 0.0
    for key in sorted(fac["category"].unique()):
        xy = fac.loc[fac["category"] == key].geometry.get_coordinates().to_numpy()
        t, drawn = best(lambda xy=xy: isochrones(net, xy, LEVELS_M, buffer_m=BUFFER_M), repeat)
        drawn_s += t

        def exact(xy=xy):
            return [exact_isochrone(net, xy, b, BUFFER_M)(BUFFER_M) for b in LEVELS_M]

        t, polys = best(exact, repeat)
        exact_s += t
        for got, ref in zip(drawn.geometry.values, polys, strict=True):
            diff += shapely.symmetric_difference(got, ref).area
            area += ref.area
    return {"case": name, "nodes": net.n_nodes, "categories": int(fac["category"].nunique()),
            "drawn_s": drawn_s, "exact_s": exact_s, "ratio": exact_s / drawn_s,
            "area_difference_pct": 100 * diff / area}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from main_job import write_district

    from planner.sample import helsinki_pbf

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        write_district(Path(tmp))
        for name, source in (("helsinki", helsinki_pbf()), ("district", Path(tmp) / "district.osm")):
            rows.append(run_case(name, source, args.repeat))
    print(f"{'case':<10}{'nodes':>8}{'cats':>6}{'drawn s':>10}{'exact s':>10}{'ratio':>8}"
          f"{'area diff %':>13}")
    for r in rows:
        print(f"{r['case']:<10}{r['nodes']:>8}{r['categories']:>6}{r['drawn_s']:>10.2f}"
              f"{r['exact_s']:>10.2f}{r['ratio']:>8.1f}{r['area_difference_pct']:>13.2f}")
    out = ROOT / "benchmarks" / "results" / "isochrones.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "repeat": args.repeat,
                               "levels_m": LEVELS_M.tolist(), "buffer_m": BUFFER_M,
                               "cases": rows}, indent=1), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
