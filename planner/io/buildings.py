"""Buildings as homes: reading footprints from every OSM source and GIS layers, deciding which
buildings house people, and their residential floor area.

Chinese OSM tags most housing ``building=yes``, so homes cannot be found by residential tags
alone. The ``building_use`` rule (``residential`` / ``all`` / ``auto``) and the evidence that
rules a building out (its type, use keys such as ``shop``, commercial or industrial land use
around it, a shed-sized footprint) are set in ``data/standards/population.toml``.
"""

from __future__ import annotations

import json
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.errors import CRSError, InputError, NoPeopleError
from planner.network import check_crs
from planner.paths import STANDARDS_DIR
from planner.standards_schema import PopulationFile, validate

BuildingUse = Literal["residential", "all", "auto"]
BUILDING_USES = ("residential", "all", "auto")
#: Column holding the land use around each building (see :func:`attach_landuse`).
LANDUSE_COLUMN = "within_landuse"
#: Column counting the shop/office/amenity points inside each building (:func:`attach_uses`).
USES_COLUMN = "use_points"
#: Why a building is not counted as a home (keys of ``BuildingEstimate.excluded``).
EXCLUSION_REASONS = {
    "type": "non-residential building type",
    "use_tag": "shop/amenity/office/… tag on the building",
    "landuse": "inside commercial/industrial/retail land use",
    "small": "shed-sized footprint",
    "one_storey_use": "one storey holding shops, offices or other uses (points inside)",
    "generic": "generic building=yes under the residential rule",
}


@dataclass(frozen=True)
class BuildingDefaults:
    """How residents are estimated from buildings (see ``data/standards/population.toml``).

    Attributes:
        m2_per_person: gross residential floor area per resident (m²).
        default_levels: storeys of an untagged building.
        small_levels: storeys of an untagged low-rise house type (``small_types``).
        storey_height_m: metres per storey when only ``height`` is tagged.
        small_types: building=* values of low-rise houses.
        residential: building=* values where people live.
        generic: building=* values that say nothing about use.
        non_residential: building=* values where nobody lives.
        use_keys: OSM keys that, on a generic building, mark a non-residential use.
        non_residential_landuse: landuse=* values whose generic buildings are not homes.
        min_footprint_m2: generic buildings with a smaller footprint are sheds, not homes (m²).
        auto_share: ``auto`` keeps to residential tags when they hold at least this share
            (0–1) of the footprint of the buildings that may be homes.
        street_furniture: amenity=* values of points that say nothing about a building's use
            (benches, vending machines …).
    """

    m2_per_person: float
    default_levels: float
    small_levels: float
    storey_height_m: float
    small_types: tuple[str, ...]
    residential: tuple[str, ...]
    generic: tuple[str, ...]
    non_residential: tuple[str, ...] = ()
    use_keys: tuple[str, ...] = ()
    non_residential_landuse: tuple[str, ...] = ()
    min_footprint_m2: float = 0.0
    auto_share: float = 0.5
    street_furniture: tuple[str, ...] = ()


