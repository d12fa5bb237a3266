"""One metric-CRS rule: the network, the demand grid and the facilities accept and refuse alike."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from planner.crs import require_metric_crs
from planner.demand import grid_from_cells
from planner.errors import CRSError, InputError
from planner.network import build_network

WAYS = gpd.GeoDataFrame(
    {"highway": ["footway", "footway"]},
    geometry=[shapely.LineString([(112.55, 37.87), (112.551, 37.87)]),
              shapely.LineString([(112.551, 37.87), (112.551, 37.871)])],
    crs=4326,
)

REFUSED = {
    "EPSG:2263": "US survey foot",  # NAD83 / New York Long Island (ftUS)
    "EPSG:2249": "US survey foot",
    "EPSG:4326": "geographic",
    "EPSG:4490": "geographic",  # CGCS2000 longitude/latitude
}
ACCEPTED = ["EPSG:4547", "EPSG:4546", "EPSG:32649", "EPSG:32650"]


def _network(crs):
    return build_network(WAYS, crs=crs)


def _grid(crs):
    return grid_from_cells([0], [0], {"total": np.array([5.0])}, cell_m=100, crs=crs)


@pytest.mark.parametrize("crs", sorted(REFUSED))
@pytest.mark.parametrize("entry", [_network, _grid, require_metric_crs])
def test_non_metric_crs_refused_everywhere_with_unit_and_fix(entry, crs):
    with pytest.raises(CRSError) as info:
        entry(crs)
    msg = str(info.value)
    assert REFUSED[crs] in msg and "not projected in metres" in msg
    assert "EPSG:4547" in msg and "UTM" in msg  # the fix


@pytest.mark.parametrize("crs", ACCEPTED)
def test_metric_crs_accepted_everywhere(crs):
    net = _network(crs)
    assert net.crs.equals(require_metric_crs(crs))
    assert _grid(crs).cells.crs.equals(require_metric_crs(crs))
    # the two ways are about 88 m and 111 m long whatever metric CRS measures them
    assert net.edge_length.sum() == pytest.approx(88.0 + 111.2, rel=0.01)


def test_feet_network_is_not_measured_in_feet():
    """The US-feet CRS once passed and reported feet as metres; now it stops before measuring."""
    with pytest.raises(CRSError, match="US survey foot"):
        build_network(WAYS, crs="EPSG:2263")


def test_missing_and_unreadable_crs():
    with pytest.raises(CRSError, match="no coordinate reference system"):
        require_metric_crs(None, "network")
    with pytest.raises(InputError, match="not a coordinate reference system pyproj knows"):
        require_metric_crs("not a crs")
    assert build_network(WAYS).crs.is_projected  # no CRS named: the UTM zone
