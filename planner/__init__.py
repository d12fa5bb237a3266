"""15-minute living-circle planning: walk networks, coverage, gaps and site optimisation.

The Python API for notebooks and scripts (see docs/python.md)::

    import planner as pl

    result = pl.run(pl.load_scenario("my_city.toml"), optimize=False)
    result.headline                       # coverage per category (people, %)
    result.gaps.areas                     # gap areas ranked by uncovered people

    net = pl.network_from_file("city.osm.pbf")
    cells = pl.read_population("city.osm.pbf", net, total=207_000)
    fac = pl.read_facilities("amap_kindergartens.csv", net, coords="gcj02", category="kindergarten")
    cov = pl.cell_coverage(net, cells, fac)                     # dist_<category> (m), covered_<category>
    sites = pl.candidates(net, spacing_m=100, existing=fac)
    answer = pl.MaxCover.from_geodataframe(cells, sites, net, distance_m=300, p=5).solve()

Names are imported when first used, so ``import planner`` stays light.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import Path as _Path
from typing import TYPE_CHECKING, Any

# In a source checkout the top-level api/ and maps/ folders are planner.api and planner.maps
# (an installed copy has them inside the package; see [tool.setuptools.package-dir]).
_ROOT = _Path(__file__).resolve().parent.parent
if not (_Path(__file__).parent / "maps").is_dir() and (_ROOT / "maps" / "__init__.py").is_file():
    __path__.append(str(_ROOT))

#: public name → the module that defines it
_LAZY = {
    "Scenario": "planner.scenario_file",
    "load_scenario": "planner.scenario_file",
    "build_scenario": "planner.blocks",
    "compute": "planner.blocks",
    "write": "planner.maps.result",
    "ScenarioResult": "planner.scenario",
    "network_from_file": "planner.blocks",
    "network_from_lines": "planner.blocks",
    "read_facilities": "planner.blocks",
    "read_population": "planner.blocks",
    "cell_coverage": "planner.blocks",
    "coverage_table": "planner.blocks",
    "candidates": "planner.blocks",
    "gap_map": "planner.maps.result",
    "MaxCover": "planner.siting",
    "SetCover": "planner.siting",
    "CapacitatedMaxCover": "planner.siting",
    "SitingResult": "planner.siting",
    "WalkNetwork": "planner.network",
    "load_categories": "planner.standards",
    "load_speeds": "planner.standards",
    "sample_osm": "planner.sample",
    "InputError": "planner.errors",
    "CRSError": "planner.errors",
    "convert_coords": "planner.io.coords",
}
_RENAMED = {"sample_osm": "helsinki_pbf", "convert_coords": "convert", "gap_map": "result_map",
            "write": "write_outputs"}

__all__ = [
    "CRSError",
    "CapacitatedMaxCover",
    "InputError",
    "MaxCover",
    "Scenario",
    "ScenarioResult",
    "SetCover",
    "SitingResult",
    "WalkNetwork",
    "build_scenario",
    "candidates",
    "cell_coverage",
    "convert_coords",
    "coverage_table",
    "gap_map",
    "load_categories",
    "load_scenario",
    "load_speeds",
    "network_from_file",
    "network_from_lines",
    "read_facilities",
    "read_population",
    "run",
    "compute",
    "write",
    "sample_osm",
]

if TYPE_CHECKING:
    from planner.blocks import (
        build_scenario,
        candidates,
        cell_coverage,
        compute,
        coverage_table,
        network_from_file,
        network_from_lines,
        read_facilities,
        read_population,
    )
    from planner.errors import CRSError, InputError
    from planner.io.coords import convert as convert_coords
    from planner.maps.result import result_map as gap_map
    from planner.maps.result import write_outputs as write
    from planner.network import WalkNetwork
    from planner.sample import helsinki_pbf as sample_osm
    from planner.scenario import ScenarioResult
    from planner.scenario_file import Scenario, load_scenario
    from planner.siting import CapacitatedMaxCover, MaxCover, SetCover, SitingResult
    from planner.standards import load_categories, load_speeds


def run(
    scenario: Scenario | str | _Path | None = None,
    output_dir: str | _Path | None = None,
    *,
    optimize: bool = True,
    cache_dir: str | _Path | None = None,
    progress: Callable[[str, float], None] | None = None,
    lang: str = "zh",
    basemap: str = "none",
    report: bool = True,
) -> ScenarioResult:
    """Run a scenario (a :class:`Scenario`, a TOML path, or None for the bundled sample);
    ``optimize=False`` skips its optimisation requests. With ``output_dir`` it writes what
    ``planner run`` writes — tables, workbook (headers in ``lang``), layers, the gap map
    (``lang``, ``basemap``), summary.json and, unless ``report`` is False, the Chinese report
    with its maps — caching parsed inputs in ``cache_dir`` (default ``<output_dir>/.cache``)."""
    from planner.blocks import compute
    from planner.maps.result import write_outputs

    if output_dir is not None and cache_dir is None:
        cache_dir = _Path(output_dir) / ".cache"
    result = compute(scenario, optimize=optimize, cache_dir=cache_dir, progress=progress)
    if output_dir is not None:
        write_outputs(result, output_dir, lang=lang, basemap=basemap, report=report)
    return result


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'planner' has no attribute {name!r}")
    value = getattr(import_module(module), _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