def read_settings(path: str | Path) -> dict:
    """A TOML settings file as a dict; a missing or malformed file is an InputError."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"Settings file {path} does not exist; check the path.") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"Settings file {path} is not valid TOML: {exc}. Fix the syntax.") from exc


def load_building_defaults(path: str | Path | None = None, **overrides: Any) -> BuildingDefaults:
    """Read the building defaults, with keyword overrides (e.g. ``m2_per_person=30``)."""
    path = Path(path or STANDARDS_DIR / "population.toml")
    t = validate(PopulationFile, read_settings(path), str(path),
                 f"Copy {STANDARDS_DIR / 'population.toml'} and edit it.")
    values = dict(
        m2_per_person=t.floor_area.m2_per_person,
        default_levels=t.levels.default,
        small_levels=t.levels.small,
        storey_height_m=t.levels.storey_height_m,
        small_types=tuple(t.levels.small_types),
        residential=tuple(t.tags.residential),
        generic=tuple(t.tags.generic),
        non_residential=tuple(t.tags.non_residential),
        use_keys=tuple(t.tags.use_keys),
        non_residential_landuse=tuple(t.landuse.non_residential),
        min_footprint_m2=t.small_buildings.min_footprint_m2,
        auto_share=t.auto.residential_share,
        street_furniture=tuple(t.ground_floor.street_furniture),
    )
    unknown = set(overrides) - set(values)
    if unknown:
        raise InputError(f"Unknown building settings {sorted(unknown)}; known: {sorted(values)}.")
    values.update({k: v for k, v in overrides.items() if v is not None})
    if values["m2_per_person"] <= 0 or values["default_levels"] <= 0:
        raise InputError("Floor area per person and default levels must be positive numbers.")
    if not 0 <= values["auto_share"] <= 1:
        raise InputError(f"auto_share {values['auto_share']} is not a share between 0 and 1.")
    return BuildingDefaults(**values)


# --- coordinates -----------------------------------------------------------------------------


def check_lonlat(frame: gpd.GeoDataFrame | gpd.GeoSeries, what: str) -> None:
    """Raise a CRSError when a layer in degrees has longitude and latitude swapped (latitudes
    beyond ±90 while longitudes stay within ±90), has no CRS, or holds metres labelled
    degrees."""
    if frame.crs is not None and frame.crs.is_geographic and len(frame):
        x0, y0, x1, y1 = frame.total_bounds
        swapped = (np.isfinite([x0, y0, x1, y1]).all() and not (-90 <= y0 and y1 <= 90)
                   and -90 <= x0 and x1 <= 90 and -180 <= y0 and y1 <= 180)
        if swapped:
            raise CRSError(
                f"The {what} has longitude and latitude swapped: its y values reach "
                f"{max(abs(y0), abs(y1)):.4f}, beyond ±90, while x stays within ±90. Write "
                "the coordinates as [longitude, latitude] (GeoJSON order), or swap the "
                "columns before exporting."
            )
    check_crs(frame, what)  # no CRS, or metres labelled degrees


# --- reading ---------------------------------------------------------------------------------


def osm_format(path: str | Path) -> Literal["xml", "pbf"] | None:
    """'xml' for .osm/.osm.xml/.osm.bz2 (the suffixes the network reads), 'pbf' for .pbf."""
    from planner.io.osm import PBF_SUFFIXES, XML_SUFFIXES

    name = Path(path).name.lower()
    if name.endswith(XML_SUFFIXES):
        return "xml"
    if name.endswith(PBF_SUFFIXES):
        return "pbf"
    return None


def _from_pbf(path: Path, bounding_box: list[float] | None = None
              ) -> tuple[gpd.GeoDataFrame | None, ...]:
    import warnings

    import pyrosm

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # pyrosm's own pandas warnings
            osm = pyrosm.OSM(str(path), bounding_box=bounding_box,
                             complete_relations=bounding_box is not None)
            frame = osm.get_buildings()
            landuse = osm.get_landuse()
            pois = osm.get_pois(custom_filter={k: True for k in load_building_defaults().use_keys})
    except Exception as exc:  # pyrosm raises plain Exceptions for corrupt files
        raise InputError(f"Cannot read buildings from {path}: {exc}. Is it an .osm.pbf?") from exc
    if frame is not None and "tags" in frame.columns:  # pyrosm keeps the other keys as JSON
        extra = frame["tags"].map(lambda t: json.loads(t) if isinstance(t, str) else {})
        for key in ("tourism", "leisure", "craft", "industrial", "healthcare"):
            if key not in frame.columns:
                frame[key] = extra.map(lambda t, key=key: t.get(key))
    return frame, landuse, pois


def osm_feature_tags() -> dict[str, bool]:
    """The OSM tags to fetch (osmnx ``tags=``) for buildings, land use and use points."""
    return {"building": True, "landuse": True,
            **{k: True for k in load_building_defaults().use_keys}}


def split_features(features: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame | None, ...]:
    """osmnx features → (buildings, land-use polygons, use points)."""
    features = features.reset_index(drop=True)
    has = {k: features[k].notna() if k in features.columns else
           pd.Series(False, index=features.index) for k in ("building", "landuse")}
    points = features.geometry.geom_type == "Point"
    return (features[has["building"]] if has["building"].any() else None,
            features[has["landuse"]] if has["landuse"].any() else None,
            features[points & ~has["building"]])


def _from_xml(path: Path) -> tuple[gpd.GeoDataFrame | None, ...]:
    import osmnx as ox

    try:
        features = ox.features.features_from_xml(path, tags=osm_feature_tags())
    except Exception as exc:  # osmnx/xml raise ParseError, KeyError, ValueError, ...
        raise InputError(f"Cannot read {path} as OSM XML: {exc}. Is it a valid .osm file?") from exc
    return split_features(features)


def _landuse_polygons(landuse: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    if landuse is None or len(landuse) == 0 or "landuse" not in landuse.columns:
        return None
    polygonal = landuse.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
    out = landuse.loc[polygonal & landuse["landuse"].notna(), ["landuse", "geometry"]]
    return out.reset_index(drop=True) if len(out) else None


def read_layer(source: str | Path | gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    """A GIS layer (GeoJSON, GeoPackage, Shapefile, GeoParquet …) or a GeoDataFrame as is;
    ``what`` names it in errors."""
    if isinstance(source, gpd.GeoDataFrame):
        return source
    path = Path(source)
    if not path.is_file():
        raise InputError(f"The {what} file {path} does not exist; check the path.")
    try:
        if path.suffix.lower() in (".parquet", ".geoparquet"):
            return gpd.read_parquet(path)
        return gpd.read_file(path)
    except Exception as exc:  # pyogrio/arrow raise many types for unreadable files
        raise InputError(f"Cannot read the {what} {path}: {exc}. Is it a GIS layer?") from exc


def read_buildings(source: str | Path | gpd.GeoDataFrame,
                   bounding_box: list[float] | None = None) -> gpd.GeoDataFrame:
    """Building polygons with ``building`` and, when tagged, ``building:levels``, ``height`` and
    use keys (``shop``, ``amenity`` …), from OSM XML (.osm, .osm.xml, .osm.bz2), .osm.pbf, a GIS
    layer (GDAL ``other_tags`` is parsed) or a GeoDataFrame.

    For OSM files, the land use around each building (``landuse=*`` polygons of the same file)
    is in the ``within_landuse`` column and the shop/office/amenity points inside it are
    counted in ``use_points`` (see :func:`attach_landuse`, :func:`attach_uses`).
    ``bounding_box`` ([west, south, east, north], degrees) reads only that part of a .osm.pbf.
    """
    landuse = pois = kind = None
    if isinstance(source, gpd.GeoDataFrame):
        frame = source
    else:
        path = Path(source)
        kind = osm_format(path)
        if kind is not None and not path.is_file():
            raise InputError(f"OSM file {path} does not exist; check the path.")
        if kind == "pbf":
            frame, landuse, pois = _from_pbf(path, bounding_box)
        elif kind == "xml":
            frame, landuse, pois = _from_xml(path)
        else:
            frame = read_layer(path, "building")
        if frame is None or (kind is not None and len(frame) == 0):
            raise NoPeopleError(f"{path} holds no buildings (no way tagged building=*)"
                                + (" in the area read." if bounding_box else "."))
    if "other_tags" in frame.columns:
        from planner.io.osm import parse_other_tags

        d = load_building_defaults()
        wanted = tuple(k for k in ("building", "building:levels", "height", *d.use_keys)
                       if k not in frame.columns)
        frame = frame.join(parse_other_tags(frame["other_tags"], wanted))
    if "building" not in frame.columns:
        raise InputError(
            f"The building layer has no 'building' column (columns: "
            f"{[c for c in frame.columns if c != 'geometry'][:12]}). Give OSM buildings "
            "(building=*) or rename the use column to 'building'."
        )
    check_lonlat(frame, "building layer")
    polygonal = frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
    frame = frame[polygonal & frame["building"].notna()].copy()
    if len(frame) == 0:
        raise InputError("The building layer holds no building polygons.")
    if kind is None:
        return frame
    return attach_uses(attach_landuse(frame, landuse), pois)


def attach_uses(buildings: gpd.GeoDataFrame, points: gpd.GeoDataFrame | None
                ) -> gpd.GeoDataFrame:
    """The buildings with a ``use_points`` column: how many points tagged with a use key
    (``shop``, ``office``, ``amenity`` … but not street furniture such as benches) lie inside
    each footprint."""
    out = buildings.copy()
    counts = np.zeros(len(out), dtype=np.int64)
    d = load_building_defaults()
    if points is not None and len(points) and len(out):
        pts = points[points.geometry.geom_type == "Point"]
        amenity = _tag(pts, "amenity")
        furniture = amenity.isin(d.street_furniture)
        other = np.zeros(len(pts), dtype=bool)
        for key in d.use_keys:
            if key != "amenity":
                other |= (_tag(pts, key) != "").to_numpy()
        pts = pts[((amenity != "") & ~furniture).to_numpy() | other]
        if len(pts):
            geoms = pts.to_crs(out.crs).geometry.to_numpy()
            _, bi = shapely.STRtree(out.geometry.to_numpy()).query(geoms, predicate="within")
            counts = np.bincount(bi, minlength=len(out))
    out[USES_COLUMN] = counts
    return out


def attach_landuse(
    buildings: gpd.GeoDataFrame, landuse: gpd.GeoDataFrame | None
) -> gpd.GeoDataFrame:
    """The buildings with a ``within_landuse`` column: the ``landuse=*`` value of the polygon
    holding each building's representative point (a non-residential value of
    ``population.toml`` wins where polygons nest; empty outside every polygon)."""
    out = buildings.copy()
    values = np.full(len(out), "", dtype=object)
    polys = _landuse_polygons(landuse)
    if polys is not None and len(out):
        check_lonlat(polys, "land-use layer")
        polys = polys.to_crs(out.crs)
        geoms = shapely.make_valid(polys.geometry.to_numpy())
        kinds = polys["landuse"].astype(str).str.lower().to_numpy()
        pts = shapely.point_on_surface(out.geometry.to_numpy())
        bi, li = shapely.STRtree(geoms).query(pts, predicate="within")
        strong = np.isin(kinds[li], load_building_defaults().non_residential_landuse)
        order = np.argsort(strong, kind="stable")  # non-residential values written last
        values[bi[order]] = kinds[li[order]]
    out[LANDUSE_COLUMN] = values
    return out


# --- which buildings are homes -----------------------------------------------------------------


@dataclass
class BuildingEstimate:
    """Buildings counted as homes and their floor area.

    Attributes:
        footprints: polygons (grid CRS) of the buildings counted as homes.
        floor_m2: residential floor area of each (m²) = footprint × storeys.
        rule: the rule applied (``residential`` or ``all``; ``auto`` resolves to one).
        requested: the rule asked for (``residential``, ``all`` or ``auto``).
        residential_share: share (0–1) of the footprint that may be homes carrying a
            residential tag (what ``auto`` decides on).
        buildings: buildings read.
        excluded: buildings not counted, by reason (keys of ``EXCLUSION_REASONS``).
        notes: plain sentences on the rule, the exclusions and the assumptions.
    """

    footprints: np.ndarray
    floor_m2: np.ndarray
    rule: str
    requested: str
    residential_share: float
    buildings: int
    excluded: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def info(self) -> dict[str, Any]:
        """The rule and counts as a JSON-serialisable dict (for ``grid.meta``)."""
        return {"building_use": self.requested, "rule": self.rule,
                "residential_share": round(self.residential_share, 4),
                "buildings": self.buildings, "used": len(self.footprints),
                "excluded": dict(self.excluded), "floor_area_m2": float(self.floor_m2.sum())}


def _tag(frame: gpd.GeoDataFrame, key: str) -> pd.Series:
    if key not in frame.columns:
        return pd.Series("", index=frame.index, dtype="string")
    return frame[key].astype("string").str.strip().str.lower().fillna("")


def _number(series: pd.Series | None, n: int) -> np.ndarray:
    if series is None:
        return np.full(n, np.nan)
    text = series.astype("string").str.extract(r"(\d+(?:\.\d+)?)", expand=False)
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def residential_floor_area(
    buildings: gpd.GeoDataFrame,
    crs: object,
    defaults: BuildingDefaults | None = None,
    use: BuildingUse = "auto",
) -> BuildingEstimate:
    """Which buildings are homes, and their gross floor area (m²) = footprint × storeys.

    ``use``: ``residential`` counts building=* values in ``defaults.residential``; ``all`` adds
    every other building except the evidently non-residential (a non-residential type, a use
    key such as ``shop`` or ``amenity`` on a generic building, a generic building whose
    ``within_landuse`` is commercial/industrial/retail…, or a generic footprint below
    ``defaults.min_footprint_m2``); ``auto`` applies ``residential`` when residential tags hold
    at least ``defaults.auto_share`` of the footprint of the buildings ``all`` would count, and
    ``all`` otherwise; a one-storey generic building holding shop/office/… points
    (``use_points``) is left out too. Storeys come from ``building:levels``, else ``height`` ÷
    storey height, else the defaults; a building with use points has homes above its ground
    floor only.
    """
    if use not in BUILDING_USES:
        raise InputError(f"building_use={use!r} is not one of {', '.join(BUILDING_USES)}.")
    d = defaults or load_building_defaults()
    check_crs(buildings, "building layer")
    kind = _tag(buildings, "building")
    geoms = buildings.to_crs(crs).geometry.to_numpy()
    area = shapely.area(geoms)
    levels, untagged = _storeys(buildings, kind, d)
    uses = _number(buildings.get(USES_COLUMN), len(kind)) > 0
    residential = kind.isin(d.residential).to_numpy()
    typed = kind.isin(d.non_residential).to_numpy() & ~residential
    other = ~residential & ~typed  # generic building=yes and values in no list
    use_tag = np.zeros(len(kind), dtype=bool)
    for key in d.use_keys:
        value = _tag(buildings, key)
        use_tag |= (value != "").to_numpy() & ~value.isin(("no", "none")).to_numpy()
    use_tag &= other
    landuse = (_tag(buildings, LANDUSE_COLUMN).isin(d.non_residential_landuse).to_numpy()
               & other & ~use_tag)
    small = other & ~use_tag & ~landuse & (area < d.min_footprint_m2)
    one_storey_use = other & ~use_tag & ~landuse & ~small & uses & (levels < 2)
    candidates = other & ~use_tag & ~landuse & ~small & ~one_storey_use
    homes_area = float(area[residential].sum())
    share = homes_area / max(homes_area + float(area[candidates].sum()), 1e-9)
    rule = use if use != "auto" else ("residential" if share >= d.auto_share else "all")
    keep = residential | candidates if rule == "all" else residential
    excluded = {"type": int(typed.sum()), "use_tag": int(use_tag.sum()),
                "landuse": int(landuse.sum()), "small": int(small.sum()),
                "one_storey_use": int(one_storey_use.sum())}
    if rule == "residential":
        excluded = {"type": int(typed.sum()), "generic": int(other.sum())}
    excluded = {k: v for k, v in excluded.items() if v}
    notes = [_rule_note(use, rule, share, d, int(residential.sum()), int(keep.sum()), len(kind))]
    notes += [f"{n} building{'s' * (n != 1)} left out: {EXCLUSION_REASONS[k]}"
              + _examples(kind, k, typed) for k, n in excluded.items()]
    unlisted = Counter(kind[keep & other & ~kind.isin(d.generic).to_numpy()])
    if unlisted:
        notes.append("Building types in no list of population.toml, counted as generic: "
                     + ", ".join(f"{k} ×{v}" for k, v in unlisted.most_common(6)) + ".")
    if not keep.any():
        raise InputError(
            f"No building counts as a home under the {rule!r} rule ({len(kind)} buildings: "
            f"{', '.join(f'{k} ×{v}' for k, v in Counter(kind).most_common(4))}). Use census "
            "or raster population for this area, or building_use = 'all' if homes are tagged "
            "building=yes."
        )
    if (keep & untagged).any():
        notes.append(
            f"{int((keep & untagged).sum())} of {int(keep.sum())} buildings counted as homes "
            f"have no levels or height tag; assumed {d.default_levels:g} storeys "
            f"({d.small_levels:g} for houses).")
    shop_floor = keep & uses & (levels >= 2)
    if shop_floor.any():
        n = int(shop_floor.sum())
        notes.append(f"{n} building{'s' * (n != 1)} counted as homes hold{'s' * (n == 1)} "
                     "shops, offices or other uses (points inside): the ground floor is not "
                     "counted as homes.")
    homes = levels - shop_floor
    return BuildingEstimate(geoms[keep], (area * homes)[keep], rule, use, share, len(kind),
                            excluded, notes)


def _rule_note(use, rule, share, d, n_res, n_keep, n) -> str:
    why = ""
    if use == "auto":
        cmp = "≥" if rule == "residential" else "<"
        why = (f" (building_use = 'auto': residential tags hold {share:.0%} of the footprint that "
               f"may be homes, {cmp} {d.auto_share:.0%})")
    what = ("only buildings tagged as homes" if rule == "residential"
            else "every building not evidently non-residential")
    return (f"Homes: {what}{why}; {n_keep:,} of {n:,} buildings counted, {n_res:,} of them "
            "tagged residential.")


def _examples(kind: pd.Series, reason: str, typed: np.ndarray) -> str:
    if reason != "type":
        return "."
    top = Counter(kind[typed]).most_common(4)
    return " (" + ", ".join(f"{k} ×{v}" for k, v in top) + ")."


def _storeys(buildings: gpd.GeoDataFrame, kind: pd.Series, d: BuildingDefaults
             ) -> tuple[np.ndarray, np.ndarray]:
    """Storeys of every building (``building:levels``, else ``height`` ÷ storey height, else
    the defaults) and which had neither tag."""
    n = len(buildings)
    levels = _number(buildings.get("building:levels"), n)
    height = _number(buildings.get("height"), n)
    levels = np.where(np.isfinite(levels) & (levels > 0) & (levels < 200), levels, np.nan)
    from_height = ~np.isfinite(levels) & (height > 0) & (height < 700)
    levels[from_height] = np.maximum(np.round(height[from_height] / d.storey_height_m), 1)
    untagged = ~np.isfinite(levels)
    small = kind.isin(d.small_types).to_numpy()
    levels[untagged] = np.where(small[untagged], d.small_levels, d.default_levels)
    return levels, untagged
