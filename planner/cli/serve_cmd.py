"""``planner serve``: the HTTP API (FastAPI under uvicorn)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from planner.cli.common import reports_errors
from planner.errors import InputError


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
    """Serve the HTTP API (/v1, OpenAPI page at /docs). The API key, upload limit, CORS
    origins, queue limit, retention and timeouts come from PLANNER_API_KEY,
    PLANNER_MAX_UPLOAD_MB, PLANNER_CORS_ORIGINS, PLANNER_MAX_QUEUED, PLANNER_RETENTION_DAYS,
    PLANNER_HEADER_TIMEOUT_S and PLANNER_KEEP_ALIVE_S.

    One server per data directory: a second one on the same directory stops with a message
    naming the process that holds it, before touching anything."""
    import logging

    import uvicorn
    from pydantic import ValidationError

    from planner.api import Settings, create_app
    from planner.api.protocol import header_timeout_protocol

    overrides = {k: v for k, v in {"data_dir": data_dir, "workers": workers}.items()
                 if v is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise InputError("; ".join(
            f"setting PLANNER_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
            for e in exc.errors()) + " (see \"Starting the server\" in docs/api.md).") from None
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    log = logging.getLogger("planner.api")
    key = settings.api_key.get_secret_value() if settings.api_key else None
    if key is None:
        log.warning("no PLANNER_API_KEY set: every /v1 route is open to anyone who can reach "
                    "%s:%d", host, port)
    elif not key.isascii():
        log.warning("PLANNER_API_KEY is not ASCII: curl sends it, but many HTTP clients "
                    "(Python requests, httpx) cannot; prefer an ASCII key")
    app = create_app(settings)  # takes the data directory's lock first
    uvicorn.run(app, host=host, port=port, log_level="info",
                http=header_timeout_protocol(settings.header_timeout_s),
                timeout_keep_alive=max(1, round(settings.keep_alive_s)),
                timeout_graceful_shutdown=10)
