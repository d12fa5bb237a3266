"""The gap map of a scenario result: composed here, outside the library, for the CLI, the API
and notebooks alike."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import folium

from planner.forked import forked
from planner.maps.gapmap import gap_map, save_gap_map
from planner.outputs import MAP, write_result
from planner.standards import load_speeds


def result_map(result: Any, *, lang: str = "zh", basemap: str = "none",
               shown: str | None = None) -> folium.Map:
    """The Folium gap map of a :class:`planner.scenario.ScenarioResult` (see
    :func:`planner.maps.gap_map`): coverage of every analysed category, gaps, isochrones,
    districts, proposals. ``shown`` is the category displayed when the page opens (default: the
    first optimised one); ``lang`` "zh" or "en"; ``basemap`` "none", "osm" or "amap"."""
    speeds = load_speeds(overrides=result.scenario.speeds or None)
    keys = list(result.distances.columns)
    layers = result.layers
    return gap_map(
        result.demand.cells,
        {k: result.distances[k].to_numpy() for k in keys},
        {k: result.categories[k] for k in keys},
        speeds=speeds,
        facilities=result.facilities,
        gaps=layers.get("gap_areas"),
        isochrones=layers.get("isochrones"),
        districts=layers.get("districts"),
        district_table=result.district_table,
        complete=result.complete,
        proposed=layers.get("proposals"),
        network=result.network,
        off_streets=layers.get("cells_off_streets"),
        basemap=basemap,
        lang=lang,
        title=result.scenario.name,
        shown=shown or next((o.categories[0] for o in result.scenario.optimize), None),
    )


def save_result_map(result: Any, path: str | Path, **options: Any) -> Path:
    """Write :func:`result_map` as one self-contained HTML file that opens offline."""
    return save_gap_map(result_map(result, **options), path)


def map_writer(**options: Any) -> Callable[[Any, Path], Path]:
    """A ``map_writer`` for :func:`planner.outputs.write_result`: it saves the result's gap map
    with these options (``lang``, ``basemap``, ``shown``)."""

    def write(result: Any, path: Path) -> Path:
        return save_result_map(result, path, **options)

    return write


def write_outputs(result: Any, out_dir: str | Path, *, lang: str = "zh", basemap: str = "none",
                  shown: str | None = None, report: bool = False) -> dict[str, Path]:
    """Every file of a run: :func:`planner.outputs.write_result`'s tables, workbook, layers and
    summary plus the gap map — what ``planner run``, the API and ``pl.run(output_dir=…)`` write
    — and with ``report`` the Chinese report and its maps (:func:`write_report`).

    The gap map and the report are independent of the rest: forked child processes write them
    while this one writes the tables and layers (see :mod:`planner.forked`); ``summary.json``
    comes last, once the gap map is written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with ExitStack() as children:
        report_files = (children.enter_context(forked(write_report, result, out)) if report
                        else None)
        page = children.enter_context(forked(save_result_map, result, out / MAP, lang=lang,
                                             basemap=basemap, shown=shown))
        paths = write_result(result, out, lang=lang, map_writer=lambda _, path: page.result())
        if report_files is not None:
            paths.update(report_files.result())
    return paths


def write_report(result: Any, out_dir: str | Path, *, pdf: bool = False) -> dict[str, Path]:
    """Static gap maps (``maps/<category>.png``, 300 dpi) and the Chinese assessment report
    ``report.docx`` under ``out_dir``, plus ``report.pdf`` with ``pdf`` where LibreOffice is
    installed (else no PDF: check for the key). Returns file name → path."""
    from planner.maps.static import category_maps
    from planner.report import build_report, soffice, to_pdf

    out = Path(out_dir)
    maps = category_maps(result, out / "maps")
    paths = {f"maps/{p.name}": p for p in maps.values()}
    paths["report.docx"] = build_report(result, out / "report.docx", maps=maps)
    if pdf and soffice() is not None:
        paths["report.pdf"] = to_pdf(paths["report.docx"])
    return paths
