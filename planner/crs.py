"""The one check of a working coordinate system: projected, with both axes in metres.

Every distance, cell size and walking radius of the planner is in metres, so the network, the
demand grid, the facilities and the optimisation all work in such a CRS. A projected CRS in
feet (e.g. EPSG:2263, US survey feet) or a geographic one (degrees) is refused with the unit
found and the fix, never silently measured in the wrong unit.
"""

from __future__ import annotations

import pyproj

from planner.errors import CRSError, InputError

#: What to use instead, named in every refusal (Shanxi spans UTM zones 49 and 50).
METRIC_CRS_HINT = (
    "name a projected CRS in metres: the UTM zone of the area (EPSG:32649 or EPSG:32650 for "
    "Shanxi) or CGCS2000 / 3-degree Gauss-Kruger (EPSG:4546 for CM 111E, EPSG:4547 for CM "
    "114E)"
)

_METRE_NAMES = {"metre", "meter", "metres", "meters", "m"}


def _is_metre(axis: pyproj._crs.Axis) -> bool:
    return axis.unit_name.lower() in _METRE_NAMES or (
        axis.unit_auth_code == "EPSG" and axis.unit_code == "9001"
    )


def axis_unit(crs: pyproj.CRS) -> str:
    """The unit of the CRS's horizontal axes, as PROJ names it ("metre", "US survey foot", …)."""
    units = {a.unit_name for a in crs.axis_info[:2]}
    return " / ".join(sorted(units)) if units else "unknown"


def require_metric_crs(crs: object, what: str = "working CRS") -> pyproj.CRS:
    """``crs`` as a pyproj CRS, which must be projected with both horizontal axes in metres.

    Args:
        crs: anything pyproj reads (``"EPSG:4547"``, an int, a WKT string, a pyproj CRS).
        what: what the CRS belongs to, named in the error (e.g. "working CRS of the network").

    Raises:
        CRSError: no CRS, a geographic CRS (degrees) or a projected one in another unit
            (feet); the message names the unit found and the fix.
        InputError: text pyproj cannot read.
    """
    if crs is None:
        raise CRSError(f"The {what} has no coordinate reference system; {METRIC_CRS_HINT}.")
    try:
        out = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        raise InputError(
            f"The {what} {crs!r} is not a coordinate reference system pyproj knows ({exc}); "
            f"{METRIC_CRS_HINT}."
        ) from None
    axes = out.axis_info[:2]
    if not out.is_projected or not axes or not all(_is_metre(a) for a in axes):
        kind = "geographic (degrees)" if out.is_geographic else f"in {axis_unit(out)}"
        raise CRSError(
            f"The {what} {out.to_string()} ({out.name}) is not projected in metres: it is "
            f"{kind}. Distances are measured in metres, so {METRIC_CRS_HINT}."
        )
    return out
