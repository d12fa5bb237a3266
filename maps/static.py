"""Static gap maps: one PNG per category at print resolution, for reports and slides.

Drawn offline with matplotlib (Agg, no display needed) from the same data and colours as the
HTML gap map: streets of the walk network, demand cells shaded by walking time at the speed of
the group the category serves, existing facilities, gap areas with their rank numbers and the
proposed sites with their order. Chinese renders with the bundled CJK font
(:mod:`planner.fonts`), whatever fonts the machine has.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import shapely
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import to_rgba_array
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from planner.errors import InputError
from planner.fonts import matplotlib_family
from planner.maps.labels import (
    CATEGORY_STYLE,
    GAP_COLOUR,
    PALETTE,
    STREET_COLOUR,
    TIME_CLASSES,
    group_name,
    text,
    time_class_labels,
)
from planner.standards import Category

if TYPE_CHECKING:
    from planner.network import WalkNetwork

MM = 1 / 25.4  # inches per millimetre
#: Width of the figure (mm): the text width of an A4 page with 25 mm margins.
WIDTH_MM = 160.0
DPI = 300
#: Gap areas labelled with their rank number.
RANKS_SHOWN = 10
#: Streets are drawn this far (m) around the demand cells.
MARGIN_M = 150.0
#: Room (mm) above the map for the title and below it for the legend.
TOP_MM, BOTTOM_MM = 17.0, 30.0


def static_gap_map(
    path: str | Path,
    *,
    key: str,
    category: Category,
    cells: gpd.GeoDataFrame,
    distance_m: np.ndarray,
    speed_m_s: float,
    network: WalkNetwork,
    facilities: gpd.GeoDataFrame | None = None,
    gaps: gpd.GeoDataFrame | None = None,
    proposals: gpd.GeoDataFrame | None = None,
    subtitle: str = "",
    dpi: int = DPI,
) -> Path:
    """Write one category's gap map as a PNG (``dpi`` recorded in the file) and return its path.

    Args:
        path: the PNG to write.
        key, category: the category (its key and norms).
        cells: demand cells (polygons in the network's CRS, ``total`` people).
        distance_m: walking distance (metres) from each cell to the nearest facility of the
            category (``inf`` where none is reachable).
        speed_m_s: walking speed of the group the category serves (metres per second).
        network: the walk network (its streets are drawn).
        facilities, gaps, proposals: layers of the result; rows of other categories are
            left out (a proposed site counts when ``key`` is among its ``categories``).
        subtitle: a line under the title (e.g. the coverage figure).
        dpi: dots per inch; the figure is 160 mm wide (A4 text width).
    """
    pixels = render_gap_map(key=key, category=category, cells=cells, distance_m=distance_m,
                            speed_m_s=speed_m_s, network=network, facilities=facilities,
                            gaps=gaps, proposals=proposals, subtitle=subtitle, dpi=dpi)
    return save_png(pixels, path, dpi)


def render_gap_map(*, key: str, category: Category, cells: gpd.GeoDataFrame,
                   distance_m: np.ndarray, speed_m_s: float, network: WalkNetwork,
                   facilities: gpd.GeoDataFrame | None = None,
                   gaps: gpd.GeoDataFrame | None = None,
                   proposals: gpd.GeoDataFrame | None = None, subtitle: str = "",
                   dpi: int = DPI, page: MapPage | None = None) -> np.ndarray:
    """The pixels (height × width × RGB) of :func:`static_gap_map`. A ``page`` made of the
    same cells and network at ``dpi`` is reused, streets and all, for each category."""
    distance_m = np.asarray(distance_m, dtype=float)
    if len(distance_m) != len(cells):
        raise InputError(f"{key}: {len(distance_m)} distances for {len(cells)} demand cells.")
    if speed_m_s <= 0:
        raise InputError(f"{key}: the walking speed must be positive (got {speed_m_s} m/s).")
    page = page or MapPage(cells, network, dpi)
    with _font(matplotlib_family()), page.drawing() as (fig, ax):  # artists take the font
        _draw(ax, key, category, cells, distance_m, speed_m_s, page.box, facilities, gaps,
              proposals)
        t = text("zh")
        fig.text(0.02, 0.985, f"{category.name_zh}：步行时间与覆盖缺口", ha="left", va="top",
                 fontsize=12)
        fig.text(0.02, 1 - 11 / page.height_mm, subtitle, ha="left", va="top", fontsize=7.5,
                 color="#444444")
        proposed = (proposals is not None and len(proposals) > 0
                    and bool(_hosts(proposals, key).any()))
        fig.legend(handles=_legend(key, category, speed_m_s, proposed), loc="lower left",
                   bbox_to_anchor=(0.02, 0.005), ncol=3, fontsize=7, frameon=False,
                   handlelength=1.6, columnspacing=1.2, title=f"{t['walk_time']} · "
                   f"{group_name(category.group, 'zh')}，{speed_m_s:g} 米/秒",
                   title_fontsize=7.5, alignment="left")
        fig.text(0.98, 0.005, t["source"], ha="right", va="bottom", fontsize=6,
                 color="#666666")
        return page.pixels()[..., :3]


class MapPage:
    """The page the maps of every category of one result are drawn on, one after another:
    a figure 160 mm wide, the map's axes over the extent of ``cells`` plus a margin (``box``:
    xmin, ymin, xmax, ymax in metres of the network's CRS), and the white page with the
    streets of ``network``, drawn once (each map starts from these pixels)."""

    def __init__(self, cells: gpd.GeoDataFrame, network: WalkNetwork, dpi: int = DPI) -> None:
        self.box = _frame(cells, network)
        x0, y0, x1, y1 = self.box
        map_mm = 0.96 * WIDTH_MM * min(max((y1 - y0) / (x1 - x0), 0.6), 1.3)
        self.height_mm = map_mm + TOP_MM + BOTTOM_MM
        self.fig = Figure(figsize=(WIDTH_MM * MM, self.height_mm * MM), dpi=dpi)
        FigureCanvasAgg(self.fig)
        self.ax = self.fig.add_axes((0.02, BOTTOM_MM / self.height_mm, 0.96,
                                     map_mm / self.height_mm))
        self.ax.set_xlim(x0, x1)
        self.ax.set_ylim(y0, y1)
        self.ax.set_aspect("equal")
        self.ax.set_axis_off()
        streets = _streets(self.ax, network, self.box)
        self.fig.set_facecolor("white")
        self.fig.canvas.draw()
        self._streets = self.fig.canvas.copy_from_bbox(self.fig.bbox)
        streets.remove()
        self.fig.patch.set_visible(False)  # the page is in the streets' pixels
        self._fixed = {*self.fig.get_children(), *self.ax.get_children()}

    @contextmanager
    def drawing(self) -> Iterator[tuple[Figure, Any]]:
        """The figure and axes to add one map's artists to; they are removed afterwards."""
        try:
            yield self.fig, self.ax
        finally:
            for artist in [*self.ax.get_children(), *self.fig.get_children()]:
                if artist not in self._fixed:
                    artist.remove()

    def pixels(self) -> np.ndarray:
        """The map's artists drawn over the streets: a copy of the pixels (height × width ×
        RGBA)."""
        renderer = self.fig.canvas.get_renderer()
        renderer.restore_region(self._streets)
        self.fig.draw(renderer)
        return np.array(self.fig.canvas.buffer_rgba())


def save_png(pixels: np.ndarray, path: str | Path, dpi: int = DPI) -> Path:
    """Write RGB pixels (height × width × 3, uint8) as a PNG recording ``dpi``.

    Scanlines go unfiltered into zlib at level 1: on these maps (large flat areas) that is
    as small as Pillow's adaptive filtering at level 1 and takes half the time. zlib releases
    the interpreter, so maps encode on another core while the next one is drawn."""
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise InputError(f"A PNG map takes 8-bit RGB pixels (height × width × 3, uint8), not "
                         f"an array of shape {pixels.shape} and type {pixels.dtype}.")
    height, width, _ = pixels.shape
    rows = np.zeros((height, 1 + 3 * width), dtype=np.uint8)  # a 0 (no filter) before each
    rows[:, 1:] = pixels.reshape(height, 3 * width)
    per_m = int(dpi / 0.0254 + 0.5)
    png = b"".join([
        b"\x89PNG\r\n\x1a\n",
        _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)),  # 8-bit RGB
        _chunk(b"pHYs", struct.pack(">IIB", per_m, per_m, 1)),  # pixels per metre
        _chunk(b"IDAT", zlib.compress(rows.data, 1)),
        _chunk(b"IEND", b""),
    ])
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(png)
    return out


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def _font(family: str):
    from matplotlib import rc_context

    return rc_context({"font.family": [family, "DejaVu Sans"], "axes.unicode_minus": False})


