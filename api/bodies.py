"""Large JSON request bodies: streamed to a file, then parsed and handled in a helper process.

Parsing and validating a 50 MB JSON document takes seconds of CPU that hold Python's global
interpreter lock, so a thread would stall the event loop (and every other client) as much as
the loop itself. Bodies up to ``INLINE_BYTES`` are handled in a thread; larger ones in a
one-shot helper process, forked from the job workers' fork server.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from tempfile import NamedTemporaryFile
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

#: Bodies up to this size are parsed in a thread (a few milliseconds of work).
INLINE_BYTES = 256 * 1024
M = TypeVar("M", bound=BaseModel)


class RejectedBody(Exception):
    """A request refused inside a helper process, in a form that crosses processes."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(status, detail)
        self.status, self.detail = status, detail

    def reraise(self) -> None:
        if self.status == 422:
            raise RequestValidationError(self.detail)
        raise HTTPException(self.status, detail=self.detail)


def read_model(path: Path, model: type[M]) -> M:
    """Parse and validate a JSON body saved at ``path``; errors are ``RejectedBody``
    (422 with the same error list FastAPI gives)."""
    try:
        data = json.loads(path.read_bytes()) if path.stat().st_size else None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        pos = getattr(exc, "pos", getattr(exc, "start", 0))
        raise RejectedBody(422, [{"type": "json_invalid", "loc": ("body", pos),
                                  "msg": "JSON decode error", "input": {},
                                  "ctx": {"error": str(getattr(exc, "msg", exc))}}]) from None
    if data is None:
        raise RejectedBody(422, [{"type": "missing", "loc": ("body",), "msg": "Field required",
                                  "input": None}])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [{"type": e["type"], "loc": ("body", *e["loc"]), "msg": e["msg"],
                   "input": e["input"] if isinstance(e.get("input"), str | int | float)
                   else None}
                  for e in exc.errors(include_url=False)[:50]]
        raise RejectedBody(422, errors) from None


def crossable(fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn``; an HTTPException becomes a RejectedBody, which survives pickling."""
    try:
        return fn(*args)
    except HTTPException as exc:
        raise RejectedBody(exc.status_code, exc.detail) from None


def _helper(conn: Connection, fn: Callable[..., Any], args: tuple) -> None:
    """Body of a helper process: one call, its outcome sent back, then exit."""
    try:
        outcome: tuple[str, Any] = ("ok", crossable(fn, *args))
    except Exception as exc:
        outcome = ("error", exc)
    try:
        conn.send(outcome)
    except Exception as exc:  # an answer that cannot be pickled, or a server that is gone
        with contextlib.suppress(Exception):
            conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    conn.close()


def in_helper_process(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a one-shot process forked from the job workers' fork server (blocks).

    One process per call: it gives its memory back when it ends, and a helper whose server was
    killed ends with its call instead of waiting for more work."""
    ctx = multiprocessing.get_context("forkserver")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_helper, args=(sender, fn, args), daemon=True,
                       name="planner-body-helper")
    proc.start()
    sender.close()
    try:
        kind, value = receiver.recv()
    except EOFError:
        proc.join(timeout=10)
        raise RuntimeError("the helper process ended without an answer "
                           f"(exit code {proc.exitcode})") from None
    finally:
        receiver.close()
        proc.join(timeout=10)
    if kind == "error":
        raise value
    return value


class HeavyBodies:
    """Receive JSON bodies to disk and run the work on them off the event loop."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def spool(self, request: Request) -> Path:
        """Stream the request body into a file of ``folder`` (the caller removes it; files a
        killed server left behind are removed after an hour)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        stale = time.time() - 3600
        for old in self.folder.glob("*.json"):
            with contextlib.suppress(OSError):
                if old.stat().st_mtime < stale:
                    old.unlink()
        with NamedTemporaryFile(dir=self.folder, suffix=".json", delete=False) as out:
            try:
                async for chunk in request.stream():
                    out.write(chunk)
            except BaseException:
                Path(out.name).unlink(missing_ok=True)
                raise
        return Path(out.name)

    async def run(self, request: Request, fn: Callable[..., Any], *args: Any) -> Any:
        """Spool the body, then call ``fn(body_path, *args)`` in a thread (small body) or a
        helper process (large body); ``fn`` must be a module-level function."""
        path = await self.spool(request)
        try:
            if path.stat().st_size <= INLINE_BYTES:
                return await run_in_threadpool(crossable, fn, path, *args)
            # starting the helper waits for the fork server: not on the loop either
            return await run_in_threadpool(in_helper_process, fn, path, *args)
        except RejectedBody as exc:
            exc.reraise()
        finally:
            path.unlink(missing_ok=True)


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON body of ``model`` read by ``HeavyBodies``."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


def add_schemas(schema: dict[str, Any], models: list[type[BaseModel]]) -> dict[str, Any]:
    """Put ``models`` (and the models they use) into an OpenAPI document's components."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in models:
        doc = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in doc.pop("$defs", {}).items():
            components.setdefault(name, sub)
        components.setdefault(model.__name__, doc)
    return schema
