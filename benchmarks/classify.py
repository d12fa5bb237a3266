"""Benchmark: precision and recall of the facility classifier per category on the labelled
corpus (data/evaluation/facility_corpus.csv: OSM tags, Amap and Baidu type strings, Chinese
naming practice with traditional-character and full-width names, and the usual look-alikes).
Target: ≥ 97 % precision and ≥ 95 % recall for every category.

    python benchmarks/classify.py [--corpus FILE]

Prints a table and the misclassified records, and writes benchmarks/results/classify.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from planner.evaluation import CORPUS_FILE, evaluate, read_corpus
    from planner.standards import load_categories

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS_FILE)
    args = parser.parse_args()
    corpus = read_corpus(args.corpus)
    t0 = time.perf_counter()
    table, wrong = evaluate(corpus, load_categories())
    seconds = time.perf_counter() - t0
    counts = corpus["source"].value_counts().to_dict()
    print(f"\n{args.corpus.name}: {len(corpus)} records ({counts}), "
          f"{int((corpus['expected'].map(len) == 0).sum())} with no category; {seconds:.2f} s")
    print(f"{'category':18} {'expected':>8} {'predicted':>9} {'correct':>7} {'precision':>9} {'recall':>7}")
    for r in table.itertuples():
        print(f"{r.category:18} {r.expected:8} {r.predicted:9} {r.tp:7} {r.precision:9.1%} {r.recall:7.1%}")
    print(f"\n{len(wrong)} records classified differently from their label")
    for r in wrong.itertuples():
        print(f"  {r.source:5} {r.name!r:40} {r.type or r.tags}: expected {sorted(r.expected)}, "
              f"got {sorted(r.predicted)}")
    out = ROOT / "benchmarks" / "results" / "classify.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "corpus": args.corpus.name, "records": len(corpus), "by_source": counts,
        "seconds": seconds, "categories": table.to_dict(orient="records"),
        "wrong": [{"source": r.source, "name": r.name, "expected": sorted(r.expected),
                   "predicted": sorted(r.predicted)} for r in wrong.itertuples()],
    }, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