def _frame(cells: gpd.GeoDataFrame, network: WalkNetwork) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) of the map: the demand cells (or the network) plus a margin."""
    if len(cells):
        x0, y0, x1, y1 = cells.total_bounds
    else:
        (x0, y0), (x1, y1) = network.node_xy.min(axis=0), network.node_xy.max(axis=0)
    return (x0 - MARGIN_M, y0 - MARGIN_M, x1 + MARGIN_M, y1 + MARGIN_M)


def _draw(ax, key, category, cells, distance_m, speed_m_s, box, facilities, gaps,
          proposals) -> None:
    _cells(ax, cells, distance_m, speed_m_s)
    colour = category_colour(key)
    sites = (proposals[_hosts(proposals, key)] if proposals is not None and len(proposals)
             else None)
    if gaps is not None and len(gaps):
        avoid = (np.empty((0, 2)) if sites is None
                 else shapely.get_coordinates(sites.geometry.values))
        _gaps(ax, gaps[gaps["category"] == key], avoid, 0.03 * (box[2] - box[0]))
    if facilities is not None and len(facilities):
        own = facilities[facilities["category"] == key]
        ax.scatter(own.geometry.x, own.geometry.y, s=28, c=colour, edgecolors="white",
                   linewidths=0.8, zorder=5)
    if sites is not None:
        _proposals(ax, sites, colour)
    _scale_bar(ax, box)
    ax.annotate("北", xy=(0.97, 0.97), xytext=(0.97, 0.89), xycoords="axes fraction",
                ha="center", va="center", fontsize=8,
                arrowprops={"arrowstyle": "-|>", "color": "#222222", "lw": 1.2})


def _streets(ax, network: WalkNetwork, box) -> LineCollection:
    xy = network.node_xy
    seg = np.stack([xy[network.edge_u], xy[network.edge_v]], axis=1)
    lo, hi = seg.min(axis=1), seg.max(axis=1)
    inside = (hi[:, 0] >= box[0]) & (lo[:, 0] <= box[2]) & (hi[:, 1] >= box[1]) & (lo[:, 1] <= box[3])
    return ax.add_collection(LineCollection(seg[inside], colors=STREET_COLOUR, linewidths=0.35,
                                            zorder=1))


def time_class(distance_m: np.ndarray, speed_m_s: float) -> np.ndarray:
    """Index into ``TIME_CLASSES`` of each walking distance (metres) at ``speed_m_s``."""
    minutes = np.asarray(distance_m, dtype=float) / speed_m_s / 60.0
    uppers = np.array([u for u, _ in TIME_CLASSES])
    return np.searchsorted(uppers, minutes, side="left")


def _cells(ax, cells: gpd.GeoDataFrame, distance_m: np.ndarray, speed_m_s: float) -> None:
    inhabited = cells["total"].to_numpy(dtype=float) > 0
    if not inhabited.any():
        return
    label = time_class(distance_m, speed_m_s)[inhabited]
    geoms = cells.geometry.values[inhabited]
    polygon = shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON
    rings = shapely.get_exterior_ring(np.where(polygon, geoms, shapely.convex_hull(geoms)))
    counts = shapely.get_num_coordinates(rings)
    xy = shapely.get_coordinates(rings)
    if (counts == counts[0]).all():  # grid squares: one array, matplotlib's fast path
        verts = xy.reshape(len(rings), counts[0], 2)
    else:
        verts = np.split(xy, np.cumsum(counts)[:-1])
    colours = to_rgba_array([colour for _, colour in TIME_CLASSES])[label]  # RGBA per cell
    ax.add_collection(PolyCollection(verts, facecolors=colours, edgecolors="none", alpha=0.6,
                                     zorder=2), autolim=False)


def _gaps(ax, gaps: gpd.GeoDataFrame, avoid: np.ndarray, near_m: float) -> None:
    """Dashed outlines and the rank numbers of the largest gaps; a number within ``near_m``
    of a proposed site (``avoid``, x/y) moves aside with a leader line."""
    if not len(gaps):
        return
    # normalised, so each outline's dashes start where they always did
    parts = shapely.get_parts(shapely.normalize(gaps.boundary.values))
    ax.add_collection(LineCollection([shapely.get_coordinates(p) for p in parts],
                                     colors=GAP_COLOUR, linewidths=0.9, linestyles=[(0, (3, 2))],
                                     zorder=3), autolim=False)
    top = gaps.sort_values("rank").head(RANKS_SHOWN)
    xy = shapely.get_coordinates(top.geometry.representative_point().values)
    for rank, (x, y) in zip(top["rank"], xy, strict=True):
        close = len(avoid) and np.hypot(*(avoid - (x, y)).T).min() < near_m
        ax.annotate(str(int(rank)), (x, y), xytext=(-11, 11) if close else (0, 0),
                    textcoords="offset points", ha="center", va="center", fontsize=6.5,
                    color=GAP_COLOUR, zorder=7,
                    arrowprops={"arrowstyle": "-", "color": GAP_COLOUR, "lw": 0.6} if close
                    else None,
                    bbox={"boxstyle": "circle,pad=0.25", "fc": "white", "ec": GAP_COLOUR,
                          "lw": 0.8})


def _hosts(proposals: gpd.GeoDataFrame, key: str) -> np.ndarray:
    """Proposed sites serving ``key`` (``category`` or one of the comma-separated
    ``categories`` of a joint site)."""
    if "categories" in proposals.columns:
        keys = proposals["categories"].fillna(proposals["category"]).astype(str).str.split(",")
        return keys.apply(lambda ks: key in ks).to_numpy(dtype=bool)
    return (proposals["category"] == key).to_numpy()


def _proposals(ax, sites: gpd.GeoDataFrame, colour: str) -> None:
    if not len(sites):
        return
    ax.scatter(sites.geometry.x, sites.geometry.y, s=90, marker="*", c=colour,
               edgecolors="black", linewidths=0.6, zorder=6)
    order = sites["order"] if "order" in sites.columns else range(1, len(sites) + 1)
    for n, x, y in zip(order, sites.geometry.x, sites.geometry.y, strict=True):
        ax.annotate(f"新{int(n)}", (x, y), xytext=(4, -4), textcoords="offset points",
                    ha="left", va="top", fontsize=6, color="black", zorder=8,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                          "alpha": 0.8})


def _scale_bar(ax, box) -> None:
    width = box[2] - box[0]
    length = _nice(width / 5)
    x0, y0 = box[0] + width * 0.04, box[1] + (box[3] - box[1]) * 0.04
    ax.plot([x0, x0 + length], [y0, y0], color="#222222", lw=2, solid_capstyle="butt", zorder=8)
    label = f"{length / 1000:g} 千米" if length >= 1000 else f"{length:g} 米"
    ax.text(x0 + length / 2, y0 + width * 0.01, label, ha="center", va="bottom", fontsize=7,
            zorder=8)


def _nice(x: float) -> float:
    """The largest 1, 2 or 5 × 10ⁿ not above ``x``."""
    exp = 10 ** np.floor(np.log10(x))
    return float(max(m for m in (1, 2, 5) if m * exp <= x) * exp)


def category_colour(key: str) -> str:
    """The category's colour on the HTML map; other keys get a fixed colour of the palette."""
    if key in CATEGORY_STYLE:
        return CATEGORY_STYLE[key][0]
    return PALETTE[sum(map(ord, key)) % len(PALETTE)]


