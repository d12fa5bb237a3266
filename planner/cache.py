"""A cache of parsed inputs (networks, demand grids, facility lists) keyed by a fingerprint of
their source files' bytes and the settings that shaped them."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

# 2: calibration assigns each cell to one district by its centre; 3: networks keep tunnel/bridge
CACHE_VERSION = "3"


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(f.name.encode())
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def fingerprint(*parts: object) -> str:
    """A short, stable hash of input files (their bytes) and settings."""
    h = hashlib.sha256(CACHE_VERSION.encode())
    for part in parts:
        h.update(_file_digest(part).encode() if isinstance(part, Path) else repr(part).encode())
    return h.hexdigest()[:16]


def cached(cache_dir: Path | None, key: str, build: Callable[[], Any],
           save: Callable[[Any, Path], Any], load: Callable[[Path], Any]) -> Any:
    """``build()``, or its copy under ``cache_dir/key``. Entries are written under a temporary
    name and renamed into place, so runs sharing a cache (API workers) never read half a file."""
    if cache_dir is None:
        return build()
    path = cache_dir / key
    if path.exists():
        try:
            return load(path)
        except Exception:  # any unreadable entry is simply rebuilt
            _remove(path)
    value = build()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{uuid.uuid4().hex}-{key}"
    save(value, tmp)
    try:
        os.replace(tmp, path)
    except OSError:  # another run stored the same entry first
        _remove(tmp)
    return value


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
