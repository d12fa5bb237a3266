"""A window of a larger area: the residents one run analyses, and the streets and facilities
that can serve them.

A province is run one unit at a time. Each unit reads only the streets and facilities within a
halo around it, wide enough that every walk its residents can make within the search bound
stays inside: a resident near the unit's border is credited with facilities across it, and
the unit's figures equal those of one run over the whole area.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyproj
import shapely

from planner.cache import fingerprint
from planner.facilities import OUTSIDE
from planner.io.area import lonlat_box

#: (west, south, east, north), degrees WGS-84.
BBox = tuple[float, float, float, float]


def halo_m(search_bound_m: float, max_access_m: float, cell_m: float) -> float:
    """How far beyond a unit (metres) facilities can still serve its residents.

    A cell whose area lies partly in the unit has its centre within a cell's diagonal of it; it
    joins the streets within ``max_access_m``, walks at most ``search_bound_m`` and reaches a
    facility that joined the streets within ``max_access_m`` of it."""
    return search_bound_m + 2 * max_access_m + cell_m * 2 ** 0.5 + 1.0


@dataclass(frozen=True)
class Window:
    """The parts of a larger area one run reads (polygons in ``crs``, metres).

    Attributes:
        residents: the area whose residents the run analyses; new sites are proposed in it.
        halo_m: facilities within this distance of ``residents`` are read.
        access_m: streets are read this much farther still (a facility's way to the street).
        crs: the working CRS, the same for every window of the area.
        min_component_m: street components shorter than this are dropped (metres), unless they
            run out of the window; see :func:`planner.network.build_network`.
    """

    residents: shapely.Geometry
    halo_m: float
    access_m: float
    crs: pyproj.CRS
    min_component_m: float

    @property
    def reach(self) -> shapely.Geometry:
        """Facilities within this polygon can serve the residents."""
        return self.residents.buffer(self.halo_m)

    @property
    def streets(self) -> shapely.Geometry:
        """The box streets are read for (working CRS)."""
        return shapely.box(*self.residents.buffer(self.halo_m + self.access_m).bounds)

    def lonlat_box(self) -> BBox:
        """:attr:`streets` as (west, south, east, north) in degrees, slightly widened."""
        # about 10 m of padding: the box survives the round trip between CRSs
        return tuple(lonlat_box(self.streets.bounds, self.crs, pad_deg=1e-4))

    def key(self) -> str:
        """A fingerprint of the window, for cache keys."""
        return fingerprint(shapely.to_wkb(self.residents).hex(), self.halo_m, self.access_m,
                           self.crs.to_wkt(), self.min_component_m)


def without_rows_beyond(audit: pd.DataFrame, dropped: pd.DataFrame
                        ) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """A window's facility audit and dropped rows without the input rows that lie beyond its
    reach (the province's own audit accounts for those), and how many they were."""
    if not len(dropped) or not len(audit):
        return audit, dropped, 0

    def keys(frame: pd.DataFrame) -> pd.Series:
        return frame["source"].astype(str) + "\n" + frame["ref"].astype(str)

    beyond = (dropped["reason"] == OUTSIDE).to_numpy()
    only = set(keys(dropped)[beyond]) - set(keys(dropped)[~beyond])
    rows = (audit["outcome"] == "dropped") & keys(audit).isin(only)
    return (audit[~rows].reset_index(drop=True), dropped[~beyond].reset_index(drop=True),
            int(rows.sum()))
