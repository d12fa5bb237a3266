"""Precision and recall of the facility classifier on a labelled corpus.

The corpus (``data/evaluation/facility_corpus.csv``) has one record per line: ``source`` (osm,
amap or baidu), ``name``, ``type`` (an Amap/Baidu type string), ``tags`` (OSM tags as a JSON
object) and ``expected`` (category keys separated by ";", empty for none).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from planner.classify import classify
from planner.errors import InputError
from planner.paths import DATA_DIR
from planner.standards import Category

CORPUS_FILE = DATA_DIR / "evaluation" / "facility_corpus.csv"
SOURCES = ("osm", "amap", "baidu")


def read_corpus(path: str | Path = CORPUS_FILE) -> pd.DataFrame:
    """The labelled records, with ``tags`` as dicts and ``expected`` as sets of keys."""
    corpus = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"source", "name", "type", "tags", "expected"} - set(corpus.columns)
    if missing:
        raise InputError(f"{path} lacks the column(s) {sorted(missing)}.")
    bad = sorted(set(corpus["source"]) - set(SOURCES))
    if bad:
        raise InputError(f"{path}: unknown source(s) {bad}; use one of {list(SOURCES)}.")
    corpus["tags"] = [json.loads(t) if t else {} for t in corpus["tags"]]
    corpus["expected"] = [frozenset(e.split(";")) if e else frozenset() for e in corpus["expected"]]
    return corpus


def predict(corpus: pd.DataFrame, categories: Mapping[str, Category]) -> pd.Series:
    """The set of categories the classifier gives each record (OSM records by name and tags,
    Amap/Baidu records by name and type string)."""
    got = pd.Series([frozenset()] * len(corpus), index=corpus.index, dtype=object)
    for source, part in corpus.groupby("source"):
        if source == "osm":
            tags = pd.DataFrame.from_records(list(part["tags"])).astype("string")
            matches, _ = classify(categories, part["name"].tolist(), tags=tags)
        else:
            matches, _ = classify(categories, part["name"].tolist(), types=part["type"].tolist())
        for row, keys in matches.groupby("row")["category"]:
            got[part.index[row]] = frozenset(keys)
    return got


def evaluate(corpus: pd.DataFrame, categories: Mapping[str, Category]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per category: expected, predicted, true positives, precision, recall; the records
    whose predicted categories differ from the expected ones, with both)."""
    got = predict(corpus, categories)
    rows = []
    for key in categories:
        exp = corpus["expected"].map(lambda s, k=key: k in s)
        pred = got.map(lambda s, k=key: k in s)
        tp = int((exp & pred).sum())
        rows.append({
            "category": key, "expected": int(exp.sum()), "predicted": int(pred.sum()), "tp": tp,
            "precision": tp / pred.sum() if pred.sum() else 1.0,
            "recall": tp / exp.sum() if exp.sum() else 1.0,
        })
    wrong = corpus.assign(predicted=got)[got != corpus["expected"]]
    return pd.DataFrame(rows), wrong[["source", "name", "type", "tags", "expected", "predicted"]]
