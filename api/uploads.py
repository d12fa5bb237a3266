"""Receiving uploaded files: safe names, allowed formats, chunked copies."""

from __future__ import annotations

import bz2
import re
import shutil
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from planner.errors import InputError

_CHUNK = 1 << 20
_UNSAFE = re.compile(r"[^\w.\-]+")
_MAGIC = {"bz2": b"BZh", "gzip": b"\x1f\x8b", "zip": b"PK\x03\x04"}

NETWORK_SUFFIXES = (".osm", ".osm.xml", ".osm.bz2", ".osm.pbf", ".pbf", ".geojson", ".json",
                    ".gpkg", ".fgb")
FACILITY_SUFFIXES = (".csv", ".xlsx", ".geojson", ".json", ".gpkg")
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


class InflatesTooMuch(InputError):
    """A compressed upload that would decompress beyond the server's limit."""


def _limit_message(name: str, what: str, limit: int) -> str:
    return (f"The uploaded file {name} is {what} and decompresses to more than this server's "
            f"limit of {limit / 2**20:g} MB, so it was refused and nothing was kept. Send a "
            "smaller area, or the same data as .osm.pbf, or ask the operator to raise "
            "PLANNER_MAX_DECOMPRESSED_MB.")


class _Inflation:
    """Counts the decompressed size of a bz2 or gzip stream as its compressed bytes arrive,
    never holding more than one chunk of output (multi-stream files included)."""

    def __init__(self, kind: str) -> None:
        self.kind, self.size = kind, 0
        self._new()

    def _new(self) -> None:
        self._d = bz2.BZ2Decompressor() if self.kind == "bz2" else zlib.decompressobj(31)

    def feed(self, data: bytes, limit: int) -> None:
        while data and self.size <= limit:
            if self.kind == "bz2":
                self.size += len(self._d.decompress(data, _CHUNK))
                data = b""
                while not self._d.eof and not self._d.needs_input and self.size <= limit:
                    self.size += len(self._d.decompress(b"", _CHUNK))
                if self._d.eof:
                    data = self._d.unused_data
                    self._new()
            else:
                self.size += len(self._d.decompress(data, _CHUNK))
                data = self._d.unconsumed_tail
                if self._d.eof:
                    data = self._d.unused_data + data
                    self._new()


def _zip_inflates_beyond(path: Path, limit: int) -> bool:
    """Whether the members of a zip archive decompress to more than ``limit`` bytes (read in
    chunks, whatever sizes the archive declares)."""
    size = 0
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            with archive.open(info) as member:
                while chunk := member.read(_CHUNK):
                    size += len(chunk)
                    if size > limit:
                        return True
    return False


def copy_stream(src: BinaryIO, dest: Path, max_inflated: int | None = None) -> int:
    """Copy a file object to ``dest`` in 1 MB chunks; returns the size in bytes.

    With ``max_inflated``, a bz2, gzip or zip file (known by its first bytes, whatever its
    name) that decompresses to more than that many bytes is refused as it arrives
    (``InflatesTooMuch``). On any failure nothing is left: neither the partial file nor the
    folder made for it."""
    created = not dest.parent.exists()
    dest.parent.mkdir(parents=True, exist_ok=True)
    size, kind = 0, ""
    inflation: _Inflation | None = None
    try:
        with dest.open("wb") as out:
            while chunk := src.read(_CHUNK):
                if size == 0 and max_inflated is not None:
                    kind = next((k for k, magic in _MAGIC.items() if chunk.startswith(magic)), "")
                    inflation = _Inflation(kind) if kind in ("bz2", "gzip") else None
                out.write(chunk)
                size += len(chunk)
                if inflation is not None:
                    _check(dest.name, kind, inflation.feed, chunk, max_inflated)
                    if inflation.size > max_inflated:
                        raise InflatesTooMuch(_limit_message(dest.name, kind, max_inflated))
        if size == 0:
            raise InputError(f"The uploaded file {dest.name} is empty; send the file's contents.")
        if kind == "zip" and _check(dest.name, kind, _zip_inflates_beyond,
                                    dest, max_inflated):
            raise InflatesTooMuch(_limit_message(dest.name, "a zip archive", max_inflated))
    except BaseException:
        dest.unlink(missing_ok=True)
        if created:
            shutil.rmtree(dest.parent, ignore_errors=True)
        raise
    return size


def _check(name: str, kind: str, step: Callable[..., bool | None], *args: Any) -> bool | None:
    """Run a decompression step; corrupt data becomes an InputError naming the file."""
    try:
        return step(*args)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile, NotImplementedError):
        raise InputError(f"The uploaded file {name} starts like a {kind} file but is not a valid "
                         "one; send the file unchanged.") from None


def link_or_copy(src: Path, dest: Path) -> None:
    """Place an existing upload into a resource directory (hard link when possible)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        dest.hardlink_to(src)
    except OSError:
        shutil.copyfile(src, dest)
