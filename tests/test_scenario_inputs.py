"""Nothing is silent in a scenario run: homes far from every street are reported apart from
the uncovered, in a table, a layer, the summary, the notes and the map."""

import json

import numpy as np
import pytest

from planner.maps.result import map_writer
from planner.outputs import write_result
from planner.scenario import run_scenario
from planner.scenario_file import load_scenario, parse_scenario

pytestmark = pytest.mark.slow  # a run of the sample scenario


@pytest.fixture(scope="module")
def strict_run(tmp_path_factory, share_sample_cache):
    """The sample with a 25 m access limit, so that many cell centres lie off the streets."""
    out = share_sample_cache(tmp_path_factory.mktemp("strict"))
    s = load_scenario()
    doc = s.model_dump(exclude={"base_dir"})
    doc["optimize"] = []
    doc["analysis"].update(categories=["pharmacy", "kindergarten"], max_access_m=25.0)
    result = run_scenario(parse_scenario(doc, s.base_dir), cache_dir=out / ".cache")
    write_result(result, out, map_writer=map_writer())
    return result, out


def test_cells_off_the_streets_are_counted_apart_from_uncovered(strict_run):
    run, _ = strict_run
    off = run.tables["cells_off_streets"]
    assert len(off) > 0 and (off["access_m"] > 25.0).all()
    cells = run.demand.cells
    flagged = run.off_streets & (cells["total"].to_numpy() > 0)
    assert set(off["cell_id"]) == set(cells.loc[flagged, "cell_id"])
    head = run.tables["headline"].set_index("category")
    people_off = off["total"].sum()
    for key in ("pharmacy", "kindergarten"):
        row = head.loc[key]
        assert row["people_off_streets"] == pytest.approx(people_off)
        assert row["people"] == pytest.approx(
            row["people_covered"] + row["people_uncovered"] + row["people_off_streets"])
    cov = run.tables["coverage"]
    np.testing.assert_allclose(
        cov["people"], cov["people_covered"] + cov["people_uncovered"] + cov["people_off_streets"])
    gaps = run.layers["gap_cells"]
    assert not set(gaps["cell_id"]) & set(off["cell_id"])
    assert any("not reachable from the streets" in n for n in run.notes)


def test_cells_off_the_streets_reach_every_output(strict_run):
    run, out = strict_run
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    reported = summary["not_reachable_from_streets"]
    assert reported["cells"] == len(run.tables["cells_off_streets"])
    assert reported["people"] == pytest.approx(run.tables["cells_off_streets"]["total"].sum(),
                                               abs=0.1)
    assert (out / "tables" / "cells_off_streets.csv").is_file()
    assert (out / "layers" / "cells_off_streets.parquet").is_file()
    html = (out / "gap_map.html").read_text(encoding="utf-8")
    label = "无法计算步行距离"
    assert label in html or json.dumps(label)[1:-1] in html  # layer names may be \u-escaped
