"""``planner report``: the Chinese assessment report (.docx, optionally PDF) with a static gap
map per category; also the report step of ``planner run``."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from planner.cli.common import console, reports_errors


def register(app: typer.Typer) -> None:
    app.command("report")(report)


@reports_errors
def report(
    scenario: Annotated[
        Path | None,
        typer.Argument(help="Scenario TOML file (default: the bundled central-Helsinki sample)."),
    ] = None,
    output_dir: Annotated[Path, typer.Option("-o", "--output-dir", help="Output directory.")] = Path("out"),
    pdf: Annotated[bool, typer.Option("--pdf", help="Also a PDF (needs LibreOffice).")] = False,
) -> None:
    """Run a scenario and write its Chinese assessment report (现状评估与规划建议) as .docx."""
    from planner.cli.run_cmd import _scenario
    from planner.facilities import FacilityWarning
    from planner.scenario import run_scenario

    with console.status("Running the scenario …"), warnings.catch_warnings():
        warnings.simplefilter("ignore", FacilityWarning)  # the report lists what was dropped
        result = run_scenario(_scenario(scenario), cache_dir=output_dir / ".cache")
    from planner.maps.result import write_report

    with console.status("Writing the report …"):
        paths = write_report(result, output_dir, pdf=pdf)
    if pdf and "report.pdf" not in paths:
        console.print("[yellow]No PDF: LibreOffice (soffice) is not installed. Install it "
                      "(e.g. apt-get install libreoffice-writer) or open report.docx in Word "
                      "or WPS and save it as PDF.[/]")
    for name in ("report.docx", "report.pdf"):
        if name in paths:
            console.print(f"Report: [bold]{paths[name]}[/]")
    console.print(f"Maps: {len(paths) - sum(n.startswith('report') for n in paths)} PNG in "
                  f"[bold]{output_dir / 'maps'}[/]")
