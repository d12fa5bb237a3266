"""The service's registry: one SQLite database plus files under the data directory.

Layout of ``data_dir``::

    planner.sqlite3              networks, uploads, scenarios, jobs
    uploads/<id>/<file>          uploaded files, as sent
    networks/<id>/source/<file>  the OSM/line file a network was built from
    networks/<id>/network/       WalkNetwork.save() output
    scenarios/<id>/              the scenario request and the files it uses
    jobs/<id>/                   results: layers/*.geojson (WGS-84), tables/*.csv|xlsx, map.html
    cache/                       the scenario runner's cache

    server.lock                  held by the one server using the directory (its process id)

Every process (the server and each job worker) opens its own short-lived connections; the
database runs in WAL mode so readers never wait for the worker writing progress. The server
also keeps one connection open for its lifetime, so the WAL files are never deleted and
recreated: with the disk full, reads still work.

A failed database operation is retried a few times (a transient error costs a short wait);
then it raises ``StorageFull`` (no space left) or ``StorageUnavailable`` (anything else).
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import shutil
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

from planner.errors import PlannerError

log = logging.getLogger("planner.api")
T = TypeVar("T")

#: Job states; the first two are "active", the rest final.
ACTIVE = ("queued", "running")
FINAL = ("done", "failed", "cancelled", "interrupted")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY, filename TEXT NOT NULL, size_bytes INTEGER NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS networks (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, created REAL NOT NULL,
    source TEXT, place TEXT, job_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS scenarios (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, network_id TEXT NOT NULL, created REAL NOT NULL,
    request TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, target_id TEXT NOT NULL, status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0, step TEXT NOT NULL DEFAULT '', created REAL NOT NULL,
    started REAL, finished REAL, error TEXT, params TEXT NOT NULL DEFAULT '{}',
    timings TEXT, summary TEXT, outputs TEXT, pid INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
"""
_JSON_COLUMNS = {"request", "params", "timings", "summary", "outputs"}
_TABLES = ("uploads", "networks", "scenarios", "jobs")
#: Waits between attempts of a failed database operation, seconds.
_RETRY_WAITS_S = (0.05, 0.2, 0.5)
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
LOCK_FILE = "server.lock"


class StorageError(Exception):
    """The data directory could not be read or written."""


class StorageFull(StorageError):
    """No space is left on the data directory's disk."""

    def __init__(self, what: str = "") -> None:
        super().__init__(
            "The server's disk is full, so nothing new can be stored"
            + (f" ({what})" if what else "")
            + ". Results already computed can still be read. Ask the operator to free space "
              "(delete old jobs and uploads with DELETE, or set PLANNER_RETENTION_DAYS), then "
              "send the request again.")


class StorageUnavailable(StorageError):
    """The database failed for a reason other than a full disk (it may be transient)."""

    def __init__(self, cause: str = "") -> None:
        super().__init__(
            "The server's storage failed" + (f" ({cause})" if cause else "")
            + "; nothing was changed. Try again in a minute; if it persists, ask the operator "
              "to check the data directory's disk.")


class DataDirInUse(PlannerError):
    """Another server holds the data directory."""


def is_disk_full(exc: BaseException) -> bool:
    """Whether an OS or SQLite error means the disk (or quota) is full."""
    if isinstance(exc, StorageFull):
        return True
    if isinstance(exc, OSError):
        return exc.errno in _FULL_ERRNOS
    return isinstance(exc, sqlite3.Error) and "full" in str(exc).lower()


def remove_tree(path: Path) -> None:
    """Remove a resource directory if present (files left by a failed write included)."""
    shutil.rmtree(path, ignore_errors=True)


@contextmanager
def creating(folder: Path, what: str) -> Iterator[Path]:
    """Write a new resource's directory: on any failure it is removed, and a full disk is
    reported as ``StorageFull`` naming ``what`` was being stored."""
    try:
        yield folder
    except BaseException as exc:
        remove_tree(folder)
        if is_disk_full(exc) and not isinstance(exc, StorageFull):
            raise StorageFull(f"while storing {what}") from exc
        raise


def new_id() -> str:
    """A fresh resource id: 32 lowercase hex digits."""
    return uuid.uuid4().hex


