"""Walk-network sources: osmnx online, OSM XML, OSM PBF and GIS line layers.

Every source turns its input into one table of OSM ways (LineStrings in WGS-84 with
``highway``, ``foot``, ``access``, ``sidewalk``, ``osm_id``, ``name``, ``tunnel``, ``bridge``
and ``layer`` columns) and hands it to
:func:`planner.network.build_network`, so all sources share one filter and one noding step.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import geopandas as gpd
import pandas as pd
import pyproj
import shapely

from planner.errors import InputError, OfflineError
from planner.network import WalkNetwork, build_network

T = TypeVar("T")
#: (west, south, east, north), degrees WGS-84.
BBox = tuple[float, float, float, float]

#: OSM way tags the network needs from every source.
WAY_TAGS = ("highway", "foot", "access", "sidewalk", "name", "area", "tunnel", "bridge", "layer")
XML_SUFFIXES = (".osm", ".osm.xml", ".xml", ".osm.bz2", ".xml.bz2")
PBF_SUFFIXES = (".pbf",)
LAYER_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb", ".parquet", ".geoparquet")
#: Seconds OpenStreetMap's geocoder and Overpass servers get to accept a connection before the
#: machine counts as offline (downloads themselves may take minutes).
CONNECT_TIMEOUT_S = 5.0


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for s in XML_SUFFIXES + PBF_SUFFIXES + LAYER_SUFFIXES:
        if name.endswith(s):
            return s
    return path.suffix.lower()


def is_osm_file(path: str | Path) -> bool:
    """Whether ``path`` is OSM data (.osm, .osm.xml, .osm.bz2, .osm.pbf) by its name, rather
    than a GIS line layer."""
    return _suffix(Path(path)) in XML_SUFFIXES + PBF_SUFFIXES


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(f"File {path} does not exist. Check the path (relative to {Path.cwd()}).")
    if path.is_dir():
        raise InputError(f"{path} is a directory; give the OSM or line-layer file inside it.")
    return path


def read_ways(source: str | Path, *, bounding_box: BBox | None = None,
              **kwargs: Any) -> gpd.GeoDataFrame:
    """Read OSM ways from a local file, choosing the reader by its extension.

    ``bounding_box`` (west, south, east, north in degrees WGS-84) reads only the ways that
    reach into it: .osm.pbf files and indexed layers (GeoPackage, FlatGeobuf, GeoParquet with
    a bbox column) never load the rest; OSM XML is read whole, then cut."""
    path = _existing(source)
    suffix = _suffix(path)
    if suffix in XML_SUFFIXES:
        return _ways_in(ways_from_xml(path), bounding_box)
    if suffix in PBF_SUFFIXES:
        return ways_from_pbf(path, bounding_box=None if bounding_box is None
                             else list(bounding_box), **kwargs)
    if suffix in LAYER_SUFFIXES:
        return _ways_in(ways_from_layer(path, bounding_box=bounding_box, **kwargs), bounding_box)
    raise InputError(
        f"Cannot tell the format of {path.name}. Use .osm/.osm.xml/.osm.bz2 (OSM XML), "
        f".osm.pbf, or a line layer ({', '.join(LAYER_SUFFIXES)})."
    )


def _ways_in(ways: gpd.GeoDataFrame, bounding_box: BBox | None) -> gpd.GeoDataFrame:
    """The ways that reach into a lon/lat box (all of them without one)."""
    if bounding_box is None or len(ways) == 0:
        return ways
    box = gpd.GeoSeries([shapely.box(*bounding_box)], crs=4326)
    if ways.crs is not None:
        box = box.to_crs(ways.crs)
    return ways[shapely.intersects(ways.geometry.values, box.iloc[0])]


def load_network(
    source: str | Path,
    *,
    crs: object | None = None,
    tolerance_m: float = 0.0,
    keep: str = "largest",
    min_component_m: float | None = None,
    window: shapely.Geometry | None = None,
    **kwargs: Any,
) -> WalkNetwork:
    """Build a WalkNetwork from a local file (.osm, .osm.bz2, .pbf, GeoJSON/GPKG/SHP lines)
    or from a directory written by ``WalkNetwork.save``.

    ``bounding_box`` (a keyword, degrees WGS-84) reads only the ways reaching into it; the
    component rules ``keep``, ``min_component_m`` and ``window`` (the box in ``crs``) are those
    of :func:`planner.network.build_network`."""
    path = Path(source)
    if path.is_dir() and (path / "network.npz").exists():
        return WalkNetwork.load(path)
    ways = read_ways(path, **kwargs)
    return build_network(ways, crs=crs, tolerance_m=tolerance_m, keep=keep,
                         min_component_m=min_component_m, window=window)


# --- GIS line layers (ogr2ogr "lines" exports and the like) ---------------------------------


def parse_other_tags(other_tags: pd.Series, keys: tuple[str, ...]) -> pd.DataFrame:
    """Extract keys from GDAL's hstore ``other_tags`` text ('"foot"=>"yes","lit"=>"no"')."""
    text = other_tags.astype("string").fillna("")
    return pd.DataFrame(
        {k: text.str.extract(rf'"{k}"=>"((?:[^"\\]|\\.)*)"', expand=False) for k in keys},
        index=other_tags.index,
    )


