"""``planner run`` / ``coverage`` / ``optimize``: a scenario end to end, with progress bars."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from planner.cli.common import console, reports_errors

ScenarioArg = Annotated[
    Path | None,
    typer.Argument(help="Scenario TOML file (default: the bundled central-Helsinki sample)."),
]
OutputOpt = Annotated[Path, typer.Option("-o", "--output", help="Output directory.")]
LangOpt = Annotated[str, typer.Option(help="Language of the map and the workbook: zh (中文) or en.")]
BasemapOpt = Annotated[
    str, typer.Option(help="none (offline, streets drawn), osm, or amap (overlays in GCJ-02).")
]


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("coverage")(coverage)
    app.command("optimize")(optimize)


def execute(scenario, output: Path, lang: str = "zh", basemap: str = "none", *,
            report: bool = False):
    """Run a scenario with a progress bar per step and write its outputs (tables and workbook
    in ``lang``, layers, the gap map, summary) under ``output``; returns the ScenarioResult and
    the paths written (see :func:`planner.outputs.write_result`)."""
    if lang not in ("zh", "en") or basemap not in ("none", "osm", "amap"):
        from planner.errors import InputError

        raise InputError(f"--lang must be zh or en and --basemap none, osm or amap "
                         f"(got {lang!r}, {basemap!r}).")
    from planner.facilities import FacilityWarning
    from planner.maps.result import write_outputs
    from planner.scenario import run_scenario

    columns = (TextColumn("{task.description:<34}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bars, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", FacilityWarning)  # the result's notes print them
        tasks: dict[str, int] = {}

        def progress(step: str, fraction: float) -> None:
            if step not in tasks:
                tasks[step] = bars.add_task(step, total=1.0)
            bars.update(tasks[step], completed=fraction)

        result = run_scenario(scenario, cache_dir=output / ".cache", progress=progress)
        progress("outputs", 0.0)
        paths = write_outputs(result, output, lang=lang, basemap=basemap, report=report)
        progress("outputs", 1.0)
    return result, paths


def print_result(result, paths: dict[str, Path]) -> None:
    """The headline coverage table, optimisation answers, notes and where the outputs are."""
    import pandas as pd

    head = result.tables["headline"]
    shown = ["category", "distance_m", "facilities", "coverage_pct", "served_group",
             "served_coverage_pct", *[c for c in head.columns if c.startswith("within_")]]
    head = head[[c for c in shown if c in head.columns]].rename(columns={
        "distance_m": "m", "facilities": "sites", "coverage_pct": "everyone %",
        "served_group": "served", "served_coverage_pct": "served %",
        **{c: f"≤{c.split('_')[1]} min %" for c in head.columns if c.startswith("within_")}})
    table = Table(title=f"Coverage — {result.scenario.name} (% of people; minutes at the "
                  "served group's walking speed)")
    for col in head.columns:
        text = not pd.api.types.is_numeric_dtype(head[col])
        # keys are never cut, so elderly_day_care and elderly_home stay apart
        table.add_column(str(col), justify="left" if text else "right", no_wrap=text,
                         min_width=int(head[col].astype(str).str.len().max()) if text else None)
    whole = [c in ("m", "sites") for c in head.columns]  # metres, counts
    for row in head.itertuples(index=False):
        table.add_row(*[f"{v:.0f}" if w else f"{v:.1f}" if isinstance(v, float) else str(v)
                        for v, w in zip(row, whole, strict=True)])
    console.print(table)
    for spec, res in zip(result.scenario.optimize, result.optimizations, strict=True):
        console.print(
            f"[bold]{spec.model} {', '.join(spec.categories)}[/]: {res.message} "
            f"(objective {res.objective:,.0f}, bound {res.bound:,.0f}, gap {res.gap:.2%}, "
            f"{res.solve_seconds:.1f} s)"
        )
    for note in result.notes:
        console.print(f"  • {note}", style="dim", markup=False)  # notes quote [sections]
    from planner.outputs import MAP, WORKBOOK

    console.print(f"Outputs in [bold]{paths[MAP].parent}[/]; open the gap map: "
                  f"[bold]{paths[MAP]}[/] and the workbook: [bold]{paths[WORKBOOK]}[/]")
    if "report.docx" in paths:
        console.print(f"Assessment report (Chinese): [bold]{paths['report.docx']}[/]")


def _scenario(path: Path | None, place: str | None = None):
    from planner.scenario_file import load_scenario

    scenario = load_scenario(path)
    if place is not None:
        from planner.scenario_file import NetworkSpec

        scenario = scenario.model_copy(
            update={"network": NetworkSpec(place=place), "name": place}
        )
    return scenario


@reports_errors
def run(
    scenario: ScenarioArg = None,
    output: OutputOpt = Path("out"),
    place: Annotated[
        str | None,
        typer.Option(help="Download this place from OpenStreetMap instead (needs internet), "
                     "e.g. '迎泽区, 太原市, 山西省, 中国'."),
    ] = None,
    lang: LangOpt = "zh",
    basemap: BasemapOpt = "none",
    report: Annotated[bool, typer.Option(help="The Chinese assessment report (report.docx) and "
                                         "a 300-dpi gap map per category (maps/); "
                                         "--no-report saves ≈ 3 s on the sample.")] = True,
) -> None:
    """Run a scenario end to end: coverage, gaps, optimisation, gap map, tables and layers."""
    print_result(*execute(_scenario(scenario, place), output, lang, basemap, report=report))


@reports_errors
def coverage(
    scenario: ScenarioArg = None,
    output: OutputOpt = Path("out"),
    lang: LangOpt = "zh",
    basemap: BasemapOpt = "none",
) -> None:
    """Coverage and gaps only (the scenario's optimisation requests are skipped)."""
    s = _scenario(scenario)
    print_result(*execute(s.model_copy(update={"optimize": []}), output, lang, basemap))


@reports_errors
def optimize(
    scenario: ScenarioArg = None,
    output: OutputOpt = Path("out"),
    categories: Annotated[
        list[str], typer.Option("--categories", "--category",
                                help="Category key to site; repeat it with --model joint.")
    ] = ...,
    new_sites: Annotated[int | None, typer.Option(help="Number of new sites (p).")] = None,
    model: Annotated[str, typer.Option(help="mclp | lscp | capacitated | joint")] = "mclp",
    budget: Annotated[
        float | None, typer.Option(help="Total cost of the new sites, instead of --new-sites "
                                   "(needs --candidates with a cost column).")
    ] = None,
    minimise: Annotated[
        str, typer.Option(help="lscp: the fewest new 'sites' or the least 'cost'.")
    ] = "sites",
    candidates: Annotated[
        Path | None,
        typer.Option(help="File of candidate sites (CSV/GeoJSON/…; status, capacity, cost "
                     "columns optional). Default: the scenario's, else sites generated along "
                     "the streets."),
    ] = None,
    candidates_coords: Annotated[
        str | None, typer.Option(help="Coordinates of --candidates: wgs84, gcj02, bd09, EPSG:…")
    ] = None,
    weights: Annotated[
        list[str] | None,
        typer.Option("--weights", "--weight",
                     help="Joint model: KEY=WEIGHT, the weight of a person of that category "
                     "(repeatable; default 1)."),
    ] = None,
    new_site_capacity: Annotated[
        float | None, typer.Option(help="Capacitated model: places (beds, children) of a new "
                                   "site whose data give none (default: the category's norm).")
    ] = None,
    time_limit_s: Annotated[
        float | None, typer.Option(help="Solver time limit, seconds (default 30).")
    ] = None,
    candidate_spacing_m: Annotated[
        float | None, typer.Option(help="Spacing of the candidate sites generated along the "
                                   "streets, metres (10–5000; default 100).")
    ] = None,
) -> None:
    """Propose new sites for one category (or several with --model joint)."""
    from planner.scenario_file import parse_scenario

    s = _scenario(scenario)
    request = {"model": model, "categories": categories, "new_sites": new_sites,
               "budget": budget, "minimise": minimise, "time_limit_s": time_limit_s,
               "candidate_spacing_m": candidate_spacing_m, "weights": _weights(weights),
               "new_site_capacity": new_site_capacity}
    if candidates is not None:
        request["candidates"] = str(candidates.resolve())
    else:  # the candidate file the scenario's own requests use, if any
        named = [o for o in s.optimize if o.candidates is not None]
        if named:
            request["candidates"] = str(s.path(named[0].candidates))
            request["candidates_coords"] = named[0].candidates_coords
            console.print(f"Candidate sites from the scenario: {request['candidates']}")
    if candidates_coords is not None:
        request["candidates_coords"] = candidates_coords
    doc = s.model_dump(exclude={"base_dir"})
    doc["optimize"] = [{k: v for k, v in request.items() if v is not None}]
    print_result(*execute(parse_scenario(doc, s.base_dir, str(scenario or "sample")), output))


def _weights(pairs: list[str] | None) -> dict[str, float] | None:
    from planner.errors import InputError

    if not pairs:
        return None
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise InputError(
                f"--weights {pair!r}: write KEY=NUMBER, e.g. --weights kindergarten=3.") from None
    return out
