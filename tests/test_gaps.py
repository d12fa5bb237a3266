"""Gap areas: grid adjacency against networkx, clustering and ranking on hand-built grids."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.errors import InputError
from planner.gaps import gap_areas, gap_cells, grid_index, label_areas
from planner.standards import load_categories, load_speeds
from tests.test_coverage import X0, grid


def components_nx(ij: np.ndarray, queen: bool) -> list[set[int]]:
    g = nx.Graph()
    g.add_nodes_from(range(len(ij)))
    for a in range(len(ij)):
        for b in range(a + 1, len(ij)):
            di, dj = abs(ij[a] - ij[b])
            if (di + dj == 1) or (queen and di == 1 and dj == 1):
                g.add_edge(a, b)
    return sorted(map(frozenset, nx.connected_components(g)), key=min)


@settings(max_examples=40, deadline=None)
@given(
    st.sets(st.tuples(st.integers(0, 7), st.integers(0, 7)), min_size=1, max_size=30),
    st.booleans(),
)
def test_areas_match_networkx(cells, queen):
    ij = np.array(sorted(cells))
    label = label_areas(ij, "queen" if queen else "rook")
    mine = sorted((frozenset(np.nonzero(label == k)[0].tolist()) for k in np.unique(label)), key=min)
    assert mine == components_nx(ij, queen)


def test_diagonal_cells_join_only_under_queen():
    ij = np.array([[0, 0], [1, 1], [3, 0]])
    assert len(set(label_areas(ij, "queen")[:2])) == 1
    assert len(set(label_areas(ij, "rook").tolist())) == 3


def test_irregular_grid_is_refused():
    xy = np.array([[0.0, 0.0], [100.0, 0.0], [130.0, 0.0]])
    with pytest.raises(InputError, match="regular grid"):
        grid_index(xy, 100.0)


def test_gap_areas_ranked_by_uncovered_people():
    cats, speeds = load_categories(), load_speeds()
    #  row 1:  .  X  X  .  X
    #  row 0:  X  .  .  .  X      X = uncovered (pharmacy, 500 m)
    cells = grid(5, 2, total=[5, 1, 1, 1, 40, 1, 7, 8, 1, 2])
    far, near = 900.0, 100.0
    d = np.array([far, near, near, near, far, near, far, far, near, far])
    gaps = gap_cells({"pharmacy": d}, cells, cats)
    assert sorted(gaps["cell_id"]) == [0, 4, 6, 7, 9]
    areas = gap_areas(gaps, cats)
    # queen: {0, 6, 7} (0 and 6 touch at a corner) = 20 people; {4, 9} = 42 people
    assert areas["people"].tolist() == [42, 20]
    assert areas["rank"].tolist() == [1, 2]
    assert areas["cells"].tolist() == [2, 3]
    assert areas["area_km2"].tolist() == [0.02, 0.03]
    assert areas.geometry.iloc[0].bounds == (X0 + 400, 4_180_000.0, X0 + 500, 4_180_200.0)
    rook = gap_areas(gap_cells({"pharmacy": d}, cells, cats, connectivity="rook"), cats)
    assert rook["people"].tolist() == [42, 15, 5]
    # time mode: 10 min at 1.2 m/s = 720 m still leaves the 900 m cells uncovered
    timed = gap_cells({"pharmacy": d}, cells, cats, mode="time", speeds=speeds)
    assert sorted(timed["cell_id"]) == [0, 4, 6, 7, 9]


def test_gaps_use_the_served_group_and_skip_empty_cells():
    cats = load_categories()
    cells = grid(3, 1, total=[10, 10, 10], age_60_plus=[0, 3, 4])
    d = {"elderly_day_care": np.full(3, np.inf)}
    gaps = gap_cells(d, cells, cats)
    assert gaps["cell_id"].tolist() == [1, 2]
    assert gaps["group"].unique().tolist() == ["age_60_plus"]
    areas = gap_areas(gaps, cats)
    assert areas["people"].tolist() == [7] and areas["people_total"].tolist() == [20]


def test_no_gaps_gives_empty_layer():
    cats = load_categories()
    cells = grid(2, 1, total=[1, 1])
    gaps = gap_cells({"pharmacy": np.zeros(2)}, cells, cats)
    assert len(gaps) == 0
    assert len(gap_areas(gaps, cats)) == 0