def _plain(value: Any) -> Any:
    """JSON fallback for numpy scalars/arrays and other objects in summaries."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _encode(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: json.dumps(v, ensure_ascii=False, default=_plain)
        if k in _JSON_COLUMNS and v is not None else v
        for k, v in row.items()
    }


def _decode(row: sqlite3.Row | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {k: json.loads(row[k]) if k in _JSON_COLUMNS and row[k] is not None else row[k]
            for k in row.keys()}


class Store:
    """Access to the registry of one data directory (safe to use from several processes)."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.db_path = self.data_dir / "planner.sqlite3"
        self._lock: IO[str] | None = None
        self._keeper: sqlite3.Connection | None = None

    def lock(self) -> None:
        """Take the data directory for this process, before anything in it is touched.

        Raises ``DataDirInUse`` naming the process that holds it; the lock is released by
        ``close()`` or when this process ends, however it ends.
        """
        if self._lock is not None:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fh = (self.data_dir / LOCK_FILE).open("a+", encoding="utf-8")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "a process that did not say which"
            fh.close()
            raise DataDirInUse(
                f"The data directory {self.data_dir} is in use by another planner server "
                f"({holder}); nothing was changed. Stop that server first, or start this one "
                "with another --data-dir (one server per data directory).") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"process {os.getpid()} on {socket.gethostname()}, since "
                 f"{time.strftime('%Y-%m-%d %H:%M:%S %z')}\n")
        fh.flush()
        self._lock = fh

    def initialise(self) -> int:
        """Lock the data directory, create the layout, and mark jobs left active by a previous
        server as interrupted.

        Returns the number of jobs marked interrupted (a restart never loses a job silently).
        Raises ``DataDirInUse`` (and changes nothing) when another server holds the directory.
        """
        self.lock()
        for sub in ("uploads", "networks", "scenarios", "jobs", "cache"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)
        with self.connect() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(_SCHEMA)
            cur = con.execute(
                "UPDATE jobs SET status='interrupted', finished=?, error=? "
                f"WHERE status IN {ACTIVE!r}",
                (time.time(), "The server stopped while this job was queued or running; "
                 "submit it again (its inputs are kept)."),
            )
            count = cur.rowcount
        if self._keeper is None:
            self._keeper = sqlite3.connect(self.db_path, check_same_thread=False)
            self._keeper.execute("SELECT 1 FROM jobs LIMIT 1").fetchall()
        return count

    def close(self) -> None:
        """Release the data directory (the server stops)."""
        if self._keeper is not None:
            self._keeper.close()
            self._keeper = None
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection that commits on success and is always closed."""
        con = sqlite3.connect(self.db_path, timeout=30.0)
        con.row_factory = sqlite3.Row
        try:
            with con:
                yield con
        finally:
            con.close()

    def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in one transaction, retried after a failure; a lasting failure raises
        ``StorageFull`` or ``StorageUnavailable``."""
        for attempt, wait in enumerate((*_RETRY_WAITS_S, None)):
            try:
                with self.connect() as con:
                    return work(con)
            except (sqlite3.OperationalError, sqlite3.DatabaseError, OSError) as exc:
                if wait is None:
                    if is_disk_full(exc):
                        raise StorageFull() from exc
                    raise StorageUnavailable(type(exc).__name__) from exc
                log.warning("storage error (attempt %d, retrying in %.2f s): %s",
                            attempt + 1, wait, exc)
                time.sleep(wait)
        raise AssertionError("unreachable")

    # --- directories ---------------------------------------------------------------------------

    def path(self, kind: str, resource_id: str) -> Path:
        """Directory of one resource (``kind`` is uploads, networks, scenarios or jobs)."""
        if kind not in _TABLES or not (len(resource_id) == 32 and resource_id.isalnum()):
            raise ValueError(f"not a resource: {kind}/{resource_id}")
        return self.data_dir / kind / resource_id

    # --- rows ----------------------------------------------------------------------------------

    def insert(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        """Insert a row (JSON columns given as Python objects); returns it as stored."""
        assert table in _TABLES
        enc = _encode(row)
        cols = ", ".join(enc)
        marks = ", ".join("?" for _ in enc)
        self._run(lambda con: con.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})",
                                          tuple(enc.values())))
        return self.get(table, row["id"])

    def get(self, table: str, resource_id: str) -> dict[str, Any] | None:
        """One row by id, or None."""
        assert table in _TABLES
        row = self._run(lambda con: con.execute(f"SELECT * FROM {table} WHERE id=?",
                                                (resource_id,)).fetchone())
        return _decode(row)

    def list(self, table: str, limit: int = 100, **equal: Any) -> list[dict[str, Any]]:
        """The newest rows first, optionally filtered by equal column values."""
        assert table in _TABLES
        where = " AND ".join(f"{k}=?" for k in equal) or "1"
        rows = self._run(lambda con: con.execute(
            f"SELECT * FROM {table} WHERE {where} ORDER BY created DESC LIMIT ?",
            (*equal.values(), limit),
        ).fetchall())
        return [_decode(r) for r in rows]

    def update(self, table: str, resource_id: str, **fields: Any) -> None:
        """Set columns of one row."""
        assert table in _TABLES
        enc = _encode(fields)
        sets = ", ".join(f"{k}=?" for k in enc)
        self._run(lambda con: con.execute(f"UPDATE {table} SET {sets} WHERE id=?",
                                          (*enc.values(), resource_id)))

    def transition(self, job_id: str, status: str, allowed_from: Iterable[str], **fields: Any) -> bool:
        """Move a job to ``status`` only if it is in one of ``allowed_from``; True when it moved.

        The check and the write are one statement, so a worker finishing and a user cancelling
        at the same moment cannot both win.
        """
        enc = _encode({"status": status, **fields})
        sets = ", ".join(f"{k}=?" for k in enc)
        states = tuple(allowed_from)
        marks = ", ".join("?" for _ in states)
        return self._run(lambda con: con.execute(
            f"UPDATE jobs SET {sets} WHERE id=? AND status IN ({marks})",
            (*enc.values(), job_id, *states),
        ).rowcount) == 1

    def count_jobs(self, status: str) -> int:
        """How many jobs are in one state."""
        return self._run(lambda con: con.execute(
            "SELECT COUNT(*) FROM jobs WHERE status=?", (status,)).fetchone()[0])

    def delete(self, table: str, resource_id: str) -> bool:
        """Remove a row and then its directory; True when the row existed."""
        assert table in _TABLES
        gone = self._run(lambda con: con.execute(f"DELETE FROM {table} WHERE id=?",
                                                 (resource_id,)).rowcount) == 1
        remove_tree(self.path(table, resource_id))
        return gone

    def ids(self, table: str, where: str = "1", args: tuple = ()) -> list[str]:
        """Ids of the rows matching an SQL condition (internal callers only)."""
        assert table in _TABLES
        return [r[0] for r in self._run(lambda con: con.execute(
            f"SELECT id FROM {table} WHERE {where}", args).fetchall())]
