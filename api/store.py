"""The service's registry: one SQLite database plus files under the data directory.

Layout of ``data_dir``::

    planner.sqlite3              networks, uploads, scenarios, jobs
    uploads/<id>/<file>          uploaded files, as sent
    networks/<id>/source/<file>  the OSM/line file a network was built from
    networks/<id>/network/       WalkNetwork.save() output
    scenarios/<id>/              the scenario request and the files it uses
    jobs/<id>/                   results: layers/*.geojson (WGS-84), tables/*.csv|xlsx, map.html
    cache/                       the scenario runner's cache

Every process (the server and each job worker) opens its own short-lived connections; the
database runs in WAL mode so readers never wait for the worker writing progress.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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

    def initialise(self) -> int:
        """Create the layout, and mark jobs left active by a previous server as interrupted.

        Returns the number of jobs marked interrupted (a restart never loses a job silently).
        """
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
            return cur.rowcount

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
        with self.connect() as con:
            con.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", tuple(enc.values()))
        return self.get(table, row["id"])

    def get(self, table: str, resource_id: str) -> dict[str, Any] | None:
        """One row by id, or None."""
        assert table in _TABLES
        with self.connect() as con:
            row = con.execute(f"SELECT * FROM {table} WHERE id=?", (resource_id,)).fetchone()
        return _decode(row)

    def list(self, table: str, limit: int = 100, **equal: Any) -> list[dict[str, Any]]:
        """The newest rows first, optionally filtered by equal column values."""
        assert table in _TABLES
        where = " AND ".join(f"{k}=?" for k in equal) or "1"
        with self.connect() as con:
            rows = con.execute(
                f"SELECT * FROM {table} WHERE {where} ORDER BY created DESC LIMIT ?",
                (*equal.values(), limit),
            ).fetchall()
        return [_decode(r) for r in rows]

    def update(self, table: str, resource_id: str, **fields: Any) -> None:
        """Set columns of one row."""
        assert table in _TABLES
        enc = _encode(fields)
        sets = ", ".join(f"{k}=?" for k in enc)
        with self.connect() as con:
            con.execute(f"UPDATE {table} SET {sets} WHERE id=?", (*enc.values(), resource_id))

    def transition(self, job_id: str, status: str, allowed_from: Iterable[str], **fields: Any) -> bool:
        """Move a job to ``status`` only if it is in one of ``allowed_from``; True when it moved.

        The check and the write are one statement, so a worker finishing and a user cancelling
        at the same moment cannot both win.
        """
        enc = _encode({"status": status, **fields})
        sets = ", ".join(f"{k}=?" for k in enc)
        states = tuple(allowed_from)
        marks = ", ".join("?" for _ in states)
        with self.connect() as con:
            cur = con.execute(
                f"UPDATE jobs SET {sets} WHERE id=? AND status IN ({marks})",
                (*enc.values(), job_id, *states),
            )
            return cur.rowcount == 1

    def count_jobs(self, status: str) -> int:
        """How many jobs are in one state."""
        with self.connect() as con:
            return con.execute("SELECT COUNT(*) FROM jobs WHERE status=?", (status,)).fetchone()[0]