def _legend(key: str, category: Category, speed_m_s: float, proposed: bool) -> list:
    """Legend entries of the map's layers (proposed sites only when the map shows some)."""
    colour = category_colour(key)
    handles = [Patch(facecolor=c, alpha=0.6, label=f"{lab} 分钟")
               for (_, c), lab in zip(TIME_CLASSES, time_class_labels(), strict=True)]
    d = f"{category.distance_m:g}"
    handles += [
        Line2D([], [], color=GAP_COLOUR, lw=0.9, ls=(0, (3, 2)),
               label=f"覆盖缺口（> {d} 米，数字为排名）"),
        Line2D([], [], ls="", marker="o", ms=5, mfc=colour, mec="white", label="现状设施"),
        *([Line2D([], [], ls="", marker="*", ms=8, mfc=colour, mec="black", mew=0.6,
                  label="建议新增设施（新1 = 建设顺序）")] if proposed else []),
        Line2D([], [], color=STREET_COLOUR, lw=0.8, label="步行网络"),
    ]
    return handles


def category_maps(result, output_dir: str | Path, *, dpi: int = DPI,
                  keys: list[str] | None = None) -> dict[str, Path]:
    """One PNG per analysed category of a scenario result (``<key>.png`` in ``output_dir``);
    returns category key → path."""
    from planner.standards import load_speeds

    speeds = load_speeds(overrides=result.scenario.speeds or None)
    headline = result.tables["headline"].set_index("category")
    layers = result.layers  # made anew on each access
    gaps, proposals = layers.get("gap_areas"), layers.get("proposals")
    written = {}
    page = MapPage(result.demand.cells, result.network, dpi)
    with ThreadPoolExecutor(max_workers=2) as encoders:  # draw the next map while PNGs encode
        for key in keys or list(result.distances.columns):
            cat = result.categories[key]
            speed = float(speeds.get(cat.group, speeds["total"]))
            pixels = render_gap_map(
                key=key, category=cat, cells=result.demand.cells,
                distance_m=result.distances[key].to_numpy(), speed_m_s=speed,
                network=result.network, facilities=result.facilities,
                gaps=gaps, proposals=proposals, dpi=dpi, page=page,
                subtitle=_subtitle(result.scenario.name, cat, headline.loc[key]))
            written[key] = encoders.submit(save_png, pixels, Path(output_dir) / f"{key}.png", dpi)
    return {key: job.result() for key, job in written.items()}


def _subtitle(name: str, category: Category, row: Mapping) -> str:
    group = group_name(str(row["served_group"]), "zh")
    return (f"{name} · {category.level_min} 分钟生活圈，合规距离 {category.distance_m:g} 米 · "
            f"现状设施 {int(row['facilities'])} 处 · {group}覆盖率 "
            f"{float(row['served_coverage_pct']):.1f}%")
