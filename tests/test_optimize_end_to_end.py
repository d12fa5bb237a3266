"""End to end on a street network: candidates along the streets, catchments from the
catchment engine, MCLP with an existing facility — checked against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import shapely

from planner import catchment, synthetic
from planner.optimize import candidate_sites, mclp


def test_mclp_on_street_network_catchments():
    import geopandas as gpd

    net = synthetic.street_network(400, seed=3, spacing_m=80.0)
    lo, hi = net.node_xy.min(axis=0), net.node_xy.max(axis=0)
    rng = np.random.default_rng(1)
    demand_xy = lo + rng.random((300, 2)) * (hi - lo)
    people = rng.integers(0, 40, 300).astype(float)
    existing = gpd.GeoDataFrame(
        {"id": ["kg-1"], "name": ["existing kindergarten"], "category": ["kindergarten"],
         "capacity": [np.nan], "status": ["existing"], "source": ["test"]},
        geometry=[shapely.Point(*net.node_xy[0])], crs=net.crs,
    )
    area = shapely.box(*lo, *(lo + 0.8 * (hi - lo)))
    sites = candidate_sites(network=net, facilities=existing, category="kindergarten",
                            spacing_m=250.0, study_area=area)
    assert sites["status"].iloc[0] == "existing" and (sites["status"].iloc[1:] == "candidate").all()
    xy = shapely.get_coordinates(sites.geometry.values)
    assert shapely.contains_xy(area, xy[1:, 0], xy[1:, 1]).all()
    cov = catchment.coverage_matrix(net, xy, demand_xy, 300.0)
    res = mclp(cov, people, sites, p=2, demand_xy=demand_xy)
    # brute force over every pair of candidates
    reach = np.zeros(cov.shape, dtype=bool)
    rows = np.repeat(np.arange(cov.shape[0]), np.diff(cov.indptr))
    reach[rows, cov.indices] = True
    best = max(people[reach[[0, a, b]].any(axis=0)].sum()
               for a, b in itertools.combinations(range(1, len(sites)), 2))
    assert res.objective == pytest.approx(best) and res.proven_optimal
    assert res.coverage["people_covered_before"] == pytest.approx(people[reach[0]].sum())
    assert list(res.sites["order"]) == [1, 2]
    assert res.sites["marginal_people"].iloc[0] >= res.sites["marginal_people"].iloc[1]
    assert isinstance(res.sites, gpd.GeoDataFrame) and res.sites.crs == net.crs
    gap_layer = res.cells[~res.cells["covered_after"]]
    assert gap_layer["people"].sum() == pytest.approx(people.sum() - res.objective)
    assert {"x", "y"} <= set(res.cells.columns)
    assert isinstance(res.summary()["reduction"], dict) and pd.notna(res.gap)
