"""Same MCLP objective as spopt (PySAL) on shared instances."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pulp
import pytest
import scipy.sparse as sp
import spopt.locate as spopt_locate

from planner.optimize import mclp


@pytest.mark.parametrize("seed", range(6))
def test_mclp_objective_equals_spopt(seed):
    rng = np.random.default_rng(seed)
    n_sites, n_cells, radius = 25, 120, 250.0
    sites_xy, cells_xy = rng.random((n_sites, 2)) * 1500, rng.random((n_cells, 2)) * 1500
    dist = np.hypot(*(sites_xy[:, None, :] - cells_xy[None, :, :]).transpose(2, 0, 1))
    w = rng.integers(0, 60, n_cells).astype(float)
    p = int(rng.integers(2, 7))
    r, c = np.nonzero(dist <= radius)
    coverage = sp.csr_matrix((dist[r, c], (r, c)), shape=dist.shape)
    ours = mclp(coverage, w, pd.DataFrame({"status": ["candidate"] * n_sites}), p=p)
    ref = spopt_locate.MCLP.from_cost_matrix(dist.T, w, service_radius=radius, p_facilities=p)
    ref = ref.solve(pulp.PULP_CBC_CMD(msg=False))
    assert ours.objective == pytest.approx(pulp.value(ref.problem.objective))
    assert ours.proven_optimal
