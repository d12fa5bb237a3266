"""What the assessment report says, taken from a scenario result: street names of gap areas and
proposed sites (from the network's way names), the data sources with their dates and licences,
and numbers rounded the way a planning document gives them."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.network import WalkNetwork

ODBL = "ODbL 1.0（© OpenStreetMap 贡献者）"
WORLDPOP = "CC-BY 4.0（WorldPop；Tatem 2017, Scientific Data 4:170004）"
ASK = "未声明：请按数据提供方的条款注明"
UNNAMED = "（无名道路）"
#: A gap area or site farther than this (m) from every named street gets no street name.
NAME_REACH_M = 300.0


# --- rounding -------------------------------------------------------------------------------


def people(value: float) -> str:
    """People as a planner writes them: whole persons with thousands separators."""
    return "—" if value is None or not math.isfinite(value) else f"{value:,.0f}"


def pct(value: float) -> str:
    """A percentage with one decimal (``12.3%``)."""
    return "—" if value is None or not math.isfinite(value) else f"{value:.1f}%"


def metres(value: float) -> str:
    """A distance rounded to 10 m."""
    return "—" if value is None or not math.isfinite(value) else f"{round(value, -1):,.0f} 米"


def degrees(value: float) -> str:
    """Longitude or latitude to 6 decimals (≈ 0.1 m)."""
    return f"{value:.6f}"


# --- street names ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Streets:
    """The named edges of a walk network, for looking up street names (network CRS)."""

    geoms: np.ndarray
    names: np.ndarray
    tree: shapely.STRtree

    @classmethod
    def of(cls, network: WalkNetwork) -> Streets:
        names = network.ways["name"].to_numpy(dtype=object)[network.edge_way]
        named = np.array([isinstance(n, str) and n.strip() != "" for n in names], dtype=bool)
        geoms = network.edge_geometries()[named]
        return cls(geoms, names[named].astype(str), shapely.STRtree(geoms))

    def along(self, areas: gpd.GeoSeries, top: int = 3) -> list[str]:
        """Per area, the names of the streets inside it, longest length inside first (at most
        ``top``); an area no named street crosses gets the nearest within 300 m ("附近")."""
        polys = np.asarray(areas.values)
        out = [[] for _ in polys]
        if len(self.geoms):
            ai, ei = self.tree.query(polys, predicate="intersects")
            length = shapely.length(shapely.intersection(self.geoms[ei], polys[ai]))
            frame = pd.DataFrame({"a": ai, "name": self.names[ei], "m": length})
            ranked = frame.groupby(["a", "name"], sort=False)["m"].sum().reset_index()
            for a, part in ranked.sort_values("m", ascending=False).groupby("a", sort=False):
                out[a] = list(part["name"].head(top))
        nearest = self.nearest(shapely.points(shapely.get_coordinates(
            areas.representative_point().values)))
        return ["、".join(names) if names else (f"{near}附近" if near != UNNAMED else UNNAMED)
                for names, near in zip(out, nearest, strict=True)]

    def nearest(self, points: np.ndarray) -> list[str]:
        """Name of the nearest named street of each point (within 300 m, else 无名道路)."""
        points = np.asarray(points)
        if not len(self.geoms) or not len(points):
            return [UNNAMED] * len(points)
        (pi, ei), dist = self.tree.query_nearest(points, return_distance=True, all_matches=False)
        names = np.full(len(points), UNNAMED, dtype=object)
        ok = dist <= NAME_REACH_M
        names[pi[ok]] = self.names[ei[ok]]
        return list(names)


# --- data sources ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One input of the run, as the report lists it."""

    what: str
    name: str
    date: str
    licence: str


def file_date(path: Path | None) -> str:
    """The file's modification date (the date of the data as the file holds it)."""
    if path is None or not path.exists():
        return "运行时在线下载" if path is None else "—"
    stamp = path.stat().st_mtime
    return dt.datetime.fromtimestamp(stamp, tz=dt.UTC).date().isoformat() + "（文件日期）"


def data_sources(result) -> list[Source]:
    """The network, facility and population inputs the run used, with dates and licences: also
    the district populations the grid is calibrated to and the ``[districts]`` polygons."""
    scenario = result.scenario
    from planner.pipeline.inputs import osm_source

    osm = osm_source(scenario)
    out = []
    spec = scenario.network
    if spec.place is not None:
        out.append(Source("步行路网", f"OpenStreetMap 在线下载：{spec.place}",
                          f"{dt.date.today().isoformat()}（下载日期）", ODBL))
    elif osm is not None:
        out.append(Source("步行路网", f"OpenStreetMap 数据 {osm.name}", file_date(osm), ODBL))
    else:
        path = scenario.path(spec.source)
        out.append(Source("步行路网", f"道路图层 {path.name}", file_date(path), ASK))
    audit = result.tables.get("facility_audit", pd.DataFrame())
    for fspec in scenario.facilities:
        if fspec.source == "osm":
            label = f"OpenStreetMap 标签（{osm.name if osm else spec.place}）"
            path, licence = osm, ODBL
        else:
            path = scenario.path(fspec.source)
            label = f"设施表 {path.name}（坐标系 {fspec.coords or 'WGS-84'}）"
            licence = ASK
        out.append(Source("设施点", label + _kept(audit, path), file_date(path), licence))
    out.append(_population_source(result, osm))
    if scenario.population.districts is not None:
        path = scenario.path(scenario.population.districts)
        column = scenario.population.districts_column
        out.append(Source("人口校准", f"分区人口 {path.name}"
                          + (f"（人口列 {column}）" if column else ""), file_date(path), ASK))
    if scenario.districts is not None:
        path = scenario.path(scenario.districts.file)
        out.append(Source("分区边界", f"分区范围 {path.name}（[districts]，用于分区覆盖统计）",
                          file_date(path), ASK))
    return out


def _kept(audit: pd.DataFrame, path: Path | None) -> str:
    if path is None or not len(audit) or "source" not in audit:
        return ""
    rows = audit[audit["source"] == path.name]
    if not len(rows):
        return ""
    kept = int((rows["outcome"] == "kept").sum())
    return f"：读入 {len(rows):,} 条，保留 {kept:,} 条"


def _population_source(result, osm: Path | None) -> Source:
    scenario, meta = result.scenario, result.demand.meta
    spec = scenario.population
    calib = meta.get("calibration")
    note = ""
    if calib and calib.get("method") == "total":
        note = f"，按总人口 {people(calib['target_total'])} 人校准"
    elif calib:
        note = f"，按 {calib.get('districts', '')} 个分区人口校准"
    if spec.source == "buildings":
        name = f"OSM 建筑面积估算（{osm.name if osm else scenario.network.place}）{note}"
        return Source("人口", name, file_date(osm) if osm else "运行时在线下载", ODBL)
    path = scenario.path(spec.source)
    lower = path.name.lower()
    worldpop = "worldpop" in lower or "_ppp_" in lower or path.is_dir()
    licence = WORLDPOP if worldpop else ASK
    kind = "WorldPop 人口栅格" if worldpop else f"人口数据（{meta.get('method', '')}）"
    if worldpop and "worldpop" not in lower:
        kind += "（按文件格式判断为 WorldPop，请核实）"
    return Source("人口", f"{kind} {path.name}{note}", file_date(path), licence)
