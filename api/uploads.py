"""Receiving uploaded files: safe names, allowed formats, chunked copies."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import BinaryIO

from planner.errors import InputError

_CHUNK = 1 << 20
_UNSAFE = re.compile(r"[^\w.\-]+")

NETWORK_SUFFIXES = (".osm", ".osm.xml", ".osm.bz2", ".osm.pbf", ".pbf", ".geojson", ".json",
                    ".gpkg", ".fgb")
FACILITY_SUFFIXES = (".csv", ".geojson", ".json", ".gpkg")
POPULATION_SUFFIXES = (".tif", ".tiff", ".geojson", ".json", ".gpkg")
UPLOAD_SUFFIXES = tuple(dict.fromkeys(NETWORK_SUFFIXES + FACILITY_SUFFIXES + POPULATION_SUFFIXES))


def safe_filename(name: str | None, allowed: tuple[str, ...]) -> str:
    """The base name of an uploaded file, reduced to safe characters, with an allowed suffix."""
    base = Path((name or "").replace("\\", "/")).name
    clean = _UNSAFE.sub("_", base).strip("._")[:120]
    lower = clean.lower()
    if not clean or not lower.endswith(allowed):
        raise InputError(
            f"The uploaded file {name!r} has no accepted extension; send one of "
            f"{', '.join(allowed)} (the extension tells the format)."
        )
    return clean


def suffix_of(filename: str, allowed: tuple[str, ...]) -> str:
    """The longest allowed suffix the name ends with."""
    lower = filename.lower()
    return max((s for s in allowed if lower.endswith(s)), key=len, default="")


def copy_stream(src: BinaryIO, dest: Path) -> int:
    """Copy a file object to ``dest`` in 1 MB chunks; returns the size in bytes."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with dest.open("wb") as out:
        while chunk := src.read(_CHUNK):
            out.write(chunk)
            size += len(chunk)
    if size == 0:
        dest.unlink()
        raise InputError(f"The uploaded file {dest.name} is empty; send the file's contents.")
    return size


def link_or_copy(src: Path, dest: Path) -> None:
    """Place an existing upload into a resource directory (hard link when possible)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        dest.hardlink_to(src)
    except OSError:
        shutil.copyfile(src, dest)
