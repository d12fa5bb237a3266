"""``planner compare`` on two runs of the sample: its two tables and the difference map hold the
numbers of the two runs' own coverage tables."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.scenario import run_scenario
from planner.scenario_file import load_scenario

pytestmark = pytest.mark.slow  # two runs of the sample scenario

TODAY = """\
name = "today"
[network]
source = "sample:helsinki"
[[facilities]]
source = "osm"
[population]
source = "buildings"
building_use = "auto"
cell_m = 100
age_shares = "shanxi"
total = 4000
[analysis]
mode = "both"
levels_min = [5, 10, 15]
categories = ["convenience", "pharmacy", "elderly_day_care"]
[speeds]
total = 1.2
age_60_plus = 0.8
"""
# Convenience stores count from 500 m instead of 300 m (people newly covered), pharmacies from
# 200 m instead of 500 m (people no longer covered); everyone walks slower (the time table moves).
PLAN = TODAY.replace('"today"', '"plan"').replace("total = 1.2", "total = 1.0") + """\
[categories.convenience]
distance_m = 500
[categories.pharmacy]
distance_m = 200
"""
NEWLY, NO_LONGER = "新增覆盖", "不再覆盖"  # the map's zh labels of the two changes


@pytest.fixture(scope="module")
def compared(tmp_path_factory, sample_cache, share_sample_cache):
    """The command's output, its folder, and the two runs (same parsed inputs, one cache)."""
    folder = tmp_path_factory.mktemp("compare")
    (folder / "today.toml").write_text(TODAY, encoding="utf-8")
    (folder / "plan.toml").write_text(PLAN, encoding="utf-8")
    out = folder / "out"
    for run in ("a", "b"):  # the command keeps each run's cache under its output folder
        share_sample_cache(out / run)
    res = CliRunner().invoke(app, ["compare", str(folder / "today.toml"),
                                   str(folder / "plan.toml"), "-o", str(out)])
    assert res.exit_code == 0, res.output
    runs = [run_scenario(load_scenario(folder / f"{name}.toml"), cache_dir=sample_cache)
            for name in ("today", "plan")]
    return res.output, out, runs


def table_rows(output: str, n_columns: int) -> dict[tuple, list[str]]:
    """The body rows of the printed tables with ``n_columns`` columns, by their text columns."""
    rows = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == n_columns and re.fullmatch(r"[+-]?[\d.,]+", cells[-1]):
            rows[tuple(c for c in cells if not re.fullmatch(r"[+-]?[\d.,]+", c))] = cells
    return rows


def coverage_row(run, category: str, mode: str, group: str, level_min: float | None = None):
    cov = run.tables["coverage"]
    rows = cov[(cov["category"] == category) & (cov["mode"] == mode) & (cov["group"] == group)]
    if level_min is not None:
        rows = rows[rows["level_min"] == level_min]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_compliance_table_holds_both_runs_numbers(compared):
    output, _, (today, plan) = compared
    assert "Compliance coverage: today → plan" in output
    rows = table_rows(output, 6)
    for category in ("convenience", "pharmacy", "elderly_day_care"):
        group = today.categories[category].group
        a, b = (coverage_row(r, category, "compliance", group) for r in (today, plan))
        _, _, pct_a, pct_b, diff_pp, diff_people = rows[(category, group)]
        assert (pct_a, pct_b) == (f"{a['coverage_pct']:.1f}", f"{b['coverage_pct']:.1f}")
        assert float(diff_pp) == pytest.approx(b["coverage_pct"] - a["coverage_pct"], abs=0.051)
        assert diff_people == f"{b['people_covered'] - a['people_covered']:+,.0f}"
    people = {key: float(cells[-1].replace(",", "")) for key, cells in rows.items()}
    assert people[("convenience", "total")] > 0 > people[("pharmacy", "total")]


def test_time_table_shows_the_slower_walk(compared):
    output, _, (today, plan) = compared
    rows = table_rows(output, 7)
    _, _, level, pct_a, pct_b, _, diff_people = rows[("pharmacy", "total")]
    a, b = (coverage_row(r, "pharmacy", "time", "total", float(level)) for r in (today, plan))
    assert (pct_a, pct_b) == (f"{a['coverage_pct']:.1f}", f"{b['coverage_pct']:.1f}")
    assert diff_people == f"{b['people_covered'] - a['people_covered']:+,.0f}"
    assert b["people_covered"] < a["people_covered"]  # 1.0 m/s reaches fewer in 10 minutes


def map_layers(html: str) -> dict[str, list[dict]]:
    """The overlay layers of a saved Folium map: layer name → GeoJSON features."""
    overlays = re.search(r"overlays\s*:\s*\{(.*?)\}", html, re.S).group(1)
    groups = dict(re.findall(r'"([^"]+)"\s*:\s*(feature_group_\w+)', overlays))
    added = dict(re.findall(r"(geo_json_\w+)\s*\.addTo\((feature_group_\w+)\)", html))
    decoder, layers = json.JSONDecoder(), {}
    for match in re.finditer(r"(geo_json_\w+)_add\(", html):
        if match.group(1) not in added:
            continue
        data, _ = decoder.raw_decode(html, match.end())
        name = next(k for k, v in groups.items() if v == added[match.group(1)])
        layers.setdefault(name, []).extend(data["features"])
    return layers


def test_difference_map_has_a_layer_per_changed_category_with_the_tables_people(compared):
    _, out, (today, plan) = compared
    html = (out / "difference_map.html").read_text(encoding="utf-8")
    assert "https://cdn" not in html  # opens offline
    layers = map_layers(html)
    assert set(layers) == {"convenience", "pharmacy"}  # elderly day care did not change
    for category, label, sign in (("convenience", NEWLY, 1), ("pharmacy", NO_LONGER, -1)):
        features = layers[category]
        assert {f["properties"]["change"] for f in features} == {label}
        group = today.categories[category].group
        a, b = (coverage_row(r, category, "compliance", group) for r in (today, plan))
        mapped = sum(f["properties"]["people"] for f in features)  # people rounded to 0.1
        assert mapped == pytest.approx(sign * (b["people_covered"] - a["people_covered"]),
                                       abs=0.05 * len(features) + 1e-6)