def ways_from_layer(path: str | Path, layer: str | None = None,
                    bounding_box: BBox | None = None) -> gpd.GeoDataFrame:
    """Read a GeoJSON / GeoPackage / Shapefile / GeoParquet line layer of OSM ways
    (``bounding_box`` in degrees WGS-84: only the features that reach into it)."""
    path = _existing(path)
    try:
        if _suffix(path) in (".parquet", ".geoparquet"):
            gdf = _read_parquet(path, bounding_box)
        else:
            bbox = None if bounding_box is None else _layer_box(path, layer, bounding_box)
            gdf = gpd.read_file(path, layer=layer, bbox=bbox)
    except Exception as exc:  # pyogrio/arrow raise many types for unreadable files
        raise InputError(f"Cannot read {path} as a GIS layer: {exc}. Is it a valid file?") from exc
    if "other_tags" in gdf.columns:
        missing = tuple(k for k in WAY_TAGS if k not in gdf.columns)
        gdf = gdf.join(parse_other_tags(gdf["other_tags"], missing))
    return gdf


def _layer_box(path: Path, layer: str | None, bounding_box: BBox) -> BBox:
    """A lon/lat box in the layer's own CRS, as GDAL's spatial filter takes it."""
    import pyogrio

    crs = pyogrio.read_info(path, layer=layer).get("crs")
    if crs is None:
        return bounding_box
    box = gpd.GeoSeries([shapely.box(*bounding_box)], crs=4326).to_crs(crs)
    return tuple(box.total_bounds)


def _read_parquet(path: Path, bounding_box: BBox | None) -> gpd.GeoDataFrame:
    if bounding_box is None:
        return gpd.read_parquet(path)
    import pyarrow.parquet as pq

    meta = json.loads(pq.read_schema(path).metadata[b"geo"])
    column = meta["primary_column"]
    if "covering" not in meta["columns"][column]:  # no bbox column: read whole, cut afterwards
        return gpd.read_parquet(path)
    crs = meta["columns"][column].get("crs")  # absent: lon/lat (OGC:CRS84)
    box = gpd.GeoSeries([shapely.box(*bounding_box)], crs=4326)
    if crs is not None:
        box = box.to_crs(pyproj.CRS.from_json_dict(crs))
    return gpd.read_parquet(path, bbox=tuple(box.total_bounds))


# --- OSM XML via osmnx ----------------------------------------------------------------------


def _osmnx_settings():
    import osmnx as ox

    wanted = list(dict.fromkeys([*ox.settings.useful_tags_way, *WAY_TAGS]))
    return ox, wanted


def ways_from_osmnx_graph(graph) -> gpd.GeoDataFrame:
    """Turn an unsimplified osmnx graph into a ways table (one row per OSM segment)."""
    import osmnx as ox

    if graph.number_of_edges() == 0:
        raise InputError("The OSM data holds no ways; check the file or the area asked for.")
    edges = ox.convert.graph_to_gdfs(graph, nodes=False, fill_edge_geometry=True)
    edges = edges.reset_index().rename(columns={"osmid": "osm_id"})
    for key in WAY_TAGS:
        if key not in edges.columns:
            edges[key] = None
        else:  # osmnx keeps a list when merged ways disagree; take the first value
            edges[key] = edges[key].map(lambda x: x[0] if isinstance(x, list) else x)
    edges["osm_id"] = edges["osm_id"].map(lambda x: x[0] if isinstance(x, list) else x)
    return edges[["osm_id", *WAY_TAGS, "geometry"]].set_crs(4326, allow_override=True)


def ways_from_xml(path: str | Path) -> gpd.GeoDataFrame:
    """Read OSM XML (.osm, .osm.xml, .osm.bz2) with osmnx ``graph_from_xml``."""
    path = _existing(path)
    ox, wanted = _osmnx_settings()
    saved = ox.settings.useful_tags_way
    ox.settings.useful_tags_way = wanted
    try:
        graph = ox.graph.graph_from_xml(path, bidirectional=True, simplify=False, retain_all=True)
    except Exception as exc:  # osmnx/xml raise ParseError, KeyError, ValueError, ...
        raise InputError(f"Cannot read {path} as OSM XML: {exc}. Is it a valid .osm file?") from exc
    finally:
        ox.settings.useful_tags_way = saved
    return ways_from_osmnx_graph(graph)


