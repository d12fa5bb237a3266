"""``planner serve``: the HTTP API (FastAPI under uvicorn)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from planner.cli.common import reports_errors


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


@reports_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0 for all).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="Database, uploads and results (default: $PLANNER_DATA_DIR or "
                           "./planner-data).")] = None,
    workers: Annotated[int | None, typer.Option(
        help="Job worker processes at once (default: $PLANNER_WORKERS or 1).")] = None,
) -> None:
    """Serve the HTTP API (/v1, OpenAPI page at /docs). The API key, upload limit and CORS
    origins come from PLANNER_API_KEY, PLANNER_MAX_UPLOAD_MB and PLANNER_CORS_ORIGINS."""
    import uvicorn

    from api import Settings, create_app

    overrides = {k: v for k, v in {"data_dir": data_dir, "workers": workers}.items()
                 if v is not None}
    settings = Settings(**overrides)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