def offline_error(host: str, exc: BaseException) -> OfflineError:
    """The one-line error of every online step that cannot reach OpenStreetMap."""
    why = type(exc).__name__
    return OfflineError(
        f"OpenStreetMap cannot be reached ({host}: {why}; is this machine offline?). Pass a "
        "local .osm or .osm.pbf extract instead: [network] source = \"city.osm.pbf\" in the "
        "scenario, or `planner network city.osm.pbf -o net`."
    )


def from_osm_online(download: Callable[[], T]) -> T:
    """``download()`` — an osmnx call — with a short connect timeout; no connection to
    OpenStreetMap's geocoder or Overpass server raises :class:`OfflineError`.

    osmnx has one ``requests_timeout`` for connecting, reading and the Overpass server's own
    query limit; for the call it becomes (``CONNECT_TIMEOUT_S``, the old value) for the HTTP
    requests, while the Overpass query keeps the old value as its limit."""
    import osmnx as ox
    import requests

    saved = ox.settings.requests_timeout, ox.settings.overpass_settings
    read_s = saved[0][-1] if isinstance(saved[0], tuple) else saved[0]
    ox.settings.overpass_settings = saved[1].replace("{timeout}", f"{read_s:g}")
    ox.settings.requests_timeout = (CONNECT_TIMEOUT_S, read_s)
    try:
        return download()
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        host = urlsplit(getattr(exc.request, "url", None) or "").hostname or "openstreetmap.org"
        raise offline_error(host, exc) from None
    finally:
        ox.settings.requests_timeout, ox.settings.overpass_settings = saved


def network_from_osmnx(
    place: str | None = None,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    polygon: shapely.Geometry | None = None,
    crs: object | None = None,
    keep: str = "largest",
) -> WalkNetwork:
    """Download a walk network with osmnx (needs internet) by place name, bbox
    (west, south, east, north in degrees) or polygon (WGS-84), then build it exactly as the
    XML reader does. Without a connection to OpenStreetMap: :class:`OfflineError` within
    seconds (``CONNECT_TIMEOUT_S``)."""
    ox, wanted = _osmnx_settings()
    if sum(x is not None for x in (place, bbox, polygon)) != 1:
        raise InputError("Give exactly one of place, bbox or polygon to download a network.")
    saved = ox.settings.useful_tags_way
    ox.settings.useful_tags_way = wanted
    opts = dict(network_type="walk", simplify=False, retain_all=True)
    try:
        if place is not None:
            graph = from_osm_online(lambda: ox.graph.graph_from_place(place, **opts))
        elif bbox is not None:
            graph = from_osm_online(lambda: ox.graph.graph_from_bbox(bbox, **opts))
        else:
            graph = from_osm_online(lambda: ox.graph.graph_from_polygon(polygon, **opts))
    except OfflineError:
        raise
    except (ox._errors.InsufficientResponseError, TypeError, ValueError) as exc:
        what = f"place {place!r}" if place else "area"
        raise InputError(
            f"OpenStreetMap returned nothing for the {what}: {exc}. Check the spelling "
            "(e.g. '迎泽区, 太原市, 山西省, 中国'), or give a bbox/polygon, or a local file."
        ) from exc
    finally:
        ox.settings.useful_tags_way = saved
    return build_network(ways_from_osmnx_graph(graph), crs=crs, keep=keep)


# --- OSM PBF via pyrosm ---------------------------------------------------------------------


def ways_from_pbf(path: str | Path, bounding_box: list[float] | None = None) -> gpd.GeoDataFrame:
    """Read every way with a highway tag from an .osm.pbf file with pyrosm."""
    import pyrosm

    path = _existing(path)
    try:
        osm = pyrosm.OSM(str(path), bounding_box=bounding_box)
        ways = osm.get_network(network_type="all", extra_attributes=["area", "layer"])
    except Exception as exc:  # pyrosm raises plain Exceptions for corrupt files
        raise InputError(f"Cannot read {path} as OSM PBF: {exc}. Is it a valid .osm.pbf?") from exc
    if ways is None or len(ways) == 0:
        raise InputError(f"{path} holds no ways with a highway tag; check the extract's area.")
    ways = ways.rename(columns={"id": "osm_id"})
    for key in WAY_TAGS:
        if key not in ways.columns:
            ways[key] = None
    return ways[["osm_id", *WAY_TAGS, "geometry"]]
